package authgin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"gorm.io/gorm"
)

// Social login against a real OpenID provider in process: mockoidc serves
// discovery, JWKS, authorize and token endpoints on loopback and signs
// its ID tokens with its own RSA key. Its middleware lets a test rewrite
// the authorize request or the ID token (re-signed with the OP's key), so
// that each check of the plugin meets a token that only that check
// refuses.

// testOP is an OpenID provider on loopback.
type testOP struct {
	*mockoidc.MockOIDC
	mu sync.Mutex
	// idToken rewrites the claims of the ID tokens the OP issues.
	idToken func(jwt.MapClaims)
	// authorize rewrites the parameters of authorization requests.
	authorize func(url.Values)
	// serial runs one request at a time: mockoidc's session store is a
	// plain map.
	serial sync.Mutex
}

func newTestOP(t *testing.T) *testOP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	op := &testOP{MockOIDC: m}
	if err := m.AddMiddleware(op.middleware); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return op
}

// set installs rewrites (nil for none) for the next flows.
func (op *testOP) set(idToken func(jwt.MapClaims), authorize func(url.Values)) {
	op.mu.Lock()
	op.idToken, op.authorize = idToken, authorize
	op.mu.Unlock()
}

func (op *testOP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op.serial.Lock()
		defer op.serial.Unlock()
		op.mu.Lock()
		idt, az := op.idToken, op.authorize
		op.mu.Unlock()
		if r.URL.Path == mockoidc.AuthorizationEndpoint && az != nil {
			q := r.URL.Query()
			az(q)
			r.URL.RawQuery = q.Encode()
		}
		if r.URL.Path != mockoidc.TokenEndpoint || idt == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var tr map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &tr) == nil {
			if raw, ok := tr["id_token"].(string); ok {
				parts := strings.Split(raw, ".")
				payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
				claims := jwt.MapClaims{}
				_ = json.Unmarshal(payload, &claims)
				idt(claims)
				tr["id_token"], _ = op.Keypair.SignJWT(claims)
				body, _ = json.Marshal(tr)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// user queues the identity the OP's next login is for.
func (op *testOP) user(sub, email string, verified bool, preferred string) {
	op.QueueUser(&mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: preferred})
}

// newOAuthEnv is newEnv with op as provider "oidc" and the fake clock set
// to the real time, which the OP's tokens carry.
func newOAuthEnv(t *testing.T, db *gorm.DB, op *testOP, opt ...func(*Options)) *testEnv {
	t.Helper()
	e := newEnv(t, db, append([]func(*Options){func(o *Options) {
		o.OAuth = []OAuthProvider{OIDCProvider("oidc", op.Issuer(), op.ClientID, op.ClientSecret)}
	}}, opt...)...)
	e.clock.Advance(time.Since(e.clock.Now()))
	return e
}

var noRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// browser is a client that does not follow redirects, as the tests
// follow them step by step.
func (e *testEnv) browser() *client {
	c := e.client()
	c.hc.CheckRedirect = noRedirect
	return c
}

// startOAuth calls authorize and returns its response; 302 expected.
func (c *client) startOAuth(provider, query string) *response {
	c.e.t.Helper()
	r := c.do(http.MethodGet, testBase+"/oauth/"+provider+"/authorize"+query, nil)
	wantStatus(c.e.t, r, http.StatusFound)
	return r
}

// atProvider follows the authorize redirect at the provider (which logs
// the queued user in at once) and returns the callback's path and query
// on the test server.
func atProvider(t *testing.T, authorize *response) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	resp, err := hc.Get(authorize.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider answered %d: %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "https://app.example"+testBase+"/oauth/") {
		t.Fatalf("provider redirected to %q", loc)
	}
	return strings.TrimPrefix(loc, "https://app.example")
}

// oauthLogin runs a whole login through the plugin and the provider and
// returns the callback's response.
func (c *client) oauthLogin(provider, query string) *response {
	c.e.t.Helper()
	return c.do(http.MethodGet, atProvider(c.e.t, c.startOAuth(provider, query)), nil)
}

// wantLoggedIn checks a callback that logged in: 302 to location, both
// cookies, and GET /api/me answering for the user, whose id it returns.
func wantLoggedIn(t *testing.T, c *client, r *response, location string) int64 {
	t.Helper()
	wantStatus(t, r, http.StatusFound)
	if got := r.header.Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
	if r.cookie(accessCookie) == nil || r.cookie(refreshCookie) == nil {
		t.Fatalf("cookies missing: %v", r.header["Set-Cookie"])
	}
	me := c.do(http.MethodGet, "/api/me", nil)
	wantStatus(t, me, 200)
	return int64(me.json["id"].(float64))
}

