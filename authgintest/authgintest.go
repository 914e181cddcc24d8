// Package authgintest helps an app test its own handlers behind authgin:
// New mounts the plugin on a temporary SQLite database with cheap
// password hashing, a Mailbox that keeps every mail, and a Clock the test
// moves; LoginAs gives a request the credentials of a user with the
// permissions the test needs.
//
//	env := authgintest.New(t)
//	env.Engine.GET("/api/reports", env.Auth.RequirePermission("reports"), reports)
//	req := httptest.NewRequest("GET", "/api/reports", nil)
//	env.LoginAs(t, "ann", "reports").Apply(req)
//	env.Engine.ServeHTTP(rec, req)
//
// It is for tests only: the hashing it configures is far too cheap for a
// real deployment.
package authgintest

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgin/authgin"
	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// Group is where New mounts the plugin.
const Group = "/api/users"

// Env is a plugin mounted for a test.
type Env struct {
	// Engine is the gin engine; add the app's routes to it.
	Engine *gin.Engine
	// Auth is the plugin, mounted at Group.
	Auth *authgin.Auth
	// DB is the temporary SQLite database.
	DB *gorm.DB
	// Mail keeps every mail the plugin sends.
	Mail *Mailbox
	// Clock is the plugin's clock; Advance moves it.
	Clock *Clock
}

// Secret is the HS256 key of Env's plugin, for tests that check tokens.
var Secret = []byte("authgintest-secret-0123456789abcdef")

// CheapArgon2 is password hashing cheap enough for tests.
var CheapArgon2 = authgin.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// New mounts authgin at Group on a fresh engine over a temporary SQLite
// database (removed when the test ends), with CheapArgon2, Debug (plain
// HTTP cookies), a Mailbox, a Clock and no logging. opts may change the Options
// before Register sees them. The plugin is closed when the test ends.
func New(t testing.TB, opts ...func(*authgin.Options)) *Env {
	t.Helper()
	db, err := authgin.OpenSQLite(filepath.Join(t.TempDir(), "authgintest.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Engine: gin.New(), DB: db, Mail: &Mailbox{}, Clock: NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	o := authgin.Options{
		DB: db, Secret: Secret, BaseURL: "http://localhost", Debug: true,
		Argon2: CheapArgon2, Mailer: e.Mail, Now: e.Clock.Now, PruneInterval: -1,
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, f := range opts {
		f(&o)
	}
	if err := e.Engine.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	if e.Auth, err = authgin.Register(e.Engine.Group(Group), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Auth.Close(ctx) // the test's own failures are the ones to report
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return e
}

// Password is the password of the users LoginAs creates.
const Password = "correct horse battery staple"

// LoginAs returns the credentials of a fresh session of user username,
// created (confirmed, with Password and the email username@example.test)
// if it does not exist, whose permissions are now exactly perms.
func (e *Env) LoginAs(t testing.TB, username string, perms ...string) Credentials {
	t.Helper()
	ctx := context.Background()
	svc := e.Auth.Service()
	cl := authgin.Client{IP: "192.0.2.1", UserAgent: "authgintest"}
	acct, _, err := svc.EnsureAdmin(ctx, username+"@example.test", username, Password)
	if err != nil {
		t.Fatalf("authgintest: creating %s: %v", username, err)
	}
	if perms == nil {
		perms = []string{}
	}
	admin := authgin.User{ID: acct.ID, Username: acct.Username, Permissions: []string{authgin.PermissionAdmin}}
	if _, err := svc.UpdatePermissions(ctx, admin, acct.ID, authgin.PermissionsClear, nil, cl); err != nil {
		t.Fatalf("authgintest: permissions of %s: %v", username, err)
	}
	if len(perms) > 0 {
		if _, err := svc.UpdatePermissions(ctx, admin, acct.ID, authgin.PermissionsAdd, perms, cl); err != nil {
			t.Fatalf("authgintest: permissions of %s: %v", username, err)
		}
	}
	_, toks, err := svc.Login(ctx, authgin.LoginInput{Login: username, Password: Password}, cl)
	if err != nil {
		t.Fatalf("authgintest: logging in %s: %v", username, err)
	}
	o := e.Auth.Options()
	return Credentials{
		AccessToken: toks.Access, RefreshToken: toks.Refresh,
		accessCookie: o.AccessCookie, refreshCookie: o.RefreshCookie,
	}
}

// Credentials are a logged-in session's tokens.
type Credentials struct {
	AccessToken, RefreshToken   string
	accessCookie, refreshCookie string
}

// Bearer is the Authorization header value for AccessToken.
func (c Credentials) Bearer() string { return "Bearer " + c.AccessToken }

// Cookies are the access and refresh cookies a browser would hold, for
// http.Request.AddCookie (which sends only their names and values).
func (c Credentials) Cookies() []*http.Cookie {
	cookie := func(name, value string) *http.Cookie {
		return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
	}
	return []*http.Cookie{cookie(c.accessCookie, c.AccessToken), cookie(c.refreshCookie, c.RefreshToken)}
}

// Apply authenticates r as the session: the Authorization header, which
// needs no CSRF check.
func (c Credentials) Apply(r *http.Request) { r.Header.Set("Authorization", c.Bearer()) }

// Mailbox is an authgin.Mailer that keeps every mail. It is safe for
// concurrent use.
type Mailbox struct {
	mu    sync.Mutex
	mails []authgin.Message
}

// Send implements authgin.Mailer.
func (m *Mailbox) Send(_ context.Context, msg authgin.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, msg)
	return nil
}

// Messages returns the mails sent so far, oldest first.
func (m *Mailbox) Messages() []authgin.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]authgin.Message(nil), m.mails...)
}

// tokenLink finds a link's token query parameter.
var tokenLink = regexp.MustCompile(`https?://\S*[?&]token=([A-Za-z0-9_%-]+)`)

// LastToken returns the one-time token of the newest mail to email whose
// link is of kind "confirm" or "reset" (the default link paths, /confirm
// and /reset_password), or "" when there is none. Mails the plugin queues
// (the confirmation mail of a registration) arrive in the background:
// wait for them with WaitToken.
func (m *Mailbox) LastToken(kind, email string) string {
	path := "/confirm"
	if kind == "reset" {
		path = "/reset_password"
	}
	msgs := m.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(msgs[i].To, email) {
			continue
		}
		for _, match := range tokenLink.FindAllStringSubmatch(msgs[i].Text, -1) {
			u, err := url.Parse(match[0])
			if err == nil && u.Path == path {
				return u.Query().Get("token")
			}
		}
	}
	return ""
}

// WaitToken is LastToken that waits up to 5 s for the mail to arrive.
func (m *Mailbox) WaitToken(t testing.TB, kind, email string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if tok := m.LastToken(kind, email); tok != "" {
			return tok
		}
	}
	t.Fatalf("authgintest: no %s mail to %s", kind, email)
	return ""
}

// Clock is a settable clock for Options.Now. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
