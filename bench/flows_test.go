package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgin/authgin"
	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// BenchmarkFlows measures refresh (with rotation) and register (cheap
// argon2id) through authgin's service against raw database/sql twins that
// run the same statements on the same tables, at 1 and 8 concurrent
// clients. Each raw case runs first; the authgin case after it reports
// x-raw, its throughput over the raw twin's.
func BenchmarkFlows(b *testing.B) {
	for _, fb := range flowBackends(b) {
		for _, flow := range []string{"refresh", "register"} {
			for _, clients := range []int{1, 8} {
				var rawRate float64 // of the raw twin's last (final) run
				for _, impl := range []string{"raw", "authgin"} {
					name := fmt.Sprintf("%s/%s/clients=%d/%s", fb.name, flow, clients, impl)
					b.Run(name, func(b *testing.B) {
						ops := fb.clients(b, flow, impl, clients)
						rate := runClients(b, ops, fb.app.pool.n)
						if impl == "raw" {
							rawRate = rate
						} else if rawRate > 0 {
							b.ReportMetric(rate/rawRate, "x-raw")
						}
					})
				}
			}
		}
	}
}

// flowBackend is authgin on one database, plus the raw twin's statements.
type flowBackend struct {
	name string
	app  authginApp
	sql  rawSQL
	seq  *atomic.Int64 // unique names across runs of a case
}

// flowBackends opens SQLite (named sqliteFlows: mattn/go-sqlite3 with cgo,
// modernc.org/sqlite without) and, when their DSNs are set, PostgreSQL
// (AUTHGIN_TEST_POSTGRES_DSN) and MySQL or MariaDB (AUTHGIN_TEST_MYSQL_DSN).
func flowBackends(b testing.TB) []flowBackend {
	o := authgin.Options{Argon2: cheapArgon, Limits: unthrottled()}
	db, err := authgin.OpenSQLite(filepath.Join(b.TempDir(), "flows.db"))
	if err != nil {
		b.Fatal(err)
	}
	capSQLitePool(db)
	out := []flowBackend{{name: sqliteFlows, app: newAuthginAppOn(b, db, o), sql: newRawSQL(dialectSQLite)}}
	if dsn := os.Getenv("AUTHGIN_TEST_POSTGRES_DSN"); dsn != "" {
		pg, err := authgin.OpenPostgres(dsn)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, flowBackend{name: "postgres", app: newAuthginAppOn(b, pg, o), sql: newRawSQL(dialectPostgres)})
	}
	if dsn := os.Getenv("AUTHGIN_TEST_MYSQL_DSN"); dsn != "" {
		my := openMySQLBenchDB(b, dsn)
		out = append(out, flowBackend{name: "mysql", app: newAuthginAppOn(b, my, o), sql: newRawSQL(dialectMySQL)})
	}
	for i := range out {
		b.Cleanup(func() { out[i].app.pool.db.Close() })
		out[i].seq = new(atomic.Int64)
	}
	return out
}

// mysqlDBs numbers the databases openMySQLBenchDB creates in one process.
var mysqlDBs atomic.Int64

// openMySQLBenchDB creates a database of its own on the MySQL or MariaDB
// server of dsn (utf8mb4_bin, as authgin's tables), opens it with
// authgin.OpenMySQL and drops it when b ends. Its name carries runID, so
// runs never share one.
func openMySQLBenchDB(b testing.TB, dsn string) *gorm.DB {
	b.Helper()
	server, err := authgin.OpenMySQL(dsn)
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("authgin_bench_%s_%d", runID, mysqlDBs.Add(1))
	if err := server.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").Error; err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { // after the database's own pool closed (cleanups run last first)
		server.Exec("DROP DATABASE IF EXISTS " + name)
		if sqlDB, err := server.DB(); err == nil {
			sqlDB.Close()
		}
	})
	ownDSN, err := mysqlDSNWithDB(dsn, name)
	if err != nil {
		b.Fatal(err)
	}
	db, err := authgin.OpenMySQL(ownDSN)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// mysqlDSNWithDB returns dsn (a go-sql-driver DSN or a mysql:// URL) with
