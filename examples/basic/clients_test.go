package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgin/authgin"
)

// The client settings of DESIGN §7 from the environment: a signing key
// file (JWKS served, kid = thumbprint), bearer clients, CORS origins that
// are also trusted for CSRF, SameSite and Domain.
func TestExampleClientSettings(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const spa = "https://spa.example"
	exampleEnv(t, map[string]string{
		"DATABASE_URL": filepath.Join(t.TempDir(), "clients.db"), "BASE_URL": spa,
		"AUTHGIN_SECRET": "", "AUTHGIN_SIGNING_KEY": keyFile, "AUTHGIN_BEARER_CLIENTS": "1",
		"CORS_ORIGINS": spa + ", https://admin.example", "COOKIE_SAMESITE": "none", "COOKIE_DOMAIN": "api.example",
	})
	a, err := newApp(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	gin.SetMode(gin.TestMode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.auth.Close(context.Background()) })
	srv := httptest.NewTLSServer(a.handler)
	t.Cleanup(srv.Close)
	do := func(method, path, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	// CORS: the preflight of a credentialed bearer request from the SPA.
	pre := do("OPTIONS", "/api/users/login", "", "Origin", spa, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type,x-auth-mode,authorization")
	if pre.Header.Get("Access-Control-Allow-Origin") != spa || pre.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")), "x-auth-mode") {
		t.Fatalf("preflight %d %v", pre.StatusCode, pre.Header)
	}
	if evil := do("OPTIONS", "/api/users/login", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); evil.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an unlisted origin is allowed: %v", evil.Header)
	}

	// Cookies: SameSite=None on the configured domain, for the SPA whose
	// origin is trusted for the cross-origin check.
	reg := do("POST", "/api/users/register", `{"email":"c@example.com","username":"clients","password1":"correct horse battery","password2":"correct horse battery"}`,
		"Origin", spa, "Sec-Fetch-Site", "cross-site")
	if reg.StatusCode != 200 {
		b, _ := io.ReadAll(reg.Body)
		t.Fatalf("register %d %s", reg.StatusCode, b)
	}
	for _, c := range reg.Cookies() {
		if c.SameSite != http.SameSiteNoneMode || !c.Secure || c.Domain != "api.example" || !strings.HasPrefix(c.Name, "__Secure-") {
			t.Fatalf("cookie %+v", c)
		}
	}
	if do("POST", "/api/users/login", `{"login":"clients","password":"correct horse battery"}`, "Origin", "https://evil.example",
		"Sec-Fetch-Site", "cross-site", "Cookie", reg.Cookies()[0].Name+"="+reg.Cookies()[0].Value).StatusCode != 403 {
		t.Fatal("a cookie-bearing login from an unlisted origin passed")
	}

	// Bearer clients, with tokens signed by the key file's key.
	login := do("POST", "/api/users/login", `{"login":"clients","password":"correct horse battery"}`, "X-Auth-Mode", "bearer")
	var toks struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(login.Body).Decode(&toks); err != nil || toks.AccessToken == "" || len(login.Cookies()) != 0 {
		t.Fatalf("bearer login: %v %+v %v", err, toks, login.Cookies())
	}
	var set jose.JSONWebKeySet
	jwks := do("GET", "/api/users/.well-known/jwks.json", "")
	if err := json.NewDecoder(jwks.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %+v", err, set)
	}
	kid, _ := authgin.KeyThumbprint(key.Public())
	if set.Keys[0].KeyID != kid || set.Keys[0].Algorithm != "EdDSA" {
		t.Fatalf("key %+v, want kid %s", set.Keys[0], kid)
	}
	tok, err := josejwt.ParseSigned(toks.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims josejwt.Claims
	if err := tok.Claims(set.Keys[0].Key, &claims); err != nil || claims.Expiry.Time().Before(time.Now()) {
		t.Fatalf("go-jose: %v %+v", err, claims)
	}
	me := do("GET", "/api/me", "", "Authorization", "Bearer "+toks.AccessToken)
	if me.StatusCode != 200 {
		t.Fatalf("/api/me %d", me.StatusCode)
	}
}

// Settings that cannot work are start-up errors.
func TestExampleClientSettingsRefused(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"COOKIE_SAMESITE":       {"COOKIE_SAMESITE": "sometimes"},
		"none without Secure":   {"COOKIE_SAMESITE": "none", "AUTHGIN_DEBUG": "1"},
		"signing key missing":   {"AUTHGIN_SIGNING_KEY": filepath.Join(t.TempDir(), "absent.pem")},
		"CORS_ORIGINS":          {"CORS_ORIGINS": "not an origin"},
		"http BASE_URL, no TLS": {"BASE_URL": "http://app.example"},
	} {
		t.Run(name, func(t *testing.T) {
			env["DATABASE_URL"] = filepath.Join(t.TempDir(), "refused.db")
			exampleEnv(t, env)
			a, err := newApp(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			gin.SetMode(gin.TestMode)
			if err == nil {
				a.auth.Close(context.Background())
				t.Fatal("started")
			}
		})
	}
}

// exampleEnv clears every setting of the example, then sets env.
func exampleEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"ADDR", "DATABASE_URL", "AUTHGIN_SECRET", "AUTHGIN_DEBUG", "BASE_URL", "SMTP_HOST",
		"RECAPTCHA_SECRET", "AUTHGIN_ADMIN", "TRUSTED_PROXIES", "AUTHGIN_BEARER_CLIENTS", "AUTHGIN_SIGNING_KEY",
		"COOKIE_SAMESITE", "COOKIE_DOMAIN", "CORS_ORIGINS", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_NAME",
		"GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"} {
		t.Setenv(k, env[k])
	}
	t.Setenv("AUTHGIN_SECRET", "browser-test-secret-0123456789abcdef")
	for k, v := range env {
		t.Setenv(k, v)
	}
}
