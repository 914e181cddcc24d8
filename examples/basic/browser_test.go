package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/authgin/authgin"
	"github.com/authgin/authgin/examples/spa/web"
)

// Browser tests: headless Chromium (Debian's package) driven through the
// DevTools protocol by chromedp, on loopback only. They skip, saying so,
// where Chromium is absent; .ci/run installs it, so CI never skips.

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a fresh headless Chromium with its own profile and
// returns a tab's context, bounded by timeout. thirdPartyCookies sets the
// profile to allow them.
func newBrowser(t *testing.T, timeout time.Duration, thirdPartyCookies bool) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s: .ci/run installs it, CI never skips the browser tests", chromiumPath)
		}
		t.Skipf("SKIPPED: Chromium not found at %s, so the browser tests did not run (apt-get install chromium)", chromiumPath)
	}
	// Not t.TempDir: Chromium's helper processes may still write there for
	// a moment after it exits, and t.TempDir fails the test over that.
	profile, err := os.MkdirTemp("", "authgin-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	if thirdPartyCookies {
		// The profile's setting "Allow third-party cookies".
		if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o700); err != nil {
			t.Fatal(err)
		}
		prefs := `{"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": false}}`
		if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		// The machine has no network: nothing may try to reach one.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-proxy-server", true),
		// The API's TLS certificate is httptest's.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// What the page logs and which requests fail, for failure messages.
	var mu sync.Mutex
	var events []string
	chromedp.ListenTarget(ctx, func(ev any) {
		var line string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			line = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				line += " " + e.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			line = "console." + string(e.Type) + ":"
			for _, a := range e.Args {
				line += " " + string(a.Value) + a.Description
			}
		case *network.EventResponseReceivedExtraInfo:
			for _, b := range e.BlockedCookies {
				line += fmt.Sprintf("set-cookie blocked %v; ", b.BlockedReasons)
			}
			if line == "" {
				return
			}
		case *network.EventRequestWillBeSentExtraInfo:
			for _, c := range e.AssociatedCookies {
				if len(c.BlockedReasons) > 0 {
					line += fmt.Sprintf("cookie %s not sent %v; ", c.Cookie.Name, c.BlockedReasons)
				}
			}
			if line == "" {
				return
			}
		case *network.EventLoadingFailed:
			line = "request failed: " + e.ErrorText + " " + string(e.BlockedReason)
			if e.CorsErrorStatus != nil {
				line += " " + string(e.CorsErrorStatus.CorsError)
			}
		default:
			return
		}
		mu.Lock()
		events = append(events, line)
		mu.Unlock()
	})
	pageLog[ctx] = func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, "\n")
	}
	return ctx
}

// pageLog returns what a browser's page logged (newBrowser).
var pageLog = map[context.Context]func() string{}

// run runs browser actions and fails the test with what the page said.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(step, actions...); err != nil {
		var msg, url string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`(document.getElementById("message")||{}).textContent||""`, &msg),
			chromedp.Location(&url))
		log := ""
		if f := pageLog[ctx]; f != nil {
			log = f()
		}
		t.Fatalf("%s: %v (at %s, message %q)\npage log:\n%s", what, err, url, msg, log)
	}
}