func countOAuthRows(t *testing.T, db *gorm.DB, model any, where ...any) int64 {
	t.Helper()
	var n int64
	q := db.Model(model)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOAuthLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		var logins atomic.Int32
		e := newOAuthEnv(t, db, op, func(o *Options) {
			o.Hooks.OnLogin = func(context.Context, UserEvent) { logins.Add(1) }
		})
		// The front end learns the providers.
		c := e.browser()
		r := c.do(http.MethodGet, testBase+"/oauth/providers", nil)
		wantStatus(t, r, 200)
		if !strings.Contains(string(r.raw), `"authorizePath":"/api/users/oauth/oidc/authorize"`) {
			t.Fatalf("providers %s", r.raw)
		}

		// The authorize redirect carries state, nonce, PKCE S256 and the
		// redirect_uri built from BaseURL, and sets the state cookie.
		r = c.startOAuth("oidc", "")
		loc, _ := url.Parse(r.header.Get("Location"))
		q := loc.Query()
		if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
			q.Get("redirect_uri") != "https://app.example/api/users/oauth/oidc/callback" || !strings.Contains(q.Get("scope"), "openid") {
			t.Fatalf("authorize URL %s", loc)
		}
		ck := r.cookie("__Host-oauth_state")
		if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge != 600 {
			t.Fatalf("state cookie %+v", ck)
		}
		if strings.Contains(ck.Value, q.Get("nonce")) {
			t.Fatal("the state cookie holds the nonce")
		}
		// The challenge is S256 of the verifier kept in the cookie.
		_, verifier, _ := strings.Cut(ck.Value, ".")
		sum := sha256.Sum256([]byte(verifier))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
			t.Fatal("code_challenge is not S256 of the cookie's verifier")
		}

		// First login: a new account, confirmed (verified email), without
		// a password.
		op.user("sub-jane", "Jane.Doe@Example.com", true, "jane.doe")
		id := wantLoggedIn(t, c, c.do(http.MethodGet, atProvider(t, r), nil), "https://app.example/")
		a := e.account("jane.doe")
		if a.ID != id || !a.Confirmed || a.PasswordHash != "" || a.EmailKey != "jane.doe@example.com" {
			t.Fatalf("account %+v", a)
		}
		if got := c.do(http.MethodGet, testBase+"/password", nil); got.str("status") != "set" {
			t.Fatalf("GET /password %s", got.raw)
		}
		if n := countOAuthRows(t, db, &oauthIdentity{}, "provider = ? AND subject = ? AND user_id = ?", "oidc", "sub-jane", id); n != 1 {
			t.Fatalf("%d identities", n)
		}
		if n := countOAuthRows(t, db, &SecurityEvent{}, "user_id = ? AND event = ?", id, EventOAuthLogin); n != 1 {
			t.Fatalf("%d oauth_login events", n)
		}
		if countOAuthRows(t, db, &oauthState{}) != 0 {
			t.Fatal("the used state row is still there")
		}
		// A confirmed account gets no confirmation mail.
		if e.mail.count() != 0 {
			t.Fatal("a confirmation mail for a verified address")
		}

		// Second login, from another browser: the same account.
		c2 := e.browser()
		op.user("sub-jane", "jane.doe@example.com", true, "jane.doe")
		if id2 := wantLoggedIn(t, c2, c2.oauthLogin("oidc", ""), "https://app.example/"); id2 != id {
			t.Fatalf("second login got user %d, want %d", id2, id)
		}
		if n := countOAuthRows(t, db, &Account{}); n != 1 {
			t.Fatalf("%d accounts", n)
		}
		if logins.Load() != 2 {
			t.Fatalf("OnLogin ran %d times", logins.Load())
		}
		// The user can set a first password.
		wantStatus(t, c2.post("/password", map[string]string{"password1": "correct horse battery", "password2": "correct horse battery"}), 200)

		// Another subject whose preferred username is taken gets a
		// numbered one; an unverified address an unconfirmed account and
		// a confirmation mail.
		c3 := e.browser()
		op.user("sub-other", "other@example.com", false, "Jane.Doe")
		id3 := wantLoggedIn(t, c3, c3.oauthLogin("oidc", ""), "https://app.example/")
		var a3 Account
		db.First(&a3, id3)
		if a3.Confirmed || !strings.HasPrefix(a3.UsernameKey, "jane.doe-") {
			t.Fatalf("account %+v", a3)
		}
		e.mail.waitWith(t, 1, "/confirm?token=")
	})
}

func TestOAuthStateChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op, func(o *Options) {
			o.OAuth = append(o.OAuth, OIDCProvider("alt", op.Issuer(), op.ClientID, op.ClientSecret))
		})
		stateOf := func(r *response) string {
			u, _ := url.Parse(r.header.Get("Location"))
			return u.Query().Get("state")
		}

		// A callback without the browser's cookie (login CSRF: an
		// attacker's code and state sent to a victim).
		c := e.browser()
		cb := atProvider(t, c.startOAuth("oidc", ""))
		wantError(t, e.browser().do(http.MethodGet, cb, nil), 400, "oauth_state", "")
		// With the cookie but another state.
		c = e.browser()
		cb = atProvider(t, c.startOAuth("oidc", ""))
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", strings.Repeat("A", 43))
		wantError(t, c.do(http.MethodGet, u.Path+"?"+q.Encode(), nil), 400, "oauth_state", "")

		// A replayed callback: the state works once, even with its cookie.
		c = e.browser()
		start := c.startOAuth("oidc", "")
		cookie := start.cookie("__Host-oauth_state").Value
		cb = atProvider(t, start)
		wantLoggedIn(t, c, c.do(http.MethodGet, cb, nil), "https://app.example/")
		wantError(t, e.browser().do(http.MethodGet, cb, nil, "Cookie", "__Host-oauth_state="+cookie), 400, "oauth_state", "")
		// The used code with a fresh state of its own: the provider
		// refuses it, and so does the plugin.
		c = e.browser()
		used, _ := url.Parse(cb)
		r := c.do(http.MethodGet, testBase+"/oauth/oidc/callback?code="+url.QueryEscape(used.Query().Get("code"))+"&state="+stateOf(c.startOAuth("oidc", "")), nil)
		wantError(t, r, 502, "oauth_provider", "")

		// An expired state.
		c = e.browser()
		cb = atProvider(t, c.startOAuth("oidc", ""))
		e.clock.Advance(oauthStateTTL + time.Second)
		wantError(t, c.do(http.MethodGet, cb, nil), 400, "oauth_state", "")
		e.clock.Advance(-oauthStateTTL - time.Second)

		// A state of one provider at another's callback.
		c = e.browser()
		cb = atProvider(t, c.startOAuth("oidc", ""))
		wantError(t, c.do(http.MethodGet, strings.Replace(cb, "/oauth/oidc/", "/oauth/alt/", 1), nil), 400, "oauth_state", "")

		// The user refused at the provider.
		c = e.browser()
		st := stateOf(c.startOAuth("oidc", ""))
		wantError(t, c.do(http.MethodGet, testBase+"/oauth/oidc/callback?error=access_denied&state="+st, nil), 400, "oauth_denied", "")
		// The provider failed.
		c = e.browser()
		st = stateOf(c.startOAuth("oidc", ""))
		wantError(t, c.do(http.MethodGet, testBase+"/oauth/oidc/callback?error=server_error&state="+st, nil), 502, "oauth_provider", "")

		// Unknown providers.
		wantError(t, c.do(http.MethodGet, testBase+"/oauth/nope/authorize", nil), 404, "unknown_provider", "")
		wantError(t, c.do(http.MethodGet, testBase+"/oauth/nope/callback?code=x&state=y", nil), 404, "unknown_provider", "")

		// The next path: a path on the site only.
		c = e.browser()
		wantLoggedIn(t, c, c.oauthLogin("oidc", "?next="+url.QueryEscape("/dashboard?tab=1")), "https://app.example/dashboard?tab=1")
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "evil.example", "@evil.example", "/a\tb", "/\xff"} {
			r := c.do(http.MethodGet, testBase+"/oauth/oidc/authorize?next="+url.QueryEscape(next), nil)
			wantError(t, r, 400, "invalid_next", "")
		}

		// Callbacks are throttled per IP (LoginIP: 30 a minute, the
		// callbacks above included).
		n := int64(0)
		for ; n < 31; n++ {
			r := c.do(http.MethodGet, testBase+"/oauth/oidc/callback?code=x&state=y", nil)
			if r.status == 429 {
				wantError(t, r, 429, "too_many_requests", "")
				break
			}
			wantError(t, r, 400, "oauth_state", "")
		}
		var th throttleRow
		if err := db.Where("bucket = ?", "oauth:ip:127.0.0.1").First(&th).Error; err != nil || n == 31 || th.Count != 31 {
			t.Fatalf("no 429 after %d more callbacks; throttle row %+v, %v", n, th, err)
		}
	})
}

func TestOAuthIDTokenChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		for _, tc := range []struct {
			name      string
			idToken   func(jwt.MapClaims)
			authorize func(url.Values)
			ff        time.Duration
		}{
			{name: "nonce mismatch", authorize: func(q url.Values) { q.Set("nonce", "another-nonce") }},
			{name: "no nonce", idToken: func(c jwt.MapClaims) { delete(c, "nonce") }},
			{name: "wrong audience", idToken: func(c jwt.MapClaims) { c["aud"] = "another-client" }},
			{name: "wrong issuer", idToken: func(c jwt.MapClaims) { c["iss"] = "https://evil.example/oidc" }},
			{name: "expired", ff: -time.Hour},
		} {
			t.Run(tc.name, func(t *testing.T) {
				op.set(tc.idToken, tc.authorize)
				op.FastForward(tc.ff)
				defer func() { op.set(nil, nil); op.FastForward(-tc.ff) }()
				c := e.browser()
				op.user("sub-"+tc.name, "x@example.com", true, "x")
				wantError(t, c.oauthLogin("oidc", ""), 502, "oauth_provider", "")
				wantStatus(t, c.do(http.MethodGet, "/api/me", nil), 401)
			})
		}
		if n := countOAuthRows(t, db, &Account{}); n != 0 {
			t.Fatalf("%d accounts after refused tokens", n)
		}
		// The same flow with an untouched token logs in: the cases above
		// failed for their one change.
		c := e.browser()
		op.user("sub-ok", "x@example.com", true, "x")
		wantLoggedIn(t, c, c.oauthLogin("oidc", ""), "https://app.example/")
	})
}

func TestOAuthExistingEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		owner := e.client()
		owner.register("ann@example.com", "ann", "correct horse battery")
		db.Model(&Account{}).Where("username_key = ?", "ann").Update("confirmed", true)

		// Whoever controls ann@example.com at a provider does not get
		// Ann's account, verified or not.
		for _, verified := range []bool{true, false} {
			c := e.browser()
			op.user("attacker", "Ann@example.com", verified, "ann")
			r := c.oauthLogin("oidc", "")
			wantError(t, r, 400, "email_exists", "")
			if !strings.Contains(r.str("detail"), "link") {
				t.Fatalf("detail %q does not say how to link", r.str("detail"))
			}
			wantStatus(t, c.do(http.MethodGet, "/api/me", nil), 401)
		}
		if n := countOAuthRows(t, db, &oauthIdentity{}); n != 0 {
			t.Fatalf("%d identities", n)
		}
	})
}

func TestOAuthLinkVerifiedEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op, func(o *Options) { o.LinkVerifiedEmail = true })
		e.client().register("ann@example.com", "ann", "correct horse battery")
		ann := e.account("ann")

		// The account's address is not confirmed yet: no link.
		c := e.browser()
		op.user("ann-sub", "ann@example.com", true, "ann")
		wantError(t, c.oauthLogin("oidc", ""), 400, "email_exists", "")
		db.Model(&Account{}).Where("id = ?", ann.ID).Update("confirmed", true)
		// The provider does not vouch for the address: no link.
		op.user("ann-sub", "ann@example.com", false, "ann")
		wantError(t, c.oauthLogin("oidc", ""), 400, "email_exists", "")
		// Both verified: linked, and logged into Ann's account.
		op.user("ann-sub", "ann@example.com", true, "ann")
		if id := wantLoggedIn(t, c, c.oauthLogin("oidc", ""), "https://app.example/"); id != ann.ID {
			t.Fatalf("logged into %d, want %d", id, ann.ID)
		}
		if n := countOAuthRows(t, db, &SecurityEvent{}, "user_id = ? AND event = ?", ann.ID, EventOAuthLink); n != 1 {
			t.Fatalf("%d oauth_link events", n)
		}
	})
}

