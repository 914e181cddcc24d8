package authgin

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// newSMTPEnv mounts a plugin whose mails go over SMTP (STARTTLS and AUTH
// PLAIN) to an in-process server.
func newSMTPEnv(t *testing.T, db *gorm.DB, opt ...func(*Options)) (*testEnv, *testSMTP) {
	t.Helper()
	srv := newTestSMTPServer(t, testSMTPOptions{TLS: SMTPTLSStartTLS, Username: "mailer", Password: "mail pass"})
	mailer := srv.mailer(t)
	e := newEnv(t, db, append([]func(*Options){func(o *Options) { o.Mailer = mailer }}, opt...)...)
	return e, srv
}

// waitMailSubject waits for the n-th mail (1-based) with subject.
func waitMailSubject(t *testing.T, srv *testSMTP, subject string, n int) testMail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []testMail
		for _, m := range srv.messages() {
			if m.Subject == subject {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails with subject %q, want %d", len(got), subject, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantLink checks that m links to path under the test BaseURL and returns
// the token.
func wantLink(t *testing.T, m testMail, path string) string {
	t.Helper()
	u := mailLink(t, m)
	if u.Scheme != "https" || u.Host != "app.example" || u.Path != path {
		t.Fatalf("link %s, want https://app.example%s?token=...", u, path)
	}
	if !strings.Contains(m.HTML, `href="`+u.String()+`"`) {
		t.Fatalf("HTML part lacks the link %s:\n%s", u, m.HTML)
	}
	return mailToken(t, m)
}

func loginAs(c *client, login, password string) *response {
	c.e.t.Helper()
	return c.post("/login", map[string]string{"login": login, "password": password})
}

func pwBody(p1, p2 string) map[string]string {
	return map[string]string{"password1": p1, "password2": p2}
}

// The whole life cycle through real SMTP: register, receive the
// confirmation mail, confirm with its token, ask for a reset, receive it,
// reset, and log in with the new password.
func TestPasswordRoutesEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db)
		c := e.client()
		c.register("Zoe@Example.com", "zoe", "correct horse battery")

		m := waitMailSubject(t, srv, "Confirm email", 1)
		if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "Zoe@Example.com" || !strings.Contains(m.Header.Get("To"), "Zoe@Example.com") {
			t.Fatalf("confirmation mail to %v / %q", m.EnvelopeTo, m.Header.Get("To"))
		}
		if from := m.Header.Get("From"); !strings.Contains(from, "authgin") || !strings.Contains(from, "no-reply@authgin.test") {
			t.Errorf("From = %q", from)
		}
		wantStatus(t, c.post("/confirm/"+wantLink(t, m, "/confirm"), nil), 200)
		if r := c.do("GET", testBase+"/confirm", nil); r.json["confirmed"] != true {
			t.Fatalf("not confirmed: %s", r.raw)
		}

		other := e.client() // a second login that the reset must end
		wantStatus(t, loginAs(other, "zoe", "correct horse battery"), 200)

		anon := e.client()
		wantStatus(t, anon.post("/forgot_password", map[string]string{"email": "zoe@example.COM"}), 200)
		m = waitMailSubject(t, srv, "Forgot password", 1)
		if m.EnvelopeTo[0] != "Zoe@Example.com" {
			t.Fatalf("reset mail to %v", m.EnvelopeTo)
		}
		token := wantLink(t, m, "/reset_password")
		wantStatus(t, anon.post("/password/"+token, pwBody("new staple battery", "new staple battery")), 200)
		// Revoked sessions keep no live refresh token (the family invariant).
		var live int64
		e.db.Model(&refreshToken{}).Joins("JOIN users ON users.id = refresh_tokens.user_id").
			Where("users.username_key = ? AND refresh_tokens.consumed_at IS NULL", "zoe").Count(&live)
		if live != 0 {
			t.Errorf("%d refresh tokens still live after the reset", live)
		}

		changed := waitMailSubject(t, srv, "Your password was changed", 1)
		if changed.EnvelopeTo[0] != "Zoe@Example.com" || !strings.Contains(changed.Text, "zoe") {
			t.Errorf("password changed mail: %v\n%s", changed.EnvelopeTo, changed.Text)
		}
		wantError(t, loginAs(e.client(), "zoe", "correct horse battery"), 401, "invalid_credentials", "")
		wantStatus(t, loginAs(e.client(), "zoe", "new staple battery"), 200)
		// Every session of the user was revoked.
		wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")
		wantError(t, other.post("/token/refresh", nil), 401, "invalid_token", "")
		// The token was single use.
		wantError(t, anon.post("/password/"+token, pwBody("another fine phrase", "another fine phrase")),
			404, "invalid_reset_token", "Invalid or expired reset token")
	})
}

