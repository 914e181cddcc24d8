package authgin

import (
	"bytes"
	"log/slog"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// crossSite are header sets a browser sends on a forged request.
var crossSite = map[string][]string{
	"cross-site Origin":                   {"Origin", "https://evil.example"},
	"Sec-Fetch-Site cross-site":           {"Sec-Fetch-Site", "cross-site"},
	"Sec-Fetch-Site same-site":            {"Sec-Fetch-Site", "same-site"},
	"both":                                {"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
	"Origin null (sandboxed, data: URLs)": {"Origin", "null"},
}

func TestCSRFPluginRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("csrf@example.com", "csrf", "correct horse battery")
		id := "1"
		routes := []string{"/login", "/register", "/logout", "/token", "/token/refresh", "/confirm",
			"/confirm/sometoken", "/" + id + "/change_username"}
		for name, hdr := range crossSite {
			for _, route := range routes {
				var body any
				if route == "/login" || route == "/register" || strings.HasSuffix(route, "change_username") {
					body = map[string]string{"login": "csrf", "password": "correct horse battery", "username": "hacked"}
				}
				r := c.post(route, body, hdr...)
				if r.status != 403 || r.str("code") != "csrf" {
					t.Fatalf("%s %s: status %d %s, want 403 csrf", name, route, r.status, r.raw)
				}
				wantError(t, r, 403, "csrf", "Cross-origin request rejected")
			}
		}
		// Nothing happened: the session is alive, the username unchanged,
		// no mail was sent beyond the registration's.
		wantStatus(t, c.post("/token/refresh", nil), 200)
		e.account("csrf")
		if n := e.mail.count(); n > 1 {
			t.Fatalf("%d mails after forged requests", n)
		}

		// Same-origin controls pass the check.
		same := map[string][]string{
			"same Origin":                {"Origin", e.srv.URL},
			"Sec-Fetch-Site same-origin": {"Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL},
			"Sec-Fetch-Site none":        {"Sec-Fetch-Site", "none"},
			"no headers (not a browser)": nil,
		}
		for name, hdr := range same {
			wantStatus(t, c.post("/token", nil, hdr...), 200)
			r := c.post("/login", map[string]string{"login": "csrf", "password": "correct horse battery"}, hdr...)
			if r.status != 200 {
				t.Fatalf("%s: login %d %s", name, r.status, r.raw)
			}
		}
		// Safe methods are never checked.
		wantStatus(t, c.do("GET", testBase+"/confirm", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 200)
	})
}

func TestCSRFAppRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("app@example.com", "app", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "app").Update("permissions", Permissions{"admin", "reports"})
		wantStatus(t, c.post("/token/refresh", nil), 200)
		access := c.jarCookie("/", accessCookie)
		for _, path := range []string{"/api/me", "/api/maybe", "/api/admin", "/api/reports"} {
			for name, hdr := range crossSite {
				wantError(t, c.do("POST", path, nil, hdr...), 403, "csrf", "")
				// GET is safe and passes.
				wantStatus(t, c.do("GET", path, nil, hdr...), 200)
				// A bearer token is exempt: browsers cannot send one cross-origin
				// without a CORS preflight the app allowed.
				b := e.client()
				if r := b.do("POST", path, nil, append([]string{"Authorization", "Bearer " + access}, hdr...)...); r.status != 200 {
					t.Fatalf("%s %s with bearer: %d %s", name, path, r.status, r.raw)
				}
			}
			wantStatus(t, c.do("POST", path, nil, "Origin", e.srv.URL), 200)
			wantStatus(t, c.do("POST", path, nil, "Sec-Fetch-Site", "same-origin"), 200)
		}
		// Without the cookie nothing is at stake: the anonymous request is
		// judged by the route alone.
		anon := e.client()
		r := anon.do("POST", "/api/maybe", nil, "Origin", "https://evil.example")
		if r.status != 200 || r.json["ok"] != false {
			t.Fatalf("anonymous optional %d %s", r.status, r.raw)
		}
		wantError(t, anon.do("POST", "/api/me", nil, "Origin", "https://evil.example"), 401, "unauthorized", "")
	})
}

