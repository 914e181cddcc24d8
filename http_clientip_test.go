package authgin

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// newProxyEnv is newEnv with the engine's trusted proxies left to the
// test: setTrusted nil keeps gin's default (trust every peer).
func newProxyEnv(t *testing.T, db *gorm.DB, setTrusted func(*gin.Engine)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, db: db, clock: newFakeClock(), mail: &mailbox{}, logs: &syncBuffer{}}
	r := gin.New()
	if setTrusted != nil {
		setTrusted(r)
	}
	auth, err := Register(r.Group(testBase), Options{
		DB: db, Secret: testSecret, BaseURL: "https://app.example", Argon2: cheapArgon2, Now: e.clock.Now, Mailer: e.mail,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.auth = auth
	e.srv = httptest.NewTLSServer(r)
	t.Cleanup(func() {
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		auth.Close(ctx)
	})
	return e
}

const proxyWarning = "gin trusts X-Forwarded-For from every peer"

// TestSpoofedForwardedFor: once the app calls SetTrustedProxies(nil), a
// client that invents X-Forwarded-For values is still counted under its
// TCP peer address and runs into the login limit.
func TestSpoofedForwardedFor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newProxyEnv(t, db, func(r *gin.Engine) { r.SetTrustedProxies(nil) })
		c := e.client()
		for i := range 30 {
			ip := "192.0.2." + strconv.Itoa(i)
			wantStatus(t, c.post("/login", map[string]string{"login": "x" + strconv.Itoa(i), "password": "wrong"},
				"X-Forwarded-For", ip, "X-Real-IP", ip), 401)
		}
		r := c.post("/login", map[string]string{"login": "y", "password": "wrong"}, "X-Forwarded-For", "192.0.2.99")
		wantError(t, r, 429, "too_many_requests", "")
		if r.header.Get("Retry-After") != "60" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		var n int64
		db.Model(&throttleRow{}).Where("bucket LIKE ?", "login:ip:%").Count(&n)
		if n != 1 {
			t.Fatalf("%d per-IP counters, want 1 (the peer's)", n)
		}
		if strings.Contains(e.logs.String(), proxyWarning) {
			t.Fatal("warned although no proxy is trusted")
		}
	})
}

// TestSpoofedForwardedForTrustAll shows gin's default: every spoofed IP
// gets its own counter, the per-IP limit never trips, and the plugin logs
// a warning on its first request.
func TestSpoofedForwardedForTrustAll(t *testing.T) {
	e := newProxyEnv(t, openTestDB(t, "sqlite"), nil)
	c := e.client()
	for i := range 40 {
		ip := "192.0.2." + strconv.Itoa(i)
		wantStatus(t, c.post("/login", map[string]string{"login": "x" + strconv.Itoa(i), "password": "wrong"},
			"X-Forwarded-For", ip), 401)
	}
	var n int64
	e.db.Model(&throttleRow{}).Where("bucket LIKE ?", "login:ip:%").Count(&n)
	if n != 40 {
		t.Fatalf("%d per-IP counters, want 40 (one per spoofed IP)", n)
	}
	if got := strings.Count(e.logs.String(), proxyWarning); got != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", got, e.logs.String())
	}
}

// TestTrustedProxyList: a real proxy list is honoured (the proxy's
// X-Forwarded-For is believed) and draws no warning.
func TestTrustedProxyList(t *testing.T) {
	e := newProxyEnv(t, openTestDB(t, "sqlite"), func(r *gin.Engine) { r.SetTrustedProxies([]string{"127.0.0.1"}) })
	c := e.client()
	wantStatus(t, c.post("/login", map[string]string{"login": "x", "password": "wrong"}, "X-Forwarded-For", "192.0.2.5"), 401)
	var th throttleRow
	if err := e.db.Where("bucket = ?", "login:ip:192.0.2.5").First(&th).Error; err != nil {
		t.Fatalf("the proxy's client IP was not used: %v", err)
	}
	if strings.Contains(e.logs.String(), proxyWarning) {
		t.Fatal("warned about a proper proxy list")
	}
}