// its database set to name.
func mysqlDSNWithDB(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "mysql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("AUTHGIN_TEST_MYSQL_DSN does not parse")
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", errors.New("AUTHGIN_TEST_MYSQL_DSN does not parse")
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// capSQLitePool applies BENCH_SQLITE_CONNS=n, a cap on the SQLite pool
// (open and idle connections), to compare pool sizes.
func capSQLitePool(db *gorm.DB) {
	if n, err := strconv.Atoi(os.Getenv("BENCH_SQLITE_CONNS")); err == nil {
		sqlDB, _ := db.DB()
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
	}
}

// runClients runs b.N operations spread over the clients (one goroutine
// each) and reports throughput, round trips and CPU time per operation.
func runClients(b *testing.B, ops []func(ctx context.Context) error, trips *atomic.Int64) float64 {
	ctx := context.Background()
	var next atomic.Int64
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	before := trips.Load()
	b.ResetTimer()
	cpu := processCPU()
	for i, op := range ops {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	cpu = processCPU() - cpu
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "ops/s")
	b.ReportMetric(float64(trips.Load()-before)/float64(b.N), "roundtrips/op")
	// The process's CPU time (user and system, every goroutine) per
	// operation: less at the mercy of other jobs on the machine than the
	// rate. With SQLite it includes the database's own work; a server's is
	// not counted.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	return rate
}

// clients returns one operation per client for flow and impl. Refresh
// clients each hold their own session (registered beforehand) and follow
// its rotation; register clients each come from their own IP.
func (fb flowBackend) clients(b testing.TB, flow, impl string, n int) []func(context.Context) error {
	svc := fb.app.auth.Service()
	ops := make([]func(context.Context) error, n)
	for i := range ops {
		cl := authgin.Client{IP: fmt.Sprintf("10.0.0.%d", i+1), UserAgent: "bench"}
		switch flow + "/" + impl {
		case "refresh/authgin", "refresh/raw":
			toks, err := fb.app.signUp(fb.name+"r"+strconv.FormatInt(fb.seq.Add(1), 10)+runID, "correct horse battery staple")
			if err != nil {
				b.Fatal(err)
			}
			token := toks.Refresh
			if impl == "raw" {
				ops[i] = func(ctx context.Context) (err error) {
					token, err = fb.sql.refresh(ctx, fb.app.pool, token, cl)
					return err
				}
				continue
			}
			ops[i] = func(ctx context.Context) error {
				t, err := svc.Refresh(ctx, token, cl)
				token = t.Refresh
				return err
			}
		case "register/authgin":
			ops[i] = func(ctx context.Context) error {
				name := fb.name + "a" + strconv.FormatInt(fb.seq.Add(1), 10) + runID
				_, _, err := svc.SignUp(ctx, authgin.RegisterInput{
					Email: name + "@example.com", Username: name,
					Password1: "correct horse battery staple", Password2: "correct horse battery staple",
				}, cl)

				return err
			}
		case "register/raw":
			ops[i] = func(ctx context.Context) error {
				name := fb.name + "w" + strconv.FormatInt(fb.seq.Add(1), 10) + runID
				return fb.sql.register(ctx, fb.app.pool, name, "correct horse battery staple", cl, svc.HashPassword)
			}
		}
	}
	return ops
}

// runID keeps names unique across runs on a reused PostgreSQL database, and
// names each run's MySQL database.
var runID = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

// The databases the raw twin speaks to (gorm's dialector names).
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
	dialectMySQL    = "mysql" // MySQL 8 and MariaDB
)

// rawSQL is the hand-written twin: the statements authgin runs for refresh
// and register (store_*.go, captured with the round-trip counter), in
// database/sql, in the form authgin uses on each database.
type rawSQL struct {
	// deadline, when set (BENCH_RAW_DEADLINE), bounds each statement or
	// transaction as authgin's Options.DBTimeout does.
	deadline                                                  time.Duration
	dialect                                                   string
	throttle, throttleRow, refreshState, touchSession         string
	consumeToken, insertToken                                 string
	usersTaken, insertUser, insertSession, insertConfirmation string
	insertEvent                                               string
}

