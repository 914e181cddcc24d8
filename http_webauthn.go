package authgin

// Handlers of passkeys (service_webauthn.go).

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
)

func (h *handlers) passkeyRegisterBegin(c *gin.Context) {
	u, _ := CurrentUser(c)
	out, err := h.svc.BeginPasskeyRegistration(c.Request.Context(), u)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h *handlers) passkeyRegisterFinish(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in struct {
		Ceremony   string          `json:"ceremony"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	out, err := h.svc.FinishPasskeyRegistration(c.Request.Context(), u, in.Ceremony, in.Name, in.Credential, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *handlers) passkeyLoginBegin(c *gin.Context) {
	var in struct {
		MFAToken string `json:"mfa_token"`
	}
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &in); err != nil {
			h.fail(c, err)
			return
		}
	}
	out, err := h.svc.BeginPasskeyLogin(c.Request.Context(), in.MFAToken, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h *handlers) passkeyLoginFinish(c *gin.Context) {
	var in struct {
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	acct, t, err := h.svc.FinishPasskeyLogin(c.Request.Context(), in.Ceremony, in.Credential, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.issue(c, acct, t)
}

func (h *handlers) passkeys(c *gin.Context) {
	u, _ := CurrentUser(c)
	out, err := h.svc.Passkeys(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *handlers) deletePasskey(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := parseID(c.Param("id"))
	if err != nil {
		h.fail(c, ErrPasskeyNotFound)
		return
	}
	if err := h.svc.DeletePasskey(c.Request.Context(), u, id, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}
