package authgin

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// haDirEnv names the directory of a cluster that scripts/ha/start.sh
// started (two PostgreSQL nodes under Patroni, synchronous replication).
// TestFailover runs only when it is set: a manual tier, see
// docs/scaling.md.
const haDirEnv = "AUTHGIN_TEST_HA_DIR"

// haUser is what the clients of TestFailover were told about one account;
// every fact here came with a 200 and must hold after the failover.
type haUser struct {
	email, name, password string
	a, b                  *client // one browser: a shared cookie jar
	registered            bool    // POST /register answered 200
	confirmToken          string
	confirmed             bool   // POST /confirm/{token} answered 200
	current               string // the refresh token of the last 200 that set one
	currentSure           bool   // and no refresh of it was left unanswered since
	consumed              []string
}

// haLog counts TestFailover's answers.
type haLog struct {
	mu                  sync.Mutex
	byStatus            map[string]int
	loginsAcked         int // logins answered 200 or 401: each counted on LoginIP
	loginsSent          int
	maxLatency          time.Duration
	firstFail, lastFail time.Time
	lastOK              time.Time // the end of the last request answered 200
	killedAt            time.Time
}

// TestFailover runs mixed traffic (register, login, failed login, refresh,
// confirm) through two instances on a Patroni cluster, kills the
// primary's postmaster, and checks that requests during the switch get
// 503 unavailable (never 500, never a hang past DBTimeout), that service
// resumes on the new primary without restarting anything, and that every
// 200 the clients saw still holds: accounts log in, confirmations stand,
// the last refresh token of each session works, no rotated one is
// accepted again, and the login counter counted every answered attempt.
func TestFailover(t *testing.T) {
	dir := os.Getenv(haDirEnv)
	if dir == "" {
		t.Skipf("failover test skipped: start a cluster with scripts/ha/start.sh DIR PORT and set %s=DIR", haDirEnv)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "dsn"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(postgresDSNEnv, strings.TrimSpace(string(raw)))
	dsn := postgresTestSchema(t)
	open := func() *gorm.DB {
		db, err := OpenPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, db)
		return db
	}
	const dbTimeout = 3 * time.Second
	many := Limit{Max: 1 << 40, Window: 24 * time.Hour}
	opts := func(o *Options) {
		o.DBTimeout = dbTimeout
		o.Limits.LoginIP, o.Limits.RegisterIP, o.Limits.RefreshSession = many, many, many
	}
	a, b := newEnv(t, open(), opts), newEnv(t, open(), opts)

	log := &haLog{byStatus: map[string]int{}}
	// send runs one request, checks its status is one of want or a 503
	// unavailable, and records it.
	send := func(c *client, op, path string, body any, want ...int) *response {
		start := time.Now()
		r := c.post(path, body)
		took := time.Since(start)
		log.mu.Lock()
		defer log.mu.Unlock()
		code := ""
		if r.status >= 400 {
			code = r.str("code")
		}
		log.byStatus[fmt.Sprintf("%s %d %s", op, r.status, code)]++
		log.maxLatency = max(log.maxLatency, took)
		if took > dbTimeout+time.Second {
			t.Errorf("%s took %v, more than DBTimeout (%v)", op, took, dbTimeout)
		}
		switch {
		case r.status == http.StatusServiceUnavailable:
			if code != "unavailable" {
				t.Errorf("%s: 503 %s, want unavailable", op, r.raw)
			}
			if log.firstFail.IsZero() {
				log.firstFail = start
			}
			log.lastFail = time.Now()
		case !slices.Contains(want, r.status):
			t.Errorf("%s: %d %s, want one of %v or 503", op, r.status, r.raw, want)
		case r.status == 200:
			log.lastOK = time.Now()
		}
		return r
	}
	refreshCookie := func(u *haUser) string { return u.a.jarCookie(testBase, refreshCookie) }

	var (
		usersMu sync.Mutex
		users   []*haUser
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	worker := func(w int) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("w%dn%d", w, i)
			u := &haUser{email: name + "@example.com", name: name, password: fmt.Sprintf("correct horse battery %d", w*1000000+i)}
			u.a, u.b = a.client(), b.client()
			u.b.jar, u.b.hc.Jar = u.a.jar, u.a.jar
			u.a.hc.Timeout, u.b.hc.Timeout = 30*time.Second, 30*time.Second
			usersMu.Lock()
			users = append(users, u)
			usersMu.Unlock()
			// Alternate the instances, so that each sees every kind.
			x, y := u.a, u.b
			if i%2 == 1 {
				x, y = y, x
			}
			r := send(x, "register", "/register", map[string]string{"email": u.email, "username": u.name, "password1": u.password, "password2": u.password}, 200)
			if r.status == 200 {
				u.registered, u.current, u.currentSure = true, refreshCookie(u), true
			}
			// A login's answer is 401 only when the registration never
			// committed.
			loginWant := []int{200}
			if !u.registered {
				loginWant = []int{200, 401}
			}
			log.mu.Lock()
			log.loginsSent += 2
			log.mu.Unlock()
			r = send(y, "login-wrong", "/login", map[string]string{"login": u.name, "password": "wrong password"}, 401)
			if r.status == 401 {
				log.mu.Lock()
				log.loginsAcked++
				log.mu.Unlock()
			}
			r = send(y, "login", "/login", map[string]string{"login": u.name, "password": u.password}, loginWant...)
			if r.status == 200 || r.status == 401 {
				log.mu.Lock()
				log.loginsAcked++
				log.mu.Unlock()
			}
			if r.status == 200 {
				u.registered, u.current, u.currentSure = true, refreshCookie(u), true
			}
			if u.current == "" {
				continue
			}
			for _, c := range []*client{x, y, x} {
				before := refreshCookie(u)
				r = send(c, "refresh", "/token/refresh", nil, 200)
				if r.status != 200 {
					u.currentSure = false
					continue
				}
				if after := refreshCookie(u); after != before {
					u.consumed = append(u.consumed, before)
					u.current, u.currentSure = after, true
				}
			}
			if tok := confirmTokenFor(u.email, a.mail, b.mail); tok != "" {
				u.confirmToken = tok
				r = send(y, "confirm", "/confirm/"+tok, nil, 200)
				u.confirmed = r.status == 200
			}
		}
	}
	const workers = 4
	wg.Add(workers)
	for w := range workers {
		go worker(w)
	}
	time.Sleep(5 * time.Second)

	log.mu.Lock()
	log.killedAt = time.Now()
	log.mu.Unlock()
	out, err := exec.Command("bash", "scripts/ha/kill-primary.sh", dir).CombinedOutput()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("kill-primary.sh: %v: %s", err, out)
	}
	t.Logf("killed the postmaster of %s", strings.TrimSpace(string(out)))

	// Until 5 s without a 503 and with 200s, after 2 s at least.
	deadline := time.Now().Add(60 * time.Second)
	for {
		log.mu.Lock()
		back := time.Since(log.killedAt) > 2*time.Second && time.Since(log.lastFail) > 5*time.Second && log.lastOK.After(log.lastFail)
		log.mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("no recovery within a minute: %v", log.byStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	log.mu.Lock()
	t.Logf("answers: %v", log.byStatus)
	if log.firstFail.IsZero() {
		t.Logf("no 503; longest request %v", log.maxLatency.Round(time.Millisecond))
	} else {
		t.Logf("503s from %v to %v after the kill; longest request %v", log.firstFail.Sub(log.killedAt).Round(time.Millisecond),
			log.lastFail.Sub(log.killedAt).Round(time.Millisecond), log.maxLatency.Round(time.Millisecond))
	}
	acked, sent := log.loginsAcked, log.loginsSent
	log.mu.Unlock()

	// What every 200 said still holds. The counter first: the checks
	// below log in too.
	var counted int64
	if err := a.db.Raw("SELECT count FROM throttles WHERE bucket = ?", "login:ip:127.0.0.1").Scan(&counted).Error; err != nil {
		t.Fatal(err)
	}
	if counted < int64(acked) || counted > int64(sent) {
		t.Errorf("login counter %d, want between the %d answered and the %d sent attempts", counted, acked, sent)
	}
	// Past the rotation grace, a rotated token is reuse.
	a.clock.Advance(time.Minute)
	b.clock.Advance(time.Minute)
	var checked, sessions, rotated int
	for i, u := range users {
		if !u.registered {
			continue
		}
		checked++
		envs := []*testEnv{a, b}
		c := envs[i%2].client()
		wantStatus(t, c.post("/login", map[string]string{"login": u.name, "password": u.password}), 200)
		if u.confirmed {
			r := c.do("GET", testBase+"/confirm", nil)
			if r.status != 200 || r.json["confirmed"] != true {
				t.Errorf("%s: confirmation acknowledged, now %d %s", u.name, r.status, r.raw)
			}
		}
		if u.currentSure {
			sessions++
			replay := envs[(i+1)%2].client()
			replay.hdr.Set("Cookie", "refresh_token="+u.current)
			if r := replay.post("/token/refresh", nil); r.status != 200 {
				t.Errorf("%s: the last refresh token it was given: %d %s", u.name, r.status, r.raw)
			}
		}
		for _, old := range u.consumed {
			rotated++
			replay := envs[i%2].client()
			replay.hdr.Set("Cookie", "refresh_token="+old)
			if r := replay.post("/token/refresh", nil); r.status != 401 {
				t.Errorf("%s: a rotated refresh token was accepted again: %d %s", u.name, r.status, r.raw)
			}
		}
	}
	var port int64
	if err := a.db.Raw("SELECT inet_server_port()").Scan(&port).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("primary now on port %d", port)
	t.Logf("checked %d accounts, %d live sessions, %d rotated tokens; login counter %d (answered %d, sent %d)",
		checked, sessions, rotated, counted, acked, sent)
}

// confirmTokenFor returns the token of the last confirmation mail to addr
// that the mailboxes hold, or "" when none arrived yet.
func confirmTokenFor(addr string, boxes ...*mailbox) string {
	const prefix = "/confirm?token="
	tok := ""
	for _, m := range boxes {
		m.mu.Lock()
		for _, msg := range m.mails {
			if i := strings.Index(msg.Text, prefix); msg.To == addr && i >= 0 {
				rest := msg.Text[i+len(prefix):]
				if end := strings.IndexAny(rest, "\n \"<\r&"); end >= 0 {
					rest = rest[:end]
				}
				tok = rest
			}
		}
		m.mu.Unlock()
	}
	return tok
}
