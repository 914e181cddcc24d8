package authgin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// bearerHdr marks a request as a bearer client's.
var bearerHdr = []string{"X-Auth-Mode", "bearer"}

func withBearerClients(o *Options) { o.BearerClients = true }

// setCookies returns the response's Set-Cookie headers.
func (r *response) setCookies() []string { return r.header.Values("Set-Cookie") }

// wantBearerLogin checks a bearer login's body and returns its tokens.
func wantBearerLogin(t *testing.T, r *response, username string) (access, refresh string) {
	t.Helper()
	wantStatus(t, r, 200)
	if len(r.setCookies()) != 0 {
		t.Fatalf("a bearer login set cookies: %v", r.setCookies())
	}
	user, _ := r.json["user"].(map[string]any)
	if user == nil || user["username"] != username || r.str("token_type") != "bearer" ||
		r.json["expires_in"] != float64(15*60) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("bearer login body %s", r.raw)
	}
	access, refresh = r.str("access_token"), r.str("refresh_token")
	if strings.Count(access, ".") != 2 || len(refresh) != 43 {
		t.Fatalf("tokens %q %q", access, refresh)
	}
	if len(r.json) != 5 {
		t.Fatalf("bearer login body has extra fields: %s", r.raw)
	}
	return access, refresh
}

// TestBearerClients is a mobile-style client: register, log in, call the
// API, refresh with rotation, grace and reuse detection, and log out, all
// without a cookie, from an origin the API does not trust.
func TestBearerClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withBearerClients)
		c := e.client()
		// A cross-site origin: bearer requests carry no cookie, so no CSRF
		// check applies; CORS is the app's business.
		c.hdr.Set("Origin", "https://spa.example")
		c.hdr.Set("Sec-Fetch-Site", "cross-site")
		access, refresh := wantBearerLogin(t, c.post("/register", map[string]string{
			"email": "mo@example.com", "username": "mobile", "password1": "correct horse battery", "password2": "correct horse battery",
		}, bearerHdr...), "mobile")
		auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
		wantStatus(t, c.do("GET", "/api/me", nil, auth(access)...), 200)
		wantStatus(t, c.do("POST", "/api/me", nil, auth(access)...), 200)

		// Rotation.
		e.clock.Advance(time.Minute)
		r := c.post("/token/refresh", map[string]string{"refresh_token": refresh}, bearerHdr...)
		wantStatus(t, r, 200)
		if len(r.setCookies()) != 0 || r.str("token_type") != "bearer" || r.json["expires_in"] != float64(15*60) ||
			r.json["user"] != nil || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("bearer refresh %s %v", r.raw, r.setCookies())
		}
		access2, refresh2 := r.str("access_token"), r.str("refresh_token")
		if access2 == "" || refresh2 == "" || refresh2 == refresh {
			t.Fatalf("refresh did not rotate: %s", r.raw)
		}
		wantStatus(t, c.do("GET", "/api/me", nil, auth(access2)...), 200)
		// Within the grace window the old token gets an access token only.
		r = c.post("/token/refresh", map[string]string{"refresh_token": refresh}, bearerHdr...)
		wantStatus(t, r, 200)
		if _, ok := r.json["refresh_token"]; ok || r.str("access_token") == "" {
			t.Fatalf("grace answer %s", r.raw)
		}
		// After it, the old token is reuse: the session ends.
		e.clock.Advance(time.Minute)
		wantError(t, c.post("/token/refresh", map[string]string{"refresh_token": refresh}, bearerHdr...), 401, "invalid_token", "")
		wantError(t, c.post("/token/refresh", map[string]string{"refresh_token": refresh2}, bearerHdr...), 401, "invalid_token", "")

		// Login, then logout with the body token.
		_, refresh3 := wantBearerLogin(t, c.post("/login", map[string]string{"login": "mobile", "password": "correct horse battery"}, bearerHdr...), "mobile")
		r = c.post("/logout", map[string]string{"refresh_token": refresh3}, bearerHdr...)
		wantStatus(t, r, 200)
		if len(r.setCookies()) != 0 {
			t.Fatalf("bearer logout set cookies %v", r.setCookies())
		}
		wantError(t, c.post("/token/refresh", map[string]string{"refresh_token": refresh3}, bearerHdr...), 401, "invalid_token", "")
		// Idempotent; bodies are JSON only; no token is no session.
		wantStatus(t, c.post("/logout", map[string]string{"refresh_token": refresh3}, bearerHdr...), 200)
		wantStatus(t, c.post("/logout", nil, bearerHdr...), 200)
		wantError(t, c.post("/token/refresh", nil, bearerHdr...), 401, "invalid_token", "")
		wantError(t, c.post("/token/refresh", "refresh_token="+refresh3, append([]string{"Content-Type", "text/plain"}, bearerHdr...)...),
			415, "unsupported_media_type", "")
		if jar := c.jarCookie("/", accessCookie) + c.jarCookie(testBase, refreshCookie); jar != "" {
			t.Fatal("the bearer client holds cookies")
		}
		if strings.Contains(e.logs.String(), refresh) || strings.Contains(e.logs.String(), access) {
			t.Fatal("a token reached the log")
		}
	})
}