// fill types values into the named inputs of a form and submits it.
func fill(form string, fields map[string]string) chromedp.Tasks {
	var tasks chromedp.Tasks
	for name, v := range fields {
		sel := form + ` input[name="` + name + `"]`
		tasks = append(tasks, chromedp.WaitVisible(sel, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector(`+jsString(sel)+`).value = ""`, nil),
			chromedp.SendKeys(sel, v, chromedp.ByQuery))
	}
	return append(tasks, chromedp.Click(form+` button[type="submit"]`, chromedp.ByQuery))
}

// state waits until the page says it is signed in or out.
func state(s string) chromedp.Action {
	return chromedp.WaitReady(`body[data-state="`+s+`"]`, chromedp.ByQuery)
}

// messageContains waits until #message contains text.
func messageContains(text string) chromedp.Action {
	return chromedp.Poll(`document.getElementById("message").textContent.includes(`+jsString(text)+`)`, nil,
		chromedp.WithPollingTimeout(15*time.Second))
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `\'`) + "'"
}

// mailCatcher is a Mailer that keeps the mails.
type mailCatcher struct {
	mu    sync.Mutex
	mails []authgin.Message
}

func (m *mailCatcher) Send(_ context.Context, msg authgin.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, msg)
	return nil
}

// link waits for a mail to `to` whose text contains about and returns its
// link.
func (m *mailCatcher) link(t *testing.T, to, about string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://\S+\?token=[A-Za-z0-9_-]+`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m.mu.Lock()
		for i := len(m.mails) - 1; i >= 0; i-- {
			if msg := m.mails[i]; msg.To == to && strings.Contains(msg.Text, about) {
				if l := re.FindString(msg.Text); l != "" {
					m.mu.Unlock()
					return l
				}
			}
		}
		m.mu.Unlock()
	}
	t.Fatalf("no mail to %s about %q", to, about)
	return ""
}

// startExample builds the example from the environment with a mail
// catcher and the access lifetime ttl, and serves it on l (TLS when tls).
func startExample(t *testing.T, l net.Listener, tls bool, ttl time.Duration, wrap func(http.Handler) http.Handler) *mailCatcher {
	t.Helper()
	mails := &mailCatcher{}
	a, err := newApp(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), func(o *authgin.Options) {
		o.Mailer = mails
		o.AccessTTL = ttl
	})
	gin.SetMode(gin.TestMode)
	if err != nil {
		t.Fatal(err)
	}
	h := a.handler
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.auth.Close(ctx)
	})
	return mails
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testDatabases returns a fresh database URL of every backend this run can
// reach: SQLite always, PostgreSQL and MySQL when their test DSNs are set.
func testDatabases(t *testing.T) map[string]func(t *testing.T) string {
	dbs := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "browser.db") },
	}
	admin := func(t *testing.T, dsn string, stmts ...string) {
		t.Helper()
		db, err := authgin.OpenURL(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if sqlDB, err := db.DB(); err == nil {
				sqlDB.Close()
			}
		}()
		for _, s := range stmts {
			if err := db.Exec(s).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	name := func() string {
		b := make([]byte, 6)
		rand.Read(b)
		return "authgin_b_" + hex.EncodeToString(b)
	}
	if base := os.Getenv("AUTHGIN_TEST_POSTGRES_DSN"); base != "" {
		dbs["postgres"] = func(t *testing.T) string {
			schema := name()
			admin(t, base, "CREATE SCHEMA "+schema)
			t.Cleanup(func() { admin(t, base, "DROP SCHEMA "+schema+" CASCADE") })
			u, _ := url.Parse(base)
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	if base := os.Getenv("AUTHGIN_TEST_MYSQL_DSN"); base != "" {
		dbs["mysql"] = func(t *testing.T) string {
			db := name()
			admin(t, base, "CREATE DATABASE "+db+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
			t.Cleanup(func() { admin(t, base, "DROP DATABASE "+db) })
			u, _ := url.Parse(base)
			u.Path = "/" + db
			return u.String()
		}
	}
	return dbs
}

// TestBrowserSameOrigin walks the example's own front end as a person
// would: register, confirm through the mailed link, log out and in, call
// the API, outlive the access token (the page refreshes it silently), reset
// the password and change the email through their links, log out.
func TestBrowserSameOrigin(t *testing.T) {
	for backend, database := range testDatabases(t) {
		t.Run(backend, func(t *testing.T) {
			l := listen(t, "127.0.0.1:0")
			base := "http://" + l.Addr().String()
			// No Debug: Secure, prefixed cookies, which browsers keep on
			// a loopback origin over http.
			exampleEnv(t, map[string]string{"DATABASE_URL": database(t), "BASE_URL": base})
			const ttl = 3 * time.Second
			mails := startExample(t, l, false, ttl, nil)
			ctx := newBrowser(t, 2*time.Minute, false)
			const pw, pw2 = "correct horse battery", "a new staple battery"

			browse(t, ctx, "open the start page", chromedp.Navigate(base+"/"), state("signed-out"))
			browse(t, ctx, "register", fill("#register-form", map[string]string{
				"email": "ada@example.com", "username": "ada", "display_name": " Ada L. ", "password1": pw, "password2": pw,
			}), state("signed-in"), chromedp.WaitReady(`#me-confirmed`), messageContains("Welcome, ada"),
				chromedp.Poll(`document.getElementById("me-display-name").textContent === "Ada L."`, nil))
			browse(t, ctx, "change the display name", fill("#profile-form", map[string]string{"display_name": "Ada Lovelace"}),
				messageContains("Display name saved"),
				chromedp.Poll(`document.getElementById("me-display-name").textContent === "Ada Lovelace"`, nil))
			var confirmed string
			browse(t, ctx, "read the status", chromedp.Text("#me-confirmed", &confirmed, chromedp.ByQuery))
			if confirmed != "no" {
				t.Fatalf("confirmed %q before the link", confirmed)
			}
			var cookies []*network.Cookie
			browse(t, ctx, "read the cookies", chromedp.ActionFunc(func(ctx context.Context) error {
				var err error
				cookies, err = network.GetCookies().WithURLs([]string{base + "/", base + "/api/users/token/refresh"}).Do(ctx)
				return err
			}))
			names := map[string]bool{}
			for _, c := range cookies {
				names[c.Name] = c.HTTPOnly && c.Secure
			}
			if !names["__Host-access_token"] || !names["__Secure-refresh_token"] {
				t.Fatalf("the browser keeps %v", names)
			}

			// The confirmation mail's link opens a page that confirms.
			link := mails.link(t, "ada@example.com", "confirm")
			var after string
			browse(t, ctx, "confirm via the mailed link", chromedp.Navigate(link),
				chromedp.WaitVisible("#confirm-form", chromedp.ByQuery),
				chromedp.Click(`#confirm-form button`, chromedp.ByQuery), messageContains("is confirmed"),
				chromedp.Location(&after))
			if strings.Contains(after, "token") {
				t.Fatalf("the token stays in the address bar: %s", after)
			}
			browse(t, ctx, "see it confirmed", chromedp.Navigate(base+"/"), state("signed-in"),
				chromedp.Poll(`document.getElementById("me-confirmed").textContent === "yes"`, nil))

			browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
			browse(t, ctx, "log in", fill("#login-form", map[string]string{"login": "ada@example.com", "password": pw}),
				state("signed-in"), messageContains("Logged in as ada"))
			browse(t, ctx, "call the API", chromedp.Click("#whoami", chromedp.ByID), messageContains("knows you as ada"))

			// The access cookie dies with the token; the page refreshes
			// the session through the refresh cookie without a word.
			time.Sleep(ttl + time.Second)
			var refreshes string
			browse(t, ctx, "call the API after the access token expired",
				chromedp.Evaluate(`document.getElementById("message").textContent = ""`, nil),
				chromedp.Click("#whoami", chromedp.ByID), messageContains("knows you as ada"),
				chromedp.Evaluate(`document.body.dataset.refreshes || "0"`, &refreshes))
			if refreshes == "0" {
				t.Fatal("no silent refresh happened")
			}

			// Password reset through the mailed link.
			browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
			browse(t, ctx, "ask for a reset", fill("#forgot-form", map[string]string{"email": "ada@example.com"}),
				messageContains("reset link"))
			browse(t, ctx, "reset via the mailed link", chromedp.Navigate(mails.link(t, "ada@example.com", "reset")),
				chromedp.WaitVisible("#reset-form", chromedp.ByQuery),
				fill("#reset-form", map[string]string{"password1": pw2, "password2": pw2}), messageContains("password was changed"))
			browse(t, ctx, "the old password fails", chromedp.Navigate(base+"/"), state("signed-out"),
				fill("#login-form", map[string]string{"login": "ada", "password": pw}), messageContains("Invalid credentials"))
			browse(t, ctx, "the new one works", fill("#login-form", map[string]string{"login": "ada", "password": pw2}),
				state("signed-in"))

			// Email change through the link mailed to the new address.
			browse(t, ctx, "change the email", fill("#email-form", map[string]string{"email": "ada@new.example", "password": pw2}),
				messageContains("We mailed a link"))
			browse(t, ctx, "confirm the new address", chromedp.Navigate(mails.link(t, "ada@new.example", "new email address")),
				chromedp.WaitVisible("#confirm-form", chromedp.ByQuery),
				chromedp.Click(`#confirm-form button`, chromedp.ByQuery), messageContains("is confirmed"))
			browse(t, ctx, "see the new address", chromedp.Navigate(base+"/"), state("signed-in"),
				chromedp.Poll(`document.getElementById("me-email").textContent === "ada@new.example"`, nil))

			browse(t, ctx, "log out everywhere", chromedp.Click("#logout-all", chromedp.ByID), state("signed-out"),
				chromedp.Navigate(base+"/"), state("signed-out"))
		})
	}
}

// request is one request the API saw.
type request struct {
	method, path, origin string
	cookie               bool
	status               int
}

// recorder wraps the API and keeps what it answered.
type recorder struct {
	mu   sync.Mutex
	seen []request
}

func (rc *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		rc.mu.Lock()
		rc.seen = append(rc.seen, request{r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Cookie") != "", sw.status})
		rc.mu.Unlock()
	})
}

// from returns the unsafe requests from origin.
func (rc *recorder) from(origin string) []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []request
	for _, r := range rc.seen {
		if r.origin == origin && r.method != "GET" && r.method != "OPTIONS" {
			out = append(out, r)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// evilPage forges requests to the API from another site: a form POST to
// /logout (into a frame) and no-cors fetches with credentials to /logout
// and /token/refresh, the requests a page may send anywhere without CORS.
const evilPage = `<!DOCTYPE html><html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" action="%[1]s/api/users/logout" target="sink"><input name="x" value="1"></form>
<script>
document.getElementById("f").submit();
Promise.allSettled([
  fetch("%[1]s/api/users/token/refresh", {method: "POST", mode: "no-cors", credentials: "include"}),
  fetch("%[1]s/api/users/logout", {method: "POST", mode: "no-cors", credentials: "include", body: "x", headers: {"Content-Type": "text/plain"}}),
]).then(() => { document.body.dataset.done = "1"; });
</script></body></html>`

// TestBrowserCrossSite runs examples/spa on one site (http://127.0.0.1)
// against the example's API on another (https://localhost), as a bearer
// client and with cross-site cookies, and lets a third origin forge
// requests at the API in the same browser.
func TestBrowserCrossSite(t *testing.T) {
	for backend, database := range testDatabases(t) {
		for _, mode := range []string{web.ModeBearer, web.ModeCookie} {
			t.Run(backend+"/"+mode, func(t *testing.T) {
				apiL := listen(t, "127.0.0.1:0")
				api := "https://localhost:" + portOf(apiL)
				spaL := listen(t, "127.0.0.1:0")
				spa := "http://" + spaL.Addr().String()
				evilL := listen(t, "127.0.0.1:0")
				evil := "http://" + evilL.Addr().String()

				env := map[string]string{"DATABASE_URL": database(t), "BASE_URL": spa, "CORS_ORIGINS": spa}
				if mode == web.ModeBearer {
					env["AUTHGIN_BEARER_CLIENTS"] = "1"
				} else {
					env["COOKIE_SAMESITE"] = "none"
				}
				exampleEnv(t, env)
				rec := &recorder{}
				startExample(t, apiL, true, time.Minute, rec.wrap)
				h, err := web.Handler(api, mode)
				if err != nil {
					t.Fatal(err)
				}
				serve(t, spaL, h)
				serve(t, evilL, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					fmt.Fprintf(w, evilPage, api)
				}))

				// Debian's Chromium blocks third-party cookies by default,
				// as Safari and Firefox do: cross-site cookies work only
				// where the user allows them, as Chrome does by default.
				ctx := newBrowser(t, 2*time.Minute, mode == web.ModeCookie)
				const pw = "correct horse battery"
				browse(t, ctx, "open the SPA", chromedp.Navigate(spa+"/"), chromedp.WaitReady(`body[data-ready="1"]`, chromedp.ByQuery),
					state("signed-out"))
				browse(t, ctx, "register across sites", fill("#register-form", map[string]string{
					"email": "spa@example.com", "username": "spa_" + mode, "password1": pw, "password2": pw,
				}), state("signed-in"), messageContains("Registered"))
				browse(t, ctx, "call the API", chromedp.Click("#whoami", chromedp.ByID), messageContains("knows you as spa_"+mode))
				browse(t, ctx, "refresh", chromedp.Click("#refresh", chromedp.ByID), messageContains("Session refreshed"))
				browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"))
				browse(t, ctx, "log in", fill("#login-form", map[string]string{"login": "spa@example.com", "password": pw}),
					state("signed-in"), messageContains("Logged in"))

				// Another site forges requests in the same browser.
				browse(t, ctx, "visit the forger", chromedp.Navigate(evil+"/"),
					chromedp.WaitReady(`body[data-done="1"]`, chromedp.ByQuery))
				var forged []request
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if forged = rec.from(evil); len(forged) >= 3 {
						break
					}
				}
				if len(forged) < 3 {
					t.Fatalf("the API saw %v from the forger", forged)
				}
				for _, r := range forged {
					switch {
					case r.status == 403:
					case mode == web.ModeBearer && !r.cookie && r.status != 200 && r.path != "/api/users/logout":
						// No cookie is no credential: refresh without a
						// token is 401.
					case mode == web.ModeBearer && !r.cookie && r.path == "/api/users/logout":
						// Logout without a cookie or token ends nothing.
					default:
						t.Errorf("forged %s %s (cookie %v) answered %d", r.method, r.path, r.cookie, r.status)
					}
				}
				if mode == web.ModeCookie {
					for _, r := range forged {
						if !r.cookie || r.status != 403 {
							t.Errorf("cookie mode: forged %s %s (cookie %v) answered %d, want 403 with the cookie", r.method, r.path, r.cookie, r.status)
						}
					}
				}
				// The session survived: back on the SPA, it still works.
				browse(t, ctx, "back to the SPA", chromedp.Navigate(spa+"/"), chromedp.WaitReady(`body[data-ready="1"]`, chromedp.ByQuery),
					state("signed-in"), chromedp.Click("#refresh", chromedp.ByID), messageContains("Session refreshed"),
					chromedp.Click("#whoami", chromedp.ByID), messageContains("knows you as"))
				browse(t, ctx, "log out", chromedp.Click("#logout", chromedp.ByID), state("signed-out"),
					chromedp.Reload(), chromedp.WaitReady(`body[data-ready="1"]`, chromedp.ByQuery), state("signed-out"))
			})
		}
	}
}

func portOf(l net.Listener) string { return fmt.Sprint(l.Addr().(*net.TCPAddr).Port) }

// serve serves h on l until the test ends.
func serve(t *testing.T, l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}
