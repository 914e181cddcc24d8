package authgin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// soakEnv selects the soak test's long form: AUTHGIN_TEST_SOAK=10m runs it
// that long on every database with a DSN set (SQLite always); without it,
// the short form runs for a minute on SQLite.
const soakEnv = "AUTHGIN_TEST_SOAK"

// soakClock is how much faster than real time the server's clock runs in
// the soak, so that sessions, tokens, counters and security events expire
// and get pruned many times over within a short run (one real minute is
// ten simulated hours; rows live at most a few simulated hours).
const soakClock = 600

// TestSoak runs mixed traffic against a server process with pruning on
// (every 2 s), and samples every second the process's RSS, its goroutines,
// its open database connections and the row count of every table. Once
// rows have had time to die and be pruned (the first 40% of the run), the
// least-squares slope of each metric must be flat: over the rest of the
// run, no metric may grow by more than its bound (soakBounds). The slopes
// are logged; docs/scaling.md states them.
func TestSoak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's RSS from /proc")
	}
	length, backends := time.Minute, []string{"sqlite"}
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", soakEnv, err)
		}
		length, backends = d, []string{"sqlite", "postgres", "mysql"}
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var dsn string
			switch backend {
			case "sqlite":
				dsn = "sqlite:" + filepath.Join(t.TempDir(), "soak.db")
			case "postgres":
				dsn = postgresTestSchema(t)
			case "mysql":
				dsn = mysqlTestDatabase(t)
			}
			runSoak(t, dsn, length)
		})
	}
}

// soakTables are the tables whose row counts are sampled.
var soakTables = []string{"users", "sessions", "refresh_tokens", "email_confirmations", "password_resets",
	"throttles", "security_events", "revocations"}

// soakBounds is how much each metric may grow over the measured part of
// the run, by its fitted slope, relative to its mean there, plus an
// absolute allowance (a few goroutines or connections in flight, a few
// MiB of memory). Table sizes follow the request rate, which a shared
// machine varies. The RSS is bounded only without the race detector, whose
// shadow memory grows it regardless; the Go heap always.
var soakBounds = map[string]struct{ rel, abs float64 }{
	"rss_mib":      {0.15, 8},
	"heap_mib":     {0.25, 4},
	"goroutines":   {0.25, 8},
	"open_conns":   {0.5, 3},
	"tables_total": {0.30, 0},
}

func runSoak(t *testing.T, dsn string, length time.Duration) {
	mails := newMailbag()
	srv := startLoadServer(t, loadServerConfig{DB: dsn, ClockSpeed: soakClock, Soak: true, PruneInterval: 2 * time.Second}, mails)
	db, err := openLoadDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db)
	api := newAPIClient(srv.url)
	defer api.hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), length)
	defer cancel()

	const workers, usersEach = 4, 10
	var wg sync.WaitGroup
	var requests, failures soakCounter
	for i := range workers {
		w := &soakWorker{id: i, api: api, mails: mails, rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
			requests: &requests, failures: &failures}
		if err := w.setUp(ctx, usersEach); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { w.run(ctx) })
	}

	var samples []soakSample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			s, err := sampleSoak(srv, api, db)
			if err != nil {
				t.Fatal(err)
			}
			s.at = time.Since(start)
			samples = append(samples, s)
		}
	}
	wg.Wait()
	if f := failures.n.Load(); f > 0 {
		t.Errorf("%d of %d requests failed (no answer or 5xx):\n%s", f, requests.n.Load(), srv.stderr.tail(2000))
	}
	reportSoak(t, samples, requests.n.Load())
}

type soakCounter struct{ n atomic.Int64 }

// soakSample is one measurement.
type soakSample struct {
	at      time.Duration
	metrics map[string]float64
}

