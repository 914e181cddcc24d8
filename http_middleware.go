package authgin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// User is the authenticated user the middleware stores in the gin context,
// read from the access token's claims.
type User struct {
	ID       int64
	Username string
	// Permissions is shared with the token cache: read it, never modify it.
	Permissions []string
	// SessionID identifies the login (refresh session) the token belongs to.
	SessionID string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// IsAdmin reports whether the user has the "admin" permission (authx).
func (u User) IsAdmin() bool { return hasPermission(u.Permissions, PermissionAdmin) }

// HasPermission reports whether the user has permission p.
func (u User) HasPermission(p string) bool { return hasPermission(u.Permissions, p) }

// contextKey is the gin context key of the *AccessClaims of the request.
const contextKey = "github.com/authgin/authgin.claims"

// serviceKey is the gin context key of the *Service that authenticated
// the request, for CurrentProfile; set only with Options.UserFields.
const serviceKey = "github.com/authgin/authgin.service"

// CurrentUser returns the user that RequireUser, OptionalUser,
// RequireAdmin or RequirePermission stored in c.
func CurrentUser(c *gin.Context) (User, bool) {
	v, ok := c.Get(contextKey)
	if !ok {
		return User{}, false
	}
	cl, ok := v.(*AccessClaims)
	if !ok {
		return User{}, false
	}
	return User{
		ID: cl.ID, Username: cl.Username, Permissions: cl.Permissions, SessionID: cl.SessionID,
		IssuedAt: time.Unix(cl.IssuedAt, 0), ExpiresAt: time.Unix(cl.ExpiresAt, 0),
	}, true
}

// RequireUser authenticates the request by the access cookie or an
// "Authorization: Bearer" header and stores the user for CurrentUser.
// Requests without valid credentials get 401.
func (a *Auth) RequireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, err := a.authenticate(c); !ok {
			a.deny(c, err)
		}
	}
}

// OptionalUser stores the user when the request carries valid credentials
// and lets every other request through, except a cross-origin unsafe
// request with the access cookie, which gets 403 (CSRF). In strict mode a
// request whose session cannot be checked (database down) goes through as
// anonymous.
func (a *Auth) OptionalUser() gin.HandlerFunc {
	return func(c *gin.Context) { _, _ = a.authenticate(c) } // anonymous is fine; a CSRF rejection has aborted c
}

// RequireAdmin is RequireUser plus the "admin" permission: 401 without
// credentials, 403 without the permission.
func (a *Auth) RequireAdmin() gin.HandlerFunc { return a.RequirePermission(PermissionAdmin) }

// RequirePermission is RequireUser plus permission p: 401 without
// credentials, 403 without the permission.
func (a *Auth) RequirePermission(p string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, err := a.authenticate(c); !ok {
			a.deny(c, err)
			return
		}
		if u, _ := CurrentUser(c); !u.HasPermission(p) {
			abortError(c, nil, ErrForbidden)
		}
	}
}

// authenticate verifies the request's access token and stores its claims.
// It reports false with a nil error for missing or invalid credentials and
// an error when strict mode could not check the session. A cookie-borne
// token on an unsafe cross-origin request is CSRF: the request is aborted
// with 403 here.
//
// Stateless (the default): a signature and claims check plus the blackout
// held in process memory; no database access. Cached (RevocationCached):
// also the user's latest revocation, from process memory. Strict
// (RevocationStrict): also the session row, so revocation takes effect at
// once.
func (a *Auth) authenticate(c *gin.Context) (bool, error) {
	raw := bearerToken(c.Request)
	if raw == "" {
		raw = a.cookies.accessToken(c.Request)
		if raw != "" && !a.checkCrossOrigin(c) {
			return false, nil
		}
	}
	if raw == "" {
		return false, nil
	}
	claims, err := a.svc.tokens.parseAccess(raw, a.o.Now())
	if err != nil || a.svc.blackout.rejects(claims.IssuedAt) || a.svc.revoked.rejects(&claims) {
		return false, nil
	}
	if a.o.Strict {
		if err := a.svc.verifySession(c.Request.Context(), &claims); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				err = nil
			}
			return false, err
		}
	}
	c.Set(contextKey, &claims)
	if a.o.UserFields.s != nil {
		c.Set(serviceKey, a.svc)
	}
	return true, nil
}

// deny aborts a request that authenticate refused: 401, or 503 when the
// session could not be checked. A request authenticate already answered
// (CSRF) is left alone.
func (a *Auth) deny(c *gin.Context, err error) {
	if c.IsAborted() {
		return
	}
	if err == nil {
		err = ErrUnauthorized
	}
	abortError(c, a.o.Logger, err)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}
