package authgin

// A server process for the crash and soak tests: this test binary run
// again with TestLoadServer selected and its configuration in the
// environment. It serves the plugin over HTTP on loopback and writes what
// the harness needs to its stdout, one line each: "LISTEN <addr>" once it
// serves, and "MAIL <json>" for every mail it sends.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// loadServerEnv carries the server process's loadServerConfig as JSON.
const loadServerEnv = "AUTHGIN_TEST_LOAD_SERVER"

// loadServerConfig configures the server process.
type loadServerConfig struct {
	// DB is the database: "sqlite:PATH", a postgres:// or a mysql:// URL.
	DB string `json:"db"`
	// ClockSpeed > 1 runs the plugin's clock that much faster than real
	// time (the soak test ages rows into pruning within a short run).
	ClockSpeed float64 `json:"clock_speed,omitempty"`
	// Soak shortens lifetimes, so that rows die and get pruned, and turns
	// pruning of security events on; PruneInterval is real time.
	Soak          bool          `json:"soak,omitempty"`
	PruneInterval time.Duration `json:"prune_interval,omitempty"`
}

// TestLoadServer is the server process, not a test: without its
// environment variable it skips.
func TestLoadServer(t *testing.T) {
	raw := os.Getenv(loadServerEnv)
	if raw == "" {
		t.Skip("the server process of the crash and soak tests")
	}
	var cfg loadServerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := serveLoad(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load server:", err)
		os.Exit(1)
	}
}

// openLoadDB opens a loadServerConfig.DB.
func openLoadDB(dsn string) (*gorm.DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return OpenSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"):
		return OpenPostgres(dsn)
	case strings.HasPrefix(dsn, "mysql://"):
		return OpenMySQL(dsn)
	}
	return nil, fmt.Errorf("unknown database %q", dsn)
}

// stdoutMailer writes each mail as a "MAIL <json>" line.
type stdoutMailer struct{ mu *sync.Mutex }

func (m stdoutMailer) Send(_ context.Context, msg Message) error {
	b, err := json.Marshal(map[string]string{"to": msg.To, "text": msg.Text})
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = fmt.Fprintf(os.Stdout, "MAIL %s\n", b)
	return err
}

// serveLoad serves until the process is killed.
func serveLoad(cfg loadServerConfig) error {
	db, err := openLoadDB(cfg.DB)
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	now := time.Now
	if cfg.ClockSpeed > 1 {
		start := time.Now()
		now = func() time.Time { return start.Add(time.Duration(float64(time.Since(start)) * cfg.ClockSpeed)) }
	}
	// Every limit counts, and none gets in the load's way (one client IP).
	many := Limit{Max: 1 << 40, Window: time.Minute}
	var out sync.Mutex
	o := Options{
		DB: db, Secret: testSecret, BaseURL: "http://127.0.0.1", Debug: true,
		Argon2: cheapArgon2, Now: now, Mailer: stdoutMailer{&out},
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Limits:        Limits{LoginAccount: Limit{Max: 1 << 40, Window: time.Hour}, LoginAccountAllIPs: Limit{Max: 1 << 40, Window: time.Hour}},
		PruneInterval: cfg.PruneInterval,
	}
	// Every other limit too, also any added later: a default's day-long
	// window would keep every throttle row alive through a soak, since
	// pruning waits for the longest window.
	lim := reflect.ValueOf(&o.Limits).Elem()
	for i := range lim.NumField() {
		if lim.Field(i).IsZero() {
			lim.Field(i).Set(reflect.ValueOf(many))
		}
	}
	if cfg.Soak {
		o.AccessTTL, o.RefreshTTL, o.RefreshIdleTTL = 5*time.Minute, 2*time.Hour, 20*time.Minute
		o.ConfirmTTL, o.ResetTTL, o.EventRetention = time.Hour, 20*time.Minute, 30*time.Minute
	}
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		return err
	}
	auth, err := Register(r.Group(testBase), o)
	if err != nil {
		return err
	}
	r.GET("/api/me", auth.RequireUser(), func(c *gin.Context) {
		u, _ := CurrentUser(c)
		c.JSON(http.StatusOK, gin.H{"id": u.ID, "username": u.Username})
	})
	r.GET("/debug/stats", func(c *gin.Context) {
		st := sqlDB.Stats()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		c.JSON(http.StatusOK, gin.H{"goroutines": runtime.NumGoroutine(), "open_conns": st.OpenConnections,
			"heap_mib": float64(mem.HeapInuse) / (1 << 20)})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	out.Lock()
	fmt.Fprintf(os.Stdout, "LISTEN %s\n", ln.Addr())
	out.Unlock()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// loadServer is a running server process.
type loadServer struct {
	t      *testing.T
	cfg    loadServerConfig
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port, once it serves
	mails  *mailbag
	stderr *lockedBuffer
	ready  chan string   // receives the URL once it serves
	exited chan struct{} // closed when the process has ended
}

// startLoadServer starts a server process on cfg's database and waits
// until it serves. Mails go to mails, which outlives the process.
func startLoadServer(t *testing.T, cfg loadServerConfig, mails *mailbag) *loadServer {
	t.Helper()
	s := spawnLoadServer(t, cfg, mails)
	select {
	case s.url = <-s.ready:
		return s
	case <-s.exited:
	case <-time.After(2 * time.Minute):
		s.kill()
	}
	t.Fatalf("the server process did not start:\n%s", s.stderr.tail(4000))
	return nil
}

// spawnLoadServer starts a server process and returns at once.
func spawnLoadServer(t *testing.T, cfg loadServerConfig, mails *mailbag) *loadServer {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &loadServer{t: t, cfg: cfg, mails: mails, stderr: &lockedBuffer{}, ready: make(chan string, 1), exited: make(chan struct{})}
	s.cmd = exec.Command(os.Args[0], "-test.run=^TestLoadServer$", "-test.count=1", "-test.timeout=0")
	s.cmd.Env = append(os.Environ(), loadServerEnv+"="+string(raw))
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "LISTEN "):
				s.ready <- "http://" + strings.TrimPrefix(line, "LISTEN ")
			case strings.HasPrefix(line, "MAIL "):
				var m struct{ To, Text string }
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "MAIL ")), &m) == nil {
					mails.add(m.To, m.Text)
				}
			}
		}
		_ = s.cmd.Wait() // a killed process's status
		close(s.exited)
	}()
	t.Cleanup(s.kill)
	return s
}

