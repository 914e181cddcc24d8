package authgin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// crashLongEnv selects the crash test's long form: AUTHGIN_TEST_CRASH=n
// kills the server n times, with longer stretches of load between kills.
const crashLongEnv = "AUTHGIN_TEST_CRASH"

// TestCrashSafety runs mixed load (register, login, refresh with rotation,
// confirmation, password reset, logout) over HTTP against a server
// process, kills it with SIGKILL at random moments, restarts it on the same
// database and checks, after every kill:
//
//   - in the database, before the restart: no session has two live
//     refresh tokens, no revoked session has one, no refresh token lacks
//     its session, no counter is negative, and SQLite's integrity_check
//     says ok;
//   - over HTTP, after the restart: every answer 200 the client saw is
//     durable. Sessions it holds refresh (and rotate) with the newest
//     refresh token it got; sessions it logged out, or revoked by a
//     reset, stay revoked; every account logs in with its password (one
//     of two when a reset's answer was lost) and a confirmed account is
//     confirmed.
//
// A request the kill cut off has an unknown outcome: the harness then
// accepts either, and learns which from the next check.
func TestCrashSafety(t *testing.T) {
	kills, load := 20, [2]time.Duration{150 * time.Millisecond, 700 * time.Millisecond}
	if n, err := strconv.Atoi(os.Getenv(crashLongEnv)); err == nil && n > 0 {
		kills, load = n, [2]time.Duration{300 * time.Millisecond, 3 * time.Second}
	}
	for _, backend := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dsn, open := crashDatabase(t, backend)
			runCrashes(t, dsn, open, kills, load)
		})
	}
}

// crashDatabase creates an isolated database for a server process: its
// URL for the process and a function that opens it for the checks.
func crashDatabase(t *testing.T, backend string) (string, func() (*gorm.DB, error)) {
	var dsn string
	switch backend {
	case "sqlite":
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "crash.db")
	case "postgres":
		dsn = postgresTestSchema(t)
	case "mysql":
		dsn = mysqlTestDatabase(t)
	}
	return dsn, func() (*gorm.DB, error) { return openLoadDB(dsn) }
}

