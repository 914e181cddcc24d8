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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/authgin/authgin"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("basic: " + err.Error())
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, log *slog.Logger) error {
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

	mailer, err := smtpMailer()
	if err != nil {
		return err
	}
	if mailer == nil {
		log.Warn("SMTP_HOST is not set: mails are written to the log (bodies only with AUTHGIN_DEBUG=1)")
	}
	opts := authgin.Options{
		DB:              db,
		Secret:          secret,
		BaseURL:         env("BASE_URL", "http://localhost:8000"),
		Debug:           debug,
		RecaptchaSecret: os.Getenv("RECAPTCHA_SECRET"),
		Mailer:          mailer,
		Logger:          log,
		UserFields:      authgin.UserFieldsOf[Profile](),
	}
	auth, err := authgin.Register(r.Group("/api/users"), opts)
	if err != nil {
		return err
	}
	if spec := os.Getenv("AUTHGIN_ADMIN"); spec != "" {
		if err := ensureAdmin(ctx, auth, spec, log); err != nil {
			_ = auth.Close(context.Background()) // the admin error is the one to report
			return err
		}
	}

	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", authgin.OpenAPI()) })

	api := r.Group("/api", auth.RequireUser())
	api.GET("/me", func(c *gin.Context) {
		u, _ := authgin.CurrentUser(c)
		// The profile costs a query, made only by the handlers that ask.
		p, err := authgin.CurrentProfile[Profile](c)
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": u.ID, "username": u.Username, "permissions": u.Permissions, "display_name": p.DisplayName})
	})

	srv := &http.Server{Addr: env("ADDR", ":8000"), Handler: r, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("basic: listening", "addr", srv.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop taking requests, then deliver the mails still queued.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Warn("basic: shutdown", "err", err)
	}
	return auth.Close(shutdown)
}

// ensureAdmin creates or promotes the admin named by AUTHGIN_ADMIN
// ("email:username:password"; the password may contain colons).
func ensureAdmin(ctx context.Context, auth *authgin.Auth, spec string, log *slog.Logger) error {
	email, rest, ok1 := strings.Cut(spec, ":")
	username, password, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || email == "" || username == "" || password == "" {
		return errors.New("AUTHGIN_ADMIN must be email:username:password")
	}
	acct, created, err := auth.Service().EnsureAdmin(ctx, email, username, password)
	if err != nil {
		return fmt.Errorf("AUTHGIN_ADMIN: %w", err)
	}
	if created {
		log.Info("basic: admin account created", "id", acct.ID, "username", acct.Username)
	} else {
		log.Info("basic: admin account ready (existing account, password unchanged)", "id", acct.ID, "username", acct.Username)
	}
	return nil
}

// smtpMailer configures SMTP from SMTP_HOST, SMTP_PORT, SMTP_USERNAME,
// SMTP_PASSWORD, SMTP_FROM (default SMTP_USERNAME, as authx) and SMTP_TLS
// (none, starttls or tls; default starttls). Nil without SMTP_HOST.
func smtpMailer() (authgin.Mailer, error) {
	host := os.Getenv("SMTP_HOST")
	if host == "" {
		return nil, nil
	}
	port := 0
	if p := os.Getenv("SMTP_PORT"); p != "" {
		var err error
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_PORT: %w", err)
		}
	}
	m, err := authgin.NewSMTPMailer(authgin.SMTPConfig{
		Host:     host,
		Port:     port,
		Username: os.Getenv("SMTP_USERNAME"),
		Password: os.Getenv("SMTP_PASSWORD"),
		From:     env("SMTP_FROM", os.Getenv("SMTP_USERNAME")),
		TLS:      authgin.SMTPTLS(os.Getenv("SMTP_TLS")),
	})
	if err != nil {
		return nil, fmt.Errorf("SMTP_* settings: %w", err)
	}
	return m, nil
}

// openDB opens DATABASE_URL: a postgres:// URL selects PostgreSQL, a
// mysql:// URL MySQL or MariaDB; a plain path or a sqlite: / file: URL is a
// SQLite file.
func openDB(url string) (*gorm.DB, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return authgin.OpenPostgres(url)
	case strings.HasPrefix(url, "mysql://"):
		return authgin.OpenMySQL(url)
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