// TestBearerClientsOff: without Options.BearerClients the header changes
// nothing: cookies and authx's bodies.
func TestBearerClientsOff(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"))
	c := e.client()
	r := c.post("/register", map[string]string{
		"email": "off@example.com", "username": "off", "password1": "correct horse battery", "password2": "correct horse battery",
	}, bearerHdr...)
	wantStatus(t, r, 200)
	if r.str("username") != "off" || r.json["access_token"] != nil || r.cookie(accessCookie) == nil || r.cookie(refreshCookie) == nil {
		t.Fatalf("register with the option off: %s %v", r.raw, r.setCookies())
	}
	r = c.post("/token/refresh", nil, bearerHdr...)
	wantStatus(t, r, 200)
	if r.str("access") == "" || r.cookie(accessCookie) == nil {
		t.Fatalf("refresh with the option off: %s", r.raw)
	}
	wantStatus(t, c.post("/logout", nil, bearerHdr...), 200)
	wantError(t, c.post("/token/refresh", nil), 401, "invalid_token", "")
}

// TestRefreshBodyToken: Options.RefreshBodyToken false keeps the access
// token out of /token/refresh's body; the default keeps authx's answer.
func TestRefreshBodyToken(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name string
		opt  *bool
		want bool
	}{{"default", nil, true}, {"false", &off, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.RefreshBodyToken = tc.opt })
			c := e.client()
			c.register("body@example.com", "body", "correct horse battery")
			r := c.post("/token/refresh", nil)
			wantStatus(t, r, 200)
			ck := r.cookie(accessCookie)
			if ck == nil || ck.Value == "" {
				t.Fatal("no access cookie")
			}
			if got := r.str("access") == ck.Value; got != tc.want {
				t.Fatalf("body %s: access token in body = %v, want %v", r.raw, got, tc.want)
			}
			if !tc.want && (strings.Contains(string(r.raw), ck.Value) || string(r.raw) != "{}") {
				t.Fatalf("body %s carries the token", r.raw)
			}
			wantStatus(t, c.do("GET", "/api/me", nil), 200)
		})
	}
}

// TestCSRFBearerNotUsed covers a cookie-bearing cross-origin request that
// also sends a bearer token: the token exempts it only when it is valid and
// is what the route authenticates with.
func TestCSRFBearerNotUsed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, withBearerClients)
		victim := e.client()
		victim.register("victim@example.com", "victim", "correct horse battery")
		valid := victim.jarCookie("/", accessCookie)
		evil := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
		for _, bearer := range []string{"garbage", valid} {
			hdr := append([]string{"Authorization", "Bearer " + bearer}, evil...)
			// The refresh cookie is the credential of these: always checked.
			wantError(t, victim.post("/logout", nil, hdr...), 403, "csrf", "")
			wantError(t, victim.post("/token/refresh", nil, hdr...), 403, "csrf", "")
			// A login does not use the bearer token: login CSRF stays refused.
			wantError(t, victim.post("/login", map[string]string{"login": "victim", "password": "correct horse battery"}, hdr...),
				403, "csrf", "")
		}
		// A garbage token on a route that would use it does not exempt the
		// cookie-bearing request either.
		wantError(t, victim.post("/token", nil, append([]string{"Authorization", "Bearer garbage"}, evil...)...), 403, "csrf", "")
		// A valid one is the credential used: the cookie plays no part.
		wantStatus(t, victim.post("/token", nil, append([]string{"Authorization", "Bearer " + valid}, evil...)...), 200)
		// Nothing was revoked.
		wantStatus(t, victim.post("/token/refresh", nil), 200)
		var live int64
		db.Model(&session{}).Where("revoked_at IS NULL").Count(&live)
		if live != 1 {
			t.Fatalf("%d live sessions, want 1", live)
		}
		// Without cookies nothing is at stake: no check.
		wantStatus(t, e.client().post("/logout", nil, append([]string{"Authorization", "Bearer garbage"}, evil...)...), 200)
	})
}

