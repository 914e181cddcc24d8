// Command basic serves authgin's routes on SQLite (or PostgreSQL) with no
// other setup:
//
//	AUTHGIN_DEBUG=1 go run ./examples/basic
//
// Configuration is by environment; see README.md ("Running the example").
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/authgin/authgin"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("basic: " + err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	debug := os.Getenv("AUTHGIN_DEBUG") == "1"
	if !debug {
		gin.SetMode(gin.ReleaseMode)
	}
	db, err := openDB(env("DATABASE_URL", "authgin.db"))
	if err != nil {
		return err
	}
	secret := []byte(os.Getenv("AUTHGIN_SECRET"))
	if len(secret) == 0 && debug {
		secret = []byte(rand.Text() + rand.Text())
		log.Warn("AUTHGIN_SECRET is not set: using a random key; tokens die with the process")
	}

	r := gin.New()
	r.Use(gin.Recovery())
	// Without trusted proxies, ClientIP is the TCP peer: a spoofed
	// X-Forwarded-For cannot dodge login throttling.
	var proxies []string
	if p := os.Getenv("TRUSTED_PROXIES"); p != "" {
		proxies = strings.Split(p, ",")
	}
	if err := r.SetTrustedProxies(proxies); err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}

	opts := authgin.Options{
		DB:              db,
		Secret:          secret,
		BaseURL:         env("BASE_URL", "http://localhost:8000"),
		Debug:           debug,
		RecaptchaSecret: os.Getenv("RECAPTCHA_SECRET"),
		Logger:          log,
	}
	auth, err := authgin.Register(r.Group("/api/users"), opts)
	if err != nil {
		return err
	}

	api := r.Group("/api", auth.RequireUser())
	api.GET("/me", func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		c.JSON(http.StatusOK, gin.H{"id": u.ID, "username": u.Username, "permissions": u.Permissions})
	})

	srv := &http.Server{Addr: env("ADDR", ":8000"), Handler: r, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		auth.Close(shutdown)
	}()
	log.Info("basic: listening", "addr", srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openDB opens DATABASE_URL: a postgres:// URL selects PostgreSQL; a plain
// path or a sqlite: / file: URL is a SQLite file.
func openDB(url string) (*gorm.DB, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return gorm.Open(postgres.Open(url), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	case strings.HasPrefix(url, "sqlite://"):
		return authgin.OpenSQLite(strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "sqlite:"):
		return authgin.OpenSQLite(strings.TrimPrefix(url, "sqlite:"))
	default:
		return authgin.OpenSQLite(url)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
