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

	"github.com/authgin/authgin/internal/commonpasswords"
	"github.com/gin-gonic/gin"
)

// Auth is a mounted plugin: its middleware authenticates requests and
// Service exposes its operations as Go calls. Two Auth values are fully
// independent.
type Auth struct {
	o       Options
	svc     *Service
	csrf    *http.CrossOriginProtection
	cookies cookies
	// bearerRoutes holds "METHOD /full/path" of the routes whose only
	// credential is the access token (crossOriginGuard).
	bearerRoutes map[string]struct{}
	// jwks is the JSON Web Key Set served at /.well-known/jwks.json; nil
	// with HS256.
	jwks []byte
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
	toks, err := newTokenIssuer(&o)
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
	mfa, err := newMFAKeys(&o)
	if err != nil {
		return nil, err
	}
	a := &Auth{o: o, csrf: csrf, bearerRoutes: map[string]struct{}{}}
	if a.cookies, err = newCookies(&a.o, g.BasePath()); err != nil {
		return nil, err
	}
	if a.jwks, err = newJWKS(o.Signing); err != nil {
		return nil, err
	}
	oauth, err := newOAuthSet(&a.o, g.BasePath())
	if err != nil {
		return nil, err
	}
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
		// Not bound by ctx's minute: the first start after the column was
		// added writes every account once.
		if err := backfillSkeletons(context.WithoutCancel(ctx), st, o.Logger); err != nil {
			return nil, fmt.Errorf("authgin: setting username skeletons: %w", err)
		}
	}
	if err := st.d.check(ctx, st); err != nil {
		return nil, err
	}
	commonpasswords.Load() // now, not during the first registration
	hasher := newHasher(o.Argon2, o.HashConcurrency, o.HashQueueTimeout)
	// Failed logins last as long as a legacy hash's check (password.go).
	if legacy, err := st.legacyHashPrefixes(ctx); err == nil {
		hasher.calibrateLegacy(legacy)
	} else if !o.SkipMigration { // else the tables may be still to come
		return nil, fmt.Errorf("authgin: reading the stored password hashes' parameters: %w", err)
	}
	a.svc = &Service{
		o:       &a.o,
		st:      st,
		tokens:  toks,
		hasher:  hasher,
		loginTx: newGroupCommit(st, hasher.queued, nil),
		limits:  newThrottler(st, o.Now),
		outbox:  newOutbox(o.Mailer, o.MailQueueSize, o.Logger),
		mails:   mails,
		captcha: &captchaVerifier{
			secret: o.RecaptchaSecret, url: o.RecaptchaVerifyURL, client: &http.Client{Timeout: 10 * time.Second},
			hostnames: lowerAll(o.RecaptchaHostnames), action: o.RecaptchaAction, minScore: o.RecaptchaMinScore,
			maxAge: o.RecaptchaMaxAge, now: o.Now,
		},
		log: o.Logger,
		passwords: passwordRules{min: o.MinPasswordLength, max: o.MaxPasswordLength, policy: o.PasswordPolicy,
			context: contextWords(o.Site, o.DisplayName)},
		reserved: reservedSkeletons(o.ReservedUsernames),
		blackout: newBlackoutCache(st, o.BlackoutRefresh, o.Logger),
		strict:   newStrictCache(o.StrictCacheTTL),
		revoked:  newRevocationCache(&a.o, st),
		mfa:      mfa,
		passkeys: newPasskeys(&a.o),
	}
	a.svc.oauth = oauth
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
		svc:     a.svc,
		cookies: &a.cookies,
		bearer:  a.o.BearerClients,
		now:     a.o.Now,
		log:     a.o.Logger,
	}
	user := a.RequireUser()
	h.user, h.optionalUser = user, a.OptionalUser()
	admin := a.RequireAdmin()
	// authed mounts a route whose credential is the access token alone
	// (RequireUser or RequireAdmin): a valid bearer token there is the
	// credential used, so the cross-origin check does not apply to it.
	authed := func(method, path string, mw, handler gin.HandlerFunc) {
		a.bearerRoutes[method+" "+g.BasePath()+path] = struct{}{}
		g.Handle(method, path, mw, handler)
	}
	g.POST("/register", h.register)
	g.POST("/login", h.login)
	g.POST("/logout", h.logout)
	authed("POST", "/token", user, h.token)
	g.POST("/token/refresh", h.refresh)
	g.GET("/confirm", user, h.confirmationStatus)
	// With a {"token"} body: confirm (keeps the token out of access logs);
	// otherwise (authenticated): send a new confirmation mail.
	g.POST("/confirm", h.confirmOrRequest)
	g.POST("/confirm/:token", h.confirmEmail)
	authed("POST", "/:id/change_username", user, h.changeUsername)
	g.GET("/.well-known/jwks.json", a.serveJWKS)

	// Account self-service.
	authed("POST", "/email", user, h.changeEmail)
	authed("POST", "/delete_account", user, h.deleteAccount)

	// Passwords.
	g.POST("/forgot_password", h.forgotPassword)
	g.GET("/password", user, h.passwordStatus)
	// With a "token" in the body: reset (keeps the token out of access
	// logs); otherwise (authenticated): set a first password.
	g.POST("/password", h.resetOrSetPassword)
	g.POST("/password/:token", h.resetPassword)
	authed("PUT", "/password", user, h.changePassword)

	// Sessions and the security log.
	g.GET("/sessions", user, h.sessions)
	authed("DELETE", "/sessions/:id", user, h.revokeSession)
	authed("POST", "/logout_all", user, h.logoutAll)
	g.GET("/events", user, h.events)

	// The user's own fields (Options.UserFields) beside the public user.
	g.GET("/me", user, h.me)
	g.PATCH("/me", user, h.patchMe)

	// Social login (http_oauth.go).
	g.GET("/oauth/providers", h.oauthProviders)
	g.GET("/oauth/:provider/authorize", h.oauthAuthorize)
	g.GET("/oauth/:provider/callback", h.oauthCallback)
	g.GET("/oauth", user, h.oauthLinks)
	authed("DELETE", "/oauth/:provider", user, h.oauthUnlink)
	// Second factors (http_mfa.go).
	g.POST("/login/mfa", h.loginMFA)
	g.GET("/mfa", user, h.mfaStatus)
	authed("POST", "/mfa/totp/setup", user, h.totpSetup)
	authed("POST", "/mfa/totp/enable", user, h.totpEnable)
	authed("POST", "/mfa/totp/disable", user, h.totpDisable)
	authed("POST", "/mfa/recovery_codes", user, h.newRecoveryCodes)
	authed("DELETE", "/:id/mfa", admin, h.resetMFA)
	authed("POST", "/webauthn/register/begin", user, h.passkeyRegisterBegin)
	authed("POST", "/webauthn/register/finish", user, h.passkeyRegisterFinish)
	g.POST("/webauthn/login/begin", h.passkeyLoginBegin)
	g.POST("/webauthn/login/finish", h.passkeyLoginFinish)
	g.GET("/webauthn/credentials", user, h.passkeys)
	authed("DELETE", "/webauthn/credentials/:id", user, h.deletePasskey)

	// authx's admin router. Static segments win over /:id in gin's router.
	g.GET("/blacklist", admin, h.blacklist)
	authed("POST", "/:id/blacklist", admin, h.toggleBan)
	authed("POST", "/:id/kick", admin, h.kick)
	g.GET("/blackout", admin, h.getBlackout)
	authed("POST", "/blackout", admin, h.setBlackout)
	authed("DELETE", "/blackout", admin, h.deleteBlackout)
	g.GET("/id_by_username", admin, h.idByUsername)
	authed("POST", "/:id/permissions", admin, h.updatePermissions)

	// authx's search router.
	g.GET("/:id", admin, h.userProfile)
	g.GET("", admin, h.search)
}

// Service returns the plugin's operations as plain Go calls.
func (a *Auth) Service() *Service { return a.svc }

// Options returns the options in force: those given to Register with
// every default filled in (cookie names, lifetimes, limits...).
func (a *Auth) Options() Options { return a.o }

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
