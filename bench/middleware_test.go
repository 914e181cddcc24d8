package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ginjwt "github.com/appleboy/gin-jwt/v2"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// The token every baseline verifies: HS256, authx's claims plus the
// registered ones authgin adds, in the cookie authgin uses.
const (
	cookieName = "access_token"
	issuer     = "authgin"
	audience   = "authgin"
	protected  = "/api/me"
)

var secret = []byte("0123456789abcdef0123456789abcdef") // test key, 32 bytes

// accessClaims is the typed claims set of the golang-jwt baseline.
type accessClaims struct {
	ID          int64    `json:"id"`
	Username    string   `json:"username"`
	Permissions []string `json:"permissions"`
	Type        string   `json:"type"`
	SessionID   string   `json:"sid"`
	jwt.RegisteredClaims
}

// flatClaims is the same claims set with plain fields, for the hand-written
// verifier: no custom unmarshalers.
type flatClaims struct {
	ID          int64    `json:"id"`
	Username    string   `json:"username"`
	Permissions []string `json:"permissions"`
	Type        string   `json:"type"`
	SessionID   string   `json:"sid"`
	Subject     string   `json:"sub"`
	Issuer      string   `json:"iss"`
	Audience    []string `json:"aud"`
	IssuedAt    int64    `json:"iat"`
	ExpiresAt   int64    `json:"exp"`
}

// signToken returns an HS256 access token for user id that expires in an hour.
func signToken(tb testing.TB, id int64) string {
	tb.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, accessClaims{
		ID: id, Username: "user" + itoa(id), Permissions: []string{"read"}, Type: "access",
		SessionID: "sid-" + itoa(id),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: itoa(id), Issuer: issuer, Audience: jwt.ClaimStrings{audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}).SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// newRouter mounts the protected route behind mw (none when nil).
func newRouter(mw gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	handlers := []gin.HandlerFunc{func(c *gin.Context) { c.Status(http.StatusNoContent) }}
	if mw != nil {
		handlers = append([]gin.HandlerFunc{mw}, handlers...)
	}
	r.GET(protected, handlers...)
	return r
}

// cookieRequest is a GET of the protected route carrying token as the cookie.
func cookieRequest(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, protected, nil)
	req.Header.Set("Cookie", cookieName+"="+token)
	return req
}