func TestOAuthLinkAndUnlink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op, func(o *Options) {
			o.OAuth = append(o.OAuth, OIDCProvider("alt", op.Issuer(), op.ClientID, op.ClientSecret))
		})
		// Linking needs a logged-in user.
		anon := e.browser()
		wantError(t, anon.do(http.MethodGet, testBase+"/oauth/oidc/authorize?link=1", nil), 401, "unauthorized", "")

		c := e.browser()
		c.register("bob@example.com", "bob", "correct horse battery")
		bob := e.account("bob")
		op.user("bob-at-oidc", "bob.other@example.com", false, "bobby")
		r := c.oauthLogin("oidc", "?link=1&next=/settings")
		wantStatus(t, r, http.StatusFound)
		if r.header.Get("Location") != "https://app.example/settings" || r.cookie(accessCookie) != nil {
			t.Fatalf("link answered %v", r.header)
		}
		r = c.do(http.MethodGet, testBase+"/oauth", nil)
		wantStatus(t, r, 200)
		if !strings.Contains(string(r.raw), `"provider":"oidc"`) || !strings.Contains(string(r.raw), "bob.other@example.com") {
			t.Fatalf("GET /oauth %s", r.raw)
		}
		if n := countOAuthRows(t, db, &SecurityEvent{}, "user_id = ? AND event = ?", bob.ID, EventOAuthLink); n != 1 {
			t.Fatalf("%d oauth_link events", n)
		}
		// The linked identity logs into Bob's account from anywhere.
		other := e.browser()
		op.user("bob-at-oidc", "bob.other@example.com", false, "bobby")
		if id := wantLoggedIn(t, other, other.oauthLogin("oidc", ""), "https://app.example/"); id != bob.ID {
			t.Fatalf("logged into %d, want %d", id, bob.ID)
		}

		// Someone else cannot link Bob's identity.
		eve := e.browser()
		eve.register("eve@example.com", "eve", "correct horse battery")
		op.user("bob-at-oidc", "bob.other@example.com", false, "bobby")
		wantError(t, eve.oauthLogin("oidc", "?link=1"), 400, "oauth_linked", "")

		// Unlink: Bob has a password, so the provider may go.
		wantError(t, c.do(http.MethodDelete, testBase+"/oauth/alt", nil), 404, "oauth_not_linked", "")
		wantStatus(t, c.do(http.MethodDelete, testBase+"/oauth/oidc", nil), 200)
		if r := c.do(http.MethodGet, testBase+"/oauth", nil); string(r.raw) != "[]" {
			t.Fatalf("GET /oauth after unlink %s", r.raw)
		}
		if n := countOAuthRows(t, db, &SecurityEvent{}, "user_id = ? AND event = ?", bob.ID, EventOAuthUnlink); n != 1 {
			t.Fatalf("%d oauth_unlink events", n)
		}

		// An account made by a social login has no password: its only
		// provider cannot go until it has another way in.
		d := e.browser()
		op.user("dan-sub", "dan@example.com", true, "dan")
		wantLoggedIn(t, d, d.oauthLogin("oidc", ""), "https://app.example/")
		wantError(t, d.do(http.MethodDelete, testBase+"/oauth/oidc", nil), 400, "last_login_method", "")
		op.user("dan-alt", "dan@example.com", true, "dan")
		wantStatus(t, d.oauthLogin("alt", "?link=1"), http.StatusFound)
		wantStatus(t, d.do(http.MethodDelete, testBase+"/oauth/oidc", nil), 200)
		wantError(t, d.do(http.MethodDelete, testBase+"/oauth/alt", nil), 400, "last_login_method", "")
		wantStatus(t, d.post("/password", map[string]string{"password1": "correct horse battery", "password2": "correct horse battery"}), 200)
		wantStatus(t, d.do(http.MethodDelete, testBase+"/oauth/alt", nil), 200)
	})
}

func TestOAuthBannedAndBearer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op, func(o *Options) { o.BearerClients = true })
		c := e.browser()
		op.user("gus-sub", "gus@example.com", true, "gus")
		wantLoggedIn(t, c, c.oauthLogin("oidc", ""), "https://app.example/")
		db.Model(&Account{}).Where("username_key = ?", "gus").Update("banned", true)
		c = e.browser()
		op.user("gus-sub", "gus@example.com", true, "gus")
		wantError(t, c.oauthLogin("oidc", ""), 400, "user_banned", "")

		// A bearer client that started the flow gets the tokens in the
		// body and no cookie.
		b := e.browser()
		b.hdr.Set("X-Auth-Mode", "bearer")
		op.user("hal-sub", "hal@example.com", true, "hal")
		r := b.oauthLogin("oidc", "")
		wantStatus(t, r, 200)
		if r.str("access_token") == "" || r.str("refresh_token") == "" || r.cookie(accessCookie) != nil {
			t.Fatalf("bearer callback %s %v", r.raw, r.header["Set-Cookie"])
		}
		me := e.client().do(http.MethodGet, "/api/me", nil, "Authorization", "Bearer "+r.str("access_token"))
		wantStatus(t, me, 200)
	})
}

func TestOAuthProviderDown(t *testing.T) {
	op := newTestOP(t)
	e := newOAuthEnv(t, openTestDB(t, "sqlite"), op)
	if err := op.Shutdown(); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.browser().do(http.MethodGet, testBase+"/oauth/oidc/authorize", nil), 502, "oauth_provider", "")
}

func TestOAuthOptions(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		p     OAuthProvider
		debug bool
		err   string
	}{
		{p: OIDCProvider("corp", "http://idp.example", "id", "s"), err: "plain http"},
		{p: OIDCProvider("corp", "http://idp.example", "id", "s"), debug: true},
		{p: OIDCProvider("corp", "http://127.0.0.1:9/x", "id", "s")},
		{p: OIDCProvider("Corp!", "https://idp.example", "id", "s"), err: "Name"},
		{p: OIDCProvider("corp", "https://idp.example", "", "s"), err: "ClientID"},
		{p: OAuthProvider{Name: "corp", ClientID: "id"}, err: "Issuer"},
		{p: GitHubProvider("id", "s")},
		{p: GoogleProvider("id", "s")},
		{p: MicrosoftProvider("tenant-id", "id", "s")},
	} {
		o := Options{DB: db, Secret: testSecret, BaseURL: "https://app.example", Debug: tc.debug, PruneInterval: -1,
			OAuth: []OAuthProvider{tc.p}}
		a, err := Register(gin.New().Group("/api/users"), o)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc.p, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: error %v, want one saying %q", tc.p, err, tc.err)
		}
		if a != nil {
			_ = a.Close(context.Background())
		}
	}
	twice := []OAuthProvider{GoogleProvider("a", "b"), GoogleProvider("c", "d")}
	if _, err := Register(gin.New().Group("/api/users"), Options{DB: db, Secret: testSecret, BaseURL: "https://app.example",
		OAuth: twice}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("two providers of one name: %v", err)
	}
}

