package authgin

import (
	"net/http"
	"sync/atomic"

	"github.com/gin-gonic/gin"
)

// Client IPs.
//
// Throttling counts per client IP as gin's Context.ClientIP reports it.
// gin's default is to trust X-Forwarded-For and X-Real-IP from every peer,
// so unless the app calls engine.SetTrustedProxies, any client picks the
// IP it is counted under by sending the header, and each spoofed value gets
// a fresh counter. Register has no access to the engine (gin exposes no
// getter for its trusted proxies), so the plugin probes it on the first
// request to its routes: a synthetic request from a documentation-range
// peer (203.0.113.1, which no real proxy list contains) with a spoofed
// X-Forwarded-For goes through that engine's ClientIP; if the spoofed value
// comes back, the engine trusts every peer and a warning is logged once.

// proxyProbe logs once when the engine believes X-Forwarded-For from any
// peer.
type proxyProbe struct{ done atomic.Bool }

const (
	probePeer    = "203.0.113.1" // RFC 5737 TEST-NET-3
	probeSpoofed = "198.51.100.7"
)

func (a *Auth) proxyCheck() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.probe.done.Load() || !a.probe.done.CompareAndSwap(false, true) {
			return
		}
		if trustsAnyPeer(c) {
			a.o.Logger.WarnContext(c.Request.Context(),
				"authgin: gin trusts X-Forwarded-For from every peer (its default), so clients choose the IP "+
					"that throttling counts; call engine.SetTrustedProxies(nil) when not behind a proxy, or list "+
					"your proxies (see README, Client IP)")
		}
	}
}

// trustsAnyPeer probes the engine of c with a synthetic request.
func trustsAnyPeer(c *gin.Context) bool {
	probe := c.Copy() // same engine, own request
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, "/", nil)
	if err != nil {
		return false
	}
	req.RemoteAddr = probePeer + ":1234"
	req.Header.Set("X-Forwarded-For", probeSpoofed)
	req.Header.Set("X-Real-IP", probeSpoofed)
	probe.Request = req
	return probe.ClientIP() == probeSpoofed
}
