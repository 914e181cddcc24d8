package authgin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Admin and search routes (authx paths). RequireAdmin guards every one.

// adminTarget parses the {id} of an admin route.
func adminTarget(c *gin.Context) (int64, error) { return parseID(c.Param("id")) }

func (h *handlers) blacklist(c *gin.Context) {
	bl, err := h.svc.Blacklist(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, bl)
}

func (h *handlers) toggleBan(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := adminTarget(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	banned, err := h.svc.ToggleBan(c.Request.Context(), u, id, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "banned": banned})
}

func (h *handlers) kick(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := adminTarget(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	n, err := h.svc.Kick(c.Request.Context(), u, id, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "revoked": n})
}

// blackoutBody renders a blackout: authx's display text in ts, plus the
// exact cutoff in milliseconds.
func blackoutBody(t time.Time) gin.H {
	return gin.H{"ts": t.UTC().Format("02.01.2006, 15:04 UTC"), "unix_ms": t.UnixMilli()}
}

func (h *handlers) getBlackout(c *gin.Context) {
	t, err := h.svc.blackoutRow(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, blackoutBody(t))
}

func (h *handlers) setBlackout(c *gin.Context) {
	u, _ := CurrentUser(c)
	t, err := h.svc.SetBlackout(c.Request.Context(), u, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, blackoutBody(t))
}

func (h *handlers) deleteBlackout(c *gin.Context) {
	u, _ := CurrentUser(c)
	if err := h.svc.ClearBlackout(c.Request.Context(), u, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) idByUsername(c *gin.Context) {
	name, ok := c.GetQuery("username")
	if !ok || name == "" {
		h.fail(c, ErrInvalidInput.withDetail("username is required"))
		return
	}
	id, err := h.svc.IDByUsername(c.Request.Context(), name)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id})
}

// permissionList is a JSON array of strings or, as authx sent it, one
// string.
type permissionList []string

func (l *permissionList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = permissionList{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

func (h *handlers) updatePermissions(c *gin.Context) {
	u, _ := CurrentUser(c)
	id, err := adminTarget(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var in struct {
		Action  string         `json:"action"`
		Payload permissionList `json:"payload"`
	}
	if err := bindJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	perms, err := h.svc.UpdatePermissions(c.Request.Context(), u, id, in.Action, in.Payload, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "permissions": perms})
}

func (h *handlers) userProfile(c *gin.Context) {
	id, err := adminTarget(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	p, err := h.svc.UserProfile(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// search serves GET "" ?id=&username=&p= (authx's search router) and
// ?field.<name>= (user fields).
func (h *handlers) search(c *gin.Context) {
	var q SearchQuery
	if v, ok := c.GetQuery("id"); ok && v != "" {
		id, err := parseID(v)
		if err != nil {
			h.fail(c, err)
			return
		}
		q.ID = id
	}
	q.Username = c.Query("username")
	q.Fields = fieldQuery(c)
	p, err := pageParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.svc.SearchUsers(c.Request.Context(), q, p)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}