// githubFake serves GitHub's documented OAuth and REST API shapes: the
// authorize page (which approves at once), the token endpoint
// (form-encoded answer, PKCE checked), /user and /user/emails.
type githubFake struct {
	srv    *httptest.Server
	mu     sync.Mutex
	codes  map[string]string // code -> PKCE challenge
	emails string            // the /user/emails answer
}

func newGitHubFake(t *testing.T) *githubFake {
	f := &githubFake{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-id" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", 400)
			return
		}
		code := fmt.Sprintf("code-%d", time.Now().UnixNano())
		f.mu.Lock()
		f.codes[code] = q.Get("code_challenge")
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		f.mu.Lock()
		challenge, known := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if id != "gh-id" || secret != "gh-secret" || !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			// Echoing the code, as some providers do.
			_, _ = io.WriteString(w, "error=bad_verification_code&error_description=The+code+"+url.QueryEscape(r.PostForm.Get("code"))+"+is+incorrect+or+expired.")
			return
		}
		_, _ = io.WriteString(w, "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer")
	})
	api := func(body func() string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a" {
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest"}`)
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = io.WriteString(w, body())
		}
	}
	mux.HandleFunc("GET /user", api(func() string {
		return `{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","type":"User","site_admin":false,"name":"The Octocat","email":null}`
	}))
	mux.HandleFunc("GET /user/emails", api(func() string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.emails
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *githubFake) provider() OAuthProvider {
	p := GitHubProvider("gh-id", "gh-secret")
	p.GitHub = &GitHubEndpoints{AuthURL: f.srv.URL + "/login/oauth/authorize", TokenURL: f.srv.URL + "/login/oauth/access_token", APIURL: f.srv.URL}
	return p
}

func TestOAuthGitHub(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		gh := newGitHubFake(t)
		e := newEnv(t, db, func(o *Options) { o.OAuth = []OAuthProvider{gh.provider()} })
		// Only verified addresses count.
		gh.emails = `[{"email":"octocat@unverified.example","verified":false,"primary":true,"visibility":"public"}]`
		c := e.browser()
		wantError(t, c.oauthLogin("github", ""), 400, "oauth_email", "")

		// The verified one is used, the primary one among several.
		gh.emails = `[{"email":"old@example.com","verified":true,"primary":false,"visibility":null},` +
			`{"email":"octocat@unverified.example","verified":false,"primary":false,"visibility":null},` +
			`{"email":"octocat@github.example","verified":true,"primary":true,"visibility":"public"}]`
		id := wantLoggedIn(t, c, c.oauthLogin("github", ""), "https://app.example/")
		a := e.account("octocat")
		if a.ID != id || a.Email != "octocat@github.example" || !a.Confirmed || a.PasswordHash != "" {
			t.Fatalf("account %+v", a)
		}
		if n := countOAuthRows(t, db, &oauthIdentity{}, "provider = ? AND subject = ?", "github", "583231"); n != 1 {
			t.Fatalf("%d identities", n)
		}
		// Again: the same account, found by GitHub's user id.
		c2 := e.browser()
		if id2 := wantLoggedIn(t, c2, c2.oauthLogin("github", ""), "https://app.example/"); id2 != id {
			t.Fatalf("second login got %d, want %d", id2, id)
		}
		// A code the token endpoint refuses is the provider's failure.
		c3 := e.browser()
		st, _ := url.Parse(c3.startOAuth("github", "").header.Get("Location"))
		r := c3.do(http.MethodGet, testBase+"/oauth/github/callback?code=forged-code-123&state="+st.Query().Get("state"), nil)
		wantError(t, r, 502, "oauth_provider", "")
		if logs := e.logs.String(); strings.Contains(logs, "forged-code-123") || !strings.Contains(logs, "bad_verification_code") {
			t.Fatalf("the log holds the code, or not the provider's error:\n%s", logs)
		}
	})
}

