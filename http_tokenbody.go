package authgin

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// One-time tokens in the body.
//
// authx clients send confirmation and reset tokens in the path
// (POST /confirm/{token}, POST /password/{token}), and access logs (gin's
// Logger, proxies, load balancers) record paths. authgin keeps the path
// forms and also accepts the token in the JSON body of the parent route,
// which new clients should use:
//
//	POST /confirm  {"token": "..."}
//	POST /password {"token": "...", "password1": "...", "password2": "..."}
//
// Without a token those routes keep their authenticated meaning (send a new
// confirmation mail; set a first password). For apps that keep the path
// forms, RedactingLogFormatter cuts tokens out of gin's log lines.

// hasJSONBody reports whether the request carries a non-empty JSON body
// (the token form); an empty body with any Content-Type is the other form.
func hasJSONBody(c *gin.Context) bool {
	return c.Request.ContentLength != 0 && c.Request.Body != nil && c.Request.Body != http.NoBody &&
		c.ContentType() == "application/json"
}

// confirmOrRequest is POST /confirm.
func (h *handlers) confirmOrRequest(c *gin.Context) {
	if hasJSONBody(c) {
		var in struct {
			Token string `json:"token"`
		}
		if err := bindJSON(c, &in); err != nil {
			h.fail(c, err)
			return
		}
		if in.Token != "" {
			by, ok := h.requester(c)
			if !ok {
				return
			}
			if err := h.svc.confirmEmailBy(c.Request.Context(), in.Token, by, clientOf(c)); err != nil {
				h.fail(c, err)
				return
			}
			c.JSON(http.StatusOK, nil)
			return
		}
	}
	if h.user(c); c.IsAborted() {
		return
	}
	h.requestConfirmation(c)
}

// resetOrSetPassword is POST /password.
func (h *handlers) resetOrSetPassword(c *gin.Context) {
	if !hasJSONBody(c) {
		// No body: authenticate first so that the client gets 401, not 400.
		if h.user(c); c.IsAborted() {
			return
		}
	}
	var in struct {
		SetPasswordInput
		Token string `json:"token"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if in.Token != "" {
		if err := h.svc.ResetPassword(c.Request.Context(), in.Token, in.SetPasswordInput, clientOf(c)); err != nil {
			h.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, nil)
		return
	}
	if _, ok := CurrentUser(c); !ok {
		if h.user(c); c.IsAborted() {
			return
		}
	}
	u, _ := CurrentUser(c)
	if err := h.svc.SetPassword(c.Request.Context(), u, in.SetPasswordInput, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}
