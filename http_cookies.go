package authgin

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// cookies sets and expires the token cookies. The access cookie is sent
// to the whole site (Path /, SameSite=Lax); the refresh cookie only to the
// plugin's routes (Path = group base path, SameSite=Strict).
type cookies struct {
	access, refresh string // names
	refreshPath     string
	secure          bool
}

func (k cookies) setAccess(c *gin.Context, token string, expires time.Time, now time.Time) {
	k.set(c, k.access, token, "/", http.SameSiteLaxMode, expires.Sub(now))
}

func (k cookies) setRefresh(c *gin.Context, token string, expires time.Time, now time.Time) {
	k.set(c, k.refresh, token, k.refreshPath, http.SameSiteStrictMode, expires.Sub(now))
}

// expire removes both cookies with the attributes they were set with.
func (k cookies) expire(c *gin.Context) {
	k.set(c, k.access, "", "/", http.SameSiteLaxMode, -1)
	k.set(c, k.refresh, "", k.refreshPath, http.SameSiteStrictMode, -1)
}

func (k cookies) set(c *gin.Context, name, value, path string, site http.SameSite, ttl time.Duration) {
	maxAge := -1 // sent as Max-Age=0
	if ttl > 0 {
		maxAge = int(ttl / time.Second)
	}
	// #nosec G124 -- Secure is dropped only with Options.Debug (plain-HTTP development); HttpOnly and SameSite are always set.
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: k.secure, SameSite: site,
	})
}

// cookieValue returns the value of the named cookie without the
// allocations of http.Request.Cookie, which parses every cookie.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}
