package bench

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgin/authgin"
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// cheapArgon keeps account set-up fast where hashing is not measured.
var cheapArgon = authgin.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// authginApp is authgin mounted on a gin engine over a SQLite file.
type authginApp struct {
	r          *gin.Engine
	auth       *authgin.Auth
	pool       countingPool  // the database under it
	roundTrips *atomic.Int64 // database round trips
}

func newAuthginApp(tb testing.TB, o authgin.Options) authginApp {
	tb.Helper()
	db, err := authgin.OpenSQLite(filepath.Join(tb.TempDir(), "authgin.db"))
	if err != nil {
		tb.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		tb.Cleanup(func() { sqlDB.Close() })
	}
	capSQLitePool(db)
	return newAuthginAppOn(tb, db, o)
}

// newAuthginAppOn mounts authgin on db, counting its round trips.
func newAuthginAppOn(tb testing.TB, db *gorm.DB, o authgin.Options) authginApp {
	tb.Helper()
	trips := countRoundTrips(tb, db)
	quiet := slog.New(slog.DiscardHandler)
	o.DB, o.Secret, o.BaseURL, o.Logger = db, secret, "https://app.example", quiet
	o.Mailer = authgin.LogMailer{Logger: quiet}
	// Every case, the baselines too, reads the cookie named cookieName.
	o.Cookie.Unprefixed = true
	r := gin.New()
	auth, err := authgin.Register(r.Group("/api/users"), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { auth.Close(context.Background()) })
	return authginApp{r: r, auth: auth, pool: trips, roundTrips: trips.n}
}