func newRawSQL(dialect string) rawSQL {
	deadline, _ := time.ParseDuration(os.Getenv("BENCH_RAW_DEADLINE"))
	q := rawSQL{
		deadline: deadline,
		dialect:  dialect,
		throttle: `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN ? ELSE throttles.window_start END
RETURNING window_start, count, blocked_until`,
		refreshState: `SELECT r.token_hash, r.session_id, r.user_id, r.created_at, r.consumed_at,
  s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent, s.revoked_at,
  u.id, u.email, u.email_key, u.username, u.username_key, u.password_hash, u.permissions, u.confirmed, u.banned,
  u.created_at, u.updated_at, u.last_login_at,
  (SELECT b.cutoff_ms FROM blackouts b WHERE b.id = ?)
FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
WHERE r.token_hash = ?`,
		touchSession: `UPDATE sessions SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL`,
		consumeToken: `UPDATE refresh_tokens SET consumed_at = ? WHERE token_hash = ? AND consumed_at IS NULL`,
		insertToken:  `INSERT INTO refresh_tokens (token_hash, session_id, user_id, created_at) VALUES (?, ?, ?, ?)`,
		usersTaken:   `SELECT email_key, username_key FROM users WHERE email_key = ? OR username_key = ? LIMIT 2`,
		insertUser: `INSERT INTO users (email, email_key, username, username_key, password_hash, permissions, confirmed, banned,
  created_at, updated_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		insertSession:      `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		insertConfirmation: `INSERT INTO email_confirmations (user_id, email, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		insertEvent: `INSERT INTO security_events (user_id, event, actor_id, session_id, ip, user_agent, detail, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	}
	switch dialect {
	case dialectPostgres:
		// New ids come back through RETURNING id (no LastInsertId).
		q.insertUser += " RETURNING id"
		q.insertEvent += " RETURNING id"
		for _, s := range []*string{&q.throttle, &q.refreshState, &q.touchSession,
			&q.consumeToken, &q.insertToken, &q.usersTaken, &q.insertUser, &q.insertSession,
			&q.insertConfirmation, &q.insertEvent} {
			*s = dollarParams(*s)
		}
	case dialectMySQL:
		// No RETURNING: the upsert, then the row read back in the same
		// transaction. SETs run left to right, so window_start comes last.
		q.throttle = `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON DUPLICATE KEY UPDATE
  count = IF(window_start <= ? AND blocked_until <= VALUES(window_start), 1, count + 1),
  window_start = IF(window_start <= ? AND blocked_until <= VALUES(window_start), VALUES(window_start), window_start)`
		q.throttleRow = `SELECT window_start, count, blocked_until FROM throttles WHERE bucket = ?`
	}
	return q
}

// dollarParams numbers ? placeholders for PostgreSQL.
func dollarParams(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// bound gives ctx the twin's deadline, if any.
func (q rawSQL) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if q.deadline <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, q.deadline)
}

// hit counts one event in bucket key: one upsert that returns the row, or
// on MySQL the upsert and a read of the row in one transaction.
func (q rawSQL) hit(ctx context.Context, p countingPool, key string, window time.Duration, now time.Time) error {
	ms := now.UnixMilli()
	start := ms - window.Milliseconds()
	var ws, count, blocked int64
	if q.dialect != dialectMySQL {
		ctx, cancel := q.bound(ctx)
		defer cancel()
		return p.QueryRowContext(ctx, q.throttle, key, ms, start, ms, start, ms, ms).Scan(&ws, &count, &blocked)
	}
	return q.inTx(ctx, p, func(ctx context.Context, tx *countingTx) error {
		if _, err := tx.ExecContext(ctx, q.throttle, key, ms, start, start); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q.throttleRow, key).Scan(&ws, &count, &blocked)
	})
}

