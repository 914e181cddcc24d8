package authgin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// maxBody bounds JSON request bodies.
const maxBody = 16 << 10

// handlers adapts the service to gin: parse, call, render.
type handlers struct {
	svc     *Service
	cookies cookies
	now     func() time.Time
	log     *slog.Logger
	// user is RequireUser, for routes that authenticate only some requests.
	user gin.HandlerFunc
}

func (h *handlers) fail(c *gin.Context, err error) { abortError(c, h.log, err) }

// publicUser is the user as register and login return it.
type publicUser struct {
	ID          int64    `json:"id"`
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	Confirmed   bool     `json:"confirmed"`
	Permissions []string `json:"permissions"`
}

func newPublicUser(a *Account) publicUser {
	return publicUser{ID: a.ID, Username: a.Username, Email: a.Email, Confirmed: a.Confirmed, Permissions: a.Permissions}
}

func clientOf(c *gin.Context) Client {
	return Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
}

// bindJSON decodes a JSON object body into v: application/json only (415),
// at most maxBody bytes (413), valid UTF-8 and exactly one JSON value (400).
func bindJSON(c *gin.Context, v any) error {
	_, err := bindJSONBody(c, v)
	return err
}

// bindJSONBody is bindJSON that also returns the body.
func bindJSONBody(c *gin.Context, v any) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, ErrUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, ErrBodyTooLarge
		}
		return nil, ErrMalformedBody
	}
	if !utf8.Valid(body) {
		return nil, ErrMalformedBody.withDetail("Request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return nil, ErrMalformedBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrMalformedBody
	}
	return body, nil
}

// issue renders a login: both cookies and the public user.
func (h *handlers) issue(c *gin.Context, acct *Account, t Tokens) {
	now := h.now()
	h.cookies.setAccess(c, t.Access, t.AccessExpires, now)
	h.cookies.setRefresh(c, t.Refresh, t.RefreshExpires, now)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, h.publicUser(c, acct))
}

func (h *handlers) register(c *gin.Context) {
	var in RegisterInput
	body, err := bindJSONBody(c, &in)
	if err != nil {
		h.fail(c, err)
		return
	}
	in.body = string(body)
	acct, t, err := h.svc.SignUp(c.Request.Context(), in, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.issue(c, acct, t)
}

func (h *handlers) login(c *gin.Context) {
	var in LoginInput
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	acct, t, err := h.svc.Login(c.Request.Context(), in, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.issue(c, acct, t)
}

func (h *handlers) logout(c *gin.Context) {
	err := h.svc.Logout(c.Request.Context(), cookieValue(c.Request, h.cookies.refresh), clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.cookies.expire(c)
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) token(c *gin.Context) {
	v, _ := c.Get(contextKey)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

func (h *handlers) refresh(c *gin.Context) {
	t, err := h.svc.Refresh(c.Request.Context(), cookieValue(c.Request, h.cookies.refresh), clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	now := h.now()
	h.cookies.setAccess(c, t.Access, t.AccessExpires, now)
	if t.Refresh != "" {
		h.cookies.setRefresh(c, t.Refresh, t.RefreshExpires, now)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"access": t.Access})
}

func (h *handlers) confirmationStatus(c *gin.Context) {
	u, _ := CurrentUser(c)
	email, confirmed, err := h.svc.ConfirmationStatus(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"email": email, "confirmed": confirmed})
}

func (h *handlers) requestConfirmation(c *gin.Context) {
	u, _ := CurrentUser(c)
	if err := h.svc.RequestConfirmation(c.Request.Context(), u.ID, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) confirmEmail(c *gin.Context) {
	if err := h.svc.ConfirmEmail(c.Request.Context(), c.Param("token"), clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) changeUsername(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := parseID(c.Param("id"))
	if err != nil {
		// Permission first: a non-admin learns nothing about other ids.
		if !u.IsAdmin() {
			err = ErrForbidden
		}
		h.fail(c, err)
		return
	}
	if u.ID != id && !u.IsAdmin() {
		h.fail(c, ErrForbidden)
		return
	}
	var in struct {
		Username string `json:"username"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	acct, err := h.svc.ChangeUsername(c.Request.Context(), u, id, in.Username, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": acct.ID, "username": acct.Username})
}

// parseID parses a positive decimal id from a path; anything else is
// ErrInvalidID and never reaches SQL.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || len(s) > 19 || s[0] == '+' {
		return 0, ErrInvalidID
	}
	return id, nil
}
