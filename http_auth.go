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
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// maxBody bounds JSON request bodies.
const maxBody = 16 << 10

// handlers adapts the service to gin: parse, call, render.
type handlers struct {
	svc     *Service
	cookies *cookies
	// bearer is Options.BearerClients: "X-Auth-Mode: bearer" is honoured.
	bearer bool
	now    func() time.Time
	log    *slog.Logger
	// user is RequireUser, for routes that authenticate only some requests.
	user gin.HandlerFunc
	// optionalUser is OptionalUser, for routes that need no user but
	// act on one when there is.
	optionalUser gin.HandlerFunc
}

// requester runs OptionalUser and returns the id of the user c is
// authenticated as (0: none); false when it aborted c (CSRF).
func (h *handlers) requester(c *gin.Context) (int64, bool) {
	if h.optionalUser(c); c.IsAborted() {
		return 0, false
	}
	u, _ := CurrentUser(c)
	return u.ID, true
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
// A charset parameter other than utf-8 and an object with a key twice, or
// with two keys that differ only in case, are malformed too (strictKeys).
// Keys that v does not know are allowed: clients send extra fields.
func bindJSON(c *gin.Context, v any) error {
	_, err := bindJSONBody(c, v)
	return err
}

// bindJSONBody is bindJSON that also returns the body.
func bindJSONBody(c *gin.Context, v any) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, ErrUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, ErrMalformedBody.withDetail("Request body must be UTF-8 (charset=utf-8)")
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
	if err := strictKeys(body); err != nil {
		return nil, err
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

// strictKeys walks the JSON value in body with encoding/json's token
// stream and refuses an object, at any depth, that holds a key twice or
// two keys equal under Unicode case folding. encoding/json binds a key to
// a field case-insensitively and keeps the last of several, so
// {"password":"x","Password":"y"} would check "y" while a proxy, a WAF or
// a log that reads the first key sees "x". Errors are ErrMalformedBody;
// trailing data is bindJSON's to refuse.
func strictKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	// One frame per open object or array; keys is nil for an array.
	type frame struct {
		keys    map[string]struct{}
		wantKey bool // the object's next token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ErrMalformedBody
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		d, _ := tok.(json.Delim)
		switch {
		case d == '}' || d == ']':
			stack = stack[:len(stack)-1]
		case top != nil && top.wantKey:
			k := foldKey(tok.(string)) // Token returns object keys as strings
			if _, dup := top.keys[k]; dup {
				return ErrMalformedBody.withDetail("Request body has a duplicate key")
			}
			top.keys[k] = struct{}{}
			top.wantKey = false
			continue
		default: // a value
			if top != nil && top.keys != nil {
				top.wantKey = true
			}
			switch d {
			case '{':
				stack = append(stack, &frame{keys: map[string]struct{}{}, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			}
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// foldKey maps each character of s to the smallest member of its Unicode
// simple case folding orbit, so that foldKey(a) == foldKey(b) exactly when
// strings.EqualFold(a, b), the comparison encoding/json matches keys with.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}

// issue renders a login: both cookies and the public user, or for a
// bearer client the tokens and the user in the body.
func (h *handlers) issue(c *gin.Context, acct *Account, t Tokens) {
	if h.bearerMode(c) {
		h.issueBearer(c, acct, t)
		return
	}
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
	if mfa := (*MFARequired)(nil); errors.As(err, &mfa) {
		h.mfaRequired(c, mfa)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.issue(c, acct, t)
}

func (h *handlers) logout(c *gin.Context) {
	if h.bearerMode(c) {
		h.logoutBearer(c)
		return
	}
	err := h.svc.Logout(c.Request.Context(), h.cookies.refreshToken(c.Request), clientOf(c))
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
	if h.bearerMode(c) {
		h.refreshBearer(c)
		return
	}
	t, err := h.svc.Refresh(c.Request.Context(), h.cookies.refreshToken(c.Request), clientOf(c))
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
	if !h.svc.o.refreshBodyToken() {
		c.JSON(http.StatusOK, gin.H{})
		return
	}
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
	by, ok := h.requester(c)
	if !ok {
		return
	}
	if err := h.svc.confirmEmailBy(c.Request.Context(), c.Param("token"), by, clientOf(c)); err != nil {
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