// runner is a countingPool or a *countingTx.
type runner interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// insertID runs an insert into a table with an integer id and returns the
// new id: through RETURNING id on PostgreSQL, else LastInsertId.
func (q rawSQL) insertID(ctx context.Context, r runner, query string, args ...any) (int64, error) {
	var id int64
	if q.dialect == dialectPostgres {
		err := r.QueryRowContext(ctx, query, args...).Scan(&id)
		return id, err
	}
	res, err := r.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// refresh rotates token: look up token, session, user and blackout in one
// query, count the refresh, then touch the session, consume the token and store its
// successor in one transaction, and sign an access token.
func (q rawSQL) refresh(ctx context.Context, p countingPool, token string, cl authgin.Client) (string, error) {
	hash := hashHex(token)
	var rt struct {
		hash, sid string
		uid       int64
		created   time.Time
		consumed  sql.NullTime
	}
	var s struct {
		id, ip, ua                 string
		uid                        int64
		created, lastUsed, expires time.Time
		revoked                    sql.NullTime
	}
	var u rawUser
	var cutoff sql.NullInt64
	qctx, cancel := q.bound(ctx)
	defer cancel()
	err := p.QueryRowContext(qctx, q.refreshState, 1, hash).Scan(&rt.hash, &rt.sid, &rt.uid, &rt.created, &rt.consumed,
		&s.id, &s.uid, &s.created, &s.lastUsed, &s.expires, &s.ip, &s.ua, &s.revoked,
		&u.id, &u.email, &u.emailKey, &u.username, &u.usernameKey, &u.passwordHash, &u.permissions,
		&u.confirmed, &u.banned, &u.created, &u.updated, &u.lastLogin, &cutoff)
	if err != nil {
		return "", fmt.Errorf("refresh state: %w", err)
	}
	now := time.Now().UTC()
	if rt.consumed.Valid || s.revoked.Valid || !now.Before(s.expires) || u.banned {
		return "", errors.New("raw refresh: token not live")
	}
	if err := q.hit(ctx, p, "refresh:session:"+s.id, time.Minute, now); err != nil {
		return "", fmt.Errorf("throttle: %w", err)
	}
	successor, successorHash := opaqueToken()
	err = q.inTx(ctx, p, func(ctx context.Context, tx *countingTx) error {
		if err := execOne(ctx, tx, q.touchSession, now, s.id); err != nil {
			return err
		}
		if err := execOne(ctx, tx, q.consumeToken, now, hash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, q.insertToken, successorHash, s.id, s.uid, now)
		return err
	})
	if err != nil {
		return "", err
	}
	signAccess(u.id, u.username, s.id, now)
	return successor, nil
}

type rawUser struct {
	id                                     int64
	email, emailKey, username, usernameKey string
	passwordHash, permissions              string
	confirmed, banned                      bool
	created, updated                       time.Time
	lastLogin                              sql.NullTime
}

// register counts the attempt, checks that the names are free, hashes the
// password, creates the user, its session, refresh token and confirmation
// in one transaction (a new account has no confirmation to retire),
// records the event and signs an access token. It hashes with hash, the
// service's own Service.HashPassword, so that both sides pay for the same
// argon2id kernel and the ratio is the database and service work around it.
func (q rawSQL) register(ctx context.Context, p countingPool, name, password string, cl authgin.Client,
	hash func(context.Context, string, authgin.PasswordInfo) (string, error)) error {
	now := time.Now().UTC()
	if err := q.hit(ctx, p, "register:ip:"+cl.IP, time.Minute, now); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	email := strings.ToLower(name + "@example.com")
	key := strings.ToLower(name)
	qctx, cancel := q.bound(ctx)
	rows, err := p.QueryContext(qctx, q.usersTaken, email, key)
	if err != nil {
		cancel()
		return err
	}
	taken := rows.Next()
	rows.Close()
	cancel()
	if taken {
		return errors.New("raw register: name taken")
	}
	phc, err := hash(ctx, password, authgin.PasswordInfo{})
	if err != nil {
		return err
	}
	sid, _ := opaqueToken()
	_, refreshHash := opaqueToken()
	_, confirmHash := opaqueToken()
	var uid int64
	err = q.inTx(ctx, p, func(ctx context.Context, tx *countingTx) error {
		id, err := q.insertID(ctx, tx, q.insertUser, email, email, name, key, phc, "[]", false, false, now, now, nil)
		if err != nil {
			return err
		}
		uid = id
		if _, err := tx.ExecContext(ctx, q.insertSession, sid, uid, now, now, now.Add(30*24*time.Hour), cl.IP, cl.UserAgent); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q.insertToken, refreshHash, sid, uid, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, q.insertConfirmation, uid, email, confirmHash, now, now.Add(48*time.Hour))
		return err
	})
	if err != nil {
		return err
	}
	ectx, cancel := q.bound(ctx)
	defer cancel()
	if _, err := q.insertID(ectx, p, q.insertEvent, uid, "register", 0, sid, cl.IP, cl.UserAgent, "", now); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	signAccess(uid, name, sid, now)
	return nil
}

// inTx runs fn in a transaction under one deadline (bound).
func (q rawSQL) inTx(ctx context.Context, p countingPool, fn func(ctx context.Context, tx *countingTx) error) error {
	ctx, cancel := q.bound(ctx)
	defer cancel()
	tx, err := p.beginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// execOne runs a statement that must change exactly one row.
func execOne(ctx context.Context, tx *countingTx, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("raw: %d rows changed, want 1 (%v)", n, err)
	}
	return nil
}

// opaqueToken is authgin's refresh/confirmation token: 256 random bits,
// stored as hex SHA-256.
func opaqueToken() (token, hash string) {
	token = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, hashHex(token)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signAccess signs an access token as authgin does.
func signAccess(id int64, username, sid string, now time.Time) string {
	return signClaims(authgin.AccessClaims{
		ID: id, Username: username, Permissions: []string{}, Type: "access", Subject: strconv.FormatInt(id, 10),
		SessionID: sid, Issuer: "authgin", Audience: "authgin",
		IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(15 * time.Minute).Unix(),
	})
}
