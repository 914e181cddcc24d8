package authgin

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"
)

// The attack suite: what an attacker sends, end to end over HTTP, on every
// backend.

// claimsFor is a claim set for the user of c at now, as the issuer writes
// it, with edit applied.
func claimsFor(id int64, sid string, now int64, edit func(m map[string]any)) string {
	m := map[string]any{"id": id, "username": "mallory", "permissions": []string{"admin"}, "type": "access",
		"sub": fmt.Sprint(id), "sid": sid, "iss": "authgin", "aud": "authgin", "iat": now, "nbf": now, "exp": now + 900}
	if edit != nil {
		edit(m)
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"id", "username", "permissions", "type", "sub", "sid", "iss", "aud", "iat", "nbf", "exp"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		switch x := v.(type) {
		case string:
			fmt.Fprintf(&b, "%q:%q", k, x)
		case []string:
			fmt.Fprintf(&b, "%q:[%q]", k, x[0])
		default:
			fmt.Fprintf(&b, "%q:%v", k, x)
		}
	}
	b.WriteString("}")
	return b.String()
}

// wantRejected sends token as a Bearer header and as the access cookie to
// a protected app route and to POST /token: 401 every time.
func wantRejected(t *testing.T, e *testEnv, name, token string) {
	t.Helper()
	for _, how := range []string{"bearer", "cookie"} {
		c := e.client()
		hdr := []string{"Authorization", "Bearer " + token}
		if how == "cookie" {
			hdr = []string{"Cookie", accessCookie + "=" + token}
		}
		for _, r := range []*response{c.do("GET", "/api/admin", nil, hdr...), c.post("/token", nil, hdr...)} {
			if r.status != 401 || r.str("code") != "unauthorized" {
				t.Fatalf("%s (%s): %d %s, want 401", name, how, r.status, r.raw)
			}
		}
	}
}

func TestSecurityForgedAccessTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		id := int64(c.register("mallory@example.com", "mallory", "correct horse battery").json["id"].(float64))
		claims := c.post("/token", nil)
		sid := claims.str("sid")
		now := e.clock.Now().Unix()
		sign := func(header, payload string) string {
			return forge(t, header, payload, jwt.SigningMethodHS256, testSecret)
		}
		// The harness is sound: a well-formed token with the real key passes
		// (and carries the forged admin permission, which is why the key
		// matters).
		good := sign(hsHeader, claimsFor(id, sid, now, nil))
		wantStatus(t, e.client().do("GET", "/api/admin", nil, "Authorization", "Bearer "+good), 200)

		for _, alg := range []string{"none", "None", "NONE", "nOnE", "NoNe", "none "} {
			h := `{"alg":"` + alg + `","typ":"JWT"}`
			wantRejected(t, e, "alg "+alg, b64(h)+"."+b64(claimsFor(id, sid, now, nil))+".")
			wantRejected(t, e, "alg "+alg+" with a signature", b64(h)+"."+b64(claimsFor(id, sid, now, nil))+"."+strings.Split(good, ".")[2])
		}
		parts := strings.Split(c.jarCookie("/", accessCookie), ".")
		tampered := parts[0] + "." + b64(claimsFor(id, sid, now, nil)) + "." + parts[2]
		wantRejected(t, e, "tampered payload", tampered)
		wantRejected(t, e, "tampered signature", parts[0]+"."+parts[1]+"."+strings.Repeat("A", len(parts[2])))
		wantRejected(t, e, "HS384 with the secret", forge(t, `{"alg":"HS384","typ":"JWT"}`, claimsFor(id, sid, now, nil), jwt.SigningMethodHS384, testSecret))
		for name, edit := range map[string]func(map[string]any){
			"expired":        func(m map[string]any) { m["exp"] = now - 1 },
			"no exp":         func(m map[string]any) { delete(m, "exp") },
			"future nbf":     func(m map[string]any) { m["nbf"] = now + 3600 },
			"future iat":     func(m map[string]any) { m["iat"] = now + 3600 },
			"wrong iss":      func(m map[string]any) { m["iss"] = "someone-else" },
			"wrong aud":      func(m map[string]any) { m["aud"] = "another-app" },
			"type refresh":   func(m map[string]any) { m["type"] = "refresh" },
			"no type":        func(m map[string]any) { delete(m, "type") },
			"id as a string": func(m map[string]any) { m["id"] = `"1"` },
		} {
			wantRejected(t, e, name, sign(hsHeader, claimsFor(id, sid, now, edit)))
		}
		// Header typ must be JWT when present; key-bearing headers are never used.
		wantRejected(t, e, "typ refresh", sign(`{"alg":"HS256","typ":"refresh+jwt"}`, claimsFor(id, sid, now, nil)))
		for _, h := range []string{
			`{"alg":"HS256","typ":"JWT","jku":"https://evil.example/jwks.json"}`,
			`{"alg":"HS256","typ":"JWT","x5u":"https://evil.example/cert.pem"}`,
			`{"alg":"HS256","typ":"JWT","jwk":{"kty":"oct","k":"` + base64.RawURLEncoding.EncodeToString([]byte("attacker key of 32 bytes or more!!")) + `"}}`,
		} {
			wantRejected(t, e, "key header "+h, forge(t, h, claimsFor(id, sid, now, nil), jwt.SigningMethodHS256, []byte("attacker key of 32 bytes or more!!")))
		}

		// Opaque tokens are never access tokens.
		refresh := c.jarCookie(testBase, refreshCookie)
		confirm := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		wantStatus(t, e.client().post("/forgot_password", map[string]string{"email": "mallory@example.com"}), 200)
		reset := linkToken(t, e.mail.wait(t, 2).Text, "/reset_password?token=")
		for name, tok := range map[string]string{"refresh": refresh, "confirm": confirm, "reset": reset} {
			wantRejected(t, e, name+" token as access", tok)
			// Nor refresh tokens.
			x := e.client()
			x.hdr.Set("Cookie", refreshCookie+"="+tok)
			if name != "refresh" {
				wantError(t, x.post("/token/refresh", nil), 401, "invalid_token", "")
			}
		}
		// An access token at /token/refresh is 401 and revokes nothing: the
		// real refresh token still works afterwards.
		for _, access := range []string{c.jarCookie("/", accessCookie), good} {
			x := e.client()
			x.hdr.Set("Cookie", refreshCookie+"="+access)
			wantError(t, x.post("/token/refresh", nil), 401, "invalid_token", "")
		}
		wantStatus(t, c.post("/token/refresh", nil), 200)
		// The one-time tokens still work for their own purpose.
		wantStatus(t, e.client().post("/confirm/"+confirm, nil), 200)
		wantStatus(t, e.client().post("/password/"+reset, map[string]string{"password1": "new horse battery", "password2": "new horse battery"}), 200)
	})
}

// TestSecurityKeyConfusion: with RS256, an HS256 token whose HMAC key is
// the RSA public key (PEM, DER, PKCS#1) is refused over HTTP.
func TestSecurityKeyConfusion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		k := testRSAKey(t)
		e := newEnv(t, db, func(o *Options) { o.Signing = &SigningConfig{Algorithm: "RS256", Key: k, KeyID: "rs-1"} })
		c := e.client()
		id := int64(c.register("rsa@example.com", "rsauser", "correct horse battery").json["id"].(float64))
		sid := c.post("/token", nil).str("sid")
		now := e.clock.Now().Unix()
		good := forge(t, `{"alg":"RS256","kid":"rs-1","typ":"JWT"}`, claimsFor(id, sid, now, nil), jwt.SigningMethodRS256, k)
		wantStatus(t, e.client().do("GET", "/api/admin", nil, "Authorization", "Bearer "+good), 200)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		for _, secret := range [][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der, x509.MarshalPKCS1PublicKey(&k.PublicKey)} {
			for _, h := range []string{`{"alg":"HS256","kid":"rs-1","typ":"JWT"}`, `{"alg":"HS256","typ":"JWT"}`} {
				wantRejected(t, e, "HS256 with the public key", forge(t, h, claimsFor(id, sid, now, nil), jwt.SigningMethodHS256, secret))
			}
		}
		wantRejected(t, e, "HS256 with the server's HMAC-style secret", forge(t, hsHeader, claimsFor(id, sid, now, nil), jwt.SigningMethodHS256, testSecret))
	})
}

