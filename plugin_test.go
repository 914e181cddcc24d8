package authgin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// The end-to-end HTTP suite: every route and status over real HTTP, on
// every backend.

func TestRegister(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		r := c.post("/register", map[string]any{
			"email": "Ann@Example.com", "username": "Ann_1", "password1": "correct horse battery", "password2": "correct horse battery",
			// Privileged fields are ignored.
			"permissions": []string{"admin"}, "confirmed": true, "id": 999, "is_admin": true,
		})
		wantStatus(t, r, 200)
		if r.str("username") != "Ann_1" || r.str("email") != "Ann@Example.com" || r.json["confirmed"] != false {
			t.Fatalf("body %s", r.raw)
		}
		if p, _ := r.json["permissions"].([]any); len(p) != 0 {
			t.Fatalf("permissions %v", r.json["permissions"])
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatal("token response without Cache-Control: no-store")
		}
		acc := r.cookie(accessCookie)
		ref := r.cookie(refreshCookie)
		if acc == nil || ref == nil {
			t.Fatalf("cookies missing: %v", r.header["Set-Cookie"])
		}
		if !acc.HttpOnly || !acc.Secure || acc.SameSite != http.SameSiteLaxMode || acc.Path != "/" || acc.MaxAge != 15*60 {
			t.Fatalf("access cookie %+v", acc)
		}
		if !ref.HttpOnly || !ref.Secure || ref.SameSite != http.SameSiteStrictMode || ref.Path != testBase || ref.MaxAge != 30*24*3600 {
			t.Fatalf("refresh cookie %+v", ref)
		}
		a := e.account("ann_1")
		if a.ID == 999 || a.Confirmed || a.Banned || len(a.Permissions) != 0 || a.EmailKey != "ann@example.com" {
			t.Fatalf("stored account %+v", a)
		}
		if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
			t.Fatalf("password stored as %q", a.PasswordHash)
		}
		// The confirmation mail goes out after the commit, with a working link.
		m := e.mail.wait(t, 1)
		if m.To != "Ann@Example.com" || m.Subject != "Confirm email" {
			t.Fatalf("mail %+v", m)
		}
		token := linkToken(t, m.Text, "https://app.example/confirm?token=")
		wantStatus(t, c.post("/confirm/"+token, nil), 200)
		// The new session works at once.
		wantStatus(t, c.do("GET", "/api/me", nil), 200)
	})
}

// linkToken extracts the token of the first link with prefix in text.
func linkToken(t *testing.T, text, prefix string) string {
	t.Helper()
	i := strings.Index(text, prefix)
	if i < 0 {
		t.Fatalf("no link %q in %q", prefix, text)
	}
	rest := text[i+len(prefix):]
	end := strings.IndexFunc(rest, func(r rune) bool { return r == '\n' || r == ' ' || r == '"' || r == '<' || r == '\r' })
	if end >= 0 {
		rest = rest[:end]
	}
	tok, err := url.QueryUnescape(rest)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRegisterValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("taken@example.com", "taken", "correct horse battery")
		body := func(email, username, p1, p2 string) map[string]string {
			return map[string]string{"email": email, "username": username, "password1": p1, "password2": p2}
		}
		const good = "correct horse battery"
		for _, tc := range []struct {
			name   string
			body   any
			code   string
			detail string
		}{
			// The first failing field is reported, in the order email, username, password1, password2.
			{"all bad", body("nope", "x", "1", "2"), "invalid_email", ""},
			{"username then password", body("a@example.com", "x", "1", "2"), "invalid_username", ""},
			{"password1", body("a@example.com", "alice", "short", "other"), "password_too_short", ""},
			{"mismatch", body("a@example.com", "alice", good, good+"!"), "passwords_mismatch", "Passwords mismatch"},
			{"email exists", body("TAKEN@example.com", "alice", good, good), "email_exists", "Email already exists"},
			{"username exists", body("a@example.com", "TaKeN", good, good), "username_exists", "Username already exists"},
			{"reserved", body("a@example.com", "Admin", good, good), "invalid_username", ""},
			{"missing fields", map[string]string{}, "invalid_email", ""},
			{"wrong types", `{"email": 5}`, "malformed_body", ""},
			{"malformed", `{"email": `, "malformed_body", ""},
			{"trailing data", `{"email":"a@example.com"} {}`, "malformed_body", ""},
			{"not an object", `[1,2]`, "malformed_body", ""},
			{"NUL", body("a@example.com", "ali\x00ce", good, good), "invalid_username", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, c.post("/register", tc.body), 400, tc.code, tc.detail)
			})
		}
		wantError(t, c.post("/register", "{}", "Content-Type", "text/plain"), 415, "unsupported_media_type", "")
		wantError(t, c.post("/register", "email=a", "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type", "")
		big := `{"email":"` + strings.Repeat("a", maxBody) + `"}`
		wantError(t, c.post("/register", big), 413, "body_too_large", "")
		wantError(t, c.post("/register", []byte("{\"email\":\"\xff\xfe\"}")), 400, "malformed_body", "")
		var n int64
		db.Model(&Account{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d accounts after failed registrations", n)
		}
	})
}

