package authgin

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// forgotPassword answers 200 with the same body whether or not the address
// belongs to an account.
func (h *handlers) forgotPassword(c *gin.Context) {
	var in struct {
		Email string `json:"email"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.ForgotPassword(c.Request.Context(), in.Email, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

// passwordStatus tells the front end which form to show: "set" for an
// account without a password, "change" otherwise (authx).
func (h *handlers) passwordStatus(c *gin.Context) {
	u, _ := CurrentUser(c)
	set, err := h.svc.PasswordIsSet(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	status := "set"
	if set {
		status = "change"
	}
	c.JSON(http.StatusOK, gin.H{"status": status})
}

func (h *handlers) resetPassword(c *gin.Context) {
	var in SetPasswordInput
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.ResetPassword(c.Request.Context(), c.Param("token"), in, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) changePassword(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in struct {
		ChangePasswordInput
		// OldPasswordCamel is authx front ends' spelling of old_password.
		OldPasswordCamel string `json:"oldPassword"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if in.OldPassword == "" {
		in.OldPassword = in.OldPasswordCamel
	}
	if err := h.svc.ChangePassword(c.Request.Context(), u, in.ChangePasswordInput, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}
