package authgin

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgin/authgin/internal/sealbox"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"
)

// TestTOTPRFC6238Vectors checks pquerna/otp, as service_mfa.go calls it,
// against RFC 6238 appendix B (8 digits, SHA1, SHA256 and SHA512 with the
// appendix's seeds).
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := map[otp.Algorithm]string{
		otp.AlgorithmSHA1:   "12345678901234567890",
		otp.AlgorithmSHA256: "12345678901234567890123456789012",
		otp.AlgorithmSHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix int64
		alg  otp.Algorithm
		code string
	}{
		{59, otp.AlgorithmSHA1, "94287082"}, {59, otp.AlgorithmSHA256, "46119246"}, {59, otp.AlgorithmSHA512, "90693936"},
		{1111111109, otp.AlgorithmSHA1, "07081804"}, {1111111109, otp.AlgorithmSHA256, "68084774"}, {1111111109, otp.AlgorithmSHA512, "25091201"},
		{1111111111, otp.AlgorithmSHA1, "14050471"}, {1111111111, otp.AlgorithmSHA256, "67062674"}, {1111111111, otp.AlgorithmSHA512, "99943326"},
		{1234567890, otp.AlgorithmSHA1, "89005924"}, {1234567890, otp.AlgorithmSHA256, "91819424"}, {1234567890, otp.AlgorithmSHA512, "93441116"},
		{2000000000, otp.AlgorithmSHA1, "69279037"}, {2000000000, otp.AlgorithmSHA256, "90698825"}, {2000000000, otp.AlgorithmSHA512, "38618901"},
		{20000000000, otp.AlgorithmSHA1, "65353130"}, {20000000000, otp.AlgorithmSHA256, "77737706"}, {20000000000, otp.AlgorithmSHA512, "47863826"},
	}
	for _, v := range vectors {
		secret := base32.StdEncoding.EncodeToString([]byte(seeds[v.alg]))
		got, err := totp.GenerateCodeCustom(secret, time.Unix(v.unix, 0).UTC(),
			totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: v.alg})
		if err != nil || got != v.code {
			t.Errorf("T=%d %v: %q %v, want %q", v.unix, v.alg, got, err, v.code)
		}
	}
}

// mfaUser registers a user, enables TOTP and returns its client (logged
// in), the TOTP secret and the recovery codes.
func mfaUser(t *testing.T, e *testEnv, name string) (*client, string, []string) {
	t.Helper()
	c := e.client()
	c.register(name+"@example.com", name, "correct horse battery")
	r := c.post("/mfa/totp/setup", nil)
	wantStatus(t, r, 200)
	secret := r.str("secret")
	if secret == "" || !strings.HasPrefix(r.str("otpauth_url"), "otpauth://totp/") ||
		!strings.HasPrefix(r.str("qr_png"), "data:image/png;base64,") {
		t.Fatalf("setup: %s", r.raw)
	}
	wantError(t, c.post("/mfa/totp/enable", map[string]string{"code": wrongCode(t, e, secret)}), 401, "invalid_code", "")
	r = c.post("/mfa/totp/enable", map[string]string{"code": code(t, e, secret, 0)})
	wantStatus(t, r, 200)
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil || len(out.Codes) != 10 {
		t.Fatalf("enable: %s", r.raw)
	}
	e.clock.Advance(30 * time.Second) // the enabling code's step is used
	return c, secret, out.Codes
}