func TestRegisterCaptcha(t *testing.T) {
	var calls atomic.Int32
	verifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		r.ParseForm()
		if r.Form.Get("secret") != "captcha-secret" {
			w.WriteHeader(400)
			return
		}
		fmt.Fprintf(w, `{"success": %t, "challenge_ts": "2026-01-02T03:04:00Z", "hostname": "app.example"}`, r.Form.Get("response") == "human")
	}))
	defer verifier.Close()
	db := openTestDB(t, "sqlite")
	e := newEnv(t, db, func(o *Options) {
		o.RecaptchaSecret = "captcha-secret"
		o.RecaptchaVerifyURL = verifier.URL
	})
	c := e.client()
	reg := func(username, captcha string) *response {
		return c.post("/register", map[string]string{"email": username + "@example.com", "username": username,
			"password1": "correct horse battery", "password2": "correct horse battery", "captcha": captcha})
	}
	wantError(t, reg("bob", ""), 400, "wrong_captcha", "Wrong captcha")
	wantError(t, reg("bob", "robot"), 400, "wrong_captcha", "Wrong captcha")
	wantStatus(t, reg("bob", "human"), 200)
	if calls.Load() != 2 {
		t.Fatalf("verifier called %d times, want 2", calls.Load())
	}
	// An unreachable verifier fails closed.
	verifier.Close()
	wantError(t, reg("carol", "human"), 503, "captcha_unavailable", "")

	// Debug skips the captcha.
	d := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.RecaptchaSecret = "captcha-secret"
		o.RecaptchaVerifyURL = verifier.URL
		o.Debug = true
	})
	dc := d.client()
	dc.register("dave@example.com", "dave", "correct horse battery")
}

func TestLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("Eve@Example.com", "Eve", "correct horse battery")
		for _, login := range []string{"eve@example.COM", "EVE", "eve"} {
			c := e.client()
			e.clock.Advance(time.Second)
			r := c.post("/login", map[string]string{"login": login, "password": "correct horse battery"})
			wantStatus(t, r, 200)
			if r.str("username") != "Eve" || r.cookie(accessCookie) == nil || r.cookie(refreshCookie) == nil {
				t.Fatalf("login %q: %s %v", login, r.raw, r.header["Set-Cookie"])
			}
			a := e.account("eve")
			if a.LastLoginAt == nil || !a.LastLoginAt.Equal(e.clock.Now()) {
				t.Fatalf("last_login_at %v, want %v", a.LastLoginAt, e.clock.Now())
			}
			wantStatus(t, c.do("GET", "/api/me", nil), 200)
		}

		// Unknown user and wrong password: one answer.
		c := e.client()
		unknown := c.post("/login", map[string]string{"login": "nobody", "password": "correct horse battery"})
		wrong := c.post("/login", map[string]string{"login": "eve", "password": "wrong password!"})
		wantError(t, unknown, 401, "invalid_credentials", "Invalid credentials")
		if string(unknown.raw) != string(wrong.raw) || wrong.status != unknown.status {
			t.Fatalf("unknown user %s vs wrong password %s", unknown.raw, wrong.raw)
		}
		if unknown.cookie(accessCookie) != nil {
			t.Fatal("failed login set a cookie")
		}
		wantError(t, c.post("/login", map[string]string{"login": "", "password": ""}), 401, "invalid_credentials", "")
		wantError(t, c.post("/login", map[string]string{"login": "eve", "password": strings.Repeat("x", 129)}), 401, "invalid_credentials", "")
		wantError(t, c.post("/login", map[string]string{"login": "eve\x00", "password": "x"}), 400, "invalid_input", "")
		wantError(t, c.post("/login", "nope"), 400, "malformed_body", "")
		wantError(t, c.post("/login", "{}", "Content-Type", ""), 415, "unsupported_media_type", "")
		if strings.Contains(e.logs.String(), "correct horse battery") || strings.Contains(e.logs.String(), "wrong password!") {
			t.Fatal("a password reached the log")
		}
	})
}

