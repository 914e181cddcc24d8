package authgin

import (
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Two app instances (two *Auth, two connection pools, one database) behave
// as one: sessions, revocation, throttling and confirmation tokens all live
// in the database.
func TestMultiInstance(t *testing.T) {
	forEachBackendDatabase(t, func(t *testing.T, open func(t *testing.T) *gorm.DB) {
		a := newEnv(t, open(t))
		b := newEnv(t, open(t)) // migrates the already migrated database again
		ca, cb := a.client(), b.client()
		// One browser: both servers are 127.0.0.1, so one cookie jar serves
		// both (cookies ignore ports).
		cb.jar, cb.hc.Jar = ca.jar, ca.jar

		t.Run("throttle", func(t *testing.T) {
			// Attempts alternate between A and B and trip the limit at the
			// same count as on one instance (authx: 30 a minute).
			a.client().register("max@example.com", "max", "correct horse battery")
			ta, tb := a.client(), b.client()
			for i := range 30 {
				c := ta
				if i%2 == 1 {
					c = tb
				}
				// Unknown names, so that only the per-IP limit is in play.
				wantStatus(t, c.post("/login", map[string]string{"login": "nobody" + strconv.Itoa(i), "password": "wrong password"}), 401)
			}
			right := map[string]string{"login": "max", "password": "correct horse battery"}
			wantError(t, ta.post("/login", right), 429, "too_many_requests", "")
			wantError(t, tb.post("/login", right), 429, "too_many_requests", "")
			// Both instances' clocks move past the lockout.
			a.clock.Advance(2 * time.Minute)
			b.clock.Advance(2 * time.Minute)
			wantStatus(t, tb.post("/login", right), 200)
		})

		t.Run("sessions", func(t *testing.T) {
			ca.register("mia@example.com", "mia", "correct horse battery")
			wantStatus(t, cb.post("/login", map[string]string{"login": "mia", "password": "correct horse battery"}), 200)
			refresh := ca.jarCookie(testBase, refreshCookie)
			wantStatus(t, ca.post("/token/refresh", nil), 200)
			wantStatus(t, cb.do("GET", "/api/me", nil), 200)
			wantStatus(t, ca.do("GET", "/api/me", nil), 200)
			wantStatus(t, cb.post("/logout", nil), 200)
			replay := a.client()
			replay.hdr.Set("Cookie", refreshCookie+"="+refresh)
			wantError(t, replay.post("/token/refresh", nil), 401, "invalid_token", "")
		})

		t.Run("confirmation", func(t *testing.T) {
			c := a.client()
			c.register("ona@example.com", "ona", "correct horse battery")
			first := linkToken(t, waitMailTo(t, a.mail, "ona@example.com", 1).Text, "/confirm?token=")
			wantStatus(t, c.post("/confirm", nil), 200) // requested on A
			second := linkToken(t, waitMailTo(t, a.mail, "ona@example.com", 2).Text, "/confirm?token=")
			if first == second {
				t.Fatal("the new mail carries the old token")
			}
			anonB := b.client()
			wantError(t, anonB.post("/confirm/"+first, nil), 403, "invalid_confirmation_token", "")
			wantStatus(t, anonB.post("/confirm/"+second, nil), 200) // confirmed on B
			cb := b.client()
			cb.jar, cb.hc.Jar = c.jar, c.jar
			r := cb.do("GET", testBase+"/confirm", nil)
			wantStatus(t, r, 200)
			if r.json["confirmed"] != true {
				t.Fatalf("B does not see the confirmation: %s", r.raw)
			}
		})
	})
}
