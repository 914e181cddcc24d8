// Command spa serves a front end on its own origin that uses an authgin
// API on another site (examples/basic), as a bearer client or with
// cross-site cookies:
//
//	# the API: bearer clients, and this front end allowed by CORS
//	AUTHGIN_DEBUG=1 AUTHGIN_BEARER_CLIENTS=1 CORS_ORIGINS=http://127.0.0.1:5173 \
//	  BASE_URL=http://127.0.0.1:5173 go run ./examples/basic
//	# the front end
//	API_URL=http://localhost:8000 MODE=bearer go run ./examples/spa
//
// Cookie mode needs the API on https (SameSite=None cookies are Secure) and
// COOKIE_SAMESITE=none; README's "Clients" section has both setups.
//
// Settings: ADDR (default 127.0.0.1:5173), API_URL (default
// http://localhost:8000), MODE (bearer, the default, or cookie).
package main

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/authgin/authgin/examples/spa/web"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := web.Handler(env("API_URL", "http://localhost:8000"), env("MODE", web.ModeBearer))
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	srv := &http.Server{Addr: env("ADDR", "127.0.0.1:5173"), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("spa: listening", "addr", srv.Addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
