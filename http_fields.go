package authgin

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The routes of the app's own user fields: GET and PATCH /me.

// me serves GET /me: the public user and every user field.
func (h *handlers) me(c *gin.Context) {
	u, _ := CurrentUser(c)
	acct, fields, err := h.svc.me(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, withFields{newPublicUser(acct), fields})
}

// patchMe serves PATCH /me: changes the editable user fields the body
// names and answers as GET /me.
func (h *handlers) patchMe(c *gin.Context) {
	u, _ := CurrentUser(c)
	var body json.RawMessage
	raw, err := bindJSONBody(c, &body)
	if err != nil {
		h.fail(c, err)
		return
	}
	acct, fields, err := h.svc.patchProfile(c.Request.Context(), u.ID, raw)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, withFields{newPublicUser(acct), fields})
}

// publicUser is the public user that register and login answer, with the
// user fields marked public. The login has happened: when the fields
// cannot be read, the answer goes without them and the fault is logged.
func (h *handlers) publicUser(c *gin.Context, acct *Account) any {
	u := newPublicUser(acct)
	fields, err := h.svc.publicFields(c.Request.Context(), acct.ID)
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "authgin: reading public user fields", "user_id", acct.ID, "err", err)
		return u
	}
	if len(fields) == 0 {
		return u
	}
	return withFields{u, fields}
}

// fieldQuery collects admin search's ?field.<name>=value parameters.
func fieldQuery(c *gin.Context) map[string]string {
	var q map[string]string
	for k, v := range c.Request.URL.Query() {
		name, ok := strings.CutPrefix(k, "field.")
		if !ok || len(v) == 0 {
			continue
		}
		if q == nil {
			q = map[string]string{}
		}
		q[name] = v[0]
	}
	return q
}
