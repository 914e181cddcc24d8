package authgin

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Cross-site request forgery protection.
//
// Browsers attach cookies to cross-site requests, so every unsafe request
// that carries the plugin's cookies is checked with the standard library's
// http.CrossOriginProtection (the Sec-Fetch-Site header, else Origin
// against Host). The checks run
//   - on every unsafe request to the plugin's routes that carries the access
//     or the refresh cookie (a group middleware), /login and /register
//     included: a forged login would sign the victim into the attacker's
//     account (login CSRF). /logout and /token/refresh, whose credential is
//     the refresh cookie, are always checked when it is there, whatever
//     else the request carries;
//   - in RequireUser, OptionalUser, RequireAdmin and RequirePermission when
//     the access token came from the cookie.
//
// Exempt are requests without those cookies (nothing of the victim's is
// at stake: bearer clients, curl) and requests to a route that
// authenticates by the access token alone (bearerRoutes) whose
// "Authorization: Bearer" token is valid, since that token and not the
// cookie is the credential used. A browser only sends that header
// cross-origin after a CORS preflight the app allowed. An invalid bearer
// token never exempts a request. Request bodies are JSON only, so a
// cross-site HTML form (the classic forgery) is refused twice: here, and
// with 415 by the handlers.

// newCrossOrigin builds the checker with the app's extra trusted origins.
func newCrossOrigin(origins []string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	for i, o := range origins {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("authgin: Options.TrustedOrigins[%d]: %w", i, err)
		}
	}
	return p, nil
}

// safeMethod reports whether CrossOriginProtection lets m through
// unchecked. State-changing routes never use these methods.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossOriginGuard is the group middleware of the plugin's routes.
func (a *Auth) crossOriginGuard() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if safeMethod(r.Method) || !a.cookies.present(r) {
			return
		}
		if _, ok := a.bearerRoutes[r.Method+" "+c.FullPath()]; ok && a.validBearer(r) {
			return
		}
		a.checkCrossOrigin(c)
	}
}

// validBearer reports whether r's "Authorization: Bearer" token is a
// valid access token, as the route's RequireUser will find it.
func (a *Auth) validBearer(r *http.Request) bool {
	raw := bearerToken(r)
	if raw == "" {
		return false
	}
	claims, err := a.svc.tokens.parseAccess(raw, a.o.Now())
	return err == nil && !a.svc.blackout.rejects(claims.IssuedAt)
}

// checkCrossOrigin checks a request that may authenticate by cookie and
// reports whether it may go on; it has answered 403 when not.
func (a *Auth) checkCrossOrigin(c *gin.Context) bool {
	if safeMethod(c.Request.Method) {
		return true
	}
	if err := a.csrf.Check(c.Request); err != nil {
		a.rejectCrossOrigin(c, err)
		return false
	}
	return true
}

func (a *Auth) rejectCrossOrigin(c *gin.Context, err error) {
	// The route pattern, never the path: paths may carry one-time tokens.
	a.o.Logger.InfoContext(c.Request.Context(), "authgin: cross-origin request rejected",
		"method", c.Request.Method, "route", c.FullPath(), "origin", truncate(c.GetHeader("Origin"), 256),
		"sec_fetch_site", truncate(c.GetHeader("Sec-Fetch-Site"), 32), "reason", err.Error())
	abortError(c, nil, ErrCrossOrigin)
}