var sqlInjections = []string{
	"' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE users; --", `" OR ""="`, "admin'--", "1; SELECT pg_sleep(10)",
	"') UNION SELECT email_key, password_hash FROM users --", "%", "_", `\`, "%' OR username_key LIKE '%",
}

// TestSecuritySQLInjection sends injection strings in every field and
// path id: never a 5xx, and the tables are intact.
func TestSecuritySQLInjection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.Limits.LoginIP = Limit{Max: -1}
			o.Limits.LoginAccount = Limit{Max: -1}
			o.Limits.RegisterIP = Limit{Max: -1}
			o.Limits.TokenGuessIP = Limit{Max: -1}
			o.Limits.ResetMailIP = Limit{Max: -1}
		})
		admin := e.client()
		admin.register("root@example.com", "rooter", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "rooter").Update("permissions", Permissions{"admin"})
		wantStatus(t, admin.post("/token/refresh", nil), 200)
		const pw = "correct horse battery"
		check := func(what string, r *response) {
			t.Helper()
			if r.status >= 500 || r.status == 0 {
				t.Fatalf("%s: %d %s", what, r.status, r.raw)
			}
		}
		for _, inj := range sqlInjections {
			check("register email", admin.post("/register", map[string]string{"email": inj, "username": "okname", "password1": pw, "password2": pw}))
			check("register username", admin.post("/register", map[string]string{"email": "ok@example.com", "username": inj, "password1": pw, "password2": pw}))
			check("register password", admin.post("/register", map[string]string{"email": "ok2@example.com", "username": "okname2", "password1": inj + " long enough", "password2": inj + " long enough"}))
			check("register captcha", admin.post("/register", map[string]string{"email": "ok3@example.com", "username": "okname3", "password1": pw, "password2": pw, "captcha": inj}))
			wantError(t, e.client().post("/login", map[string]string{"login": inj, "password": pw}), 401, "invalid_credentials", "")
			wantError(t, e.client().post("/login", map[string]string{"login": "rooter", "password": inj}), 401, "invalid_credentials", "")
			check("forgot_password", e.client().post("/forgot_password", map[string]string{"email": inj}))
			check("change_username body", admin.post("/1/change_username", map[string]string{"username": inj}))
			check("password change", admin.do("PUT", testBase+"/password", map[string]string{"old_password": inj, "password1": pw + "x", "password2": pw + "x"}))
			check("id_by_username", admin.do("GET", testBase+"/id_by_username?username="+urlQuery(inj), nil))
			check("search", admin.do("GET", testBase+"?username="+urlQuery(inj), nil))
			check("permissions", admin.post("/1/permissions", map[string]any{"action": inj, "payload": []string{inj}}))
			check("confirm body", e.client().post("/confirm", map[string]string{"token": inj}))
			check("reset body", e.client().post("/password", map[string]string{"token": inj, "password1": pw, "password2": pw}))
			p := pathEscape(inj)
			wantError(t, e.client().post("/confirm/"+p, nil), 403, "invalid_confirmation_token", "")
			wantError(t, e.client().post("/password/"+p, map[string]string{"password1": pw, "password2": pw}), 404, "invalid_reset_token", "")
			for _, r := range []*response{
				admin.post("/"+p+"/change_username", map[string]string{"username": "zed"}),
				admin.post("/"+p+"/blacklist", nil),
				admin.post("/"+p+"/kick", nil),
				admin.post("/"+p+"/permissions", map[string]any{"action": "ADD", "payload": []string{"x"}}),
				admin.do("GET", testBase+"/"+p, nil),
				admin.do("DELETE", testBase+"/sessions/"+p, nil),
			} {
				check("path id "+inj, r)
				if r.status == 200 {
					t.Fatalf("path id %q accepted: %s", inj, r.raw)
				}
			}
		}
		var n int64
		if err := db.Model(&Account{}).Count(&n).Error; err != nil || n < 1 {
			t.Fatalf("users table after injections: %d, %v", n, err)
		}
		if a := e.account("rooter"); a.Banned || !a.IsAdmin() {
			t.Fatalf("admin changed: %+v", a)
		}
	})
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", " ", "%20", "+", "%2B", ";", "%3B", "'", "%27", `"`, "%22", `\`, "%5C").Replace(s)
}
func pathEscape(s string) string { return strings.ReplaceAll(urlQuery(s), "/", "%2F") }

