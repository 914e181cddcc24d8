package authgin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// faultUser is a registered, logged-in user whose client keeps its cookies.
type faultUser struct {
	c      *client
	id     int64
	target int64  // another user, for the admin routes
	token  string // the confirmation token of the registration mail
}

// waitMailTo returns the n-th mail (1-based) sent to addr, waiting for the
// background delivery.
func waitMailTo(t *testing.T, m *mailbox, addr string, n int) Message {
	t.Helper()
	return m.waitFor(t, n, " to "+addr, func(msg Message) bool { return msg.To == addr })
}

func newFaultUser(t *testing.T, e *testEnv, name string) faultUser {
	t.Helper()
	c := e.client()
	// A hung request fails the test instead of hanging it.
	c.hc.Timeout = time.Minute
	r := c.register(name+"@example.com", name, "correct horse battery")
	id, _ := r.json["id"].(float64)
	token := linkToken(t, waitMailTo(t, e.mail, name+"@example.com", 1).Text, "/confirm?token=")
	// An admin, so that the admin routes are exercised too: refresh reads
	// the new permissions.
	if err := e.db.Model(&Account{}).Where("id = ?", int64(id)).Update("permissions", Permissions{PermissionAdmin}).Error; err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.post("/token/refresh", nil), 200)
	target := e.client().register(name+"-target@example.com", name+"_target", "correct horse battery")
	targetID, _ := target.json["id"].(float64)
	return faultUser{c: c, id: int64(id), target: int64(targetID), token: token}
}

// wantDatabaseDown checks that every route that needs the database answers
// 503 unavailable, and that what needs no database (stateless RequireUser,
// the token's claims) keeps serving.
func wantDatabaseDown(t *testing.T, u faultUser) {
	t.Helper()
	anon := u.c.e.client()
	anon.hc.Timeout = time.Minute
	routes := []struct {
		name string
		do   func() *response
	}{
		{"register", func() *response {
			return anon.post("/register", map[string]string{"email": "new@example.com", "username": "newbie",
				"password1": "correct horse battery", "password2": "correct horse battery"})
		}},
		{"login", func() *response {
			return anon.post("/login", map[string]string{"login": u.c.e.t.Name(), "password": "correct horse battery"})
		}},
		{"token/refresh", func() *response { return u.c.post("/token/refresh", nil) }},
		{"GET confirm", func() *response { return u.c.do("GET", testBase+"/confirm", nil) }},
		{"POST confirm", func() *response { return u.c.post("/confirm", nil) }},
		{"confirm/{token}", func() *response { return anon.post("/confirm/"+u.token, nil) }},
		{"change_username", func() *response {
			return u.c.post(fmt.Sprintf("/%d/change_username", u.id), map[string]string{"username": "renamed"})
		}},
		{"forgot_password", func() *response {
			return anon.post("/forgot_password", map[string]string{"email": "someone@example.com"})
		}},
		{"GET password", func() *response { return u.c.do("GET", testBase+"/password", nil) }},
		{"POST password", func() *response {
			return u.c.post("/password", map[string]string{"password1": "another good passphrase", "password2": "another good passphrase"})
		}},
		{"PUT password", func() *response {
			return u.c.do("PUT", testBase+"/password", map[string]string{"old_password": "correct horse battery",
				"password1": "another good passphrase", "password2": "another good passphrase"})
		}},
		{"password/{token}", func() *response {
			return anon.post("/password/"+strings.Repeat("A", 43), map[string]string{"password1": "another good passphrase", "password2": "another good passphrase"})
		}},
		{"GET sessions", func() *response { return u.c.do("GET", testBase+"/sessions", nil) }},
		{"DELETE sessions/{id}", func() *response { return u.c.do("DELETE", testBase+"/sessions/"+strings.Repeat("A", 43), nil) }},
		{"logout_all", func() *response { return u.c.post("/logout_all", nil) }},
		{"events", func() *response { return u.c.do("GET", testBase+"/events", nil) }},
		{"blacklist", func() *response { return u.c.do("GET", testBase+"/blacklist", nil) }},
		{"{id}/blacklist", func() *response { return u.c.post(fmt.Sprintf("/%d/blacklist", u.target), nil) }},
		{"{id}/kick", func() *response { return u.c.post(fmt.Sprintf("/%d/kick", u.target), nil) }},
		{"GET blackout", func() *response { return u.c.do("GET", testBase+"/blackout", nil) }},
		{"POST blackout", func() *response { return u.c.post("/blackout", nil) }},
		{"DELETE blackout", func() *response { return u.c.do("DELETE", testBase+"/blackout", nil) }},
		{"id_by_username", func() *response { return u.c.do("GET", testBase+"/id_by_username?username=someone", nil) }},
		{"{id}/permissions", func() *response {
			return u.c.post(fmt.Sprintf("/%d/permissions", u.target), map[string]any{"action": "add", "payload": []string{"reports"}})
		}},
		{"GET {id}", func() *response { return u.c.do("GET", fmt.Sprintf("%s/%d", testBase, u.target), nil) }},
		{"search", func() *response { return u.c.do("GET", testBase+"?username=some", nil) }},
		{"logout", func() *response { return u.c.post("/logout", nil) }},
	}
	for _, rt := range routes {
		r := rt.do()
		if r.status != 503 || r.str("code") != "unavailable" {
			t.Errorf("%s with the database down: %d %s, want 503 unavailable", rt.name, r.status, r.raw)
		}
	}
	wantStatus(t, u.c.do("GET", "/api/me", nil), 200)
	wantStatus(t, u.c.post("/token", nil), 200)
}

