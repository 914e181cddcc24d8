package authgin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// CookieOptions sets the attributes of the access and refresh cookies
// (Options.Cookie). The zero value is right for a front end served from
// the API's own site.
//
// Outside Debug the cookie names carry the prefixes that browsers enforce,
// so that no other site, not even a sibling subdomain, can plant a cookie
// of the same name: the access cookie is "__Host-" + Options.AccessCookie
// (Secure, Path=/, no Domain; "__Secure-" when Domain is set) and the
// refresh cookie "__Secure-" + Options.RefreshCookie (Secure; its Path is
// the group's). A name configured with a prefix already is kept as it is.
//
// A front end on another site that keeps cookie sessions needs SameSite
// None on both cookies (which requires Secure, so not Debug) and a CORS
// middleware that allows its origin with credentials; list that origin in
// Options.TrustedOrigins too. README's "Clients" section has the setup.
type CookieOptions struct {
	// AccessSameSite is the access cookie's SameSite. Default Lax: the
	// cookie goes with top-level navigations from other sites but not with
	// their scripts' requests.
	AccessSameSite http.SameSite
	// RefreshSameSite is the refresh cookie's SameSite. Default Strict.
	RefreshSameSite http.SameSite
	// Domain, when set, sends both cookies to that domain and its
	// subdomains (e.g. "example.com" for app.example.com and
	// api.example.com). Default none: the API's host only.
	Domain string
	// Unprefixed keeps the plain names outside Debug, for clients that
	// look cookies up by name.
	Unprefixed bool
	// AcceptPlainNames also reads the cookies under their plain names and
	// expires those when it sets the prefixed ones: the migration window
	// after upgrading from unprefixed names, so that live sessions carry
	// over. Turn it off once RefreshTTL has passed since the upgrade.
	AcceptPlainNames bool
}