// An account made by a social login whose address the provider did not
// verify may be an attacker's who used the victim's address first: when
// the address's owner takes the account over with a reset link, the
// attacker's identity goes with every session, and so do the second
// factors it added.
func TestOAuthResetDropsUnverifiedLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		attacker := e.browser()
		op.user("attacker", "victim@example.com", false, "victim")
		wantLoggedIn(t, attacker, attacker.oauthLogin("oidc", ""), "https://app.example/")
		// The squatter adds a second factor of its own.
		r := attacker.post("/mfa/totp/setup", nil)
		wantStatus(t, r, 200)
		wantStatus(t, attacker.post("/mfa/totp/enable", map[string]string{"code": code(t, e, r.str("secret"), 0)}), 200)

		victim := e.client()
		wantError(t, victim.post("/register", map[string]string{"email": "victim@example.com", "username": "vic",
			"password1": "correct horse battery", "password2": "correct horse battery"}), 400, "email_exists", "")
		wantStatus(t, victim.post("/forgot_password", map[string]string{"email": "victim@example.com"}), 200)
		tok := linkToken(t, e.mail.waitWith(t, 1, "reset_password").Text, "/reset_password?token=")
		wantStatus(t, victim.post("/password", map[string]string{"token": tok, "password1": "a new staple battery", "password2": "a new staple battery"}), 200)

		if n := countOAuthRows(t, db, &oauthIdentity{}); n != 0 {
			t.Fatalf("%d identities after the owner's reset", n)
		}
		// The owner logs in with the new password alone: the squatter's
		// factor is gone.
		r = loginAs(victim, "victim@example.com", "a new staple battery")
		wantStatus(t, r, 200)
		if r.json["mfa_required"] != nil || r.cookie(accessCookie) == nil {
			t.Fatalf("the owner's login: %s", r.raw)
		}
		op.user("attacker", "victim@example.com", false, "victim")
		r = e.browser().oauthLogin("oidc", "")
		wantError(t, r, 400, "email_exists", "")
	})
}

// Deleting an account deletes its linked identities: the same provider
// account can sign up afresh.
func TestOAuthDeleteAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		c := e.browser()
		op.user("zoe-sub", "zoe@example.com", true, "zoe")
		first := wantLoggedIn(t, c, c.oauthLogin("oidc", ""), "https://app.example/")
		pw := map[string]string{"password1": "correct horse battery", "password2": "correct horse battery"}
		wantStatus(t, c.post("/password", pw), 200)
		wantStatus(t, c.post("/delete_account", map[string]string{"password": pw["password1"]}), 200)
		if n := countOAuthRows(t, db, &oauthIdentity{}); n != 0 {
			t.Fatalf("%d identities after the account was deleted", n)
		}
		c = e.browser()
		op.user("zoe-sub", "zoe@example.com", true, "zoe")
		if again := wantLoggedIn(t, c, c.oauthLogin("oidc", ""), "https://app.example/"); again == first {
			t.Fatalf("signed into the deleted account %d", first)
		}
	})
}

// Two first logins of one identity at once (a double click, two tabs)
// end in one account, both logged into it.
func TestOAuthConcurrentFirstLogins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		const n = 4
		clients := make([]*client, n)
		callbacks := make([]string, n)
		for i := range n {
			clients[i] = e.browser()
			op.user("twin-sub", "twin@example.com", true, "twin")
			callbacks[i] = atProvider(t, clients[i].startOAuth("oidc", ""))
		}
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+callbacks[i], nil)
				resp, err := clients[i].hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusFound {
				t.Fatalf("callback %d: status %d", i, s)
			}
		}
		if a, idents := countOAuthRows(t, db, &Account{}), countOAuthRows(t, db, &oauthIdentity{}); a != 1 || idents != 1 {
			t.Fatalf("%d accounts, %d identities", a, idents)
		}
	})
}