func TestLoginUnknownUser404Option(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.NotFoundOnUnknownLogin = true })
		c := e.client()
		c.register("fred@example.com", "fred", "correct horse battery")
		wantError(t, c.post("/login", map[string]string{"login": "nobody", "password": "x"}), 404, "user_not_found", "User not found")
		wantError(t, c.post("/login", map[string]string{"login": "fred", "password": "wrong"}), 401, "invalid_credentials", "")
	})
}

func TestLoginBanned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("gus@example.com", "gus", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "gus").Update("banned", true)
		c := e.client()
		// The ban is revealed only after a correct password.
		wantError(t, c.post("/login", map[string]string{"login": "gus", "password": "wrong password"}), 401, "invalid_credentials", "")
		wantError(t, c.post("/login", map[string]string{"login": "gus", "password": "correct horse battery"}), 400, "user_banned", "User is banned")
	})
}

func TestLoginThrottle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("hal@example.com", "hal", "correct horse battery")
		c := e.client()
		// Distinct login names: the per-account limit (throttle_test.go)
		// stays out of the way of the per-IP one.
		for i := 1; i <= 30; i++ {
			wantStatus(t, c.post("/login", map[string]string{"login": "hal" + strconv.Itoa(i), "password": "wrong"}), 401)
		}
		r := c.post("/login", map[string]string{"login": "hal", "password": "correct horse battery"})
		wantError(t, r, 429, "too_many_requests", "Too many requests")
		if r.header.Get("Retry-After") != "60" {
			t.Fatalf("Retry-After %q, want 60", r.header.Get("Retry-After"))
		}
		e.clock.Advance(30 * time.Second)
		r = c.post("/login", map[string]string{"login": "hal", "password": "correct horse battery"})
		wantStatus(t, r, 429)
		if r.header.Get("Retry-After") != "30" {
			t.Fatalf("Retry-After %q, want 30", r.header.Get("Retry-After"))
		}
		e.clock.Advance(31 * time.Second)
		wantStatus(t, c.post("/login", map[string]string{"login": "hal", "password": "correct horse battery"}), 200)
		// The count lives in the database.
		var th throttleRow
		if err := db.Where("bucket = ?", "login:ip:127.0.0.1").First(&th).Error; err != nil || th.Count != 1 {
			t.Fatalf("throttle row %+v, %v", th, err)
		}
	})
}

func TestLoginRehashesLegacyHashes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("ida@example.com", "ida", "correct horse battery")
		legacy, _ := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
		db.Model(&Account{}).Where("username_key = ?", "ida").Update("password_hash", string(legacy))
		c := e.client()
		wantStatus(t, c.post("/login", map[string]string{"login": "ida", "password": "imported password"}), 200)
		if h := e.account("ida").PasswordHash; !strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("hash not upgraded: %q", h)
		}
		wantStatus(t, c.post("/login", map[string]string{"login": "ida", "password": "imported password"}), 200)
	})
}

