package authgin

// Handlers and middleware of second factors (service_mfa.go).

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// RequireMFA is RequireUser plus a second factor: a session whose login
// used only a password gets 403 mfa_required (the amr claim holds neither
// "otp" nor "hwk"). Like RequireUser it reads the token alone.
func (a *Auth) RequireMFA() gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, err := a.authenticate(c); !ok {
			a.deny(c, err)
			return
		}
		v, _ := c.Get(contextKey)
		if cl, _ := v.(*AccessClaims); cl == nil || !cl.hasSecondFactor() {
			abortError(c, nil, ErrMFARequired)
		}
	}
}

// mfaRequired answers a login whose account has a second factor: 200, no
// cookies, the mfa_token and the methods.
func (h *handlers) mfaRequired(c *gin.Context, m *MFARequired) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"mfa_required": true, "mfa_token": m.Token, "methods": m.Methods})
}

func (h *handlers) loginMFA(c *gin.Context) {
	var in LoginMFAInput
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	acct, t, err := h.svc.LoginMFA(c.Request.Context(), in, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.issue(c, acct, t)
}

func (h *handlers) mfaStatus(c *gin.Context) {
	u, _ := CurrentUser(c)
	st, err := h.svc.MFA(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (h *handlers) totpSetup(c *gin.Context) {
	u, _ := CurrentUser(c)
	out, err := h.svc.SetupTOTP(c.Request.Context(), u)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h *handlers) totpEnable(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in struct {
		Code string `json:"code"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	codes, err := h.svc.EnableTOTP(c.Request.Context(), u, in.Code, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes})
}

func (h *handlers) totpDisable(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in PresenceProof
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.DisableTOTP(c.Request.Context(), u, in, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) resetMFA(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := parseID(c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.ResetMFA(c.Request.Context(), u, id, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) newRecoveryCodes(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in PresenceProof
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	codes, err := h.svc.NewRecoveryCodes(c.Request.Context(), u, in, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"recovery_codes": codes})
}