func runCrashes(t *testing.T, dsn string, open func() (*gorm.DB, error), kills int, load [2]time.Duration) {
	mails := newMailbag()
	cfg := loadServerConfig{DB: dsn}
	srv := startLoadServer(t, cfg, mails)
	const workers = 4
	model := make([]*crashWorker, workers)
	for i := range model {
		model[i] = &crashWorker{id: i, mails: mails, rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
	}
	var answered, unknown int
	var starts, dbChecks, httpChecks time.Duration
	for kill := range kills {
		ctx, cancel := context.WithCancel(context.Background())
		api := newAPIClient(srv.url)
		var wg sync.WaitGroup
		for _, w := range model {
			wg.Go(func() { w.run(ctx, api) })
		}
		time.Sleep(load[0] + rand.N(load[1]-load[0]))
		srv.kill()
		cancel()
		wg.Wait()
		api.hc.CloseIdleConnections()

		began := time.Now()
		checkCrashDatabase(t, open, kill)
		dbChecks += time.Since(began)

		// Now and then the restart itself is killed (a kill during the
		// migration), before a restart that must come up.
		if kill%5 == 4 {
			s := spawnLoadServer(t, cfg, mails)
			time.Sleep(rand.N(300 * time.Millisecond))
			s.kill()
		}
		began = time.Now()
		srv = startLoadServer(t, cfg, mails)
		starts += time.Since(began)
		api = newAPIClient(srv.url)
		began = time.Now()
		for _, w := range model {
			w.check(t, context.Background(), api, kill, kill == kills-1)
			answered, unknown = answered+w.answered, unknown+w.unknown
			w.answered, w.unknown = 0, 0
		}
		httpChecks += time.Since(began)
		api.hc.CloseIdleConnections()
		if t.Failed() {
			t.Logf("server log:\n%s", srv.stderr.tail(4000))
			return
		}
	}
	n := time.Duration(kills)
	t.Logf("%d kills; %d requests answered, %d cut off by a kill; per kill: restart %v, database checks %v, HTTP checks %v",
		kills, answered, unknown, starts/n, dbChecks/n, httpChecks/n)
}

// checkCrashDatabase checks the invariants that the database must hold
// whatever the moment of the kill, while no server runs.
func checkCrashDatabase(t *testing.T, open func() (*gorm.DB, error), kill int) {
	t.Helper()
	db, err := open()
	if err != nil {
		t.Fatalf("after kill %d: opening the database: %v", kill, err)
	}
	defer closeDB(db)
	if db.Dialector.Name() == dialectSQLite {
		var res []string
		if err := db.Raw("PRAGMA integrity_check").Scan(&res).Error; err != nil || len(res) != 1 || res[0] != "ok" {
			t.Errorf("after kill %d: integrity_check: %v %v", kill, res, err)
		}
	}
	for _, c := range []struct{ what, query string }{
		{"sessions with two live refresh tokens",
			"SELECT COUNT(*) FROM (SELECT session_id FROM refresh_tokens WHERE consumed_at IS NULL GROUP BY session_id HAVING COUNT(*) > 1) AS t"},
		{"revoked sessions with a live refresh token",
			"SELECT COUNT(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.revoked_at IS NOT NULL AND r.consumed_at IS NULL"},
		{"refresh tokens without their session",
			"SELECT COUNT(*) FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.session_id WHERE s.id IS NULL"},
		{"sessions without their user",
			"SELECT COUNT(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL"},
		{"negative counters",
			"SELECT COUNT(*) FROM throttles WHERE count < 0 OR window_start < 0 OR blocked_until < 0"},
	} {
		var n int64
		if err := db.Raw(c.query).Scan(&n).Error; err != nil {
			t.Errorf("after kill %d: %s: %v", kill, c.what, err)
		} else if n != 0 {
			t.Errorf("after kill %d: %d %s", kill, n, c.what)
		}
	}
}

// crashWorker is one client of the load: the accounts it made and the
// sessions it holds. Only its own goroutine touches it.
type crashWorker struct {
	id    int
	mails *mailbag
	rnd   *rand.Rand
	users []*crashUser
	seq   int

	answered, unknown int
}

type crashUser struct {
	email, username string
	// passwords: the password, or the two a reset with a lost answer
	// leaves possible (the new one first).
	passwords []string
	confirmed bool // a confirmation was answered 200
	sessions  []*crashSession
	// newPassword and newConfirmed: changed since the last check, which
	// looks at what changed only (what an earlier check saw cannot be lost
	// since).
	newPassword, newConfirmed bool
}

// crashSession is a session the client holds.
type crashSession struct {
	access, refresh string // the newest tokens answered with a 200
	// revoked: a logout or a reset of it was answered 200; its refresh
	// token must be refused.
	revoked bool
	// unknown: a request that could change it was cut off.
	unknown bool
	touched bool // as crashUser.touched
}

// maxCrashUsers and maxCrashSessions bound a worker's accounts and the
// sessions it keeps per account.
const (
	maxCrashUsers    = 5
	maxCrashSessions = 3
)

func (w *crashWorker) run(ctx context.Context, api *apiClient) {
	for ctx.Err() == nil {
		var u *crashUser
		if len(w.users) > 0 {
			u = w.users[w.rnd.IntN(len(w.users))]
		}
		var err error
		switch p := w.rnd.IntN(100); {
		case u == nil || (p < 8 && len(w.users) < maxCrashUsers):
			err = w.register(ctx, api)
		case p < 25:
			err = w.login(ctx, api, u)
		case p < 65:
			err = w.refresh(ctx, api, u)
		case p < 75:
			err = w.me(ctx, api, u)
		case p < 85:
			err = w.confirm(ctx, api, u)
		case p < 93:
			err = w.reset(ctx, api, u)
		default:
			err = w.logout(ctx, api, u)
		}
		if err != nil {
			w.unknown++
			return // the server is gone
		}
		w.answered++
	}
}

const crashPassword = "correct horse battery"

func (w *crashWorker) register(ctx context.Context, api *apiClient) error {
	w.seq++
	name := fmt.Sprintf("w%dn%d", w.id, w.seq)
	r, err := api.call(ctx, "POST", testBase+"/register", map[string]string{
		"email": name + "@example.com", "username": name, "password1": crashPassword, "password2": crashPassword}, nil)
	if err != nil {
		return err // the account may exist: its name is not used again
	}
	if r.status == 200 {
		w.users = append(w.users, &crashUser{email: name + "@example.com", username: name, passwords: []string{crashPassword},
			sessions: []*crashSession{{access: r.access, refresh: r.refresh, touched: true}}, newPassword: true})
	}
	return nil
}

func (w *crashWorker) login(ctx context.Context, api *apiClient, u *crashUser) error {
	if len(u.passwords) != 1 {
		return nil // the check finds out which password it is
	}
	r, err := api.call(ctx, "POST", testBase+"/login", map[string]string{"login": u.username, "password": u.passwords[0]}, nil)
	if err != nil {
		return err
	}
	if r.status == 200 {
		u.addSession(&crashSession{access: r.access, refresh: r.refresh, touched: true})
	}
	return nil
}

func (u *crashUser) addSession(s *crashSession) {
	u.sessions = append(u.sessions, s)
	if len(u.sessions) > maxCrashSessions {
		u.sessions = u.sessions[1:] // forgotten, not logged out
	}
}

// live returns a session of u that the client believes live, or nil.
func (w *crashWorker) live(u *crashUser) *crashSession {
	var live []*crashSession
	for _, s := range u.sessions {
		if !s.revoked && !s.unknown {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[w.rnd.IntN(len(live))]
}

func (w *crashWorker) refresh(ctx context.Context, api *apiClient, u *crashUser) error {
	s := w.live(u)
	if s == nil {
		return nil
	}
	r, err := api.call(ctx, "POST", testBase+"/token/refresh", nil, map[string]string{"refresh_token": s.refresh})
	if err != nil {
		s.unknown = true // rotated or not
		return err
	}
	if r.status == 200 && r.refresh != "" {
		s.access, s.refresh, s.touched = r.access, r.refresh, true
	}
	return nil
}

func (w *crashWorker) me(ctx context.Context, api *apiClient, u *crashUser) error {
	s := w.live(u)
	if s == nil {
		return nil
	}
	_, err := api.call(ctx, "GET", "/api/me", nil, map[string]string{"access_token": s.access})
	return err
}

func (w *crashWorker) confirm(ctx context.Context, api *apiClient, u *crashUser) error {
	s := w.live(u)
	if s == nil || u.confirmed {
		return nil
	}
	seen := w.mails.count(u.email)
	r, err := api.call(ctx, "POST", testBase+"/confirm", nil, map[string]string{"access_token": s.access})
	if err != nil || r.status != 200 {
		return err
	}
	token := w.mails.linkAfter(ctx, u.email, seen, "/confirm", 2*time.Second)
	if token == "" {
		return nil // the mail died with the process
	}
	r, err = api.call(ctx, "POST", testBase+"/confirm/"+token, nil, nil)
	if err != nil {
		return err // confirmed or not: the check does not ask
	}
	if r.status == 200 {
		u.confirmed, u.newConfirmed = true, true
	}
	return nil
}

func (w *crashWorker) reset(ctx context.Context, api *apiClient, u *crashUser) error {
	if len(u.passwords) != 1 {
		return nil
	}
	seen := w.mails.count(u.email)
	r, err := api.call(ctx, "POST", testBase+"/forgot_password", map[string]string{"email": u.email}, nil)
	if err != nil || r.status != 200 {
		return err
	}
	token := w.mails.linkAfter(ctx, u.email, seen, "/reset_password", 2*time.Second)
	if token == "" {
		return nil
	}
	w.seq++
	next := fmt.Sprintf("%s %d", crashPassword, w.seq)
	r, err = api.call(ctx, "POST", testBase+"/password/"+token, map[string]string{"password1": next, "password2": next}, nil)
	if err != nil {
		u.passwords = []string{next, u.passwords[0]}
		for _, s := range u.sessions {
			s.unknown = true
		}
		return err
	}
	if r.status == 200 {
		u.passwords, u.newPassword = []string{next}, true
		for _, s := range u.sessions {
			s.revoked = true // a reset revokes every session
		}
	}
	return nil
}

func (w *crashWorker) logout(ctx context.Context, api *apiClient, u *crashUser) error {
	s := w.live(u)
	if s == nil {
		return nil
	}
	r, err := api.call(ctx, "POST", testBase+"/logout", nil, map[string]string{"refresh_token": s.refresh})
	if err != nil {
		s.unknown = true
		return err
	}
	if r.status == 200 {
		s.revoked, s.touched = true, true
	}
	return nil
}

// check verifies, after a restart, that what the client was answered 200
// for survived the kill, and resolves what a kill left unknown. It looks
// at what changed since the last check, or at everything when all is set.
func (w *crashWorker) check(t *testing.T, ctx context.Context, api *apiClient, kill int, all bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("after kill %d: worker %d: %s", kill, w.id, fmt.Sprintf(format, args...))
	}
	for _, u := range w.users {
		var kept []*crashSession
		for _, s := range u.sessions {
			if !all && !s.touched && !s.unknown {
				kept = append(kept, s)
				continue
			}
			s.touched = false
			r, err := api.call(ctx, "POST", testBase+"/token/refresh", nil, map[string]string{"refresh_token": s.refresh})
			if err != nil {
				t.Fatalf("after kill %d: refresh: %v", kill, err)
			}
			switch {
			case s.unknown:
				// Live with the token held (rotated now), or rotated or
				// revoked by the lost request: keep it only when live.
				if r.status == 200 && r.refresh != "" {
					s.access, s.refresh, s.unknown = r.access, r.refresh, false
					kept = append(kept, s)
				}
			case s.revoked:
				if r.status != 401 {
					fail("%s: a session revoked with a 200 refreshes: %d %v", u.username, r.status, r.body)
				}
			case r.status != 200 || r.refresh == "":
				fail("%s: a refresh token answered with a 200 is refused: %d %v", u.username, r.status, r.body)
			default:
				s.access, s.refresh = r.access, r.refresh
				kept = append(kept, s)
			}
		}
		u.sessions = kept
		checkConfirmed := u.confirmed && (all || u.newConfirmed)
		var access string
		for _, s := range u.sessions {
			access = s.access // refreshed just now
		}
		if !all && !u.newPassword && len(u.passwords) == 1 && (!checkConfirmed || access != "") {
			w.checkConfirmed(t, ctx, api, kill, u, access, checkConfirmed)
			continue
		}
		u.newPassword = false
		// The password: one of the candidates logs in.
		var logged *crashSession
		for _, pw := range u.passwords {
			r, err := api.call(ctx, "POST", testBase+"/login", map[string]string{"login": u.username, "password": pw}, nil)
			if err != nil {
				t.Fatalf("after kill %d: login: %v", kill, err)
			}
			if r.status == 200 {
				u.passwords = []string{pw}
				logged = &crashSession{access: r.access, refresh: r.refresh}
				u.addSession(logged)
				break
			}
		}
		if logged == nil {
			fail("%s: no password logs in (%q)", u.username, u.passwords)
			continue
		}
		w.checkConfirmed(t, ctx, api, kill, u, logged.access, checkConfirmed)
	}
	if t.Failed() {
		var b strings.Builder
		for _, u := range w.users {
			fmt.Fprintf(&b, "%s: %d passwords, confirmed %v, %d sessions\n", u.username, len(u.passwords), u.confirmed, len(u.sessions))
		}
		t.Log(b.String())
	}
}

// checkConfirmed checks, when check is set, that u's confirmation
// survived, with one of u's access tokens.
func (w *crashWorker) checkConfirmed(t *testing.T, ctx context.Context, api *apiClient, kill int, u *crashUser, access string, check bool) {
	t.Helper()
	u.newConfirmed = false
	if !check {
		return
	}
	r, err := api.call(ctx, "GET", testBase+"/confirm", nil, map[string]string{"access_token": access})
	if err != nil {
		t.Fatalf("after kill %d: confirmation status: %v", kill, err)
	}
	if r.status != 200 || r.body["confirmed"] != true {
		t.Errorf("after kill %d: worker %d: %s: a confirmation answered with a 200 is lost: %d %v", kill, w.id, u.username, r.status, r.body)
	}
}
