package authgin

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Social login routes (Options.OAuth; docs/social-login.md):
//
//	GET    /oauth/providers             the configured providers, for buttons
//	GET    /oauth/{provider}/authorize  302 to the provider (?next=/path, ?link=1)
//	GET    /oauth/{provider}/callback   session (cookies or bearer body), 302 to BaseURL+next
//	GET    /oauth                       (access) the user's linked providers
//	DELETE /oauth/{provider}            (access) unlink

// oauthStateCookie names the cookie that binds a login in flight to the
// browser: HttpOnly, SameSite=Lax (it must come back with the provider's
// top-level redirect), ten minutes, and outside Debug "__Host-" prefixed,
// so that no sibling subdomain can plant one.
func (h *handlers) oauthStateCookie() string {
	if h.cookies.secure {
		return hostPrefix + "oauth_state"
	}
	return "oauth_state"
}

func (h *handlers) setOAuthCookie(c *gin.Context, value string, ttl time.Duration) {
	h.cookies.set(c, h.oauthStateCookie(), value, "/", "", http.SameSiteLaxMode, ttl)
}

func (h *handlers) oauthProviders(c *gin.Context) {
	c.JSON(http.StatusOK, h.svc.OAuthProviders())
}

func (h *handlers) oauthAuthorize(c *gin.Context) {
	in := OAuthStartInput{Next: c.Query("next"), Bearer: h.bearerMode(c)}
	if _, err := h.svc.oauth.get(c.Param("provider")); err != nil {
		h.fail(c, err)
		return
	}
	if link := c.Query("link"); link != "" && link != "0" && link != "false" {
		if h.user(c); c.IsAborted() {
			return
		}
		u, _ := CurrentUser(c)
		in.Link = &u
	}
	start, err := h.svc.OAuthAuthorize(c.Request.Context(), c.Param("provider"), in, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.setOAuthCookie(c, start.Cookie, start.Expires.Sub(h.now()))
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, start.URL)
}

func (h *handlers) oauthCallback(c *gin.Context) {
	in := OAuthCallbackInput{
		Code: c.Query("code"), State: c.Query("state"), Error: c.Query("error"),
		Cookie: cookieValue(c.Request, h.oauthStateCookie()),
	}
	res, err := h.svc.OAuthCallback(c.Request.Context(), c.Param("provider"), in, clientOf(c))
	if in.Cookie != "" {
		h.setOAuthCookie(c, "", -1) // used: a state works once
	}
	c.Header("Cache-Control", "no-store")
	if err != nil {
		h.fail(c, err)
		return
	}
	target := strings.TrimSuffix(h.svc.o.BaseURL, "/") + res.Next
	switch {
	case res.MFA != nil && res.Bearer:
		h.mfaRequired(c, res.MFA)
	case res.MFA != nil:
		// The front end reads the second step from the fragment, which
		// the browser sends to no server (nor in a Referer).
		target, _, _ = strings.Cut(target, "#")
		c.Redirect(http.StatusFound, target+"#"+url.Values{
			"mfa_token": {res.MFA.Token}, "methods": {strings.Join(res.MFA.Methods, ",")}}.Encode())
	case res.Bearer && res.Linked:
		c.JSON(http.StatusOK, nil)
	case res.Bearer:
		h.issueBearer(c, res.Account, res.Tokens)
	case res.Linked:
		c.Redirect(http.StatusFound, target)
	default:
		now := h.now()
		h.cookies.setAccess(c, res.Tokens.Access, res.Tokens.AccessExpires, now)
		h.cookies.setRefresh(c, res.Tokens.Refresh, res.Tokens.RefreshExpires, now)
		c.Redirect(http.StatusFound, target)
	}
}

func (h *handlers) oauthLinks(c *gin.Context) {
	u, _ := CurrentUser(c)
	links, err := h.svc.OAuthLinks(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, links)
}

func (h *handlers) oauthUnlink(c *gin.Context) {
	u, _ := CurrentUser(c)
	if err := h.svc.OAuthUnlink(c.Request.Context(), u, c.Param("provider"), clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}
