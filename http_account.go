package authgin

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Account self-service routes: POST /email, POST /delete_account; and the
// RequireConfirmed middleware.

func (h *handlers) changeEmail(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in ChangeEmailInput
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.ChangeEmail(c.Request.Context(), u, in, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) deleteAccount(c *gin.Context) {
	u, _ := CurrentUser(c)
	var in struct {
		Password string `json:"password"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.svc.DeleteAccount(c.Request.Context(), u, in.Password, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	if h.cookies.present(c.Request) {
		h.cookies.expire(c)
	}
	c.JSON(http.StatusOK, nil)
}

// RequireConfirmed is RequireUser plus a confirmed email address: 401
// without credentials, 403 "email_not_confirmed" before the address is
// confirmed. Unlike RequireUser it reads the account until the address is
// confirmed (one primary-key lookup a request); a confirmed account is
// remembered in process.
func (a *Auth) RequireConfirmed() gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, err := a.authenticate(c); !ok {
			a.deny(c, err)
			return
		}
		u, _ := CurrentUser(c)
		confirmed, err := a.svc.EmailConfirmed(c.Request.Context(), u.ID)
		switch {
		case errors.Is(err, ErrUserNotFound):
			abortError(c, nil, ErrUnauthorized) // deleted since the token was issued
		case err != nil:
			abortError(c, a.o.Logger, err)
		case !confirmed:
			abortError(c, nil, ErrEmailNotConfirmed)
		}
	}
}
