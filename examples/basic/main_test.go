package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgin/authgin"
	"github.com/emersion/go-smtp"
	"github.com/gin-gonic/gin"
)

// mailSink is an SMTP backend that keeps the text part of every mail.
type mailSink struct {
	mu    sync.Mutex
	texts []string
	rcpts []string
}

func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *mailSink
	rcpt string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = to
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	part, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart() // text/plain, QP decoded
	if err != nil {
		return err
	}
	text, err := io.ReadAll(part)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.texts = append(ss.sink.texts, string(text))
	ss.sink.rcpts = append(ss.sink.rcpts, ss.rcpt)
	ss.sink.mu.Unlock()
	return nil
}

// token waits for the n-th mail and returns the token of its link.
func (s *mailSink) token(t *testing.T, n int) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		if len(s.texts) >= n {
			text := s.texts[n-1]
			s.mu.Unlock()
			m := regexp.MustCompile(`\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no link in mail %d:\n%s", n, text)
			}
			return m[1]
		}
		s.mu.Unlock()
	}
	t.Fatalf("mail %d never arrived", n)
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The newcomer's path with the example pointed at an SMTP server: register,
// receive the confirmation mail, confirm, ask for a reset, receive it,
// reset, log in with the new password.
func TestExampleMailFlow(t *testing.T) {
	gin.SetMode(gin.TestMode)
	sink := &mailSink{}
	smtpSrv := smtp.NewServer(sink)
	smtpSrv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go smtpSrv.Serve(l)
	defer smtpSrv.Close()

	addr := freeAddr(t)
	t.Setenv("ADDR", addr)
	t.Setenv("DATABASE_URL", filepath.Join(t.TempDir(), "example.db"))
	t.Setenv("AUTHGIN_DEBUG", "1")
	t.Setenv("AUTHGIN_SECRET", "")
	t.Setenv("BASE_URL", "http://"+addr)
	t.Setenv("SMTP_HOST", "127.0.0.1")
	t.Setenv("SMTP_PORT", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	t.Setenv("SMTP_TLS", "none")
	t.Setenv("SMTP_USERNAME", "")
	t.Setenv("SMTP_PASSWORD", "")
	t.Setenv("SMTP_FROM", "Example <no-reply@example.test>")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: newOpenAPITransport(t)}
	call := func(method, path string, body any, want int) {
		t.Helper()
		b, _ := json.Marshal(body)
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(method, "http://"+addr+"/api/users"+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if resp, err = hc.Do(req); err == nil || time.Now().After(deadline) {
				break
			}
			var opErr *net.OpError
			if !errors.As(err, &opErr) { // not yet listening is the only excuse
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
	}

	call("POST", "/register", map[string]string{"email": "nia@example.com", "username": "newcomer",
		"password1": "correct horse battery", "password2": "correct horse battery"}, 200)
	call("POST", "/confirm/"+sink.token(t, 1), nil, 200)
	call("POST", "/forgot_password", map[string]string{"email": "nia@example.com"}, 200)
	call("POST", "/password/"+sink.token(t, 2), map[string]string{
		"password1": "new staple battery", "password2": "new staple battery"}, 200)
	call("POST", "/login", map[string]string{"login": "newcomer", "password": "correct horse battery"}, 401)
	call("POST", "/login", map[string]string{"login": "nia@example.com", "password": "new staple battery"}, 200)
	resp, err := hc.Get("http://" + addr + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(spec, authgin.OpenAPI()) {
		t.Errorf("GET /openapi.yaml: %d, %d bytes; want the document", resp.StatusCode, len(spec))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.rcpts[0] != "nia@example.com" || sink.rcpts[1] != "nia@example.com" {
		t.Errorf("mails went to %v", sink.rcpts)
	}
}
