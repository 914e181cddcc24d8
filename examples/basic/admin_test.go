package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// AUTHGIN_ADMIN creates the admin at start; it can then use the admin
// routes. A second start with the same setting keeps the account.
func TestExampleAdminBootstrap(t *testing.T) {
	gin.SetMode(gin.TestMode)
	dbPath := filepath.Join(t.TempDir(), "example.db")
	var logs bytes.Buffer
	for round := range 2 {
		addr := freeAddr(t)
		t.Setenv("ADDR", addr)
		t.Setenv("DATABASE_URL", dbPath)
		t.Setenv("AUTHGIN_DEBUG", "1")
		t.Setenv("AUTHGIN_SECRET", "")
		t.Setenv("SMTP_HOST", "")
		t.Setenv("AUTHGIN_ADMIN", "boss@example.com:admin:a pass:with colons")

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, slog.New(slog.NewTextHandler(&logs, nil))) }()

		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: newOpenAPITransport(t)}
		call := func(method, path string, body any) int {
			t.Helper()
			b, _ := json.Marshal(body)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				req, _ := http.NewRequest(method, "http://"+addr+"/api/users"+path, bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode
				}
				var opErr *net.OpError
				if !errors.As(err, &opErr) || time.Now().After(deadline) {
					t.Fatalf("%s %s: %v", method, path, err)
				}
			}
		}
		if s := call("POST", "/login", map[string]string{"login": "admin", "password": "a pass:with colons"}); s != 200 {
			t.Fatalf("round %d: admin login %d", round, s)
		}
		if s := call("GET", "/blacklist", nil); s != 200 {
			t.Fatalf("round %d: admin route %d", round, s)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	if strings.Contains(logs.String(), "with colons") {
		t.Fatal("the admin password reached the log")
	}
	if !strings.Contains(logs.String(), "admin account created") || !strings.Contains(logs.String(), "admin account ready") {
		t.Fatalf("logs:\n%s", logs.String())
	}

	t.Setenv("AUTHGIN_ADMIN", "no-colons")
	if err := run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "AUTHGIN_ADMIN") {
		t.Fatalf("bad AUTHGIN_ADMIN: %v", err)
	}
}