// TestCookiePrefixes: outside Debug the cookies carry __Host- and
// __Secure-, so a cookie planted under the plain name (by a sibling
// subdomain, say) is never read; AcceptPlainNames reads the plain names
// during a migration and expires them.
func TestCookiePrefixes(t *testing.T) {
	db := openTestDB(t, "sqlite")
	e := newEnv(t, db)
	c := e.client()
	r := c.register("pre@example.com", "prefix", "correct horse battery")
	acc, ref := r.cookie("__Host-access_token"), r.cookie("__Secure-refresh_token")
	if acc == nil || ref == nil || r.cookie("access_token") != nil || r.cookie("refresh_token") != nil {
		t.Fatalf("cookies %v", r.setCookies())
	}
	if !acc.Secure || acc.Path != "/" || acc.Domain != "" || !ref.Secure || ref.Path != testBase {
		t.Fatalf("prefixed cookies break their prefix's rules: %+v %+v", acc, ref)
	}
	access, refresh := acc.Value, ref.Value

	// Plain names are planted cookies: ignored.
	planted := e.client()
	wantError(t, planted.do("GET", "/api/me", nil, "Cookie", "access_token="+access), 401, "unauthorized", "")
	wantError(t, planted.post("/token/refresh", nil, "Cookie", "refresh_token="+refresh), 401, "invalid_token", "")
	wantStatus(t, planted.do("GET", "/api/me", nil, "Cookie", accessCookie+"="+access), 200)

	// The migration window: plain names read, and expired when answered.
	m := newEnv(t, db, func(o *Options) { o.Cookie.AcceptPlainNames = true })
	old := m.client()
	wantStatus(t, old.do("GET", "/api/me", nil, "Cookie", "access_token="+access), 200)
	r = old.post("/token/refresh", nil, "Cookie", "refresh_token="+refresh)
	wantStatus(t, r, 200)
	if r.cookie(refreshCookie) == nil || r.cookie(accessCookie) == nil {
		t.Fatalf("migration refresh set %v", r.setCookies())
	}
	if ck := r.cookie("refresh_token"); ck == nil || ck.MaxAge != -1 || ck.Path != testBase {
		t.Fatalf("the plain refresh cookie was not expired: %v", r.setCookies())
	}

	// Debug (plain http) has no prefixes: browsers refuse them without
	// Secure. Unprefixed keeps the plain names too.
	for name, f := range map[string]func(*Options){
		"Debug":      func(o *Options) { o.Debug = true },
		"Unprefixed": func(o *Options) { o.Cookie.Unprefixed = true },
	} {
		d := newEnv(t, openTestDB(t, "sqlite"), f)
		r := d.client().register("plain@example.com", "plain", "correct horse battery")
		if r.cookie("access_token") == nil || r.cookie("refresh_token") == nil {
			t.Fatalf("%s: cookies %v", name, r.setCookies())
		}
	}
	// With a Domain, __Host- is impossible: the access cookie gets __Secure-.
	d := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.Cookie.Domain = "app.example" })
	r = d.client().register("dom@example.com", "domain", "correct horse battery")
	if ck := r.cookie("__Secure-access_token"); ck == nil || ck.Domain != "app.example" || ck.Path != "/" {
		t.Fatalf("cookies with a Domain: %v", r.setCookies())
	}
	if ck := r.cookie(refreshCookie); ck == nil || ck.Domain != "app.example" {
		t.Fatalf("cookies with a Domain: %v", r.setCookies())
	}
}