// wantDatabaseBack checks that the routes work again.
func wantDatabaseBack(t *testing.T, u faultUser, name string) {
	t.Helper()
	wantStatus(t, u.c.post("/token/refresh", nil), 200)
	r := u.c.do("GET", testBase+"/confirm", nil)
	wantStatus(t, r, 200)
	wantStatus(t, u.c.e.client().post("/confirm/"+u.token, nil), 200)
	wantStatus(t, u.c.post(fmt.Sprintf("/%d/change_username", u.id), map[string]string{"username": name + "_2"}), 200)
	wantStatus(t, u.c.post("/logout", nil), 200)
	wantStatus(t, u.c.post("/login", map[string]string{"login": name + "_2", "password": "correct horse battery"}), 200)
	u.c.e.client().register(name+"-later@example.com", name+"_later", "correct horse battery")
}

// A closed pool (the app shutting down, or a pool the app closed by
// mistake) is a 503 on every backend.
func TestDatabaseClosedPool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		u := newFaultUser(t, e, "cal")
		closeDB(db)
		wantDatabaseDown(t, u)
	})
}

// PostgreSQL going away, refusing connections or silently hanging, gives
// 503 within Options.DBTimeout, and the plugin recovers by itself when the
// database comes back: no restart.
func TestDatabaseDownPostgres(t *testing.T) {
	for _, mode := range []string{"refused", "hang"} {
		t.Run(mode, func(t *testing.T) {
			db, proxy := postgresViaProxy(t)
			e := newEnv(t, db, func(o *Options) {
				if mode == "hang" {
					// Every call of a down route waits this out.
					o.DBTimeout = 500 * time.Millisecond
				}
			})
			name := "dee" + mode
			u := newFaultUser(t, e, name)
			rounds := 2 // down, back, down again, back again
			if mode == "hang" {
				rounds = 1 // every call waits out DBTimeout
			}
			for round := range rounds {
				if mode == "refused" {
					proxy.Cut()
				} else {
					proxy.Hang()
				}
				wantDatabaseDown(t, u)
				proxy.Restore()
				wantDatabaseBack(t, u, name+strconv.Itoa(round))
				u = newFaultUser(t, e, name+"r"+strconv.Itoa(round))
			}
		})
	}
}