func TestCSRFTrustedOrigins(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.TrustedOrigins = []string{"https://admin.example", "http://localhost:5173"}
	})
	c := e.client()
	c.register("trust@example.com", "trust", "correct horse battery")
	for _, origin := range []string{"https://admin.example", "http://localhost:5173"} {
		wantStatus(t, c.post("/token", nil, "Origin", origin, "Sec-Fetch-Site", "cross-site"), 200)
		wantStatus(t, c.do("POST", "/api/me", nil, "Origin", origin, "Sec-Fetch-Site", "same-site"), 200)
	}
	// Exact match only.
	for _, origin := range []string{"https://admin.example.evil", "http://admin.example", "https://evil.admin.example"} {
		wantError(t, c.post("/token", nil, "Origin", origin, "Sec-Fetch-Site", "cross-site"), 403, "csrf", "")
	}
}

func TestCSRFTrustedOriginsValidated(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, bad := range []string{"admin.example", "https://admin.example/path", "https://", "https://a.example?q=1"} {
		_, err := Register(gin.New().Group("/"), Options{
			DB: db, Secret: testSecret, BaseURL: "https://app.example", Argon2: cheapArgon2,
			TrustedOrigins: []string{"https://ok.example", bad},
		})
		if err == nil || !strings.Contains(err.Error(), "Options.TrustedOrigins[1]") {
			t.Fatalf("%q: err %v", bad, err)
		}
	}
}

// TestCSRFBodies sends the bodies an HTML form can forge: they are refused
// by the cross-origin check when cross-site, and by JSON-only parsing
// (415) otherwise.
func TestCSRFBodies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.register("form@example.com", "form", "correct horse battery")
		var mp bytes.Buffer
		w := multipart.NewWriter(&mp)
		w.WriteField("login", "form")
		w.WriteField("password", "correct horse battery")
		w.Close()
		bodies := []struct{ ct, body string }{
			{"application/x-www-form-urlencoded", "login=form&password=correct+horse+battery"},
			{w.FormDataContentType(), mp.String()},
			{"text/plain", `{"login":"form","password":"correct horse battery"}`},
			{"text/plain; charset=utf-8", `{"login":"form","password":"correct horse battery"}`},
		}
		for _, b := range bodies {
			for _, route := range []string{"/login", "/register", "/1/change_username"} {
				wantError(t, c.post(route, b.body, "Content-Type", b.ct, "Origin", "https://evil.example"), 403, "csrf", "")
				wantError(t, c.post(route, b.body, "Content-Type", b.ct, "Sec-Fetch-Site", "cross-site"), 403, "csrf", "")
				wantError(t, c.post(route, b.body, "Content-Type", b.ct, "Origin", e.srv.URL), 415, "unsupported_media_type", "")
			}
		}
		if strings.Contains(e.logs.String(), "correct horse battery") {
			t.Fatal("a password reached the log")
		}
	})
}

// TestCSRFRejectionLogged checks the rejection is logged by route pattern,
// never by path (paths can carry one-time tokens).
func TestCSRFRejectionLogged(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	// A request with the victim's cookies: a cookie-less one has nothing
	// to forge.
	c := e.client()
	c.register("logged@example.com", "logged", "correct horse battery")
	r := c.post("/confirm/secret-token-value", nil, "Origin", "https://evil.example")
	wantError(t, r, 403, "csrf", "")
	out := buf.String()
	if !strings.Contains(out, "cross-origin request rejected") || !strings.Contains(out, "/confirm/:token") {
		t.Fatalf("log %q", out)
	}
	if strings.Contains(out, "secret-token-value") {
		t.Fatal("the token-bearing path reached the log")
	}
}
