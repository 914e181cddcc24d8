package authgin

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// Session management routes: GET /sessions, DELETE /sessions/{id},
// POST /logout_all, GET /events.

func (h *handlers) sessions(c *gin.Context) {
	u, _ := CurrentUser(c)
	list, err := h.svc.Sessions(c.Request.Context(), u.ID, u.SessionID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, list)
}

func (h *handlers) revokeSession(c *gin.Context) {
	u, _ := CurrentUser(c)
	sid := c.Param("id")
	if err := h.svc.RevokeSession(c.Request.Context(), u, sid, clientOf(c)); err != nil {
		h.fail(c, err)
		return
	}
	if sid == u.SessionID {
		// Ending one's own session is a logout.
		h.cookies.expire(c)
	}
	c.JSON(http.StatusOK, nil)
}

func (h *handlers) logoutAll(c *gin.Context) {
	u, _ := CurrentUser(c)
	n, err := h.svc.LogoutAll(c.Request.Context(), u, clientOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.cookies.expire(c)
	c.JSON(http.StatusOK, gin.H{"revoked": n})
}

// events serves GET /events?p=&user_id= (user_id: admins only, default
// the caller).
func (h *handlers) events(c *gin.Context) {
	u, _ := CurrentUser(c)
	p, err := pageParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	userID := u.ID
	if v, ok := c.GetQuery("user_id"); ok {
		if userID, err = parseID(v); err != nil {
			if !u.IsAdmin() {
				err = ErrForbidden
			}
			h.fail(c, err)
			return
		}
	}
	page, err := h.svc.Events(c.Request.Context(), u, userID, p)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, page)
}

// pageParam reads the 1-based page number p (default 1); the service
// checks its range.
func pageParam(c *gin.Context) (int, error) {
	v, ok := c.GetQuery("p")
	if !ok {
		return 1, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil {
		return 0, ErrInvalidPage
	}
	return p, nil
}
