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
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authgin/authgin"
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