// kill ends the process with SIGKILL and waits until it is gone.
func (s *loadServer) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// lockedBuffer is a goroutine-safe byte sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// tail returns the last n bytes written.
func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	return string(b[max(0, len(b)-n):])
}

// mailbag collects the mails of server processes by recipient.
type mailbag struct {
	mu    sync.Mutex
	by    map[string][]string
	added chan struct{} // closed and replaced on every mail
}

func newMailbag() *mailbag { return &mailbag{by: map[string][]string{}, added: make(chan struct{})} }

func (m *mailbag) add(to, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.by[to] = append(m.by[to], text)
	close(m.added)
	m.added = make(chan struct{})
}

// count is how many mails to has had.
func (m *mailbag) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.by[to])
}

// linkAfter waits until to has more than seen mails, the newest with a
// link to path, and returns that link's token; "" when none came within d.
func (m *mailbag) linkAfter(ctx context.Context, to string, seen int, path string, d time.Duration) string {
	re := regexp.MustCompile(regexp.QuoteMeta(path) + `\?token=([A-Za-z0-9_-]+)`)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		mails, added := m.by[to], m.added
		m.mu.Unlock()
		for i := len(mails) - 1; i >= seen; i-- {
			if sub := re.FindStringSubmatch(mails[i]); sub != nil {
				return sub[1]
			}
		}
		select {
		case <-added:
		case <-deadline.C:
			return ""
		case <-ctx.Done():
			return ""
		}
	}
}

// apiClient speaks to a server process's routes, carrying cookies by hand
// (the harness keeps each session's tokens itself).
type apiClient struct {
	hc  *http.Client
	url string
}

func newAPIClient(url string) *apiClient {
	return &apiClient{url: url, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}}}
}

// apiReply is an answer: its status, JSON body and the cookies it set.
type apiReply struct {
	status  int
	body    map[string]any
	access  string // the access_token cookie set, if any
	refresh string // the refresh_token cookie set, if any
}

// call sends one request; cookies maps cookie names to values. An error
// means no answer came (the process died, or a timeout).
func (c *apiClient) call(ctx context.Context, method, path string, body any, cookies map[string]string) (apiReply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return apiReply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, v := range cookies {
		if v != "" {
			req.AddCookie(&http.Cookie{Name: name, Value: v})
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return apiReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiReply{}, err
	}
	r := apiReply{status: resp.StatusCode}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return apiReply{}, fmt.Errorf("%s %s: %d %s: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			continue
		}
		switch {
		case strings.HasSuffix(ck.Name, "access_token"):
			r.access = ck.Value
		case strings.HasSuffix(ck.Name, "refresh_token"):
			r.refresh = ck.Value
		}
	}
	return r, nil
}