func sampleSoak(srv *loadServer, api *apiClient, db *gorm.DB) (soakSample, error) {
	s := soakSample{metrics: map[string]float64{}}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return s, err
			}
			s.metrics["rss_mib"] = kb / 1024
		}
	}
	r, err := api.call(context.Background(), "GET", "/debug/stats", nil, nil)
	if err != nil {
		return s, err
	}
	s.metrics["goroutines"], _ = r.body["goroutines"].(float64)
	s.metrics["open_conns"], _ = r.body["open_conns"].(float64)
	s.metrics["heap_mib"], _ = r.body["heap_mib"].(float64)
	var total float64
	for _, table := range soakTables {
		var n int64
		if err := db.Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error; err != nil {
			return s, err
		}
		s.metrics["rows_"+table] = float64(n)
		total += float64(n)
	}
	s.metrics["tables_total"] = total
	return s, nil
}

// reportSoak fits each metric's slope over the samples after the warm-up,
// logs them, and checks the bounded ones.
func reportSoak(t *testing.T, samples []soakSample, requests int64) {
	t.Helper()
	from := len(samples) * 4 / 10
	measured := samples[from:]
	if len(measured) < 10 {
		t.Fatalf("%d samples after the warm-up, want at least 10", len(measured))
	}
	span := (measured[len(measured)-1].at - measured[0].at).Minutes()
	names := make([]string, 0, len(measured[0].metrics))
	for name := range measured[0].metrics {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests; %d samples, fitted over the last %.1f min (simulated clock x%d, race detector %v):\n",
		requests, len(samples), span, soakClock, raceBuild)
	fmt.Fprintf(&b, "%-28s %12s %12s %14s %10s\n", "metric", "mean", "last", "slope/min", "growth")
	for _, name := range names {
		xs, ys := make([]float64, len(measured)), make([]float64, len(measured))
		for i, s := range measured {
			xs[i], ys[i] = s.at.Minutes(), s.metrics[name]
		}
		slope, mean := fitSlope(xs, ys)
		growth := slope * span // over the measured part
		rel := 0.0
		if mean > 0 {
			rel = growth / mean
		}
		fmt.Fprintf(&b, "%-28s %12.1f %12.1f %14.2f %9.1f%%\n", name, mean, ys[len(ys)-1], slope, 100*rel)
		if bound, ok := soakBounds[name]; ok && growth > bound.rel*mean+bound.abs && !(name == "rss_mib" && raceBuild) {
			t.Errorf("%s grows by %.1f (%.1f%% of its mean %.1f) over %.1f min: not flat", name, growth, 100*rel, mean, span)
		}
	}
	// The run in ten steps, for the eye.
	fmt.Fprintf(&b, "%-8s", "at")
	series := []string{"rss_mib", "heap_mib", "goroutines", "open_conns", "rows_sessions", "tables_total"}
	for _, name := range series {
		fmt.Fprintf(&b, " %20s", name)
	}
	b.WriteString("\n")
	for i := range 10 {
		s := samples[min(len(samples)-1, (i+1)*len(samples)/10)]
		fmt.Fprintf(&b, "%-8s", s.at.Round(time.Second))
		for _, name := range series {
			fmt.Fprintf(&b, " %20.1f", s.metrics[name])
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}

// fitSlope returns the least-squares slope of ys over xs and ys's mean.
func fitSlope(xs, ys []float64) (slope, mean float64) {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	n := float64(len(xs))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my
	}
	return sxy / sxx, my
}

// soakWorker is one client: a fixed set of accounts and the sessions it
// holds for them.
type soakWorker struct {
	id                 int
	api                *apiClient
	mails              *mailbag
	rnd                *rand.Rand
	users              []*soakUser
	seq                int
	requests, failures *soakCounter
}

type soakUser struct {
	name, password string
	sessions       []*crashSession // access and refresh tokens held
}

func (w *soakWorker) setUp(ctx context.Context, n int) error {
	for i := range n {
		name := fmt.Sprintf("soak%dn%d", w.id, i)
		r, err := w.api.call(ctx, "POST", testBase+"/register", map[string]string{
			"email": name + "@example.com", "username": name, "password1": crashPassword, "password2": crashPassword}, nil)
		if err != nil || r.status != 200 {
			return fmt.Errorf("register %s: %d %v", name, r.status, err)
		}
		w.users = append(w.users, &soakUser{name: name, password: crashPassword,
			sessions: []*crashSession{{access: r.access, refresh: r.refresh}}})
	}
	return nil
}

// call sends a request and counts it; a failure is no answer or a 5xx.
func (w *soakWorker) call(ctx context.Context, method, path string, body any, cookies map[string]string) (apiReply, bool) {
	r, err := w.api.call(ctx, method, path, body, cookies)
	if ctx.Err() != nil {
		return r, false // the run ended
	}
	w.requests.n.Add(1)
	if err != nil || r.status >= 500 {
		w.failures.n.Add(1)
		return r, false
	}
	return r, true
}

// run sends about 50 requests a second until ctx ends.
func (w *soakWorker) run(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		u := w.users[w.rnd.IntN(len(w.users))]
		var s *crashSession
		if len(u.sessions) > 0 {
			s = u.sessions[w.rnd.IntN(len(u.sessions))]
		}
		switch p := w.rnd.IntN(100); {
		case s == nil || p < 15:
			w.login(ctx, u, u.password)
		case p < 20:
			w.login(ctx, u, "wrong password") // a failure the backoff counts
		case p < 50:
			w.refresh(ctx, u, s)
		case p < 75:
			if r, ok := w.call(ctx, "GET", "/api/me", nil, map[string]string{"access_token": s.access}); ok && r.status == 401 {
				w.refresh(ctx, u, s)
			}
		case p < 80:
			if _, ok := w.call(ctx, "POST", testBase+"/logout", nil, map[string]string{"refresh_token": s.refresh}); ok {
				u.drop(s)
			}
		case p < 83:
			if _, ok := w.call(ctx, "POST", testBase+"/logout_all", nil, map[string]string{"access_token": s.access}); ok {
				u.sessions = nil
			}
		case p < 88:
			w.call(ctx, "POST", testBase+"/confirm", nil, map[string]string{"access_token": s.access}) // a mail, or 400 confirmed
		case p < 92:
			w.call(ctx, "POST", testBase+"/confirm/guess"+strconv.Itoa(w.rnd.IntN(1e6)), nil, nil) // 403
		default:
			w.reset(ctx, u)
		}
	}
}

