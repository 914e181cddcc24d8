package bench

// How authgin's per-request costs grow with its tables: TestGrowth seeds
// databases of 10^4, 10^5 and 10^6 users (each with a session, two refresh
// tokens and three security events) by bulk inserts, then times login,
// refresh, strict-mode middleware, admin search and Prune on each, in
// interleaved rounds so that a busy machine slows every size alike. Run by
// hand (bench/README.md); the figures are in docs/scaling.md.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgin/authgin"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// growthEnv turns TestGrowth on: a comma-separated list of user counts,
// e.g. 10000,100000,1000000. SQLite always runs; PostgreSQL and MariaDB
// when AUTHGIN_TEST_POSTGRES_DSN and AUTHGIN_TEST_MYSQL_DSN are set.
// BENCH_GROWTH_BACKENDS (e.g. sqlite,postgres) picks among them.
// BENCH_GROWTH_KEEP=1 keeps the databases (SQLite files in the temporary
// directory, PostgreSQL schemas and MariaDB databases named
// authgin_growth_N) for EXPLAIN by hand.
const growthEnv = "BENCH_GROWTH"

// growthKeep reports whether BENCH_GROWTH_KEEP asks to keep the databases.
func growthKeep() bool { return os.Getenv("BENCH_GROWTH_KEEP") != "" }

const growthPassword = "correct horse battery staple"

// growthDB is one seeded database of one size.
type growthDB struct {
	backend string
	users   int
	db      *gorm.DB
	auth    *authgin.Auth
	app     *gin.Engine
	next    int      // the next seeded user whose live refresh token is unused
	access  []string // access tokens of seeded sessions, for strict mode
	sizeMB  float64
	seedFor time.Duration
	open    func() (*gorm.DB, error)
}

func TestGrowth(t *testing.T) {
	spec := os.Getenv(growthEnv)
	if spec == "" {
		t.Skipf("set %s=10000,100000,1000000 to run", growthEnv)
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 {
			t.Fatalf("%s: %q is not a user count of at least 1000", growthEnv, f)
		}
		sizes = append(sizes, n)
	}
	backends := []string{"sqlite"}
	if os.Getenv("AUTHGIN_TEST_POSTGRES_DSN") != "" {
		backends = append(backends, "postgres")
	}
	if os.Getenv("AUTHGIN_TEST_MYSQL_DSN") != "" {
		backends = append(backends, "mysql")
	}
	if only := os.Getenv("BENCH_GROWTH_BACKENDS"); only != "" {
		backends = slices.DeleteFunc(backends, func(b string) bool { return !slices.Contains(strings.Split(only, ","), b) })
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			var dbs []*growthDB
			for _, n := range sizes {
				g := openGrowthDB(t, backend, n)
				start := time.Now()
				seedGrowth(t, g)
				g.seedFor = time.Since(start)
				g.sizeMB = growthSizeMB(t, g)
				t.Logf("%s %d users: seeded in %v, %.0f MB", backend, n, g.seedFor.Round(time.Second), g.sizeMB)
				dbs = append(dbs, g)
			}
			measureGrowth(t, dbs)
		})
	}
}

