// Package web is the front end of examples/spa: a single page on its own
// origin that uses an authgin API on another site, either as a bearer
// client (tokens in the JSON body, "Authorization: Bearer") or with
// cross-site cookies (SameSite=None; Secure, fetch with credentials). It is
// static HTML and JavaScript, embedded, with no build step.
package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
)

//go:embed static
var static embed.FS

// Modes of the page.
const (
	ModeBearer = "bearer"
	ModeCookie = "cookie"
)

// Handler serves the page, its assets and /config.json, which tells the
// page the API's origin and the mode. api is the API's origin, e.g.
// "https://api.example".
func Handler(api, mode string) (http.Handler, error) {
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("spa: the API origin must be scheme://host[:port] (got %q)", api)
	}
	if mode != ModeBearer && mode != ModeCookie {
		return nil, fmt.Errorf("spa: mode must be %q or %q (got %q)", ModeBearer, ModeCookie, mode)
	}
	cfg, err := json.Marshal(map[string]string{"api": api, "mode": mode})
	if err != nil {
		return nil, err
	}
	files, _ := fs.Sub(static, "static") // a constant path inside the embedded tree
	fileServer := http.FileServerFS(files)
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' " + api +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/config.json" {
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			_, _ = w.Write(cfg)
			return
		}
		fileServer.ServeHTTP(w, r)
	}), nil
}