// TestSecurityLookalikeIdentifiers: fullwidth, zero-width, mixed-script
// and case variants of a taken username or email never make a second,
// confusable account.
func TestSecurityLookalikeIdentifiers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.RegisterIP = Limit{Max: -1} })
		c := e.client()
		c.register("alice@example.com", "alice", "correct horse battery")
		const pw = "correct horse battery"
		reg := func(email, username string) *response {
			return c.post("/register", map[string]string{"email": email, "username": username, "password1": pw, "password2": pw})
		}
		for _, tc := range []struct{ name, username, code string }{
			{"case variant", "ALICE", "username_exists"},
			{"mixed case", "aLiCe", "username_exists"},
			{"fullwidth", "ａｌｉｃｅ", "username_exists"},
			{"fullwidth capitals", "ＡＬＩＣＥ", "username_exists"},
			{"zero-width space", "ali\u200bce", "invalid_username"},
			{"zero-width joiner", "ali\u200dce", "invalid_username"},
			{"soft hyphen", "ali\u00adce", "invalid_username"},
			{"Cyrillic a", "\u0430lice", "invalid_username"},
			{"Greek omicron mixed", "b\u03bfb", "invalid_username"},
			{"RTL override", "\u202eecila", "invalid_username"},
		} {
			wantError(t, reg("new-"+strings.ToLower(tc.name[:3])+"@example.com", tc.username), 400, tc.code, "")
		}
		for _, tc := range []struct{ name, email, code string }{
			{"case variant", "ALICE@EXAMPLE.COM", "email_exists"},
			{"mixed case domain", "alice@Example.Com", "email_exists"},
			{"zero-width in local part", "ali\u200bce@example.com", "invalid_email"},
			{"RTL override", "alice\u202e@example.com", "invalid_email"},
			{"NUL", "alice\x00@example.com", "invalid_email"},
		} {
			wantError(t, reg(tc.email, "user"+fmt.Sprint(len(tc.name))), 400, tc.code, "")
		}
		// Fullwidth and other compatibility forms in an address: never a 5xx,
		// and never an account whose key equals alice's.
		for _, email := range []string{"ａｌｉｃｅ@example.com", "alice@ｅｘａｍｐｌｅ.com"} {
			if r := reg(email, "fwuser"+fmt.Sprint(len(email))); r.status >= 500 {
				t.Fatalf("%q: %d %s", email, r.status, r.raw)
			}
		}
		var n int64
		db.Model(&Account{}).Where("email_key = ?", "alice@example.com").Count(&n)
		if n != 1 {
			t.Fatalf("%d accounts with alice's email key", n)
		}
		// Logins by variants reach the one account.
		for _, login := range []string{"ALICE", "ａｌｉｃｅ", "Alice@Example.COM"} {
			wantStatus(t, e.client().post("/login", map[string]string{"login": login, "password": pw}), 200)
		}
		wantError(t, e.client().post("/login", map[string]string{"login": "\u0430lice", "password": pw}), 401, "invalid_credentials", "")
	})
}