// TestLoginRehashKeepsConcurrentChange: a login that verified the old
// hash and upgrades it must not write it over a password change that
// committed while it was hashing.
func TestLoginRehashKeepsConcurrentChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.HashConcurrency = 1 })
		e.client().register("rita@example.com", "rita", "correct horse battery")
		legacy, _ := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
		db.Model(&Account{}).Where("username_key = ?", "rita").Update("password_hash", string(legacy))
		ctx := context.Background()
		changed, err := e.auth.Service().HashPassword(ctx, "the new password", PasswordInfo{})
		if err != nil {
			t.Fatal(err)
		}

		// Hold the only hashing slot: the login reads the account, then waits.
		release, err := e.auth.svc.hasher.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		login := make(chan *response)
		go func() {
			login <- e.client().post("/login", map[string]string{"login": "rita", "password": "imported password"})
		}()
		// Once the login queues for the slot, it has read the account.
		for !goroutineIn("(*hasher).acquire") {
			time.Sleep(5 * time.Millisecond)
		}
		db.Model(&Account{}).Where("username_key = ?", "rita").Update("password_hash", changed)
		release()
		wantStatus(t, <-login, 200)

		if h := e.account("rita").PasswordHash; h != changed {
			t.Fatalf("the login's rehash replaced the changed password: %q", h)
		}
		c := e.client()
		wantStatus(t, c.post("/login", map[string]string{"login": "rita", "password": "imported password"}), 401)
		wantStatus(t, c.post("/login", map[string]string{"login": "rita", "password": "the new password"}), 200)
	})
}

// goroutineIn reports whether some goroutine is running or blocked in fn.
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(fn))
}

// TestLoginWritesAtomically: the session, the login time, the backoff
// reset and the login event commit together; when one of them fails the
// login fails and leaves nothing behind.
func TestLoginWritesAtomically(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		id := userID(e.client().register("lou@example.com", "lou", "correct horse battery"))
		wantStatus(t, e.client().post("/login", map[string]string{"login": "lou", "password": "wrong password!"}), 401)
		// A trigger refuses the login event.
		refuseInserts(t, db, "security_events", "NEW.event = 'login'")
		var sessions int64
		db.Model(&session{}).Where("user_id = ?", id).Count(&sessions)
		lastLogin := e.account("lou").LastLoginAt

		wantStatus(t, e.client().post("/login", map[string]string{"login": "lou", "password": "correct horse battery"}), 500)
		var n int64
		if db.Model(&session{}).Where("user_id = ?", id).Count(&n); n != sessions {
			t.Errorf("%d sessions after the failed login, want %d", n, sessions)
		}
		if a := e.account("lou"); (a.LastLoginAt == nil) != (lastLogin == nil) || lastLogin != nil && !a.LastLoginAt.Equal(*lastLogin) {
			t.Errorf("last login moved by a failed login: %v, was %v", a.LastLoginAt, lastLogin)
		}
		// The failure before stays counted; the try that failed is taken back.
		var backoff throttleRow
		if err := db.Where("bucket = ?", loginBucketKeys(t, db, "lou", "127.0.0.1")[0]).First(&backoff).Error; err != nil || backoff.Count != 1 {
			t.Errorf("backoff counter = %+v, %v; want the one failure", backoff, err)
		}
	})
}

// TestLoginAdmitFailure: the checks before the hash look the account up
// before they count anything, so a failed lookup counts no try; a failure
// while counting rolls the IP's count back: the counts share a
// transaction.
func TestLoginAdmitFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("ada@example.com", "ada", "correct horse battery")
		counts := func() (ip, account int64) {
			var rows []throttleRow
			db.Where("bucket LIKE ?", "login:%").Find(&rows)
			for _, r := range rows {
				if strings.HasPrefix(r.Key, "login:ip:") {
					ip += r.Count
				} else {
					account += r.Count
				}
			}
			return ip, account
		}
		login := func() *response {
			return e.client().post("/login", map[string]string{"login": "ada", "password": "correct horse battery"})
		}

		mustExec(t, db, "ALTER TABLE users RENAME TO users_away")
		wantStatus(t, login(), 500)
		mustExec(t, db, "ALTER TABLE users_away RENAME TO users")
		if ip, account := counts(); ip != 0 || account != 0 {
			t.Fatalf("a failed lookup counted %d IP and %d account tries", ip, account)
		}

		refuseInserts(t, db, "throttles", "NEW.bucket LIKE 'login:account:%'")
		wantStatus(t, login(), 500)
		if ip, account := counts(); ip != 0 || account != 0 {
			t.Fatalf("a failed count left %d IP and %d account tries, want none", ip, account)
		}
	})
}