func openGrowthDB(t *testing.T, backend string, users int) *growthDB {
	t.Helper()
	g := &growthDB{backend: backend, users: users}
	name := fmt.Sprintf("authgin_growth_%d", users)
	switch backend {
	case "sqlite":
		dir := t.TempDir()
		if growthKeep() {
			dir = os.TempDir()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(filepath.Join(dir, name+".db"+suffix))
			}
		}
		path := filepath.Join(dir, name+".db")
		g.open = func() (*gorm.DB, error) { return authgin.OpenSQLite(path) }
	case "postgres":
		base := os.Getenv("AUTHGIN_TEST_POSTGRES_DSN")
		admin, err := authgin.OpenPostgres(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"DROP SCHEMA IF EXISTS " + name + " CASCADE", "CREATE SCHEMA " + name} {
			if err := admin.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			if !growthKeep() {
				admin.Exec("DROP SCHEMA " + name + " CASCADE")
			}
			closeGorm(admin)
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		dsn := u.String()
		g.open = func() (*gorm.DB, error) { return authgin.OpenPostgres(dsn) }
	case "mysql":
		base := os.Getenv("AUTHGIN_TEST_MYSQL_DSN")
		admin, err := authgin.OpenMySQL(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name, "CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"} {
			if err := admin.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			if !growthKeep() {
				admin.Exec("DROP DATABASE " + name)
			}
			closeGorm(admin)
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		dsn := u.String()
		g.open = func() (*gorm.DB, error) { return authgin.OpenMySQL(dsn) }
	}
	db, err := g.open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeGorm(db) })
	if kb := os.Getenv("BENCH_GROWTH_SQLITE_CACHE_KB"); kb != "" && backend == "sqlite" {
		sqliteCacheSize(t, db, kb)
	}
	g.db = db
	gin.SetMode(gin.ReleaseMode)
	g.app = gin.New()
	many := authgin.Limit{Max: 1 << 40, Window: time.Hour}
	auth, err := authgin.Register(g.app.Group("/api/users"), authgin.Options{
		DB: db, Secret: []byte("growth benchmark secret of 32+ bytes!"), BaseURL: "https://app.example",
		Argon2:        authgin.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		Strict:        true,
		PruneInterval: -1,
		Limits:        authgin.Limits{LoginIP: many, RefreshSession: many, RegisterIP: many},
		Mailer:        discardMailer{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		auth.Close(ctx)
	})
	g.auth = auth
	g.app.GET("/api/me", auth.RequireUser(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	return g
}

// sqliteCacheSize sets SQLite's page cache of every pooled connection
// (OpenSQLite keeps two) to kb KiB, to see how much of the growth is
// pages read from the OS instead of SQLite's cache.
func sqliteCacheSize(t *testing.T, db *gorm.DB, kb string) {
	t.Helper()
	n, err := strconv.Atoi(kb)
	if err != nil {
		t.Fatalf("BENCH_GROWTH_SQLITE_CACHE_KB: %v", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var conns []*sql.Conn
	for range 2 {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", n)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

type discardMailer struct{}

func (discardMailer) Send(context.Context, authgin.Message) error { return nil }

func closeGorm(db *gorm.DB) {
	if s, err := db.DB(); err == nil {
		s.Close()
	}
}

// growthToken is seeded user i's refresh token k (0: consumed by a
// rotation, 1: live), in the form authgin hands out.
func growthToken(i, k int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("growth token %d %d", i, k)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func growthHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// growthSession is seeded user i's session id, as random as authgin's.
func growthSession(i int) string { return growthToken(i, 2) }

func growthUsername(i int) string { return fmt.Sprintf("u%07d", i) }

// seedGrowth fills g with g.users users by bulk inserts: user 1 signs up
// through the service (for a real password hash), the others copy its
// hash. Each user has one live session, a consumed and a live refresh
// token, and three security events. Then the statistics are refreshed,
// as autovacuum or a routine ANALYZE would have done.
func seedGrowth(t *testing.T, g *growthDB) {
	t.Helper()
	ctx := context.Background()
	svc := g.auth.Service()
	first, _, err := svc.SignUp(ctx, authgin.RegisterInput{Email: "u0000000@example.com", Username: growthUsername(0),
		Password1: growthPassword, Password2: growthPassword}, authgin.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := g.db.Raw("SELECT password_hash FROM users WHERE id = ?", first.ID).Scan(&hash).Error; err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	day := 24 * time.Hour
	type table struct {
		name string
		cols []string
		row  func(i, k int) []any
		per  int
	}
	tables := []table{
		{"users", []string{"id", "email", "email_key", "username", "username_key", "password_hash", "permissions", "confirmed", "banned", "created_at", "updated_at"},
			func(i, _ int) []any {
				n := growthUsername(i)
				return []any{int64(i + 1), n + "@example.com", n + "@example.com", n, n, hash, "[]", true, false, now.Add(-30 * day), now.Add(-day)}
			}, 1},
		{"sessions", []string{"id", "user_id", "created_at", "last_used_at", "expires_at", "ip", "user_agent"},
			func(i, _ int) []any {
				return []any{growthSession(i), int64(i + 1), now.Add(-day), now.Add(-time.Hour), now.Add(29 * day), "192.0.2.1", "growth"}
			}, 1},
		{"refresh_tokens", []string{"token_hash", "session_id", "user_id", "created_at", "consumed_at"},
			func(i, k int) []any {
				var consumed any
				if k == 0 {
					consumed = now.Add(-time.Hour)
				}
				return []any{growthHash(growthToken(i, k)), growthSession(i), int64(i + 1), now.Add(-day), consumed}
			}, 2},
		{"security_events", []string{"id", "user_id", "event", "actor_id", "session_id", "ip", "user_agent", "detail", "created_at"},
			func(i, k int) []any {
				return []any{int64(3*i + k + 1), int64(i + 1), "login", int64(0), growthSession(i), "192.0.2.1", "growth", "", now.Add(-time.Duration(k+1) * time.Hour)}
			}, 3},
	}
	// User 0 exists already, with id first.ID and an event or two: the
	// seeded rows start at user 1, ids above the ones the sign-up used.
	if err := g.db.Exec("DELETE FROM security_events").Error; err != nil {
		t.Fatal(err)
	}
	from := 1
	for _, tb := range tables {
		if g.backend == "postgres" {
			copyRows(t, g, tb.name, tb.cols, from, tb.per, tb.row)
		} else {
			insertRows(t, g, tb.name, tb.cols, from, tb.per, tb.row)
		}
	}
	switch g.backend {
	case "postgres":
		for _, q := range []string{
			"SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
			"SELECT setval(pg_get_serial_sequence('security_events', 'id'), (SELECT max(id) FROM security_events))",
			"VACUUM ANALYZE",
		} {
			if err := g.db.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
	case "mysql":
		if err := g.db.Exec("ANALYZE TABLE users, sessions, refresh_tokens, security_events").Error; err != nil {
			t.Fatal(err)
		}
	default:
		for _, q := range []string{"ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if err := g.db.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	g.next = 1
}

// insertRows inserts rows [from, g.users) × per of a table by multi-row
// INSERTs, many to a transaction.
func insertRows(t *testing.T, g *growthDB, table string, cols []string, from, per int, row func(i, k int) []any) {
	t.Helper()
	const perStmt, perTx = 200, 20000
	sqlDB, err := g.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	full := head + strings.TrimSuffix(strings.Repeat(one+", ", perStmt), ", ")
	ctx := context.Background()
	var tx *sql.Tx
	var stmt *sql.Stmt
	args := make([]any, 0, perStmt*len(cols))
	rows, inTx := 0, 0
	flush := func(final bool) {
		if len(args) == 0 {
			return
		}
		n := len(args) / len(cols)
		var err error
		if n == perStmt {
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, head+strings.TrimSuffix(strings.Repeat(one+", ", n), ", "), args...)
		}
		if err != nil {
			t.Fatalf("seeding %s: %v", table, err)
		}
		args = args[:0]
		inTx += n
		if inTx >= perTx || final {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			tx, inTx = nil, 0
		}
	}
	for i := from; i < g.users; i++ {
		for k := range per {
			if tx == nil {
				if tx, err = sqlDB.BeginTx(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if stmt, err = tx.PrepareContext(ctx, full); err != nil {
					t.Fatal(err)
				}
			}
			args = append(args, row(i, k)...)
			rows++
			if len(args) == perStmt*len(cols) {
				flush(false)
			}
		}
	}
	if tx != nil {
		if len(args) == 0 {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			return
		}
		flush(true)
	}
}

// copyRows is insertRows through PostgreSQL's COPY, on a pgx connection of
// its own.
func copyRows(t *testing.T, g *growthDB, table string, cols []string, from, per int, row func(i, k int) []any) {
	t.Helper()
	ctx := context.Background()
	u, _ := url.Parse(os.Getenv("AUTHGIN_TEST_POSTGRES_DSN"))
	q := u.Query()
	q.Set("search_path", fmt.Sprintf("authgin_growth_%d", g.users))
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	i, k := from, 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if k == per {
			i, k = i+1, 0
		}
		if i >= g.users {
			return nil, nil
		}
		k++
		return row(i, k-1), nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
		t.Fatalf("copying %s: %v", table, err)
	}
}

// growthSizeMB is the space the plugin's tables take, indexes included.
func growthSizeMB(t *testing.T, g *growthDB) float64 {
	t.Helper()
	var bytes float64
	var err error
	switch g.backend {
	case "postgres":
		err = g.db.Raw("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'").Scan(&bytes).Error
	case "mysql":
		err = g.db.Raw("SELECT sum(data_length + index_length) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&bytes).Error
	default:
		var pages, size float64
		if err = g.db.Raw("PRAGMA page_count").Scan(&pages).Error; err == nil {
			err = g.db.Raw("PRAGMA page_size").Scan(&size).Error
		}
		bytes = pages * size
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes / (1 << 20)
}

// growthOps are the operations timed, each as a batch of n calls on g;
// prepare (untimed) runs before each batch.
var growthOps = []struct {
	name    string
	n       int
	prepare func(t *testing.T, g *growthDB, n int)
	run     func(t *testing.T, g *growthDB, i int)
}{
	{name: "login", n: 40, run: func(t *testing.T, g *growthDB, _ int) {
		i := rand.IntN(g.users-1) + 1
		if _, _, err := g.auth.Service().Login(context.Background(), authgin.LoginInput{Login: growthUsername(i), Password: growthPassword},
			authgin.Client{IP: "198.51.100.7", UserAgent: "growth"}); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "refresh", n: 40, run: func(t *testing.T, g *growthDB, _ int) {
		// Seeded users in a random order, each live token once.
		i := growthPermute(g.next, g.users)
		g.next++
		tok, err := g.auth.Service().Refresh(context.Background(), growthToken(i, 1), authgin.Client{IP: "198.51.100.7", UserAgent: "growth"})
		if err != nil {
			t.Fatalf("refresh of user %d: %v", i, err)
		}
		g.access = append(g.access, tok.Access)
	}},
	{name: "strict-middleware", n: 200, run: func(t *testing.T, g *growthDB, _ int) {
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+g.access[rand.IntN(len(g.access))])
		w := httptest.NewRecorder()
		g.app.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			t.Fatalf("GET /api/me: %d %s", w.Code, w.Body)
		}
	}},
	{name: "admin-search", n: 10, run: func(t *testing.T, g *growthDB, _ int) {
		// A fragment that 10 users match at every size.
		frag := fmt.Sprintf("u%06d", rand.IntN(1000))
		page, err := g.auth.Service().SearchUsers(context.Background(), authgin.SearchQuery{Username: frag}, 1)
		if err != nil || len(page.Items) == 0 {
			t.Fatalf("search %q: %d items, %v", frag, len(page.Items), err)
		}
	}},
	{name: "prune", n: 1, prepare: func(t *testing.T, g *growthDB, _ int) {
		// 200 sessions ended two hours ago, a pass's worth of work that
		// does not depend on the size.
		ids := make([]any, 0, 200)
		for range 200 {
			ids = append(ids, growthSession(growthPermute(g.next, g.users)))
			g.next++
		}
		q := "UPDATE sessions SET revoked_at = ? WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		if err := g.db.Exec(q, append([]any{time.Now().UTC().Add(-2 * time.Hour)}, ids...)...).Error; err != nil {
			t.Fatal(err)
		}
	}, run: func(t *testing.T, g *growthDB, _ int) {
		r, err := g.auth.Service().Prune(context.Background())
		if err != nil || r.Sessions < 200 {
			t.Errorf("prune of %d users: %+v, %v", g.users, r, err)
		}
	}},
}

// growthPermute maps 1..users-1 onto itself in a scattered order, so that
// consecutive calls touch unrelated rows (a multiplicative step coprime
// with the count).
func growthPermute(k, users int) int {
	n := users - 1
	step := 7919 // prime, and no size here is a multiple of it
	for n%step == 0 {
		step += 2
	}
	return (k*step)%n + 1
}

// measureGrowth times every operation on every size in interleaved rounds
// and logs one table: the median time per operation, and its ratio to the
// smallest size's.
func measureGrowth(t *testing.T, dbs []*growthDB) {
	t.Helper()
	rounds := 7
	if n, err := strconv.Atoi(os.Getenv("BENCH_GROWTH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	times := make(map[string][][]time.Duration) // op -> size index -> per round
	for _, op := range growthOps {
		times[op.name] = make([][]time.Duration, len(dbs))
	}
	// A warm-up round, not counted, then the rounds.
	for round := -1; round < rounds; round++ {
		for _, op := range growthOps {
			for si, g := range dbs {
				if op.prepare != nil {
					op.prepare(t, g, op.n)
				}
				start := time.Now()
				for i := range op.n {
					op.run(t, g, i)
				}
				if round >= 0 {
					times[op.name][si] = append(times[op.name][si], time.Since(start)/time.Duration(op.n))
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| %s | users |", dbs[0].backend)
	for _, op := range growthOps {
		fmt.Fprintf(&b, " %s |", op.name)
	}
	b.WriteString(" size |\n|---|---|")
	for range growthOps {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for si, g := range dbs {
		fmt.Fprintf(&b, "| | %d |", g.users)
		for _, op := range growthOps {
			m := medianDur(times[op.name][si])
			base := medianDur(times[op.name][0])
			fmt.Fprintf(&b, " %s (%.2fx) |", fmtDur(m), float64(m)/float64(base))
		}
		fmt.Fprintf(&b, " %.0f MB |\n", g.sizeMB)
	}
	t.Log(b.String())
}

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}