// TestSecurityBodies: oversized, deeply nested, wrong content types, NUL
// bytes and privileged fields.
func TestSecurityBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.Limits.RegisterIP = Limit{Max: -1}; o.Limits.LoginIP = Limit{Max: -1} })
		c := e.client()
		c.register("body@example.com", "bodyuser", "correct horse battery")
		routes := []string{"/register", "/login", "/forgot_password", "/1/change_username", "/confirm", "/password"}
		nested := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
		deepArray := `{"email":` + strings.Repeat("[", 8000) + strings.Repeat("]", 8000) + `}`
		for _, route := range routes {
			wantError(t, c.post(route, `{"email":"`+strings.Repeat("a", 1<<20)+`"}`), 413, "body_too_large", "")
			wantError(t, c.post(route, `{"email":"`+strings.Repeat("a", maxBody)+`"}`), 413, "body_too_large", "")
			for _, b := range []string{nested, deepArray} {
				// Go's decoder bounds nesting (10000); unknown keys are skipped.
				if r := c.post(route, b); r.status >= 500 {
					t.Fatalf("%s nested: %d %s", route, r.status, r.raw)
				}
			}
			if route == "/confirm" {
				continue // without a JSON body it takes no body (send a new mail): any Content-Type
			}
			for _, ct := range []string{"text/plain", "application/xml", "text/json", "application/x-www-form-urlencoded",
				"multipart/form-data; boundary=x", "application/json-patch+json", "application/jsonx", "garbage/;;;"} {
				wantError(t, c.post(route, `{"token":"x","email":"a@b.c"}`, "Content-Type", ct), 415, "unsupported_media_type", "")
			}
		}
		// NUL bytes in any field: 400, never a 5xx (PostgreSQL refuses NUL in text).
		const pw = "correct horse battery"
		for _, body := range []map[string]string{
			{"email": "n\x00ul@example.com", "username": "nuluser", "password1": pw, "password2": pw},
			{"email": "nul@example.com", "username": "nul\x00user", "password1": pw, "password2": pw},
			{"email": "nul@example.com", "username": "nuluser", "password1": pw + "\x00", "password2": pw + "\x00"},
		} {
			if r := c.post("/register", body); r.status != 400 {
				t.Fatalf("register %q: %d %s", body, r.status, r.raw)
			}
		}
		for _, tc := range []struct {
			route string
			body  map[string]string
		}{
			{"/login", map[string]string{"login": "body\x00user", "password": pw}},
			{"/login", map[string]string{"login": "bodyuser", "password": pw + "\x00"}},
			{"/forgot_password", map[string]string{"email": "body@example.com\x00"}},
			{"/1/change_username", map[string]string{"username": "x\x00y"}},
			{"/confirm", map[string]string{"token": "\x00"}},
			{"/password", map[string]string{"token": "a\x00", "password1": pw, "password2": pw}},
		} {
			if r := c.post(tc.route, tc.body); r.status >= 500 || r.status == 200 {
				t.Fatalf("%s %q: %d %s", tc.route, tc.body, r.status, r.raw)
			}
		}
		if r := c.post("/confirm/%00", nil); r.status >= 500 || r.status == 200 {
			t.Fatalf("NUL token path: %d %s", r.status, r.raw)
		}

		// Privileged fields in a register body are ignored.
		p := e.client()
		priv := `{"email":"priv@example.com","username":"privuser","password1":"correct horse battery",` +
			`"password2":"correct horse battery","permissions":["admin"],"confirmed":true,"id":1,"is_admin":true,` +
			`"banned":false,"email_key":"body@example.com","username_key":"bodyuser","password_hash":"x","IsAdmin":true`
		// Two spellings of one field are refused outright.
		wantError(t, p.post("/register", priv+`,"Permissions":["admin"]}`), 400, "malformed_body", "")
		r := p.post("/register", priv+"}")
		wantStatus(t, r, 200)
		if r.json["id"].(float64) == 1 || r.json["confirmed"] != false {
			t.Fatalf("privileged fields applied: %s", r.raw)
		}
		tok := p.post("/token", nil)
		if perms, _ := tok.json["permissions"].([]any); len(perms) != 0 {
			t.Fatalf("permissions %s", tok.raw)
		}
		wantError(t, p.do("GET", "/api/admin", nil), 403, "forbidden", "")
		a := e.account("privuser")
		if a.Confirmed || len(a.Permissions) != 0 || a.EmailKey != "priv@example.com" || !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
			t.Fatalf("stored %+v", a)
		}
	})
}

