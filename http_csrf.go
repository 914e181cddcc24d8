package authgin

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Cross-site request forgery protection.
//
// Browsers attach cookies to cross-site requests, so every unsafe request
// that authenticates by cookie is checked with the standard library's
// http.CrossOriginProtection (the Sec-Fetch-Site header, else Origin
// against Host). The checks run
//   - on every unsafe request to the plugin's routes (a group middleware),
//     /login and /register included: a forged login would sign the victim
//     into the attacker's account (login CSRF);
//   - in RequireUser, OptionalUser, RequireAdmin and RequirePermission when
//     the access token came from the cookie.
//
// Requests with an "Authorization: Bearer" header are exempt: a browser
// only sends that header cross-origin after a CORS preflight the app
// allowed. Request bodies are JSON only, so a cross-site HTML form (the
// classic forgery) is refused twice: here, and with 415 by the handlers.

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
		if !hasBearer(c.Request) {
			a.checkCrossOrigin(c)
		}
	}
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

// hasBearer reports whether r carries an "Authorization: Bearer" header.
func hasBearer(r *http.Request) bool { return bearerToken(r) != "" }
