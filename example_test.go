package authgin_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authgin/authgin"
	"github.com/authgin/authgin/authgintest"
)

// Mount the routes, protect the app's API, and call it with the cookie
// that register sets.
func ExampleRegister() {
	dir, _ := os.MkdirTemp("", "authgin-example")
	defer os.RemoveAll(dir)
	db, err := authgin.OpenSQLite(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}

	r := gin.New()
	r.SetTrustedProxies(nil)
	auth, err := authgin.Register(r.Group("/api/users"), authgin.Options{
		DB:      db,
		Secret:  []byte("an example key of at least 32 bytes"),
		BaseURL: "https://app.example",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close(context.Background()) // delivers queued mails, stops the blackout reader
	api := r.Group("/api", auth.RequireUser())
	api.GET("/me", func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.String(http.StatusOK, "hello %s", u.Username)
	})

	body := `{"email":"ann@example.com","username":"ann","password1":"correct horse battery","password2":"correct horse battery"}`
	req := httptest.NewRequest(http.MethodPost, "/api/users/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println("register:", w.Code)

	me := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	for _, c := range w.Result().Cookies() {
		me.AddCookie(c)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, me)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// register: 200
	// 200 hello ann
}

// Prune on a schedule of your own (a cron job, an admin command) instead
// of in the background: PruneInterval -1 turns the background pass off.
func ExampleService_Prune() {
	dir, _ := os.MkdirTemp("", "authgin-example")
	defer os.RemoveAll(dir)
	db, err := authgin.OpenSQLite(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	var now atomic.Int64 // the clock, read by the plugin's background work too
	now.Store(time.Now().UnixNano())
	auth, err := authgin.Register(gin.New().Group("/api/users"), authgin.Options{
		DB:            db,
		Secret:        []byte("an example key of at least 32 bytes"),
		BaseURL:       "https://app.example",
		PruneInterval: -1,
		Now:           func() time.Time { return time.Unix(0, now.Load()) },
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close(context.Background())
	svc := auth.Service()
	ctx := context.Background()
	_, _, err = svc.SignUp(ctx, authgin.RegisterInput{Email: "ann@example.com", Username: "ann",
		Password1: "correct horse battery", Password2: "correct horse battery"}, authgin.Client{IP: "192.0.2.1"})

	if err != nil {
		log.Fatal(err)
	}

	// Three days later the confirmation link (48 h) and the registration
	// counter (1 h) have long ended; the session (idle for 7 days) has not.
	now.Add(int64(72 * time.Hour))
	r, err := svc.Prune(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d confirmation token, %d throttle counter, %d sessions\n", r.Confirmations, r.Throttles, r.Sessions)
	// Output:
	// 1 confirmation token, 1 throttle counter, 0 sessions
}

// Protect an app's route: RequireUser answers 401 without a valid access
// token (cookie or Bearer header); the handler reads the user with
// CurrentUser.
func ExampleAuth_RequireUser() {
	env := authgintest.New(&testing.T{}) // in a test, its *testing.T
	env.Engine.GET("/api/me", env.Auth.RequireUser(), func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.String(http.StatusOK, "hello %s", u.Username)
	})

	anonymous := httptest.NewRecorder()
	env.Engine.ServeHTTP(anonymous, httptest.NewRequest(http.MethodGet, "/api/me", nil))
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	env.LoginAs(&testing.T{}, "ann").Apply(req)
	ann := httptest.NewRecorder()
	env.Engine.ServeHTTP(ann, req)
	fmt.Println(anonymous.Code, ann.Code, ann.Body.String())
	// Output: 401 200 hello ann
}

// Gate a route on a permission: 401 without a token, 403 without the
// permission. Permissions are granted with POST /{id}/permissions (admins)
// and take effect at the user's next login.
func ExampleAuth_RequirePermission() {
	env := authgintest.New(&testing.T{})
	env.Engine.GET("/api/reports", env.Auth.RequirePermission("reports"), func(c *gin.Context) {
		c.String(http.StatusOK, "reports")
	})
	for _, perms := range [][]string{nil, {"reports"}} {
		req := httptest.NewRequest(http.MethodGet, "/api/reports", nil)
		env.LoginAs(&testing.T{}, "ann", perms...).Apply(req)
		w := httptest.NewRecorder()
		env.Engine.ServeHTTP(w, req)
		fmt.Println(perms, w.Code)
	}
	// Output:
	// [] 403
	// [reports] 200
}

// React to the plugin's events: hooks run after the change they report
// was committed; a panicking hook is logged and never fails the request.
func ExampleHooks() {
	var registered []string
	env := authgintest.New(&testing.T{}, func(o *authgin.Options) {
		o.Hooks.OnRegister = func(_ context.Context, ev authgin.UserEvent) {
			registered = append(registered, ev.Username)
		}
	})
	_, _, err := env.Auth.Service().SignUp(context.Background(), authgin.RegisterInput{Email: "bea@example.com",
		Username: "bea", Password1: "correct horse battery", Password2: "correct horse battery"}, authgin.Client{IP: "192.0.2.1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(registered)
	// Output: [bea]
}

// Send the plugin's mails through an SMTP server (port 587, STARTTLS).
func ExampleNewSMTPMailer() {
	mailer, err := authgin.NewSMTPMailer(authgin.SMTPConfig{
		Host:     "smtp.example.com",
		Username: "apikey",
		Password: os.Getenv("SMTP_PASSWORD"),
		From:     "Example <no-reply@example.com>",
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = authgin.Options{Mailer: mailer} // with DB, Secret and BaseURL
	fmt.Println("ok")
	// Output: ok
}

// Run several instances against one PostgreSQL database: sessions,
// throttling and bans hold across them.
func ExampleOpenPostgres() {
	db, err := authgin.OpenPostgres(os.Getenv("DATABASE_URL")) // postgres://user:pass@host/db
	if err != nil {
		log.Fatal(err)
	}
	r := gin.New()
	auth, err := authgin.Register(r.Group("/api/users"), authgin.Options{
		DB: db, Secret: []byte(os.Getenv("AUTHGIN_SECRET")), BaseURL: "https://app.example",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close(context.Background())
}

// Bootstrap an admin at start-up (examples/basic's AUTHGIN_ADMIN): the
// account is created, or promoted when it exists.
func ExampleService_EnsureAdmin() {
	env := authgintest.New(&testing.T{})
	acct, created, err := env.Auth.Service().EnsureAdmin(context.Background(), "root@example.com", "root", "a long admin passphrase")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acct.Username, acct.IsAdmin(), created)
	// Output: root true true
}