func TestForgotPasswordAnswersAlike(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db)
		e.client().register("kim@example.com", "kim", "correct horse battery")
		waitMailSubject(t, srv, "Confirm email", 1)
		c := e.client()
		forgot := func(email string) *response {
			t.Helper()
			return c.post("/forgot_password", map[string]string{"email": email})
		}

		known, unknown := forgot("KIM@example.com"), forgot("nobody@example.com")
		wantStatus(t, known, 200)
		wantStatus(t, unknown, 200)
		if string(known.raw) != string(unknown.raw) {
			t.Fatalf("answers differ: %s vs %s", known.raw, unknown.raw)
		}
		// The reset mail is sent before the answer; none for the unknown address.
		if n := len(srv.messages()); n != 2 {
			t.Fatalf("%d mails, want the confirmation and one reset", n)
		}

		// 2 per 30 minutes per address, registered or not.
		for _, email := range []string{"kim@example.com", "nobody@example.com"} {
			wantStatus(t, forgot(email), 200)
			r := forgot(email)
			wantError(t, r, 429, "too_many_requests", "")
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 1800 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
		}
		waitMailSubject(t, srv, "Forgot password", 2)
		e.clock.Advance(30*time.Minute + time.Second)
		wantStatus(t, forgot("kim@example.com"), 200)
		waitMailSubject(t, srv, "Forgot password", 3)

		wantError(t, forgot("not an address"), 400, "invalid_email", "")
		wantError(t, c.post("/forgot_password", "email=kim", "Content-Type", "text/plain"), 415, "unsupported_media_type", "")
		wantError(t, c.post("/forgot_password", `{"email":`), 400, "malformed_body", "")
	})
}

func TestForgotPasswordPerIPLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, _ := newSMTPEnv(t, db, func(o *Options) {
			o.Limits.ResetMailIP = Limit{Max: 2, Window: time.Hour}
		})
		c := e.client()
		wantStatus(t, c.post("/forgot_password", map[string]string{"email": "a@example.com"}), 200)
		wantStatus(t, c.post("/forgot_password", map[string]string{"email": "b@example.com"}), 200)
		r := c.post("/forgot_password", map[string]string{"email": "c@example.com"})
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		e.clock.Advance(time.Hour)
		wantStatus(t, c.post("/forgot_password", map[string]string{"email": "c@example.com"}), 200)
	})
}

// A reset mail that cannot be sent is a 503 that uses up no quota, and its
// token is dead.
func TestForgotPasswordMailFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db)
		e.client().register("lea@example.com", "lea", "correct horse battery")
		waitMailSubject(t, srv, "Confirm email", 1)
		c := e.client()
		body := map[string]string{"email": "lea@example.com"}

		srv.failNext(phaseRcpt, 451, 3*3) // three requests, three attempts each
		for range 3 {
			wantError(t, c.post("/forgot_password", body), 503, "mail_unavailable", "")
		}
		if l := e.logs.String(); !strings.Contains(l, "giving up") || !strings.Contains(l, "451") {
			t.Errorf("mail failure not logged:\n%s", l)
		}
		var live int64
		e.db.Model(&passwordReset{}).Where("used_at IS NULL").Count(&live)
		if live != 0 {
			t.Errorf("%d undelivered reset tokens still work", live)
		}

		srv.failNext(phaseRcpt, 550, 1) // permanent: one attempt, 503
		wantError(t, c.post("/forgot_password", body), 503, "mail_unavailable", "")

		wantStatus(t, c.post("/forgot_password", body), 200)
		wantStatus(t, c.post("/forgot_password", body), 200)
		wantError(t, c.post("/forgot_password", body), 429, "too_many_requests", "")
		waitMailSubject(t, srv, "Forgot password", 2)
	})
}

func TestResetPasswordTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db)
		e.client().register("max@example.com", "max", "correct horse battery")
		c := e.client()
		forgot := func() { wantStatus(t, c.post("/forgot_password", map[string]string{"email": "max@example.com"}), 200) }
		forgot()
		forgot()
		first := wantLink(t, waitMailSubject(t, srv, "Forgot password", 1), "/reset_password")
		second := wantLink(t, waitMailSubject(t, srv, "Forgot password", 2), "/reset_password")
		if first == second || len(second) != 43 {
			t.Fatalf("tokens %q %q", first, second)
		}
		var rows []passwordReset
		e.db.Find(&rows)
		for _, r := range rows {
			if r.TokenHash == first || r.TokenHash == second || r.TokenHash != hashOpaque(first) && r.TokenHash != hashOpaque(second) {
				t.Fatalf("token not stored as its SHA-256: %q", r.TokenHash)
			}
		}

		// Bad input leaves the token usable.
		wantError(t, c.post("/password/"+second, pwBody("new staple battery", "new staple batterY")), 400, "passwords_mismatch", "")
		wantError(t, c.post("/password/"+second, pwBody("short", "short")), 400, "password_too_short", "")
		wantError(t, c.post("/password/"+second, pwBody("max staple max", "max staple max")), 400, "password_contains_username", "")
		wantError(t, c.post("/password/"+second, `{"password1":`), 400, "malformed_body", "")
		wantError(t, c.post("/password/"+second, "x", "Content-Type", "text/plain"), 415, "unsupported_media_type", "")
		for _, bad := range []string{"nope", strings.Repeat("a", 200), second[:42]} {
			wantError(t, c.post("/password/"+bad, pwBody("new staple battery", "new staple battery")),
				404, "invalid_reset_token", "Invalid or expired reset token")
		}

		wantStatus(t, c.post("/password/"+second, pwBody("new staple battery", "new staple battery")), 200)
		// Single use, and the sibling died with it.
		for _, tok := range []string{second, first} {
			wantError(t, c.post("/password/"+tok, pwBody("third fine phrase", "third fine phrase")), 404, "invalid_reset_token", "")
		}

		// Expiry: 1 hour.
		e.clock.Advance(30*time.Minute + time.Second)
		forgot()
		late := wantLink(t, waitMailSubject(t, srv, "Forgot password", 3), "/reset_password")
		e.clock.Advance(time.Hour)
		wantError(t, c.post("/password/"+late, pwBody("third fine phrase", "third fine phrase")), 404, "invalid_reset_token", "")
		wantStatus(t, loginAs(e.client(), "max", "new staple battery"), 200)
	})
}

func TestPasswordStatusAndFirstPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db)
		c := e.client()
		c.register("ivy@example.com", "ivy", "correct horse battery")
		status := func() string {
			t.Helper()
			r := c.do("GET", testBase+"/password", nil)
			wantStatus(t, r, 200)
			return r.str("status")
		}
		if s := status(); s != "change" {
			t.Fatalf("status %q, want change", s)
		}
		wantError(t, c.post("/password", pwBody("new staple battery", "new staple battery")), 400, "password_exists", "Password exists")

		// An imported or social account has no password.
		e.db.Model(&Account{}).Where("username_key = ?", "ivy").Update("password_hash", "")
		if s := status(); s != "set" {
			t.Fatalf("status %q, want set", s)
		}
		wantError(t, c.post("/password", pwBody("new staple battery", "other")), 400, "passwords_mismatch", "")
		wantError(t, c.post("/password", pwBody("password", "password")), 400, "password_common", "")
		wantStatus(t, c.post("/password", pwBody("new staple battery", "new staple battery")), 200)
		if s := status(); s != "change" {
			t.Fatalf("status %q, want change", s)
		}
		wantError(t, c.post("/password", pwBody("third fine phrase", "third fine phrase")), 400, "password_exists", "")
		wantStatus(t, loginAs(e.client(), "ivy", "new staple battery"), 200)
		waitMailSubject(t, srv, "Your password was changed", 1)

		anon := e.client()
		wantError(t, anon.do("GET", testBase+"/password", nil), 401, "unauthorized", "")
		wantError(t, anon.post("/password", pwBody("new staple battery", "new staple battery")), 401, "unauthorized", "")
		wantError(t, anon.do(http.MethodPut, testBase+"/password", map[string]string{}), 401, "unauthorized", "")
	})
}

func TestChangePassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e, srv := newSMTPEnv(t, db, func(o *Options) {
			o.Limits.LoginIP = Limit{Max: 3, Window: time.Minute, Lockout: time.Minute}
		})
		c := e.client()
		c.register("ada@example.com", "ada", "correct horse battery")
		other := e.client()
		wantStatus(t, loginAs(other, "ada", "correct horse battery"), 200) // login counter: 1
		change := func(body any) *response {
			t.Helper()
			return c.do(http.MethodPut, testBase+"/password", body)
		}
		body := func(old, p1, p2 string) map[string]string {
			return map[string]string{"old_password": old, "password1": p1, "password2": p2}
		}

		// New-password rules come first, before any hashing.
		wantError(t, change(body("correct horse battery", "new staple battery", "nope")), 400, "passwords_mismatch", "")
		wantError(t, change(body("correct horse battery", "short", "short")), 400, "password_too_short", "")

		// A wrong old password counts toward the login throttle of this IP.
		wantError(t, change(body("wrong horse battery", "new staple battery", "new staple battery")), 400, "wrong_password", "Wrong password!")
		wantError(t, change(body("", "new staple battery", "new staple battery")), 400, "wrong_password", "")
		r := change(body("wrong horse battery", "new staple battery", "new staple battery"))
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		wantError(t, loginAs(e.client(), "ada", "correct horse battery"), 429, "too_many_requests", "")
		e.clock.Advance(time.Minute + time.Second)

		// A right old password does not count: three in a row leave login open.
		for range 3 {
			wantError(t, change(body("correct horse battery", "correct horse battery", "correct horse battery")),
				400, "same_password", "Enter NEW password")
		}
		wantStatus(t, loginAs(e.client(), "ada", "correct horse battery"), 200)

		// authx's front end spells it oldPassword.
		wantStatus(t, change(map[string]string{"oldPassword": "correct horse battery",
			"password1": "new staple battery", "password2": "new staple battery"}), 200)
		m := waitMailSubject(t, srv, "Your password was changed", 1)
		if m.EnvelopeTo[0] != "ada@example.com" {
			t.Fatalf("mail to %v", m.EnvelopeTo)
		}
		// The current session stays, every other one is revoked.
		wantStatus(t, c.post("/token/refresh", nil), 200)
		wantError(t, other.post("/token/refresh", nil), 401, "invalid_token", "")
		e.clock.Advance(time.Minute + time.Second)
		wantError(t, loginAs(e.client(), "ada", "correct horse battery"), 401, "invalid_credentials", "")
		wantStatus(t, loginAs(e.client(), "ada", "new staple battery"), 200)

		wantError(t, change(`{"old_password":`), 400, "malformed_body", "")
	})
}

// TestChangePasswordPerAccount: wrong old passwords count per account,
// whatever the client IP: after 5, even the right one waits the login
// backoff's delay, so a stolen access token cannot guess the old password
// from many addresses.
func TestChangePasswordPerAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newProxyEnv(t, db, func(r *gin.Engine) { r.SetTrustedProxies([]string{"127.0.0.1"}) })
		c := e.client()
		c.register("pa@example.com", "pauser", "correct horse battery")
		change := func(ip, old string) *response {
			t.Helper()
			return c.do(http.MethodPut, testBase+"/password",
				map[string]string{"old_password": old, "password1": "new staple battery", "password2": "new staple battery"},
				"X-Forwarded-For", ip)
		}
		for i := range 5 {
			wantError(t, change("192.0.2."+strconv.Itoa(i+1), "wrong horse battery"), 400, "wrong_password", "")
		}
		r := change("192.0.2.99", "correct horse battery")
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want the login backoff's first 1 s", r.header.Get("Retry-After"))
		}
		// The delays double, as the login's do.
		e.clock.Advance(time.Second)
		wantError(t, change("192.0.2.100", "wrong horse battery"), 400, "wrong_password", "")
		r = change("192.0.2.101", "correct horse battery")
		if r.status != 429 || r.header.Get("Retry-After") != "2" {
			t.Fatalf("%d, Retry-After %q; want 429 after 2 s", r.status, r.header.Get("Retry-After"))
		}
		// Logins are not blocked by it, and after the delay the right old
		// password works and forgets the failures.
		wantStatus(t, loginAs(e.client(), "pauser", "correct horse battery"), 200)
		e.clock.Advance(2 * time.Second)
		wantStatus(t, change("192.0.2.102", "correct horse battery"), 200)
		var n int64
		db.Model(&throttleRow{}).Where("bucket LIKE ?", "password:account:%").Count(&n)
		if n != 0 {
			t.Fatal("the failures were not forgotten after the right old password")
		}
	})
}

// TestSelfServicePasswordPerAccount: the password that an email change
// and deleting the account ask for (and turning TOTP off, new recovery
// codes) is counted per account like the old password of PUT /password,
// across routes and client IPs.
func TestSelfServicePasswordPerAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newProxyEnv(t, db, func(r *gin.Engine) { r.SetTrustedProxies([]string{"127.0.0.1"}) })
		c := e.client()
		c.register("sp@example.com", "spuser", "correct horse battery")
		try := func(i int, path, password string) *response {
			t.Helper()
			return c.do(http.MethodPost, testBase+path, map[string]string{"password": password, "email": "sp2@example.com"},
				"X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
		}
		for i := range 5 {
			path := []string{"/delete_account", "/email"}[i%2]
			wantError(t, try(i+1, path, "wrong horse battery"), 400, "wrong_password", "")
		}
		wantError(t, try(99, "/delete_account", "correct horse battery"), 429, "too_many_requests", "")
		e.clock.Advance(time.Second)
		wantStatus(t, try(100, "/delete_account", "correct horse battery"), 200)
	})
}