// register creates an account through the plugin's service and returns its
// access token.
func (a authginApp) register(tb testing.TB, name, password string) string {
	tb.Helper()
	tok, err := a.tryRegister(name, password)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (a authginApp) tryRegister(name, password string) (string, error) {
	toks, err := a.signUp(name, password)
	return toks.Access, err
}

// signUp registers name through the service and returns its tokens.
func (a authginApp) signUp(name, password string) (authgin.Tokens, error) {
	_, toks, err := a.auth.Service().SignUp(context.Background(), authgin.RegisterInput{
		Email: name + "@example.com", Username: name, Password1: password, Password2: password,
	}, authgin.Client{IP: "127.0.0.1", UserAgent: "bench"})

	if err != nil {
		return authgin.Tokens{}, fmt.Errorf("register %s: %w", name, err)
	}
	return toks, nil
}

// authginTokens signs n distinct access tokens in authgin's format (what
// the plugin issues) with the benchmark's key: the "new token" traffic.
func authginTokens(n int) []string {
	now := time.Now().Unix()
	out := make([]string, n)
	for i := range out {
		out[i] = signClaims(authgin.AccessClaims{
			ID: int64(i + 1), Username: fmt.Sprintf("user%d", i+1), Permissions: []string{},
			Type: "access", Subject: strconv.Itoa(i + 1), SessionID: fmt.Sprintf("session-%d", i),
			Issuer: "authgin", Audience: "authgin", IssuedAt: now, NotBefore: now, ExpiresAt: now + 3600,
		})
	}
	return out
}

// signClaims encodes and signs claims exactly as authgin's HS256 issuer.
func signClaims(c authgin.AccessClaims) string {
	payload, _ := json.Marshal(c)
	signing := authginHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

var authginHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// newTokenPool is larger than authgin's verified-token cache, so every
// request of the "new" case misses it.
const newTokenPool = 100_000

// unthrottled keeps the limits that every benchmark client would share (one
// IP, one session) out of the way; their counters are still kept, so their
// cost is measured.
func unthrottled() authgin.Limits {
	many := authgin.Limit{Max: 1 << 40, Window: time.Minute}
	return authgin.Limits{LoginIP: many, RegisterIP: many, RefreshSession: many}
}

// authginCases are authgin's RequireUser cases: stateless with the same
// token on every request (the real traffic pattern) and with a new token on
// every request, strict, and strict with its cache.
func authginCases(b *testing.B) []middlewareCase {
	mount := func(a authginApp) http.Handler {
		a.r.GET(protected, a.auth.RequireUser(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
		return a.r
	}
	stateless := newAuthginApp(b, authgin.Options{Argon2: cheapArgon})
	statelessH := mount(stateless)
	tok := stateless.register(b, "alice", "correct horse battery staple")
	pool := newTokenRequests(authginTokens(newTokenPool))

	strict := newAuthginApp(b, authgin.Options{Argon2: cheapArgon, Strict: true})
	strictTok := strict.register(b, "alice", "correct horse battery staple")
	cached := newAuthginApp(b, authgin.Options{Argon2: cheapArgon, Strict: true, StrictCacheTTL: time.Minute})
	cachedTok := cached.register(b, "alice", "correct horse battery staple")
	revocations, revocationsTok := revokedApp(b)

	return []middlewareCase{
		sameToken("authgin-stateless-same", statelessH, tok),
		{name: "authgin-stateless-new", handler: statelessH, next: pool.next},
		withRoundTrips(sameToken("authgin-strict", mount(strict), strictTok), strict.roundTrips),
		withRoundTrips(sameToken("authgin-strict-cache", mount(cached), cachedTok), cached.roundTrips),
		withRoundTrips(sameToken("authgin-revocation-cached", mount(revocations), revocationsTok), revocations.roundTrips),
	}
}

// revokedApps is how many users revokedApp revokes besides the one whose
// token the case sends.
const revokedApps = 1000

// revokedApp is authgin with RevocationCached and a cache holding
// revokedApps users' revocations, and alice's: she changed her password
// from the session whose token it returns, so the check finds her entry
// and compares the token with it.
func revokedApp(b *testing.B) (authginApp, string) {
	a := newAuthginApp(b, authgin.Options{Argon2: cheapArgon, Revocation: authgin.RevocationCached, Limits: unthrottled()})
	svc := a.auth.Service()
	ctx, cl := context.Background(), authgin.Client{IP: "127.0.0.1", UserAgent: "bench"}
	for i := range revokedApps {
		toks, err := a.signUp(fmt.Sprintf("revoked%d", i), "correct horse battery staple")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.LogoutAll(ctx, authgin.User{ID: toks.AccessClaims.ID, SessionID: toks.AccessClaims.SessionID}, cl); err != nil {
			b.Fatal(err)
		}
	}
	toks, err := a.signUp("alice", "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	u := authgin.User{ID: toks.AccessClaims.ID, SessionID: toks.AccessClaims.SessionID}
	if err := svc.ChangePassword(ctx, u, authgin.ChangePasswordInput{OldPassword: "correct horse battery staple",
		Password1: "another horse battery staple", Password2: "another horse battery staple"}, cl); err != nil {
		b.Fatal(err)
	}
	return a, toks.Access
}

func withRoundTrips(mc middlewareCase, n *atomic.Int64) middlewareCase {
	mc.roundTrips = n
	return mc
}

// The load's routes: authgin's login, and one that only hashes (through
// the same hasher, slots and server), which TestLoginLoadAB compares it with.
const (
	loginPath    = "/api/users/login"
	hashOnlyPath = "/bench/hash"
)

// startLoginServer serves authgin at its default argon2id cost over
// loopback, with accounts to log in to, a protected route and hashOnlyPath.
func startLoginServer(t *testing.T) loginServer {
	const accounts = 50
	// BENCH_HASH_CONCURRENCY=n overrides the hashing bound (default
	// GOMAXPROCS), to compare bounds.
	hashes, _ := strconv.Atoi(os.Getenv("BENCH_HASH_CONCURRENCY"))
	app := newAuthginApp(t, authgin.Options{Limits: unthrottled(), HashConcurrency: hashes})
	app.r.GET(protected, app.auth.RequireUser(), func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	svc := app.auth.Service()
	app.r.POST(hashOnlyPath, func(c *gin.Context) {
		if _, err := svc.HashPassword(c.Request.Context(), loadPassword, authgin.PasswordInfo{}); err != nil {
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		c.Status(http.StatusOK)
	})
	srv := loginServer{HashBound: cmp.Or(hashes, runtime.GOMAXPROCS(0))}
	tokens := make([]string, accounts)
	errs := make([]error, accounts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, srv.HashBound)
	for i := range accounts {
		srv.Logins = append(srv.Logins, fmt.Sprintf("user%03d", i))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tokens[i], errs[i] = app.tryRegister(srv.Logins[i], loadPassword)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	srv.AccessToken = tokens[0]
	hs := httptest.NewServer(app.r)
	t.Cleanup(hs.Close)
	srv.URL = hs.URL
	return srv
}