// NUL bytes and invalid UTF-8 in any field are a 400 on every backend
// (PostgreSQL refuses NUL with SQLSTATE 22021: that must never be a 500).
func TestNULAndInvalidUTF8(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		u := newFaultUser(t, e, "eve")
		c := u.c
		good := map[string]string{"email": "zed@example.com", "username": "zed",
			"password1": "correct horse battery", "password2": "correct horse battery"}
		bads := map[string]string{"NUL": "a\x00b", "NUL only": "\x00", "invalid UTF-8": "a\xffb", "overlong": "\xc0\xaf"}
		jsonBody := func(fields map[string]string, field, bad string) string {
			var parts []string
			for k, v := range fields {
				s := strconv.Quote(v)
				if k == field {
					// Raw bytes, not JSON escapes, so that invalid UTF-8
					// reaches the server as it is; NUL as \u0000.
					s = `"` + strings.ReplaceAll(bad, "\x00", `\u0000`) + `"`
				}
				parts = append(parts, strconv.Quote(k)+":"+s)
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
		for badName, bad := range bads {
			for _, field := range []string{"email", "username", "password1", "password2", "captcha"} {
				fields := map[string]string{"captcha": ""}
				for k, v := range good {
					fields[k] = v
				}
				if field == "password1" || field == "password2" {
					fields["password1"], fields["password2"] = "correct horse"+bad, "correct horse"+bad
				}
				r := e.client().post("/register", jsonBody(fields, field, bad))
				if r.status != 400 {
					t.Errorf("register %s in %s: %d %s, want 400", badName, field, r.status, r.raw)
				}
			}
			for _, field := range []string{"login", "password"} {
				fields := map[string]string{"login": "eve", "password": "correct horse battery"}
				r := e.client().post("/login", jsonBody(fields, field, bad))
				if r.status != 400 {
					t.Errorf("login %s in %s: %d %s, want 400", badName, field, r.status, r.raw)
				}
			}
			r := c.post(fmt.Sprintf("/%d/change_username", u.id), jsonBody(map[string]string{"username": "x"}, "username", bad))
			if r.status != 400 {
				t.Errorf("change_username %s: %d %s, want 400", badName, r.status, r.raw)
			}
			newPw := map[string]string{"password1": "another good passphrase", "password2": "another good passphrase"}
			for _, req := range []struct {
				name, method, path string
				fields             map[string]string
				field              string
			}{
				{"forgot_password", "POST", "/forgot_password", map[string]string{"email": "eve@example.com"}, "email"},
				{"POST password", "POST", "/password", newPw, "password1"},
				{"PUT password old", "PUT", "/password", map[string]string{"old_password": "correct horse battery",
					"password1": "another good passphrase", "password2": "another good passphrase"}, "old_password"},
				{"PUT password new", "PUT", "/password", map[string]string{"old_password": "correct horse battery",
					"password1": "another good passphrase", "password2": "another good passphrase"}, "password1"},
				{"password/{token}", "POST", "/password/" + strings.Repeat("A", 43), newPw, "password1"},
			} {
				r := c.do(req.method, testBase+req.path, jsonBody(req.fields, req.field, bad))
				if r.status == 404 && r.str("code") == "invalid_reset_token" {
					continue // the unknown token is checked first
				}
				if r.status != 400 {
					t.Errorf("%s %s in %s: %d %s, want 400", req.name, badName, req.field, r.status, r.raw)
				}
			}
			r = c.post(fmt.Sprintf("/%d/permissions", u.target), `{"action":"add","payload":["`+strings.ReplaceAll(bad, "\x00", `\u0000`)+`"]}`)
			if r.status != 400 {
				t.Errorf("permissions %s: %d %s, want 400", badName, r.status, r.raw)
			}
			// Admin query filters: NUL is a 4xx; other bytes may simply
			// match nothing, but never reach the database as a 500.
			for _, q := range []string{"/id_by_username?username=", "?username="} {
				r := c.do("GET", testBase+q+url.QueryEscape(bad), nil)
				if r.status >= 500 || (strings.Contains(bad, "\x00") && r.status < 400) {
					t.Errorf("GET %s%s: %d %s", q, badName, r.status, r.raw)
				}
			}
			// Path parameters: the confirm token is an unknown token (403);
			// an id is not a number.
			esc := url.PathEscape(bad)
			if r := e.client().post("/confirm/"+esc, nil); r.status != 403 && r.status != 400 {
				t.Errorf("confirm/{%s}: %d %s, want 400 or 403", badName, r.status, r.raw)
			}
			if r := c.post("/"+esc+"/change_username", map[string]string{"username": "x"}); r.status >= 500 || r.status < 400 {
				t.Errorf("{%s}/change_username: %d %s, want 4xx", badName, r.status, r.raw)
			}
		}
		// Nothing was stored, and the user can still log in.
		var n int64
		db.Model(&Account{}).Count(&n)
		if n != 2 {
			t.Fatalf("%d accounts, want 2", n)
		}
		wantStatus(t, e.client().post("/login", map[string]string{"login": "eve", "password": "correct horse battery"}), 200)
	})
}

// The hot paths written in plain SQL (the refresh lookup, store.exec) are
// bounded by Options.DBTimeout like every other query: a pooled connection
// to a server that stops answering gives 503, not a request that waits
// forever. The refresh comes first, while the pool still holds the healthy
// connections the user's earlier requests left.
func TestRefreshHangBoundedPostgres(t *testing.T) {
	db, proxy := postgresViaProxy(t)
	e := newEnv(t, db, func(o *Options) { o.DBTimeout = 300 * time.Millisecond })
	u := newFaultUser(t, e, "hal")
	// Shorter than pgx's 10 s connect timeout: only DBTimeout can answer in
	// time.
	u.c.hc.Timeout = 8 * time.Second
	proxy.Hang()
	r := u.c.post("/token/refresh", nil)
	if r.status != 503 || r.str("code") != "unavailable" {
		t.Fatalf("refresh on a hung database: %d %s, want 503 unavailable", r.status, r.raw)
	}
	proxy.Restore()
	wantStatus(t, u.c.post("/token/refresh", nil), 200)
}

// The NUL rule lives in the service, so Go callers (CLIs, seeders) get the
// same 400 as HTTP clients, not a lookup that PostgreSQL would refuse.
func TestServiceRefusesNUL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		svc := newEnv(t, db).auth.Service()
		ctx, cl := context.Background(), Client{IP: "192.0.2.7"}
		_, _, err := svc.Login(ctx, LoginInput{Login: "a\x00b", Password: "correct horse battery"}, cl)
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Login with a NUL login: %v, want ErrInvalidInput", err)
		}
		_, _, err = svc.Login(ctx, LoginInput{Login: "someone", Password: "correct\x00horse"}, cl)
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("Login with a NUL password: %v, want ErrInvalidInput", err)
		}
		// canonicalEmail refuses it (invalid_email).
		if err := svc.ForgotPassword(ctx, "a\x00b@example.com", cl); httpError(err).Status != 400 {
			t.Errorf("ForgotPassword with a NUL: %v, want a 400", err)
		}
	})
}