// code is the TOTP code of secret at the fake clock's time plus steps.
func code(t *testing.T, e *testEnv, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a six-digit code that none of the steps around now has.
func wrongCode(t *testing.T, e *testEnv, secret string) string {
	t.Helper()
	taken := map[string]bool{}
	for d := -2; d <= 2; d++ {
		taken[code(t, e, secret, d)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !taken[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// startLogin logs in with the password and returns the mfa_token.
func startLogin(t *testing.T, c *client, login string, hdr ...string) string {
	t.Helper()
	r := c.post("/login", map[string]string{"login": login, "password": "correct horse battery"}, hdr...)
	wantStatus(t, r, 200)
	if r.json["mfa_required"] != true || r.str("mfa_token") == "" || r.cookie(accessCookie) != nil || r.cookie(refreshCookie) != nil {
		t.Fatalf("login of an account with a second factor: %s %v", r.raw, r.header["Set-Cookie"])
	}
	return r.str("mfa_token")
}

func claimsOf(t *testing.T, c *client) map[string]any {
	t.Helper()
	r := c.post("/token", nil)
	wantStatus(t, r, 200)
	return r.json
}

func TestMFATOTPLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		owner, secret, _ := mfaUser(t, e, "ann")
		if amr := claimsOf(t, owner)["amr"]; len(amr.([]any)) != 1 || amr.([]any)[0] != "pwd" {
			t.Fatalf("amr of a password login %v", amr)
		}
		wantError(t, owner.do("GET", "/api/mfa_only", nil), 403, "mfa_required", "")
		r := owner.do("GET", testBase+"/mfa", nil)
		wantStatus(t, r, 200)
		if r.json["totp"].(map[string]any)["enabled"] != true || r.json["recovery_codes_left"] != 10.0 {
			t.Fatalf("GET /mfa %s", r.raw)
		}
		if m := e.mail.waitWith(t, 1, "second factors of your"); m.To != "ann@example.com" {
			t.Fatalf("mail to %q", m.To)
		}

		c := e.client()
		tok := startLogin(t, c, "ann")
		wantStatus(t, c.do("GET", "/api/me", nil), 401)

		// A wrong code: 401 invalid_code, a failed login, the token lives.
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": wrongCode(t, e, secret)}), 401, "invalid_code", "")
		var failed int64
		db.Model(&SecurityEvent{}).Where("event = ? AND detail = ?", EventLoginFailed, "second factor").Count(&failed)
		if failed != 1 {
			t.Fatalf("%d login_failed events for a wrong code, want 1", failed)
		}
		good := code(t, e, secret, 0)
		r = c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": good})
		wantStatus(t, r, 200)
		if r.str("username") != "ann" || r.cookie(accessCookie) == nil || r.cookie(refreshCookie) == nil {
			t.Fatalf("login/mfa: %s", r.raw)
		}
		amr := claimsOf(t, c)["amr"].([]any)
		if len(amr) != 2 || amr[0] != "pwd" || amr[1] != "otp" {
			t.Fatalf("amr %v", amr)
		}
		wantStatus(t, c.do("GET", "/api/mfa_only", nil), 200)
		r = c.do("GET", testBase+"/sessions", nil)
		if !strings.Contains(string(r.raw), `"amr":["pwd","otp"]`) {
			t.Fatalf("sessions %s", r.raw)
		}
		// The refreshed access token keeps the amr.
		wantStatus(t, c.post("/token/refresh", nil), 200)
		if amr := claimsOf(t, c)["amr"].([]any); len(amr) != 2 {
			t.Fatalf("amr after refresh %v", amr)
		}

		// A stolen mfa_token after use is refused, even with a fresh code.
		e.clock.Advance(30 * time.Second)
		wantError(t, e.client().post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 0)}), 401, "invalid_mfa_token", "")
		// A replayed code: its step is used.
		tok2 := startLogin(t, e.client(), "ann")
		wantError(t, e.client().post("/login/mfa", map[string]string{"mfa_token": tok2, "code": good}), 401, "invalid_code", "")
		// An expired token.
		tok3 := startLogin(t, e.client(), "ann")
		e.clock.Advance(mfaTokenTTL + time.Second)
		wantError(t, e.client().post("/login/mfa", map[string]string{"mfa_token": tok3, "code": code(t, e, secret, 0)}), 401, "invalid_mfa_token", "")
		wantError(t, e.client().post("/login/mfa", map[string]string{"mfa_token": "nope", "code": "123456"}), 401, "invalid_mfa_token", "")
		wantError(t, e.client().post("/login/mfa", "{"), 400, "malformed_body", "")
	})
}

func TestMFATOTPSkew(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		_, secret, _ := mfaUser(t, e, "sam")
		e.clock.Advance(time.Minute) // the steps around now are unused
		c := e.client()
		// Two steps off: refused either way.
		tok := startLogin(t, c, "sam")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, -2)}), 401, "invalid_code", "")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 2)}), 401, "invalid_code", "")
		// One step behind: accepted.
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, -1)}), 200)
		// One step ahead: accepted, and then the current step is behind
		// the last used one: refused.
		tok = startLogin(t, c, "sam")
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 1)}), 200)
		tok = startLogin(t, c, "sam")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 0)}), 401, "invalid_code", "")
	})
}

func TestMFARecoveryCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		_, _, codes := mfaUser(t, e, "rae")
		var stored []recoveryCode
		db.Find(&stored)
		for _, s := range stored {
			for _, c := range codes {
				if strings.Contains(s.CodeHash, strings.ReplaceAll(c, "-", "")) {
					t.Fatal("a recovery code is stored as it is")
				}
			}
		}
		c := e.client()
		tok := startLogin(t, c, "rae")
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": strings.ToUpper(codes[3])}), 200)
		if amr := claimsOf(t, c)["amr"].([]any); len(amr) != 2 || amr[1] != "otp" {
			t.Fatalf("amr %v", amr)
		}
		r := c.do("GET", testBase+"/mfa", nil)
		if r.json["recovery_codes_left"] != 9.0 {
			t.Fatalf("GET /mfa %s", r.raw)
		}
		// Single use.
		tok = startLogin(t, c, "rae")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": codes[3]}), 401, "invalid_code", "")
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": codes[4]}), 200)

		// New codes replace the old ones.
		wantError(t, c.post("/mfa/recovery_codes", map[string]string{"password": "wrong one!"}), 400, "wrong_password", "")
		r = c.post("/mfa/recovery_codes", map[string]string{"password": "correct horse battery"})
		wantStatus(t, r, 200)
		var fresh struct {
			Codes []string `json:"recovery_codes"`
		}
		if err := json.Unmarshal(r.raw, &fresh); err != nil || len(fresh.Codes) != 10 {
			t.Fatalf("new codes %s", r.raw)
		}
		tok = startLogin(t, c, "rae")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": codes[5]}), 401, "invalid_code", "")
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": fresh.Codes[0]}), 200)
	})
}

func TestMFAThrottlesGuesses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		_, secret, _ := mfaUser(t, e, "gus")
		c := e.client()
		tok := startLogin(t, c, "gus")
		bad := wrongCode(t, e, secret)
		free := e.auth.o.Limits.MFAAccount.Free
		for i := int64(0); i < free; i++ {
			wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": bad}), 401, "invalid_code", "")
		}
		r := c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 0)})
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// Another IP, a new login: the account's bucket still waits.
		tok2 := startLogin(t, e.client(), "gus")
		wantError(t, e.client().post("/login/mfa", map[string]string{"mfa_token": tok2, "code": code(t, e, secret, 0)}), 429, "too_many_requests", "")
		// The wait ends; the right code then passes and resets the count.
		e.clock.Advance(2 * time.Second)
		wantStatus(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 0)}), 200)
		e.clock.Advance(30 * time.Second)
		tok = startLogin(t, c, "gus")
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": bad}), 401, "invalid_code", "")
	})
}

func TestMFASecretSealed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		_, secret, _ := mfaUser(t, e, "sue")
		var row totpFactor
		if err := db.First(&row).Error; err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row.Secret, secret) || !strings.HasPrefix(row.Secret, "v1:") {
			t.Fatalf("stored secret %q", row.Secret)
		}
		// Not with another key, nor as another user's row.
		other, _ := sealbox.New([]byte(strings.Repeat("o", 32)), "totp secret")
		if _, err := other.Open(row.Secret, totpAD(row.UserID)); err == nil {
			t.Fatal("opened with another key")
		}
		if _, err := e.auth.svc.mfa.box.Open(row.Secret, totpAD(row.UserID+1)); err == nil {
			t.Fatal("opened as another user's")
		}
		if got, err := e.auth.svc.mfa.box.Open(row.Secret, totpAD(row.UserID)); err != nil || string(got) != secret {
			t.Fatalf("own key: %q %v", got, err)
		}
		// A plugin with another MFAKey cannot check codes.
		e2 := newEnv(t, db, func(o *Options) { o.MFAKey = []byte(strings.Repeat("m", 32)); o.SkipMigration = true })
		e2.clock.Advance(time.Hour)
		c := e2.client()
		tok := startLogin(t, c, "sue")
		c2, err := totp.GenerateCode(secret, e2.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": c2}), 401, "invalid_code", "")
	})
}

func TestMFADisableAndReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		owner, secret, _ := mfaUser(t, e, "dan")
		wantError(t, owner.post("/mfa/totp/setup", nil), 400, "totp_enabled", "")
		wantError(t, owner.post("/mfa/totp/disable", map[string]string{}), 400, "invalid_input", "")
		wantError(t, owner.post("/mfa/totp/disable", map[string]string{"password": "wrong one!"}), 400, "wrong_password", "")
		wantError(t, owner.post("/mfa/totp/disable", map[string]string{"code": wrongCode(t, e, secret)}), 401, "invalid_code", "")
		wantStatus(t, owner.post("/mfa/totp/disable", map[string]string{"code": code(t, e, secret, 0)}), 200)
		wantError(t, owner.post("/mfa/totp/disable", map[string]string{"password": "correct horse battery"}), 400, "totp_not_enabled", "")
		r := e.client().post("/login", map[string]string{"login": "dan", "password": "correct horse battery"})
		wantStatus(t, r, 200)
		if r.str("username") != "dan" {
			t.Fatalf("login after disable: %s", r.raw)
		}
		var n int64
		db.Model(&recoveryCode{}).Count(&n)
		if n != 0 {
			t.Fatalf("%d recovery codes left after disable", n)
		}

		// Enable again; disable with the password.
		e.clock.Advance(time.Minute)
		wantStatus(t, owner.post("/mfa/totp/enable", map[string]string{"code": "123456"}), 400) // no pending setup
		r = owner.post("/mfa/totp/setup", nil)
		secret = r.str("secret")
		wantStatus(t, owner.post("/mfa/totp/enable", map[string]string{"code": code(t, e, secret, 0)}), 200)
		wantStatus(t, owner.post("/mfa/totp/disable", map[string]string{"password": "correct horse battery"}), 200)

		// An admin's reset, for a lost device.
		e.clock.Advance(time.Minute)
		r = owner.post("/mfa/totp/setup", nil)
		wantStatus(t, owner.post("/mfa/totp/enable", map[string]string{"code": code(t, e, r.str("secret"), 0)}), 200)
		admin := e.client()
		admin.register("boss@example.com", "boss", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "boss").Update("permissions", Permissions{PermissionAdmin})
		admin = e.client()
		wantStatus(t, admin.post("/login", map[string]string{"login": "boss", "password": "correct horse battery"}), 200)
		id := e.account("dan").ID
		wantError(t, owner.do("DELETE", testBase+"/"+itoa(id)+"/mfa", nil), 403, "forbidden", "")
		wantStatus(t, admin.do("DELETE", testBase+"/"+itoa(id)+"/mfa", nil), 200)
		wantError(t, admin.do("DELETE", testBase+"/999999/mfa", nil), 404, "user_not_found", "")
		r = e.client().post("/login", map[string]string{"login": "dan", "password": "correct horse battery"})
		if r.status != 200 || r.json["mfa_required"] != nil {
			t.Fatalf("login after reset: %s", r.raw)
		}
		var events []SecurityEvent
		db.Where("user_id = ?", id).Order("id").Find(&events)
		var kinds []string
		for _, ev := range events {
			kinds = append(kinds, ev.Event)
		}
		got := strings.Join(kinds, ",")
		for _, want := range []string{EventTOTPEnabled, EventTOTPDisabled, EventMFAReset} {
			if !strings.Contains(got, want) {
				t.Fatalf("events %s lack %s", got, want)
			}
		}
	})
}

func TestMFABearerLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.BearerClients = true })
		_, secret, _ := mfaUser(t, e, "bea")
		c := e.client()
		tok := startLogin(t, c, "bea", "X-Auth-Mode", "bearer")
		r := c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, e, secret, 0)}, "X-Auth-Mode", "bearer")
		wantStatus(t, r, 200)
		if r.str("access_token") == "" || r.str("refresh_token") == "" || r.cookie(accessCookie) != nil {
			t.Fatalf("bearer login/mfa: %s", r.raw)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestMFAChallengesPruned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1 })
		mfaUser(t, e, "pat")
		startLogin(t, e.client(), "pat")
		e.clock.Advance(mfaTokenTTL + pruneGrace + time.Second)
		live := startLogin(t, e.client(), "pat")
		r, err := e.auth.Service().Prune(t.Context())
		if err != nil || r.MFAChallenges != 1 {
			t.Fatalf("prune: %+v %v", r, err)
		}
		var left []mfaChallenge
		db.Find(&left)
		if len(left) != 1 || left[0].TokenHash != hashOpaque(live) {
			t.Fatalf("left %+v", left)
		}
	})
}