func (w *soakWorker) login(ctx context.Context, u *soakUser, password string) {
	r, ok := w.call(ctx, "POST", testBase+"/login", map[string]string{"login": u.name, "password": password}, nil)
	if ok && r.status == 200 {
		u.sessions = append(u.sessions, &crashSession{access: r.access, refresh: r.refresh})
		if len(u.sessions) > 2 {
			u.sessions = u.sessions[1:] // abandoned: it idles out and is pruned
		}
	}
}

func (w *soakWorker) refresh(ctx context.Context, u *soakUser, s *crashSession) {
	r, ok := w.call(ctx, "POST", testBase+"/token/refresh", nil, map[string]string{"refresh_token": s.refresh})
	switch {
	case !ok:
	case r.status == 200 && r.refresh != "":
		s.access, s.refresh = r.access, r.refresh
	case r.status == 200:
		s.access = r.access
	default: // ended: expired, revoked
		u.drop(s)
	}
}

func (u *soakUser) drop(s *crashSession) {
	for i, x := range u.sessions {
		if x == s {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			return
		}
	}
}

func (w *soakWorker) reset(ctx context.Context, u *soakUser) {
	email := u.name + "@example.com"
	seen := w.mails.count(email)
	if r, ok := w.call(ctx, "POST", testBase+"/forgot_password", map[string]string{"email": email}, nil); !ok || r.status != 200 {
		return
	}
	token := w.mails.linkAfter(ctx, email, seen, "/reset_password", 2*time.Second)
	if token == "" {
		return
	}
	w.seq++
	next := fmt.Sprintf("%s %d", crashPassword, w.seq)
	if r, ok := w.call(ctx, "POST", testBase+"/password/"+token, map[string]string{"password1": next, "password2": next}, nil); ok && r.status == 200 {
		u.password, u.sessions = next, nil
	}
}
