package authgin

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Bearer clients (Options.BearerClients).
//
// Mobile and native apps, SPAs on another site and other services keep
// their tokens themselves. They send "X-Auth-Mode: bearer" to the routes
// that hand out or take refresh tokens and get them in the JSON body, never
// in a cookie:
//
//	POST /register, /login  -> {"user", "access_token", "refresh_token", "token_type": "bearer", "expires_in"}
//	POST /token/refresh {"refresh_token"} -> {"access_token", "refresh_token", "token_type", "expires_in"}
//	POST /logout {"refresh_token"} -> null
//
// Within the rotation grace window a refresh answers without
// "refresh_token": the client keeps the one it has. The access token goes
// in "Authorization: Bearer" to the routes that need one. Such requests
// carry no cookie, so no cross-origin check applies to them
// (crossOriginGuard).

// authModeHeader selects the bearer answers; its value is "bearer".
const authModeHeader = "X-Auth-Mode"

// bearerMode reports whether c is a bearer client's request.
func (h *handlers) bearerMode(c *gin.Context) bool {
	return h.bearer && strings.EqualFold(strings.TrimSpace(c.GetHeader(authModeHeader)), "bearer")
}

// bearerTokens is the body of a bearer login or refresh.
type bearerTokens struct {
	User         any    `json:"user,omitempty"` // the public user, with public user fields
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"` // seconds the access token lives
}

func newBearerTokens(t Tokens) bearerTokens {
	return bearerTokens{
		AccessToken: t.Access, RefreshToken: t.Refresh, TokenType: "bearer",
		ExpiresIn: t.AccessClaims.ExpiresAt - t.AccessClaims.IssuedAt,
	}
}

// issueBearer renders a bearer client's login.
func (h *handlers) issueBearer(c *gin.Context, acct *Account, t Tokens) {
	body := newBearerTokens(t)
	body.User = h.publicUser(c, acct)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, body)
}

// bearerRefreshToken reads {"refresh_token"} from the body; a request
// without a body has none.
func bearerRefreshToken(c *gin.Context) (string, error) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return "", nil
	}
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := bindJSON(c, &in); err != nil {
		return "", err
	}
	return in.RefreshToken, nil
}

func (h *handlers) refreshBearer(c *gin.Context) {
	token, err := bearerRefreshToken(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	t, err := h.svc.Refresh(c.Request.Context(), token, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, newBearerTokens(t))
}

func (h *handlers) logoutBearer(c *gin.Context) {
	token, err := bearerRefreshToken(c)
	if err == nil {
		err = h.svc.Logout(c.Request.Context(), token, clientOf(c))
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}