// TestMFAAcrossInstances: every step of a second-factor login and of a
// passkey ceremony may reach another instance (all state is in the
// database).
func TestMFAAcrossInstances(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		a := newEnv(t, open(t))
		b := newEnv(t, open(t))
		owner, secret, _ := mfaUser(t, a, "ina")
		b.clock.Advance(a.clock.Now().Sub(b.clock.Now()))
		tok := startLogin(t, a.client(), "ina")
		cb := b.client()
		wantStatus(t, cb.post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, b, secret, 0)}), 200)
		wantError(t, a.client().post("/login/mfa", map[string]string{"mfa_token": tok, "code": code(t, a, secret, 1)}), 401, "invalid_mfa_token", "")

		// A passkey ceremony begun on A finishes on B, and the other way.
		k := newSoftKey(t)
		ownerB := b.client()
		ownerB.jar, ownerB.hc.Jar = owner.jar, owner.jar // one browser, two servers
		begin := owner.post("/webauthn/register/begin", nil)
		wantStatus(t, ownerB.post("/webauthn/register/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": k.create(begin.json)}), 200)
		begin = b.client().post("/webauthn/login/begin", nil)
		r := a.client().post("/webauthn/login/finish", map[string]any{"ceremony": begin.str("ceremony"), "credential": k.get(begin.json)})
		wantStatus(t, r, 200)
		if r.str("username") != "ina" {
			t.Fatalf("passkey login %s", r.raw)
		}
	})
}

// TestMFATokenRace: of parallel second steps with one mfa_token and one
// right code, exactly one logs in.
func TestMFATokenRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		_, secret, _ := mfaUser(t, e, "ray")
		tok := startLogin(t, e.client(), "ray")
		good := code(t, e, secret, 0)
		const n = 8
		clients := make([]*client, n)
		for i := range clients {
			clients[i] = e.client()
		}
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() {
				statuses <- c.post("/login/mfa", map[string]string{"mfa_token": tok, "code": good}).status
			})
		}
		wg.Wait()
		close(statuses)
		ok := 0
		for s := range statuses {
			switch s {
			case 200:
				ok++
			case 401, 429: // the token or step used; or MFAAccount's burst guard
			default:
				t.Fatalf("status %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d parallel second steps logged in, want 1", ok, n)
		}
	})
}

// TestAccessTokenAMR: the amr claim is written as encoding/json writes it
// (the canonical payload check accepts it), read back, bound by the
// signature, and a cache hit of such a token allocates nothing.
func TestAccessTokenAMR(t *testing.T) {
	tk := mustTokens(t, nil)
	raw, issued, err := tk.issueAccessAMR(testNow, 5, "amr", []string{"p"}, "s", []string{AMRPassword, AMROTP})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.parseAccess(raw, testNow)
	if err != nil || strings.Join(c.AMR, ",") != "pwd,otp" || strings.Join(issued.AMR, ",") != "pwd,otp" {
		t.Fatalf("parsed %+v %v", c, err)
	}
	if !c.hasSecondFactor() {
		t.Fatal("pwd,otp is no second factor")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tk.parseAccess(raw, testNow); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a cache hit costs %v allocations, want 0", allocs)
	}
	// Another amr under the same signature is refused.
	parts := strings.Split(raw, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"amr":["pwd","otp"]`, `"amr":["pwd","hwk"]`, 1)
	if forged == string(payload) {
		t.Fatalf("payload %s", payload)
	}
	bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	if _, err := tk.parseAccess(bad, testNow); err != ErrInvalidToken {
		t.Fatalf("a forged amr: %v", err)
	}
	// A token without amr is a password login.
	raw, _, _ = tk.issueAccess(testNow, 5, "old", nil, "s")
	if c, err := tk.parseAccess(raw, testNow); err != nil || c.AMR != nil || c.hasSecondFactor() {
		t.Fatalf("no amr: %+v %v", c, err)
	}
}

// TestMFARecentLogin: a session may add a second factor only shortly
// after its login, so that a stolen older session cannot add the thief's.
func TestMFARecentLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("old@example.com", "old", "correct horse battery")
		r := c.post("/mfa/totp/setup", nil)
		wantStatus(t, r, 200)
		e.clock.Advance(recentLogin + time.Second) // the access token still lives
		wantError(t, c.post("/mfa/totp/setup", nil), 403, "reauthentication_required", "")
		wantError(t, c.post("/mfa/totp/enable", map[string]string{"code": code(t, e, r.str("secret"), 0)}), 403, "reauthentication_required", "")
		wantError(t, c.post("/webauthn/register/begin", nil), 403, "reauthentication_required", "")
		wantStatus(t, c.post("/login", map[string]string{"login": "old", "password": "correct horse battery"}), 200)
		r = c.post("/mfa/totp/setup", nil)
		wantStatus(t, r, 200)
		wantStatus(t, c.post("/mfa/totp/enable", map[string]string{"code": code(t, e, r.str("secret"), 0)}), 200)
		wantStatus(t, c.post("/webauthn/register/begin", nil), 200)
	})
}