// TestSecurityHashingBound: 200 concurrent wrong-password logins never run
// more hashes at once than HashConcurrency (each argon2id hash holds its
// memory, so that bounds memory), and the overflow gets 503 with
// Retry-After instead of queueing without end.
func TestSecurityHashingBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.Argon2 = Argon2Params{Memory: 4 << 10, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
			o.HashConcurrency = 2
			o.HashQueueTimeout = 20 * time.Millisecond
			o.Limits.LoginIP = Limit{Max: -1}
			o.Limits.LoginAccount = Limit{Max: -1}
		})
		e.client().register("busy@example.com", "busyuser", "correct horse battery")
		sem := e.auth.svc.hasher.sem
		var peak atomic.Int64
		stop := make(chan struct{})
		var watch sync.WaitGroup
		watch.Add(1)
		go func() {
			defer watch.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n := int64(len(sem)); n > peak.Load() {
					peak.Store(n)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
		const n = 200
		statuses := make([]int, n)
		retry := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", e.srv.URL+testBase+"/login",
					strings.NewReader(`{"login":"busyuser","password":"wrong password"}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
				retry[i] = resp.Header.Get("Retry-After")
			}()
		}
		wg.Wait()
		close(stop)
		watch.Wait()
		count := map[int]int{}
		for i, s := range statuses {
			count[s]++
			if s == 503 && retry[i] == "" {
				t.Fatal("503 without Retry-After")
			}
		}
		t.Logf("statuses %v, peak hashes in flight %d", count, peak.Load())
		if count[401]+count[503] != n {
			t.Fatalf("statuses %v: only 401 and 503 expected", count)
		}
		if count[503] == 0 || count[401] == 0 {
			t.Fatalf("statuses %v: want both hashed 401s and shed 503s", count)
		}
		if peak.Load() > 2 {
			t.Fatalf("%d hashes in flight, bound is 2", peak.Load())
		}
	})
}

// TestSecurityHostInjection: a forged Host or X-Forwarded-Host never
// reaches a link in a mail: links come from Options.BaseURL.
func TestSecurityHostInjection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		evil := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http", "Forwarded", "host=evil.example",
			"X-Original-Host", "evil.example", "X-Host", "evil.example"}
		r := c.post("/register", map[string]string{"email": "host@example.com", "username": "hostuser",
			"password1": "correct horse battery", "password2": "correct horse battery"}, evil...)
		wantStatus(t, r, 200)
		wantStatus(t, c.post("/confirm", nil, evil...), 200)
		wantStatus(t, c.post("/forgot_password", map[string]string{"email": "host@example.com"}, evil...), 200)
		// A Host header the server does not expect: net/http serves it, and
		// it must not matter either.
		req, _ := http.NewRequest("POST", e.srv.URL+testBase+"/forgot_password", strings.NewReader(`{"email":"host@example.com"}`))
		req.Host = "evil.example"
		req.Header.Set("Content-Type", "application/json")
		if resp, err := e.srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
		time.Sleep(0)
		for i := 1; i <= 3; i++ {
			m := e.mail.wait(t, i)
			for _, part := range []string{m.Text, m.HTML} {
				if strings.Contains(part, "evil") || strings.Contains(part, "http://") {
					t.Fatalf("mail %d carries the forged host: %s", i, part)
				}
			}
			if !strings.Contains(m.Text, "https://app.example/") {
				t.Fatalf("mail %d has no BaseURL link: %s", i, m.Text)
			}
		}
	})
}

// TestSecurityNothingSecretInLogs runs every flow that handles a password
// or a token with slog and gin's request logger captured, and looks for
// them in both. The path forms of one-time tokens go through
// RedactingLogFormatter; the body forms need nothing.
func TestSecurityNothingSecretInLogs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		var ginLog, plainGinLog syncBuffer
		e := newProxyEnv(t, db, func(r *gin.Engine) {
			r.SetTrustedProxies(nil)
			r.Use(gin.LoggerWithConfig(gin.LoggerConfig{Output: &ginLog, Formatter: RedactingLogFormatter(nil)}))
			r.Use(gin.LoggerWithConfig(gin.LoggerConfig{Output: &plainGinLog}))
		})
		secrets := []string{}
		c := e.client()
		const pw1, pw2, pw3 = "first secret horse", "second secret horse", "third secret horse"
		secrets = append(secrets, pw1, pw2, pw3, "wrong secret horse")
		c.register("logs@example.com", "logsuser", pw1)
		confirm1 := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		wantStatus(t, c.post("/confirm", nil), 200)
		confirm2 := linkToken(t, e.mail.wait(t, 2).Text, "/confirm?token=")
		wantError(t, c.post("/confirm/"+confirm1, nil), 403, "invalid_confirmation_token", "") // superseded, path form
		wantStatus(t, e.client().post("/confirm", map[string]string{"token": confirm2}), 200)  // body form
		wantStatus(t, e.client().post("/login", map[string]string{"login": "logsuser", "password": "wrong secret horse"}), 401)
		wantStatus(t, c.post("/login", map[string]string{"login": "logsuser", "password": pw1}), 200)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		wantStatus(t, c.do("PUT", testBase+"/password", map[string]string{"old_password": pw1, "password1": pw2, "password2": pw2}), 200)
		wantStatus(t, e.client().post("/forgot_password", map[string]string{"email": "logs@example.com"}), 200)
		reset1 := linkToken(t, e.mail.waitWith(t, 1, "/reset_password?token=").Text, "/reset_password?token=")
		wantStatus(t, e.client().post("/password", map[string]string{"token": reset1, "password1": pw3, "password2": pw3}), 200) // body form
		wantStatus(t, e.client().post("/forgot_password", map[string]string{"email": "logs@example.com"}), 200)
		reset2 := linkToken(t, e.mail.waitWith(t, 2, "/reset_password?token=").Text, "/reset_password?token=")
		wantStatus(t, e.client().post("/password/"+reset2, map[string]string{"password1": pw1 + "!", "password2": pw1 + "!"}), 200) // path form
		secrets = append(secrets, pw1+"!", confirm1, confirm2, reset1, reset2,
			c.jarCookie("/", accessCookie), c.jarCookie(testBase, refreshCookie))
		wantStatus(t, c.post("/logout", nil), 200)

		for name, out := range map[string]string{"slog": e.logs.String(), "gin (redacting)": ginLog.String()} {
			if out == "" {
				t.Fatalf("%s captured nothing", name)
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(out, s) {
					t.Fatalf("%s log contains %q:\n%s", name, s, out)
				}
			}
		}
		if !strings.Contains(ginLog.String(), "/confirm/"+RedactedPath) || !strings.Contains(ginLog.String(), "/password/"+RedactedPath) {
			t.Fatalf("redacted paths missing:\n%s", ginLog.String())
		}
		// gin's own format prints the path forms whole; the body forms stay
		// out of it too.
		plain := plainGinLog.String()
		if !strings.Contains(plain, confirm1) || !strings.Contains(plain, reset2) {
			t.Fatal("expected gin's default formatter to show path tokens (why RedactingLogFormatter exists)")
		}
		for _, s := range []string{confirm2, reset1, pw1, pw2, pw3} {
			if strings.Contains(plain, s) {
				t.Fatalf("gin's default log contains a body-form secret %q", s)
			}
		}
	})
}

func TestRedactTokenPath(t *testing.T) {
	for in, want := range map[string]string{
		"/api/users/confirm/abc":             "/api/users/confirm/" + RedactedPath,
		"/api/users/password/abc?x=1":        "/api/users/password/" + RedactedPath + "?x=1",
		"/api/users/confirm":                 "/api/users/confirm",
		"/api/users/password":                "/api/users/password",
		"/confirm/a/password/b":              "/confirm/" + RedactedPath + "/password/" + RedactedPath,
		"/api/me":                            "/api/me",
		"/api/users/12/change_username?q=%2": "/api/users/12/change_username?q=%2",
		"/api/users/oauth/google/callback?state=s1&code=c1&scope=openid": "/api/users/oauth/google/callback?state=" + RedactedPath +
			"&code=" + RedactedPath + "&scope=openid",
		"/api/users/oauth/google/authorize?next=/x": "/api/users/oauth/google/authorize?next=/x",
	} {
		if got := redactTokenPath(in); got != want {
			t.Errorf("redactTokenPath(%q) = %q, want %q", in, got, want)
		}
	}
	line := RedactingLogFormatter(nil)(gin.LogFormatterParams{Path: "/x/confirm/tok", Method: "POST", StatusCode: 200})
	if strings.Contains(line, "tok\"") || !strings.Contains(line, RedactedPath) {
		t.Fatalf("line %q", line)
	}

}