func mustExec(t *testing.T, db *gorm.DB, q string) {
	t.Helper()
	if err := db.Exec(q).Error; err != nil {
		t.Fatal(err)
	}
}

func TestLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("jan@example.com", "jan", "correct horse battery")
		refresh := c.jarCookie(testBase, refreshCookie)
		r := c.post("/logout", nil)
		wantStatus(t, r, 200)
		for _, name := range []string{accessCookie, refreshCookie} {
			ck := r.cookie(name)
			if ck == nil || ck.MaxAge != -1 || !ck.HttpOnly || !ck.Secure || ck.Value != "" {
				t.Fatalf("%s not expired: %+v", name, ck)
			}
			if !strings.Contains(strings.Join(r.header["Set-Cookie"], "\n"), name+"=; Path=") {
				t.Fatal("expiry cookie lacks Path")
			}
		}
		if r.cookie(accessCookie).Path != "/" || r.cookie(refreshCookie).Path != testBase ||
			r.cookie(accessCookie).SameSite != http.SameSiteLaxMode || r.cookie(refreshCookie).SameSite != http.SameSiteStrictMode {
			t.Fatal("expiry cookies differ from the cookies set")
		}
		if !strings.Contains(strings.Join(r.header["Set-Cookie"], "\n"), "Max-Age=0") {
			t.Fatal("no Max-Age=0")
		}
		// The session is revoked server-side: the old refresh token is dead.
		replay := e.client()
		replay.hdr.Set("Cookie", refreshCookie+"="+refresh)
		wantError(t, replay.post("/token/refresh", nil), 401, "invalid_token", "")
		var s session
		db.First(&s)
		if s.RevokedAt == nil {
			t.Fatal("session not revoked")
		}
		// Idempotent, and fine without cookies.
		wantStatus(t, replay.post("/logout", nil), 200)
		wantStatus(t, e.client().post("/logout", nil), 200)
		wantStatus(t, e.client().post("/logout", "", "Content-Type", "text/plain"), 200)
	})
}

func TestToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		reg := c.register("kim@example.com", "kim", "correct horse battery")
		id := int64(reg.json["id"].(float64))
		r := c.post("/token", nil)
		wantStatus(t, r, 200)
		if r.str("username") != "kim" || int64(r.json["id"].(float64)) != id || r.str("type") != "access" ||
			r.json["exp"] == nil || r.json["iat"] == nil || r.str("sid") == "" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("claims %s", r.raw)
		}
		access := c.jarCookie("/", accessCookie)
		refresh := c.jarCookie(testBase, refreshCookie)
		bearer := e.client()
		wantStatus(t, bearer.post("/token", nil, "Authorization", "Bearer "+access), 200)
		wantError(t, e.client().post("/token", nil), 401, "unauthorized", "")
		wantError(t, bearer.post("/token", nil, "Authorization", "Bearer garbage"), 401, "unauthorized", "")
		// A refresh token is never an access token.
		wantError(t, bearer.post("/token", nil, "Authorization", "Bearer "+refresh), 401, "unauthorized", "")
		bearer.hdr.Set("Cookie", accessCookie+"="+refresh)
		wantError(t, bearer.post("/token", nil), 401, "unauthorized", "")
		// Nor the reverse.
		swap := e.client()
		swap.hdr.Set("Cookie", refreshCookie+"="+access)
		wantError(t, swap.post("/token/refresh", nil), 401, "invalid_token", "")
		// Expired access token.
		e.clock.Advance(16 * time.Minute)
		wantError(t, c.post("/token", nil, "Cookie", accessCookie+"="+access), 401, "unauthorized", "")
	})
}

func TestRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("lea@example.com", "lea", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "lea").Updates(map[string]any{"permissions": Permissions{"reports"}})
		e.clock.Advance(time.Minute)
		r := c.post("/token/refresh", nil)
		wantStatus(t, r, 200)
		if r.str("access") == "" || r.cookie(accessCookie) == nil || r.cookie(accessCookie).Value != r.str("access") ||
			r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh response %s %v", r.raw, r.header)
		}
		// Permissions are read fresh from the database.
		me := c.do("GET", "/api/reports", nil)
		wantStatus(t, me, 200)

		wantError(t, e.client().post("/token/refresh", nil), 401, "invalid_token", "")
		unknown := e.client()
		unknown.hdr.Set("Cookie", refreshCookie+"=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		wantError(t, unknown.post("/token/refresh", nil), 401, "invalid_token", "")
		unknown.hdr.Set("Cookie", refreshCookie+"="+strings.Repeat("A", 5000))
		wantError(t, unknown.post("/token/refresh", nil), 401, "invalid_token", "")

		// Banned, then deleted users.
		db.Model(&Account{}).Where("username_key = ?", "lea").Update("banned", true)
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")
		db.Model(&Account{}).Where("username_key = ?", "lea").Update("banned", false)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		db.Where("username_key = ?", "lea").Delete(&Account{})
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")
	})
}

func TestRefreshExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.RefreshTTL = 10 * 24 * time.Hour; o.RefreshIdleTTL = 3 * 24 * time.Hour })
		c := e.client()
		c.register("max@example.com", "max", "correct horse battery")
		// Used every two days, the session lives until its absolute end.
		for i := 0; i < 4; i++ {
			e.clock.Advance(2 * 24 * time.Hour)
			wantStatus(t, c.post("/token/refresh", nil), 200)
		}
		e.clock.Advance(2*24*time.Hour + time.Second)
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")

		// Idle for longer than the idle timeout.
		c2 := e.client()
		wantStatus(t, c2.post("/login", map[string]string{"login": "max", "password": "correct horse battery"}), 200)
		e.clock.Advance(3*24*time.Hour + time.Second)
		wantError(t, c2.post("/token/refresh", nil), 401, "invalid_token", "")
	})
}

func TestConfirm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("ned@example.com", "ned", "correct horse battery")
		first := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")

		r := c.do("GET", testBase+"/confirm", nil)
		wantStatus(t, r, 200)
		if r.str("email") != "ned@example.com" || r.json["confirmed"] != false {
			t.Fatalf("status %s", r.raw)
		}
		wantError(t, e.client().do("GET", testBase+"/confirm", nil), 401, "unauthorized", "")
		wantError(t, e.client().post("/confirm", nil), 401, "unauthorized", "")

		// Two requests per 30 minutes; each new link replaces the last.
		wantStatus(t, c.post("/confirm", nil), 200)
		second := linkToken(t, e.mail.wait(t, 2).Text, "/confirm?token=")
		wantStatus(t, c.post("/confirm", nil), 200)
		third := linkToken(t, e.mail.wait(t, 3).Text, "/confirm?token=")
		r = c.post("/confirm", nil)
		wantError(t, r, 429, "too_many_requests", "")
		if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 1800 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		anon := e.client()
		wantError(t, anon.post("/confirm/"+first, nil), 403, "invalid_confirmation_token", "")
		wantError(t, anon.post("/confirm/"+second, nil), 403, "invalid_confirmation_token", "")
		wantError(t, anon.post("/confirm/nonsense", nil), 403, "invalid_confirmation_token", "")
		wantStatus(t, anon.post("/confirm/"+third, nil), 200)
		wantError(t, anon.post("/confirm/"+third, nil), 403, "invalid_confirmation_token", "")
		r = c.do("GET", testBase+"/confirm", nil)
		if r.json["confirmed"] != true {
			t.Fatalf("not confirmed: %s", r.raw)
		}
		e.clock.Advance(31 * time.Minute)
		wantStatus(t, c.post("/token/refresh", nil), 200)
		wantError(t, c.post("/confirm", nil), 400, "already_confirmed", "Email already confirmed")
		if strings.Contains(e.logs.String(), third) {
			t.Fatal("a confirmation token reached the log")
		}
		var ec emailConfirmation
		db.Where("used_at IS NOT NULL").First(&ec)
		if ec.TokenHash == third || len(ec.TokenHash) != 64 {
			t.Fatal("token not stored hashed")
		}
	})
}

func TestConfirmExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.client().register("ola@example.com", "ola", "correct horse battery")
		token := linkToken(t, e.mail.wait(t, 1).Text, "/confirm?token=")
		e.clock.Advance(48*time.Hour + time.Second)
		wantError(t, e.client().post("/confirm/"+token, nil), 403, "invalid_confirmation_token", "")
	})
}

func TestConfirmMailFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("pia@example.com", "pia", "correct horse battery")
		e.mail.wait(t, 1)
		e.mail.setFail(fmt.Errorf("smtp down"))
		// A failed send is a 503 and does not use up the quota.
		for i := 0; i < 3; i++ {
			wantError(t, c.post("/confirm", nil), 503, "mail_unavailable", "")
		}
		e.mail.setFail(nil)
		wantStatus(t, c.post("/confirm", nil), 200)
		wantStatus(t, c.post("/confirm", nil), 200)
		wantStatus(t, c.post("/confirm", nil), 429)
	})
}

func TestChangeUsername(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		var events []UsernameChangeEvent
		e := newEnv(t, db, func(o *Options) {
			o.Hooks.OnUsernameChange = func(_ context.Context, ev UsernameChangeEvent) { events = append(events, ev) }
		})
		self := e.client()
		selfID := int64(self.register("quin@example.com", "quin", "correct horse battery").json["id"].(float64))
		other := e.client()
		otherID := int64(other.register("rae@example.com", "rae", "correct horse battery").json["id"].(float64))
		path := func(id any) string { return fmt.Sprintf("/%v/change_username", id) }

		r := self.post(path(selfID), map[string]string{"username": "Quinn"})
		wantStatus(t, r, 200)
		if r.str("username") != "Quinn" || int64(r.json["id"].(float64)) != selfID || len(r.json) != 2 {
			t.Fatalf("body %s", r.raw)
		}
		if len(events) != 1 || events[0].OldUsername != "quin" || events[0].NewUsername != "Quinn" {
			t.Fatalf("hook events %+v", events)
		}
		wantError(t, self.post(path(otherID), map[string]string{"username": "zed"}), 403, "forbidden", "")
		wantError(t, self.post(path("abc"), map[string]string{"username": "zed"}), 403, "forbidden", "")
		wantError(t, self.post(path(selfID), map[string]string{"username": "Quinn"}), 400, "same_username", "Enter NEW username")
		wantError(t, self.post(path(selfID), map[string]string{"username": "RAE"}), 400, "username_exists", "Username already exists")
		wantError(t, self.post(path(selfID), map[string]string{"username": "a b"}), 400, "invalid_username", "")
		wantError(t, self.post(path(selfID), "{"), 400, "malformed_body", "")
		wantError(t, e.client().post(path(selfID), map[string]string{"username": "zed"}), 401, "unauthorized", "")

		// An admin may rename others; ids are checked.
		db.Model(&Account{}).Where("id = ?", otherID).Update("permissions", Permissions{"admin"})
		wantStatus(t, other.post("/token/refresh", nil), 200)
		wantStatus(t, other.post(path(selfID), map[string]string{"username": "quin2"}), 200)
		wantError(t, other.post(path("abc"), map[string]string{"username": "zed"}), 400, "invalid_id", "")
		wantError(t, other.post(path("1 OR 1=1"), map[string]string{"username": "zed"}), 400, "invalid_id", "")
		wantError(t, other.post(path(-1), map[string]string{"username": "zed"}), 400, "invalid_id", "")
		wantError(t, other.post(path(987654), map[string]string{"username": "zed"}), 404, "user_not_found", "")
		if e.account("quin2").ID != selfID {
			t.Fatal("rename not stored")
		}
	})
}