// TestOAuthSecondFactor: a social login stands for the password only. Its
// session's amr is fed; an account with a second factor gets no session
// from the callback but the second step (in the redirect's fragment, or
// the bearer body), and POST /login/mfa completes it with amr fed,otp.
func TestOAuthSecondFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op, func(o *Options) { o.BearerClients = true })
		c := e.browser()
		op.user("kim-sub", "kim@example.com", true, "kim")
		wantLoggedIn(t, c, c.oauthLogin("oidc", "?next=/app%23top"), "https://app.example/app#top")
		if amr := fmt.Sprint(claimsOf(t, c)["amr"]); amr != "[fed]" {
			t.Fatalf("a social login's amr: %s", amr)
		}
		r := c.post("/mfa/totp/setup", nil)
		wantStatus(t, r, 200)
		secret := r.str("secret")
		wantStatus(t, c.post("/mfa/totp/enable", map[string]string{"code": code(t, e, secret, 0)}), 200)
		e.clock.Advance(30 * time.Second)

		b := e.browser()
		op.user("kim-sub", "kim@example.com", true, "kim")
		r = b.oauthLogin("oidc", "?next=/app%23top")
		wantStatus(t, r, http.StatusFound)
		if r.cookie(accessCookie) != nil || r.cookie(refreshCookie) != nil {
			t.Fatalf("a session without the second factor: %v", r.header["Set-Cookie"])
		}
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil || loc.Path != "/app" {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
		frag, _ := url.ParseQuery(loc.Fragment)
		if frag.Get("mfa_token") == "" || !strings.Contains(frag.Get("methods"), "totp") {
			t.Fatalf("fragment %q", loc.Fragment)
		}
		wantError(t, b.do(http.MethodGet, "/api/me", nil), 401, "unauthorized", "")
		wantStatus(t, b.post("/login/mfa", map[string]string{"mfa_token": frag.Get("mfa_token"), "code": code(t, e, secret, 0)}), 200)
		if amr := fmt.Sprint(claimsOf(t, b)["amr"]); amr != "[fed otp]" {
			t.Fatalf("amr after the second step: %s", amr)
		}

		// A bearer client gets the second step in the body.
		e.clock.Advance(30 * time.Second)
		bb := e.browser()
		bb.hdr.Set("X-Auth-Mode", "bearer")
		op.user("kim-sub", "kim@example.com", true, "kim")
		r = bb.oauthLogin("oidc", "")
		wantStatus(t, r, 200)
		if r.json["mfa_required"] != true || r.str("mfa_token") == "" || r.str("access_token") != "" {
			t.Fatalf("bearer callback %s", r.raw)
		}
	})
}

// TestOAuthLinkNeedsRecentLogin: a session that logged in more than 10
// minutes ago cannot start a link (a stolen older session must not add
// the thief's identity) nor set a first password, and a link whose
// session ended before the callback is not made.
func TestOAuthLinkNeedsRecentLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)
		d := e.browser() // an account without a password
		op.user("dee-sub", "dee@example.com", true, "dee")
		wantLoggedIn(t, d, d.oauthLogin("oidc", ""), "https://app.example/")

		c := e.browser()
		c.register("liv@example.com", "liv", "correct horse battery")
		op.user("liv-sub", "liv@example.com", true, "liv")
		back := atProvider(t, c.startOAuth("oidc", "?link=1"))
		wantStatus(t, c.post("/logout", nil), 200)
		wantError(t, c.do(http.MethodGet, back, nil), 401, "unauthorized", "")

		wantStatus(t, loginAs(c, "liv", "correct horse battery"), 200)
		e.clock.Advance(11 * time.Minute)
		wantStatus(t, c.post("/token/refresh", nil), 200) // the session lives on
		wantError(t, c.do(http.MethodGet, testBase+"/oauth/oidc/authorize?link=1", nil), 403, "reauthentication_required", "")
		// The same for a first password of an account without one.
		wantError(t, d.post("/password", map[string]string{"password1": "correct horse battery", "password2": "correct horse battery"}),
			403, "reauthentication_required", "")
		if n := countOAuthRows(t, db, &oauthIdentity{}, "subject = ?", "liv-sub"); n != 0 {
			t.Fatalf("%d identities linked", n)
		}
	})
}

// TestOAuthConfirmDropsUnverifiedLinks: an account made by a social login
// with an address its provider did not verify mails a confirmation link
// to that address. If the mailbox's owner follows it without a session of
// the account (the account may be a squatter's), the unverified identity
// is unlinked; if the user who signed up follows it from that account's
// session, it stays.
func TestOAuthConfirmDropsUnverifiedLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		op := newTestOP(t)
		e := newOAuthEnv(t, db, op)

		squatter := e.browser()
		op.user("squatter", "owner@example.com", false, "owner")
		wantLoggedIn(t, squatter, squatter.oauthLogin("oidc", ""), "https://app.example/")
		tok := linkToken(t, e.mail.waitWith(t, 1, "/confirm?token=").Text, "/confirm?token=")
		wantStatus(t, e.client().post("/confirm/"+tok, nil), 200) // the owner, no session
		if n := countOAuthRows(t, db, &oauthIdentity{}, "subject = ?", "squatter"); n != 0 {
			t.Fatal("the squatter's identity is still linked after the owner confirmed")
		}
		op.user("squatter", "owner@example.com", false, "owner")
		wantError(t, e.browser().oauthLogin("oidc", ""), 400, "email_exists", "")

		honest := e.browser()
		op.user("honest", "hon@example.com", false, "hon")
		wantLoggedIn(t, honest, honest.oauthLogin("oidc", ""), "https://app.example/")
		tok = linkToken(t, e.mail.waitWith(t, 2, "/confirm?token=").Text, "/confirm?token=")
		wantStatus(t, honest.post("/confirm/"+tok, nil), 200)
		op.user("honest", "hon@example.com", false, "hon")
		again := e.browser()
		wantLoggedIn(t, again, again.oauthLogin("oidc", ""), "https://app.example/")
	})
}