// The cookie name prefixes browsers enforce (RFC 6265bis section 4.1.3).
const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// validate checks the options that do not depend on the mount point.
func (co CookieOptions) validate(debug bool) error {
	for _, s := range []struct {
		name string
		v    http.SameSite
	}{{"AccessSameSite", co.AccessSameSite}, {"RefreshSameSite", co.RefreshSameSite}} {
		switch s.v {
		case 0, http.SameSiteLaxMode, http.SameSiteStrictMode:
		case http.SameSiteNoneMode:
			if debug {
				return fmt.Errorf("authgin: Options.Cookie.%s is None, which browsers accept only on Secure cookies, "+
					"and Debug turns Secure off; serve over https without Debug", s.name)
			}
		default:
			return fmt.Errorf("authgin: Options.Cookie.%s must be http.SameSiteLaxMode, StrictMode or NoneMode", s.name)
		}
	}
	if d := co.Domain; d != "" {
		if strings.Trim(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" ||
			!strings.Contains(strings.Trim(d, "."), ".") && d != "localhost" {
			return fmt.Errorf("authgin: Options.Cookie.Domain %q is not a domain name", d)
		}
	}
	return nil
}

// cookies sets, reads and expires the token cookies. The access cookie is
// sent to the whole site (Path /); the refresh cookie only to the plugin's
// routes (Path = the group's base path).
type cookies struct {
	access, refresh string // names
	// accessPlain and refreshPlain are the plain names still read during a
	// migration window (CookieOptions.AcceptPlainNames); empty otherwise.
	accessPlain, refreshPlain string
	refreshPath               string
	domain                    string
	accessSite, refreshSite   http.SameSite
	secure                    bool
}

// newCookies resolves the cookies' names and attributes for a plugin whose
// routes are under base. o has its defaults applied.
func newCookies(o *Options, base string) (cookies, error) {
	co := o.Cookie
	k := cookies{
		refreshPath: cookiePath(base), domain: strings.TrimPrefix(co.Domain, "."), secure: !o.Debug,
		accessSite: co.AccessSameSite, refreshSite: co.RefreshSameSite,
	}
	if k.accessSite == 0 {
		k.accessSite = http.SameSiteLaxMode
	}
	if k.refreshSite == 0 {
		k.refreshSite = http.SameSiteStrictMode
	}
	k.access, k.refresh = o.AccessCookie, o.RefreshCookie
	if !o.Debug && !co.Unprefixed {
		accessPrefix := hostPrefix
		if k.domain != "" {
			accessPrefix = securePrefix
		}
		k.access = withPrefix(k.access, accessPrefix)
		k.refresh = withPrefix(k.refresh, securePrefix)
	}
	if co.AcceptPlainNames {
		if k.access != o.AccessCookie {
			k.accessPlain = o.AccessCookie
		}
		if k.refresh != o.RefreshCookie {
			k.refreshPlain = o.RefreshCookie
		}
	}
	for _, c := range []struct {
		field, name, path string
	}{{"AccessCookie", k.access, "/"}, {"RefreshCookie", k.refresh, k.refreshPath}} {
		if err := checkPrefix(c.name, c.path, k.domain, k.secure); err != nil {
			return k, fmt.Errorf("authgin: Options.%s %q: %w", c.field, c.name, err)
		}
	}
	if k.access == k.refresh || o.AccessCookie == o.RefreshCookie {
		return k, errors.New("authgin: Options.AccessCookie and Options.RefreshCookie name the same cookie")
	}
	return k, nil
}

// withPrefix prefixes name unless it carries a prefix already.
func withPrefix(name, prefix string) string {
	if hasPrefixFold(name, hostPrefix) || hasPrefixFold(name, securePrefix) {
		return name
	}
	return prefix + name
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// checkPrefix refuses a cookie that browsers would drop for its prefix.
func checkPrefix(name, path, domain string, secure bool) error {
	switch {
	case hasPrefixFold(name, hostPrefix) && (!secure || path != "/" || domain != ""):
		return errors.New("the __Host- prefix needs Secure (no Debug), Path / and no Cookie.Domain")
	case hasPrefixFold(name, securePrefix) && !secure:
		return errors.New("the __Secure- prefix needs Secure (no Debug)")
	}
	return nil
}

// accessToken returns the access cookie's value ("" when absent).
func (k *cookies) accessToken(r *http.Request) string {
	v := cookieValue(r, k.access)
	if v == "" && k.accessPlain != "" {
		v = cookieValue(r, k.accessPlain)
	}
	return v
}

// refreshToken returns the refresh cookie's value ("" when absent).
func (k *cookies) refreshToken(r *http.Request) string {
	v := cookieValue(r, k.refresh)
	if v == "" && k.refreshPlain != "" {
		v = cookieValue(r, k.refreshPlain)
	}
	return v
}

// present reports whether r carries the access or the refresh cookie, the
// credentials a browser attaches by itself.
func (k *cookies) present(r *http.Request) bool {
	return k.accessToken(r) != "" || k.refreshToken(r) != ""
}

func (k *cookies) setAccess(c *gin.Context, token string, expires time.Time, now time.Time) {
	k.set(c, k.access, token, "/", k.domain, k.accessSite, expires.Sub(now))
	k.expirePlain(c, k.accessPlain, "/")
}

func (k *cookies) setRefresh(c *gin.Context, token string, expires time.Time, now time.Time) {
	k.set(c, k.refresh, token, k.refreshPath, k.domain, k.refreshSite, expires.Sub(now))
	k.expirePlain(c, k.refreshPlain, k.refreshPath)
}

// expire removes both cookies with the attributes they were set with.
func (k *cookies) expire(c *gin.Context) {
	k.set(c, k.access, "", "/", k.domain, k.accessSite, -1)
	k.set(c, k.refresh, "", k.refreshPath, k.domain, k.refreshSite, -1)
	k.expirePlain(c, k.accessPlain, "/")
	k.expirePlain(c, k.refreshPlain, k.refreshPath)
}

// expirePlain removes a plain-named cookie of the migration window when
// the request carries it.
func (k *cookies) expirePlain(c *gin.Context, name, path string) {
	if name != "" && cookieValue(c.Request, name) != "" {
		k.set(c, name, "", path, "", http.SameSiteLaxMode, -1)
	}
}

func (k *cookies) set(c *gin.Context, name, value, path, domain string, site http.SameSite, ttl time.Duration) {
	maxAge := -1 // sent as Max-Age=0
	if ttl > 0 {
		maxAge = int(ttl / time.Second)
	}
	// #nosec G124 -- Secure is dropped only with Options.Debug (plain-HTTP development); HttpOnly and SameSite are always set.
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: path, Domain: domain, MaxAge: maxAge,
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
