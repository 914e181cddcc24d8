package authgin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

func init() { gin.SetMode(gin.TestMode) }

// testSecret is the HS256 key of test plugins.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// cheapArgon2 keeps tests fast; the real cost is measured in benchmarks.
var cheapArgon2 = Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu    sync.Mutex
	mails []Message
	fail  error
}

func (m *mailbox) Send(_ context.Context, msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.mails = append(m.mails, msg)
	return nil
}

func (m *mailbox) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// wait returns the n-th mail (1-based), waiting for background delivery.
func (m *mailbox) wait(t *testing.T, n int) Message {
	t.Helper()
	return m.waitFor(t, n, "", func(Message) bool { return true })
}

// waitWith returns the k-th mail (from 1) whose text contains s. Mails
// queued for the outbox worker (the password-changed notice) may arrive
// before or after one sent within a later request.
func (m *mailbox) waitWith(t *testing.T, k int, s string) Message {
	t.Helper()
	return m.waitFor(t, k, " with "+s, func(msg Message) bool { return strings.Contains(msg.Text, s) })
}

// waitFor returns the k-th mail (from 1) that match accepts, waiting for
// background delivery; what (" to ...", " with ...") names the kind in the
// failure.
func (m *mailbox) waitFor(t *testing.T, k int, what string, match func(Message) bool) Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		seen := 0
		for _, msg := range m.mails {
			if match(msg) {
				if seen++; seen == k {
					m.mu.Unlock()
					return msg
				}
			}
		}
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("mail %d%s never arrived", k, what)
	return Message{}
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mails)
}

// testEnv is a plugin mounted on a gin engine behind an httptest TLS
// server, with a fake clock, a mailbox and a log buffer.
type testEnv struct {
	t     *testing.T
	db    *gorm.DB
	auth  *Auth
	srv   *httptest.Server
	clock *fakeClock
	mail  *mailbox
	logs  *syncBuffer
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testBase = "/api/users"

// The cookie names of a test plugin, which runs without Debug: the default
// names with the prefixes browsers enforce.
const (
	accessCookie  = "__Host-access_token"
	refreshCookie = "__Secure-refresh_token"
)

// newEnv mounts a plugin on db; opt may adjust the options.
func newEnv(t *testing.T, db *gorm.DB, opt ...func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, db: db, clock: newFakeClock(), mail: &mailbox{}, logs: &syncBuffer{}}
	o := Options{
		DB: db, Secret: testSecret, BaseURL: "https://app.example",
		Argon2: cheapArgon2, Now: e.clock.Now, Mailer: e.mail,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range opt {
		f(&o)
	}
	r := gin.New()
	r.SetTrustedProxies(nil)
	auth, err := Register(r.Group(testBase), o)
	if err != nil {
		t.Fatal(err)
	}
	e.auth = auth
	fastMailRetries(auth.svc.outbox)
	api := r.Group("/api")
	// Each app route answers GET and POST (the latter for CSRF tests).
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		api.Handle(m, "/me", auth.RequireUser(), func(c *gin.Context) {
			u, _ := CurrentUser(c)
			c.JSON(200, gin.H{"id": u.ID, "username": u.Username, "permissions": u.Permissions})
		})
		api.Handle(m, "/maybe", auth.OptionalUser(), func(c *gin.Context) {
			u, ok := CurrentUser(c)
			c.JSON(200, gin.H{"id": u.ID, "ok": ok})
		})
		api.Handle(m, "/admin", auth.RequireAdmin(), func(c *gin.Context) { c.JSON(200, gin.H{"admin": true}) })
		api.Handle(m, "/reports", auth.RequirePermission("reports"), func(c *gin.Context) { c.JSON(200, gin.H{"reports": true}) })
		api.Handle(m, "/confirmed", auth.RequireConfirmed(), func(c *gin.Context) { c.JSON(200, gin.H{"confirmed": true}) })
		api.Handle(m, "/mfa_only", auth.RequireMFA(), func(c *gin.Context) { c.JSON(200, gin.H{"mfa": true}) })
	}
	e.srv = httptest.NewTLSServer(validateOpenAPI(t, r))
	t.Cleanup(func() {
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		auth.Close(ctx)
	})
	return e
}

// client is a browser-like HTTP client with its own cookie jar.
type client struct {
	e   *testEnv
	hc  *http.Client
	jar *cookiejar.Jar
	hdr http.Header
}

func (e *testEnv) client() *client {
	jar, _ := cookiejar.New(nil)
	hc := *e.srv.Client() // a copy: the server's client is shared
	hc.Jar = jar
	return &client{e: e, hc: &hc, jar: jar, hdr: http.Header{}}
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r *response) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// cookie returns the Set-Cookie of name in the response, if any.
func (r *response) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// do sends a request; a non-nil body that is not a string or []byte is
// JSON-encoded with Content-Type application/json.
func (c *client) do(method, path string, body any, hdr ...string) *response {
	c.e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ct = "application/json"
	case []byte:
		rd = bytes.NewReader(b)
		ct = "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.json); err != nil {
			c.e.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return r
}

func (c *client) post(path string, body any, hdr ...string) *response {
	c.e.t.Helper()
	return c.do(http.MethodPost, testBase+path, body, hdr...)
}

// jarCookie returns the value of the cookie the jar would send to path.
func (c *client) jarCookie(path, name string) string {
	u, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	for _, ck := range c.jar.Cookies(u.URL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// register registers a user and fails the test unless it got 200.
func (c *client) register(email, username, password string) *response {
	c.e.t.Helper()
	r := c.post("/register", map[string]string{"email": email, "username": username, "password1": password, "password2": password})
	wantStatus(c.e.t, r, 200)
	return r
}

// wantStatus fails unless r has status; for errors it also checks the
// {"detail","code"} shape.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if status >= 400 {
		if r.str("detail") == "" || r.str("code") == "" || len(r.json) != 2 {
			t.Fatalf("error body %s is not {detail, code}", r.raw)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("error Content-Type %q", ct)
		}
	}
}

// wantError checks status, code and (if non-empty) detail.
func wantError(t *testing.T, r *response, status int, code, detail string) {
	t.Helper()
	wantStatus(t, r, status)
	if r.str("code") != code {
		t.Fatalf("code %q, want %q; body %s", r.str("code"), code, r.raw)
	}
	if detail != "" && r.str("detail") != detail {
		t.Fatalf("detail %q, want %q", r.str("detail"), detail)
	}
}

// account loads a user row by username key.
func (e *testEnv) account(usernameKey string) Account {
	e.t.Helper()
	var a Account
	if err := e.db.Where("username_key = ?", usernameKey).First(&a).Error; err != nil {
		e.t.Fatal(err)
	}
	return a
}
