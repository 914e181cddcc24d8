package authgin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestRegisterCaptchaChecks: a siteverify success counts only for the
// site's hostnames, when recent, and for reCAPTCHA v3 with the expected
// action and a high enough score. The fake endpoint answers in
// siteverify's documented JSON, by the captcha the client sent.
func TestRegisterCaptchaChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		var clock atomic.Pointer[fakeClock]
		verifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			now := clock.Load().Now()
			ts := now.Add(-30 * time.Second).Format(time.RFC3339)
			answer := map[string]any{"success": true, "challenge_ts": ts, "hostname": "app.example"}
			kind, _, _ := strings.Cut(r.Form.Get("response"), ":")
			switch kind {
			case "v2":
			case "failed":
				answer = map[string]any{"success": false, "error-codes": []string{"invalid-input-response"}}
			case "otherhost":
				answer["hostname"] = "evil.example"
			case "mobile":
				answer["hostname"] = "m.app.example"
			case "nohost":
				delete(answer, "hostname")
			case "old":
				answer["challenge_ts"] = now.Add(-6 * time.Minute).Format(time.RFC3339)
			case "future":
				answer["challenge_ts"] = now.Add(10 * time.Minute).Format(time.RFC3339)
			case "nots":
				delete(answer, "challenge_ts")
			case "v3":
				answer["score"], answer["action"] = 0.9, "register"
			case "v3low":
				answer["score"], answer["action"] = 0.3, "register"
			case "v3action":
				answer["score"], answer["action"] = 0.9, "homepage"
			case "v3noaction":
				answer["score"] = 0.9
			}
			json.NewEncoder(w).Encode(answer)
		}))
		defer verifier.Close()
		setup := func(opt ...func(*Options)) *client {
			e := newEnv(t, db, append([]func(*Options){func(o *Options) {
				o.RecaptchaSecret = "captcha-secret"
				o.RecaptchaVerifyURL = verifier.URL
			}}, opt...)...)
			clock.Store(e.clock)
			return e.client()
		}
		n := 0
		reg := func(c *client, captcha string) *response {
			n++
			name := "cap" + string(rune('a'+n%26)) + strings.Repeat("x", n/26)
			return c.post("/register", map[string]string{"email": name + "@example.com", "username": name,
				"password1": "correct horse battery", "password2": "correct horse battery", "captcha": captcha + ":" + name})
		}
		c := setup()
		for _, bad := range []string{"failed", "otherhost", "mobile", "nohost", "old", "future", "nots", "v3low", "v3action", "v3noaction"} {
			if r := reg(c, bad); r.status != 400 || r.str("code") != "wrong_captcha" {
				t.Fatalf("%s: %d %s, want 400 wrong_captcha", bad, r.status, r.raw)
			}
		}
		wantStatus(t, reg(c, "v2"), 200)
		wantStatus(t, reg(c, "v3"), 200)

		// Configured hostnames replace BaseURL's; a lower score and another
		// action can be set.
		c = setup(func(o *Options) {
			o.RecaptchaHostnames = []string{"APP.example", "M.app.example"}
			o.RecaptchaMinScore = 0.2
			o.RecaptchaAction = "homepage"
		})
		wantStatus(t, reg(c, "mobile"), 200)
		wantStatus(t, reg(c, "v3low"), 400)
		wantStatus(t, reg(c, "v3action"), 200)
	})
}