func ginJWTMiddleware(tb testing.TB) gin.HandlerFunc {
	mw, err := ginjwt.New(&ginjwt.GinJWTMiddleware{
		Realm: "bench", Key: secret, SigningAlgorithm: "HS256",
		TokenLookup: "cookie:" + cookieName, IdentityKey: "id",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return mw.MiddlewareFunc()
}

// jwtV5Middleware is what an app writes by hand with golang-jwt v5: typed
// claims, pinned algorithm, exp/iss/aud required, type checked.
func jwtV5Middleware() gin.HandlerFunc {
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithIssuer(issuer), jwt.WithAudience(audience))
	key := func(*jwt.Token) (any, error) { return secret, nil }
	return func(c *gin.Context) {
		raw, err := c.Cookie(cookieName)
		if err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		var cl accessClaims
		if _, err := parser.ParseWithClaims(raw, &cl, key); err != nil || cl.Type != "access" {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Set("claims", &cl)
		c.Next()
	}
}

// handHS256Middleware is the floor without a JWT library: HMAC over the
// signing input, constant-time compare, encoding/json into the claims.
func handHS256Middleware() gin.HandlerFunc {
	wantHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	return func(c *gin.Context) {
		raw, err := c.Cookie(cookieName)
		if err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		cl, ok := verifyHS256(raw, wantHeader, time.Now())
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Set("claims", cl)
		c.Next()
	}
}

func verifyHS256(raw, wantHeader string, now time.Time) (*flatClaims, bool) {
	dot := strings.LastIndexByte(raw, '.')
	if dot < 0 || !strings.HasPrefix(raw, wantHeader+".") {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	if err != nil {
		return nil, false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(raw[:dot]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(raw[len(wantHeader)+1 : dot])
	if err != nil {
		return nil, false
	}
	var cl flatClaims
	if json.Unmarshal(payload, &cl) != nil || cl.Type != "access" || cl.Issuer != issuer ||
		len(cl.Audience) != 1 || cl.Audience[0] != audience ||
		now.Unix() >= cl.ExpiresAt || now.Unix() < cl.IssuedAt {
		return nil, false
	}
	return &cl, true
}

// tokenRequests varies the cookie of one reused request over tokens, so a
// "new token" case pays for nothing but the token's verification.
type tokenRequests struct {
	req     *http.Request
	cookies []string
	i       int
}

func newTokenRequests(tokens []string) *tokenRequests {
	t := &tokenRequests{req: cookieRequest(tokens[0])}
	for _, tok := range tokens {
		t.cookies = append(t.cookies, cookieName+"="+tok)
	}
	return t
}

func (t *tokenRequests) next() *http.Request {
	t.req.Header["Cookie"][0] = t.cookies[t.i]
	t.i = (t.i + 1) % len(t.cookies)
	return t.req
}

// middlewareCase is one sub-benchmark: a router and the requests it serves.
type middlewareCase struct {
	name       string
	handler    http.Handler
	next       func() *http.Request
	roundTrips *atomic.Int64 // when set, database round trips are reported per request
}

func sameToken(name string, h http.Handler, token string) middlewareCase {
	req := cookieRequest(token)
	return middlewareCase{name: name, handler: h, next: func() *http.Request { return req }}
}

// baseline is what the ratios compare against: the median of gin-jwt's runs
// so far in this process (with -count, all of them run before the next
// case) and the no-auth route's allocations.
type baseline struct {
	ginJWTNs     []float64
	noAuthAllocs float64
	noAuthSeen   bool
}

func (b *baseline) ginJWT() float64 {
	if len(b.ginJWTNs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(b.ginJWTNs))
	return s[len(s)/2]
}

// run serves one request per iteration on a fresh recorder and reports the
// time relative to gin-jwt, the allocations beyond the no-auth route and
// the process's CPU time per request (steadier than the time when other
// jobs share the machine).
func (mc middlewareCase) run(b *testing.B, base *baseline) {
	if w := serve(mc.handler, mc.next()); w.Code != http.StatusNoContent {
		b.Fatalf("%s: status %d, want 204: %s", mc.name, w.Code, w.Body)
	}
	var before, after runtime.MemStats
	var trips int64
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	if mc.roundTrips != nil {
		trips = mc.roundTrips.Load()
	}
	cpu := processCPU()
	for b.Loop() {
		serve(mc.handler, mc.next())
	}
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if mc.roundTrips != nil {
		b.ReportMetric(float64(mc.roundTrips.Load()-trips)/float64(b.N), "roundtrips/op")
	}
	runtime.ReadMemStats(&after)
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	allocs := float64(after.Mallocs-before.Mallocs) / float64(b.N)
	switch mc.name {
	case "noauth":
		base.noAuthAllocs, base.noAuthSeen = allocs, true
	case "ginjwt":
		base.ginJWTNs = append(base.ginJWTNs, ns)
	}
	if g := base.ginJWT(); g > 0 {
		b.ReportMetric(ns/g, "x-ginjwt")
	}
	if mc.name != "noauth" && base.noAuthSeen {
		b.ReportMetric(allocs-base.noAuthAllocs, "allocs-over-noauth")
	}
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// baselineCases are the competitors; authgin's cases follow them (see
// authginCases). Order matters: noauth and ginjwt set the baseline.
func baselineCases(b *testing.B) []middlewareCase {
	tok := signToken(b, 42)
	pool := make([]string, newTokenPool)
	for i := range pool {
		pool[i] = signToken(b, int64(i+1))
	}
	return []middlewareCase{
		sameToken("noauth", newRouter(nil), tok),
		sameToken("ginjwt", newRouter(ginJWTMiddleware(b)), tok),
		sameToken("jwtv5", newRouter(jwtV5Middleware()), tok),
		{name: "jwtv5-new", handler: newRouter(jwtV5Middleware()), next: newTokenRequests(pool).next},
		sameToken("hand-hs256", newRouter(handHS256Middleware()), tok),
	}
}

// BenchmarkMiddleware serves GET /api/me with an HS256 access token in a
// cookie through each middleware, side by side in one process.
func BenchmarkMiddleware(b *testing.B) {
	cases := baselineCases(b)
	cases = append(cases, authginCases(b)...)
	var base baseline
	for _, mc := range cases {
		b.Run(mc.name, func(b *testing.B) { mc.run(b, &base) })
	}
}

// BenchmarkPrimitives measures the pieces a middleware is made of.
func BenchmarkPrimitives(b *testing.B) {
	tok := signToken(b, 42)
	dot := strings.LastIndexByte(tok, '.')
	b.Run("hmac-sha256", func(b *testing.B) {
		mac := hmac.New(sha256.New, secret)
		input, sum := []byte(tok[:dot]), make([]byte, 0, sha256.Size)
		b.ReportAllocs()
		for b.Loop() {
			mac.Reset()
			mac.Write(input)
			sum = mac.Sum(sum[:0])
		}
	})
	b.Run("gin-cookie", func(b *testing.B) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = cookieRequest(tok)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Cookie(cookieName); err != nil {
				b.Fatal(err)
			}
		}
	})
}
