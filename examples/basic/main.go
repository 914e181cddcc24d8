// Command basic serves authgin's routes on SQLite (or PostgreSQL) with no
// other setup:
//
//	AUTHGIN_DEBUG=1 go run ./examples/basic
//
// Configuration is by environment; see README.md in this folder.
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

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

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
	a, err := newApp(ctx, log, nil)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: env("ADDR", ":8000"), Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("basic: listening", "addr", srv.Addr)
	select {
	case err := <-errc:
		_ = a.auth.Close(context.Background()) // the listen error is the one to report
		return err
	case <-ctx.Done():
	}
	// Stop taking requests, then deliver the mails still queued.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Warn("basic: shutdown", "err", err)
	}
	return a.auth.Close(shutdown)
}

// app is the example's HTTP handler and its plugin.
type app struct {
	handler http.Handler
	auth    *authgin.Auth
}

// newApp builds the example from the environment. tweak, when not nil,
// adjusts the options last (tests shorten lifetimes and catch mails).
func newApp(ctx context.Context, log *slog.Logger, tweak func(*authgin.Options)) (*app, error) {
	debug := os.Getenv("AUTHGIN_DEBUG") == "1"
	if !debug {
		gin.SetMode(gin.ReleaseMode)
	}
	db, err := authgin.OpenURL(env("DATABASE_URL", "authgin.db"))
	if err != nil {
		return nil, err
	}
	secret := []byte(os.Getenv("AUTHGIN_SECRET"))
	signing, err := signingKey(os.Getenv("AUTHGIN_SIGNING_KEY"))
	if err != nil {
		return nil, err
	}
	if len(secret) == 0 && signing == nil && debug {
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
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	origins := list(os.Getenv("CORS_ORIGINS"))
	if len(origins) > 0 {
		mw, err := corsMiddleware(origins)
		if err != nil {
			return nil, err
		}
		r.Use(mw)
	}

	mailer, err := smtpMailer()
	if err != nil {
		return nil, err
	}
	if mailer == nil {
		log.Warn("SMTP_HOST is not set: mails are written to the log (bodies only with AUTHGIN_DEBUG=1)")
	}
	providers, err := oauthProviders()
	if err != nil {
		return nil, err
	}
	opts := authgin.Options{
		DB:              db,
		Secret:          secret,
		Signing:         signing,
		BaseURL:         env("BASE_URL", "http://localhost:8000"),
		Debug:           debug,
		RecaptchaSecret: os.Getenv("RECAPTCHA_SECRET"),
		Mailer:          mailer,
		Logger:          log,
		BearerClients:   os.Getenv("AUTHGIN_BEARER_CLIENTS") == "1",
		// Front ends on the CORS origins send credentials: trust them for
		// the cross-origin (CSRF) check too.
		TrustedOrigins: origins,
		UserFields:     authgin.UserFieldsOf[Profile](),
		OAuth:          providers,
	}
	if opts.Cookie, err = cookieOptions(os.Getenv("COOKIE_SAMESITE"), os.Getenv("COOKIE_DOMAIN")); err != nil {
		return nil, err
	}
	if tweak != nil {
		tweak(&opts)
	}
	auth, err := authgin.Register(r.Group("/api/users"), opts)
	if err != nil {
		return nil, err
	}
	if spec := os.Getenv("AUTHGIN_ADMIN"); spec != "" {
		if err := ensureAdmin(ctx, auth, spec, log); err != nil {
			_ = auth.Close(context.Background()) // the admin error is the one to report
			return nil, err
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
	serveFrontEnd(r)
	return &app{handler: r, auth: auth}, nil
}

// signingKey reads AUTHGIN_SIGNING_KEY, a PKCS#8 PEM file; nil when unset.
func signingKey(path string) (*authgin.SigningConfig, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path) // #nosec G304 G703 -- the operator names the key file (AUTHGIN_SIGNING_KEY)
	if err != nil {
		return nil, fmt.Errorf("AUTHGIN_SIGNING_KEY: %w", err)
	}
	s, err := authgin.SigningKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("AUTHGIN_SIGNING_KEY: %w", err)
	}
	return s, nil
}

// cookieOptions reads COOKIE_SAMESITE (lax, strict or none; unset keeps
// authgin's Lax access and Strict refresh cookies) and COOKIE_DOMAIN.
func cookieOptions(sameSite, domain string) (authgin.CookieOptions, error) {
	co := authgin.CookieOptions{Domain: domain}
	var mode http.SameSite
	switch strings.ToLower(sameSite) {
	case "":
	case "lax":
		mode = http.SameSiteLaxMode
	case "strict":
		mode = http.SameSiteStrictMode
	case "none":
		mode = http.SameSiteNoneMode
	default:
		return co, fmt.Errorf("COOKIE_SAMESITE must be lax, strict or none (got %q)", sameSite)
	}
	co.AccessSameSite, co.RefreshSameSite = mode, mode
	return co, nil
}

// corsMiddleware lets the front ends at origins call the API with
// credentials (cookies) and the headers authgin's clients send.
func corsMiddleware(origins []string) (gin.HandlerFunc, error) {
	cfg := cors.Config{
		AllowOrigins:     origins,
		AllowMethods:     []string{"GET", "POST", "PUT", "PATCH", "DELETE"},
		AllowHeaders:     []string{"Content-Type", "Authorization", "X-Auth-Mode"},
		AllowCredentials: true,
		MaxAge:           10 * time.Minute,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("CORS_ORIGINS: %w", err)
	}
	return cors.New(cfg), nil
}

// list splits a comma-separated setting, dropping empty items.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
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

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
