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

// display_name end to end: register with it, read and change it through
// /api/users/me, read it in the app's own /api/me, find it as an admin.
func TestExampleDisplayName(t *testing.T) {
	gin.SetMode(gin.TestMode)
	addr := freeAddr(t)
	t.Setenv("ADDR", addr)
	t.Setenv("DATABASE_URL", filepath.Join(t.TempDir(), "example.db"))
	t.Setenv("AUTHGIN_DEBUG", "1")
	t.Setenv("AUTHGIN_SECRET", "")
	t.Setenv("SMTP_HOST", "")
	t.Setenv("AUTHGIN_ADMIN", "boss@example.com:boss:correct horse battery")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: newOpenAPITransport(t)}
	}
	call := func(hc *http.Client, method, path string, body any, want int) map[string]any {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			// A new reader each try: a failed try may have read the body.
			req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			var opErr *net.OpError
			if resp, err = hc.Do(req); err == nil || time.Now().After(deadline) || !errors.As(err, &opErr) {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}

	ann := newClient()
	r := call(ann, "POST", "/api/users/register", map[string]any{"email": "ann@example.com", "username": "ann",
		"password1": "correct horse battery", "password2": "correct horse battery", "display_name": "  Ann  "}, 200)
	if r["display_name"] != "Ann" {
		t.Fatalf("register: %v", r)
	}
	if r := call(ann, "GET", "/api/users/me", nil, 200); r["display_name"] != "Ann" || r["email"] != "ann@example.com" {
		t.Fatalf("GET /api/users/me: %v", r)
	}
	if r := call(ann, "PATCH", "/api/users/me", map[string]any{"display_name": "Ann Smith"}, 200); r["display_name"] != "Ann Smith" {
		t.Fatalf("PATCH /api/users/me: %v", r)
	}
	if r := call(ann, "PATCH", "/api/users/me", map[string]any{"display_name": strings.Repeat("x", 65)}, 400); r["code"] != "invalid_profile" {
		t.Fatalf("a long display name: %v", r)
	}
	if r := call(ann, "GET", "/api/me", nil, 200); r["display_name"] != "Ann Smith" || r["username"] != "ann" {
		t.Fatalf("GET /api/me: %v", r)
	}
	if r := call(newClient(), "POST", "/api/users/login", map[string]any{"login": "ann", "password": "correct horse battery"}, 200); r["display_name"] != "Ann Smith" {
		t.Fatalf("login: %v", r)
	}

	boss := newClient()
	call(boss, "POST", "/api/users/login", map[string]any{"login": "boss", "password": "correct horse battery"}, 200)
	r = call(boss, "GET", "/api/users?field.display_name=Ann+Smith", nil, 200)
	if items, _ := r["items"].([]any); len(items) != 1 || items[0].(map[string]any)["username"] != "ann" {
		t.Fatalf("search: %v", r)
	}
}
