// Package authgin is a complete user system for Gin: registration, login,
// logout, JWT access tokens with refresh sessions in the database, email
// confirmation, password reset, admin routes and middleware, ported from
// the Python library authx.
//
// Register mounts the routes on a router group and returns an *Auth whose
// middleware authenticates the rest of the app:
//
//	auth, err := authgin.Register(router.Group("/api/users"), authgin.Options{
//		DB: db, Secret: key, BaseURL: "https://app.example",
//	})
//	api := router.Group("/api", auth.RequireUser())
//	api.GET("/me", func(c *gin.Context) {
//		u, _ := authgin.CurrentUser(c)
//		c.JSON(200, gin.H{"id": u.ID, "username": u.Username})
//	})
package authgin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Auth is a mounted plugin: its middleware authenticates requests and
// Service exposes its operations as Go calls. Two Auth values are fully
// independent.
type Auth struct {
	o    Options
	svc  *Service
	csrf *http.CrossOriginProtection
	// prune deletes dead rows in the background (prune.go).
	prune *pruner
	// probe checks the engine's trusted proxies once (clientip.go).
	probe proxyProbe
}

// Register validates o, migrates the schema (unless o.SkipMigration),
// mounts the auth routes on g and returns the plugin. Invalid options are
// an error naming the field; Register never panics on them.
func Register(g *gin.RouterGroup, o Options) (*Auth, error) {
	if g == nil {
		return nil, errors.New("authgin: Register needs a router group")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	toks, err := newTokens(&o)
	if err != nil {
		return nil, err
	}
	mails, err := newMailComposer(&o)
	if err != nil {
		return nil, err
	}
	csrf, err := newCrossOrigin(o.TrustedOrigins)
	if err != nil {
		return nil, err
	}
	a := &Auth{o: o, csrf: csrf}
	st, err := openStore(o.DB, o.DBTimeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !o.SkipMigration {
		if err := st.migrate(ctx); err != nil {
			return nil, fmt.Errorf("authgin: migrating the schema: %w", err)
		}
	}
	if err := st.d.check(ctx, st); err != nil {
		return nil, err
	}
	hasher := newHasher(o.Argon2, o.HashConcurrency, o.HashQueueTimeout)
	a.svc = &Service{
		o:      &a.o,
		st:     st,
		tokens: toks,
		hasher: hasher,
		logins: newGroupCommit(st, hasher.queued, nil),
		limits: newThrottler(st, o.Now),
		outbox: newOutbox(o.Mailer, o.MailQueueSize, o.Logger),
		mails:  mails,
		captcha: &captchaVerifier{
			secret: o.RecaptchaSecret, url: o.RecaptchaVerifyURL, client: &http.Client{Timeout: 10 * time.Second},
		},
		log:      o.Logger,
		reserved: reservedKeys(o.ReservedUsernames),
		blackout: newBlackoutCache(st, o.BlackoutRefresh, o.Logger),
		strict:   newStrictCache(o.StrictCacheTTL),
		revoked:  newRevocationCache(&a.o, st),
	}
	a.svc.blackout.start()
	a.svc.revoked.start()
	a.prune = newPruner(a.svc, min(pruneFirst, o.PruneInterval), o.PruneInterval, o.Logger)
	a.prune.start()
	a.mount(g)
	return a, nil
}

// mount registers the routes on g (paths as in authx).
func (a *Auth) mount(g *gin.RouterGroup) {
	// A child group, so that the app's group gains no middleware.
	g = g.Group("", a.proxyCheck(), a.crossOriginGuard())
	h := &handlers{
		svc: a.svc,
		cookies: cookies{
			access: a.o.AccessCookie, refresh: a.o.RefreshCookie,
			refreshPath: cookiePath(g.BasePath()), secure: !a.o.Debug,
		},
		now: a.o.Now,
		log: a.o.Logger,
	}
	user := a.RequireUser()
	h.user = user
	admin := a.RequireAdmin()
	g.POST("/register", h.register)
	g.POST("/login", h.login)
	g.POST("/logout", h.logout)
	g.POST("/token", user, h.token)
	g.POST("/token/refresh", h.refresh)
	g.GET("/confirm", user, h.confirmationStatus)
	// With a {"token"} body: confirm (keeps the token out of access logs);
	// otherwise (authenticated): send a new confirmation mail.
	g.POST("/confirm", h.confirmOrRequest)
	g.POST("/confirm/:token", h.confirmEmail)
	g.POST("/:id/change_username", user, h.changeUsername)

	// Passwords.
	g.POST("/forgot_password", h.forgotPassword)
	g.GET("/password", user, h.passwordStatus)
	// With a "token" in the body: reset (keeps the token out of access
	// logs); otherwise (authenticated): set a first password.
	g.POST("/password", h.resetOrSetPassword)
	g.POST("/password/:token", h.resetPassword)
	g.PUT("/password", user, h.changePassword)

	// Sessions and the security log.
	g.GET("/sessions", user, h.sessions)
	g.DELETE("/sessions/:id", user, h.revokeSession)
	g.POST("/logout_all", user, h.logoutAll)
	g.GET("/events", user, h.events)

	// authx's admin router. Static segments win over /:id in gin's router.
	g.GET("/blacklist", admin, h.blacklist)
	g.POST("/:id/blacklist", admin, h.toggleBan)
	g.POST("/:id/kick", admin, h.kick)
	g.GET("/blackout", admin, h.getBlackout)
	g.POST("/blackout", admin, h.setBlackout)
	g.DELETE("/blackout", admin, h.deleteBlackout)
	g.GET("/id_by_username", admin, h.idByUsername)
	g.POST("/:id/permissions", admin, h.updatePermissions)

	// authx's search router.
	g.GET("/:id", admin, h.userProfile)
	g.GET("", admin, h.search)
}

// Service returns the plugin's operations as plain Go calls.
func (a *Auth) Service() *Service { return a.svc }

// Close stops background work (queued mails are delivered first, a prune
// in progress is cancelled) and waits for it until ctx ends. It also
// unmaps the password hashing memory (19 MiB a hashing slot at the default
// cost).
func (a *Auth) Close(ctx context.Context) error {
	a.svc.hasher.close()
	return errors.Join(a.prune.close(ctx), a.svc.blackout.close(ctx), a.svc.revoked.close(ctx), a.svc.outbox.close(ctx))
}

// cookiePath is the refresh cookie's Path: the group's base path.
func cookiePath(base string) string {
	if base == "" {
		return "/"
	}
	return base
}
