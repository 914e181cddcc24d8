package authgin

import (
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// linkOf returns the token of the ?token= link in a mail.
func linkOf(t *testing.T, m Message) string {
	t.Helper()
	return linkToken(t, m.Text, "?token=")
}

func TestChangeEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("old@example.com", "mover", "correct horse battery")
		e.client().register("taken@example.com", "other", "correct horse battery")
		registration := linkOf(t, e.mail.waitFor(t, 1, " to old", func(m Message) bool { return m.To == "old@example.com" }))
		change := func(email, password string) *response {
			return c.post("/email", map[string]string{"email": email, "password": password})
		}
		wantError(t, e.client().post("/email", map[string]string{"email": "new@example.com", "password": "correct horse battery"}),
			401, "unauthorized", "")
		wantError(t, change("new@example.com", "wrong password"), 400, "wrong_password", "")
		wantError(t, change("not an address", "correct horse battery"), 400, "invalid_email", "")
		wantError(t, change("Taken@Example.com", "correct horse battery"), 400, "email_exists", "")
		wantError(t, change("old@example.com", "correct horse battery"), 400, "email_exists", "")
		if n := e.mail.count(); n != 2 {
			t.Fatalf("%d mails after refused changes, want the 2 registrations'", n)
		}

		r := change("New@Example.com", "correct horse battery")
		wantStatus(t, r, 200)
		if string(r.raw) != "null" {
			t.Fatalf("body %s", r.raw)
		}
		confirm := e.mail.waitFor(t, 1, " to new", func(m Message) bool { return m.To == "New@Example.com" })
		notice := e.mail.waitFor(t, 1, " to old", func(m Message) bool {
			return m.To == "old@example.com" && strings.Contains(m.Text, "New@Example.com")
		})
		if strings.Contains(notice.Text, "token=") || !strings.Contains(confirm.Text, "https://app.example/confirm?token=") {
			t.Fatalf("notice %q; confirmation %q", notice.Text, confirm.Text)
		}
		// Nothing changes before the link is used.
		if a := e.account("mover"); a.Email != "old@example.com" || a.Confirmed {
			t.Fatalf("account %+v", a)
		}
		// The registration's link for the old address is dead now.
		wantError(t, e.client().post("/confirm", map[string]string{"token": registration}), 403, "invalid_confirmation_token", "")

		token := linkOf(t, confirm)
		wantStatus(t, e.client().post("/confirm", map[string]string{"token": token}), 200)
		a := e.account("mover")
		if a.Email != "New@Example.com" || a.EmailKey != "new@example.com" || !a.Confirmed {
			t.Fatalf("account after the change %+v", a)
		}
		wantError(t, e.client().post("/confirm", map[string]string{"token": token}), 403, "invalid_confirmation_token", "")
		wantError(t, e.client().post("/login", map[string]string{"login": "old@example.com", "password": "correct horse battery"}),
			401, "invalid_credentials", "")
		wantStatus(t, e.client().post("/login", map[string]string{"login": "new@example.com", "password": "correct horse battery"}), 200)
		// The old address is free again.
		e.client().register("old@example.com", "newcomer", "correct horse battery")

		// The security log says what happened, not to which address.
		var ev SecurityEvent
		if err := db.Where("event = ?", EventEmailChange).First(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.UserID != a.ID || strings.Contains(ev.Detail, "@") {
			t.Fatalf("event %+v", ev)
		}

		// A change to an address taken between the request and the link
		// fails at the link, which stays usable.
		wantStatus(t, change("race@example.com", "correct horse battery"), 200)
		raced := linkOf(t, e.mail.waitFor(t, 1, " to race", func(m Message) bool { return m.To == "race@example.com" }))
		e.client().register("race@example.com", "racer", "correct horse battery")
		wantError(t, e.client().post("/confirm", map[string]string{"token": raced}), 400, "email_exists", "")
		if a := e.account("mover"); a.Email != "New@Example.com" {
			t.Fatalf("email %q", a.Email)
		}
	})
}

// TestChangeEmailThrottled: the mails count toward ConfirmMailUser, and a
// wrong password counts as a failed login from the IP.
func TestChangeEmailThrottled(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.Limits.LoginIP = Limit{Max: 3, Window: time.Minute, Lockout: time.Minute}
	})
	c := e.client()
	c.register("t@example.com", "throttled", "correct horse battery")
	for i := range 2 {
		wantStatus(t, c.post("/email", map[string]string{"email": "n" + string(rune('a'+i)) + "@example.com", "password": "correct horse battery"}), 200)
	}
	r := c.post("/email", map[string]string{"email": "nz@example.com", "password": "correct horse battery"})
	wantError(t, r, 429, "too_many_requests", "")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	for range 3 {
		wantError(t, c.post("/delete_account", map[string]string{"password": "wrong"}), 400, "wrong_password", "")
	}
	wantError(t, c.post("/delete_account", map[string]string{"password": "correct horse battery"}), 429, "too_many_requests", "")
	wantError(t, c.post("/email", map[string]string{"email": "ny@example.com", "password": "wrong"}), 429, "too_many_requests", "")
	e.account("throttled")
}

func TestDeleteAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		reg := c.register("gone@example.com", "leaving", "correct horse battery")
		id := int64(reg.json["id"].(float64))
		other := e.client()
		other.post("/login", map[string]string{"login": "leaving", "password": "correct horse battery"})
		c.post("/forgot_password", map[string]string{"email": "gone@example.com"})
		access := c.jarCookie("/", accessCookie)
		refresh := c.jarCookie(testBase, refreshCookie)
		otherRefresh := other.jarCookie(testBase, refreshCookie)

		wantError(t, e.client().post("/delete_account", map[string]string{"password": "correct horse battery"}), 401, "unauthorized", "")
		wantError(t, c.post("/delete_account", map[string]string{"password": "nope"}), 400, "wrong_password", "")
		e.account("leaving")

		r := c.post("/delete_account", map[string]string{"password": "correct horse battery"})
		wantStatus(t, r, 200)
		for _, name := range []string{accessCookie, refreshCookie} {
			if ck := r.cookie(name); ck == nil || ck.MaxAge != -1 {
				t.Fatalf("%s not expired: %v", name, r.setCookies())
			}
		}
		// Every session is over.
		wantError(t, e.withRefresh(refresh).post("/token/refresh", nil), 401, "invalid_token", "")
		wantError(t, e.withRefresh(otherRefresh).post("/token/refresh", nil), 401, "invalid_token", "")
		// Nothing personal is left: no row of the user but one event
		// holding the id and the time.
		for _, tbl := range []string{"users", "sessions", "refresh_tokens", "email_confirmations", "password_resets"} {
			col := "user_id"
			if tbl == "users" {
				col = "id"
			}
			var n int64
			if err := db.Table(tbl).Where(col+" = ?", id).Count(&n).Error; err != nil || n != 0 {
				t.Fatalf("%s: %d rows left (%v)", tbl, n, err)
			}
		}
		var evs []SecurityEvent
		db.Where("user_id = ?", id).Find(&evs)
		if len(evs) != 1 || evs[0].Event != EventAccountDeleted || evs[0].IP != "" || evs[0].UserAgent != "" ||
			evs[0].SessionID != "" || evs[0].Detail != "" {
			t.Fatalf("events left %+v", evs)
		}
		// The email and username register again, as another account: ids
		// are never reused, so the old access token names nobody alive.
		again := e.client().register("GONE@example.com", "Leaving", "correct horse battery")
		if newID := int64(again.json["id"].(float64)); newID == id {
			t.Fatalf("the new account reuses id %d", id)
		}
		wantError(t, e.client().do("GET", "/api/confirmed", nil, "Authorization", "Bearer "+access), 401, "unauthorized", "")
	})
}

// TestDeleteAccountStrict: in strict mode the deleted account's access
// tokens stop at once.
func TestDeleteAccountStrict(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.Strict = true })
	c := e.client()
	c.register("strict@example.com", "strictly", "correct horse battery")
	access := c.jarCookie("/", accessCookie)
	wantStatus(t, c.post("/delete_account", map[string]string{"password": "correct horse battery"}), 200)
	wantError(t, e.client().do("GET", "/api/me", nil, "Authorization", "Bearer "+access), 401, "unauthorized", "")
}

func TestRequireConfirmed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		wantError(t, e.client().do("GET", "/api/confirmed", nil), 401, "unauthorized", "")
		c := e.client()
		c.register("conf@example.com", "confirming", "correct horse battery")
		wantError(t, c.do("GET", "/api/confirmed", nil), 403, "email_not_confirmed", "Email not confirmed")
		wantStatus(t, c.do("GET", "/api/me", nil), 200)
		wantStatus(t, e.client().post("/confirm", map[string]string{"token": linkOf(t, e.mail.wait(t, 1))}), 200)
		wantStatus(t, c.do("GET", "/api/confirmed", nil), 200)
		// Remembered: no database needed any more.
		if !e.auth.svc.confirmed.has(e.account("confirming").ID) {
			t.Fatal("a confirmed account is not remembered")
		}
		// The cross-origin check applies as in RequireUser.
		wantError(t, c.do("POST", "/api/confirmed", nil, "Origin", "https://evil.example"), 403, "csrf", "")
	})
}