// TestCookieSameSite: SameSite is configurable for each cookie, None for a
// front end on another site.
func TestCookieSameSite(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) {
		o.Cookie.AccessSameSite, o.Cookie.RefreshSameSite = http.SameSiteNoneMode, http.SameSiteNoneMode
		o.TrustedOrigins = []string{"https://spa.example"}
	})
	c := e.client()
	r := c.register("none@example.com", "none", "correct horse battery")
	for _, name := range []string{accessCookie, refreshCookie} {
		if ck := r.cookie(name); ck == nil || ck.SameSite != http.SameSiteNoneMode || !ck.Secure {
			t.Fatalf("%s: %v", name, r.setCookies())
		}
	}
	// The SPA's origin is trusted; others are not.
	wantStatus(t, c.post("/token/refresh", nil, "Origin", "https://spa.example", "Sec-Fetch-Site", "cross-site"), 200)
	wantError(t, c.post("/token/refresh", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403, "csrf", "")
	r = c.post("/logout", nil, "Origin", "https://spa.example", "Sec-Fetch-Site", "cross-site")
	wantStatus(t, r, 200)
	if ck := r.cookie(accessCookie); ck == nil || ck.MaxAge != -1 || ck.SameSite != http.SameSiteNoneMode {
		t.Fatalf("expiry %v", r.setCookies())
	}
}

// TestRegisterRefusesCookieTraps: settings under which browsers silently
// drop the cookies are Register errors that say why.
func TestRegisterRefusesCookieTraps(t *testing.T) {
	db := openTestDB(t, "sqlite")
	base := func() Options {
		return Options{DB: db, Secret: testSecret, BaseURL: "https://app.example", Argon2: cheapArgon2, PruneInterval: -1}
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*Options)
	}{
		{"http BaseURL", "browsers drop the Secure cookies", func(o *Options) { o.BaseURL = "http://app.example" }},
		{"http BaseURL on a LAN address", "plain http", func(o *Options) { o.BaseURL = "http://192.168.1.5:8000" }},
		{"SameSite None in Debug", "Options.Cookie.AccessSameSite", func(o *Options) {
			o.Debug, o.BaseURL, o.Cookie.AccessSameSite = true, "http://localhost:8000", http.SameSiteNoneMode
		}},
		{"refresh SameSite None in Debug", "Options.Cookie.RefreshSameSite", func(o *Options) {
			o.Debug, o.Cookie.RefreshSameSite = true, http.SameSiteNoneMode
		}},
		{"SameSite default mode", "Options.Cookie.AccessSameSite", func(o *Options) { o.Cookie.AccessSameSite = http.SameSiteDefaultMode }},
		{"bad Domain", "Options.Cookie.Domain", func(o *Options) { o.Cookie.Domain = "app.example; Secure" }},
		{"__Host- with a Domain", "__Host-", func(o *Options) { o.AccessCookie, o.Cookie.Domain = "__Host-a", "app.example" }},
		{"__Host- refresh cookie off the root path", "__Host-", func(o *Options) { o.RefreshCookie = "__Host-r" }},
		{"one name for both", "same cookie", func(o *Options) { o.AccessCookie, o.RefreshCookie = "t", "t" }},
	} {
		o := base()
		tc.edit(&o)
		a, err := Register(gin.New().Group(testBase), o)
		if err == nil {
			a.Close(t.Context())
			t.Errorf("%s: accepted", tc.name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range []func(*Options){
		func(o *Options) { o.BaseURL = "http://localhost:8000" },
		func(o *Options) { o.BaseURL = "http://127.0.0.1:8000" },
		func(o *Options) { o.BaseURL = "http://[::1]:8000" },
		func(o *Options) { o.BaseURL = "http://app.localhost" },
		func(o *Options) { o.BaseURL, o.Debug = "http://app.example", true },
		func(o *Options) {
			o.Cookie.AccessSameSite, o.Cookie.RefreshSameSite = http.SameSiteNoneMode, http.SameSiteNoneMode
		},
		func(o *Options) { o.Cookie.Domain = ".app.example" },
	} {
		o := base()
		ok(&o)
		a, err := Register(gin.New().Group(testBase), o)
		if err != nil {
			t.Errorf("%+v: %v", o.Cookie, err)
			continue
		}
		a.Close(t.Context())
	}
}