func TestMiddleware(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("sam@example.com", "sam", "correct horse battery")
		wantStatus(t, c.do("GET", "/api/me", nil), 200)
		wantError(t, e.client().do("GET", "/api/me", nil), 401, "unauthorized", "")
		wantError(t, c.do("GET", "/api/admin", nil), 403, "forbidden", "")
		wantError(t, e.client().do("GET", "/api/admin", nil), 401, "unauthorized", "")
		wantError(t, c.do("GET", "/api/reports", nil), 403, "forbidden", "")
		r := e.client().do("GET", "/api/maybe", nil)
		if r.status != 200 || r.json["ok"] != false {
			t.Fatalf("optional anonymous %s", r.raw)
		}
		r = c.do("GET", "/api/maybe", nil)
		if r.status != 200 || r.json["ok"] != true {
			t.Fatalf("optional user %s", r.raw)
		}
		db.Model(&Account{}).Where("username_key = ?", "sam").Update("permissions", Permissions{"admin", "reports"})
		wantStatus(t, c.post("/token/refresh", nil), 200)
		wantStatus(t, c.do("GET", "/api/admin", nil), 200)
		wantStatus(t, c.do("GET", "/api/reports", nil), 200)
		// The middleware does not touch the database in its default mode:
		// with the pool closed, protected routes keep serving.
		sqlDB, _ := db.DB()
		sqlDB.Close()
		wantStatus(t, c.do("GET", "/api/admin", nil), 200)
		wantError(t, c.post("/token/refresh", nil), 503, "unavailable", "")
	})
}

// TestTwoPluginsAreIndependent mounts two plugins with different secrets in
// one process: a token of one is worthless to the other.
func TestTwoPluginsAreIndependent(t *testing.T) {
	a := newEnv(t, openTestDB(t, "sqlite"))
	b := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.Secret = []byte("another secret of at least 32 bytes!!") })
	c := a.client()
	c.register("tom@example.com", "tom", "correct horse battery")
	access := c.jarCookie("/", accessCookie)
	wantStatus(t, a.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+access), 200)
	wantError(t, b.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+access), 401, "unauthorized", "")
}

// A mail that cannot be sent after register is logged and never fails the
// registration.
func TestRegisterMailFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		e.mail.setFail(fmt.Errorf("smtp down"))
		c := e.client()
		c.register("uma@example.com", "uma", "correct horse battery")
		wantStatus(t, c.do("GET", "/api/me", nil), 200)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.logs.String(), "mail delivery failed") {
			if time.Now().After(deadline) {
				t.Fatalf("failure not logged: %s", e.logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// Reserved usernames are refused at register and change_username, compared
// by canonical key; Options.ReservedUsernames replaces the built-in list,
// and an empty list reserves none.
func TestReservedUsernames(t *testing.T) {
	reg := func(c *client, email, username string) *response {
		return c.post("/register", map[string]string{"email": email, "username": username,
			"password1": "correct horse battery", "password2": "correct horse battery"})
	}
	t.Run("built-in", func(t *testing.T) {
		e := newEnv(t, openTestDB(t, "sqlite"))
		wantError(t, reg(e.client(), "a@example.com", "Admin"), 400, "invalid_username", "Username is reserved")
		c := e.client()
		r := c.register("ann@example.com", "ann", "correct horse battery")
		id := int64(r.json["id"].(float64))
		wantError(t, c.post(fmt.Sprintf("/%d/change_username", id), map[string]string{"username": "ＲＯＯＴ"}),
			400, "invalid_username", "Username is reserved")
	})
	t.Run("custom", func(t *testing.T) {
		e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.ReservedUsernames = []string{"Boss"} })
		wantError(t, reg(e.client(), "b@example.com", "ｂｏｓｓ"), 400, "invalid_username", "Username is reserved")
		wantStatus(t, reg(e.client(), "a@example.com", "admin"), 200)
	})
	t.Run("none", func(t *testing.T) {
		e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.ReservedUsernames = []string{} })
		wantStatus(t, reg(e.client(), "a@example.com", "admin"), 200)
	})
}
