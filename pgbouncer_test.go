package authgin

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// pgbouncerDSNEnv names the variable that points the `pgbouncer` test
// backend at a PgBouncer in transaction pooling mode in front of a
// PostgreSQL server, such as the one scripts/pgbouncer/start.sh starts
// (it prints the DSN). A DSN without default_query_exec_mode gets
// cache_describe, the setting docs/scaling.md prescribes.
const pgbouncerDSNEnv = "AUTHGIN_TEST_PGBOUNCER_DSN"

// pgbouncerTestRole isolates a test behind the pooler: a role of its own
// that owns a schema of the same name and has it as its search_path, and a
// DSN that logs in as that role through the pooler. A per-session
// search_path (as postgresTestSchema sets) would not survive transaction
// pooling; a role's default applies to every server connection the pooler
// opens for it, since PgBouncer pools per database and user. The pooler
// must know roles it has not been told of (scripts/pgbouncer/start.sh sets
// auth_user). Role and schema are dropped when the test ends.
func pgbouncerTestRole(t *testing.T) string {
	t.Helper()
	d := newServerTestDB(t, pgbouncerDSNEnv, "PgBouncer", "the DSN scripts/pgbouncer/start.sh prints", OpenPostgres, func(u *url.URL) {
		q := u.Query()
		if q.Get("default_query_exec_mode") == "" {
			q.Set("default_query_exec_mode", "cache_describe")
			u.RawQuery = q.Encode()
		}
	})
	role := d.name
	d.create(t, "PgBouncer", pgbouncerDSNEnv,
		[]string{"CREATE ROLE " + role + " LOGIN", "CREATE SCHEMA " + role + " AUTHORIZATION " + role,
			"ALTER ROLE " + role + " SET search_path = " + role},
		// The pooler keeps idle server connections of the role: end them.
		[]string{"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'",
			"DROP SCHEMA " + role + " CASCADE", "DROP ROLE " + role})
	d.u.User = url.User(role)
	return d.u.String()
}

// TestNoSessionState: the store leaves nothing on a server connection that
// would outlive its transaction, so a pooler in transaction mode may hand
// the connection to another client at every transaction's end. No
// session-level advisory lock (the migration's is transaction-scoped), no
// SET without LOCAL, no temporary table, no LISTEN, no named PREPARE, no
// cursor WITH HOLD: checked in the source of every non-test file, and on
// the server after the flows of TestMultiInstance's kind through the
// pooler (no advisory lock held, no temporary table).
func TestNoSessionState(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	q := "[\"`]\\s*" // a string literal's start, as a call's argument
	forbidden := regexp.MustCompile(`(?i)pg_advisory_lock|pg_try_advisory_lock\(|set_config\([^)]*false\)|WITH\s+HOLD|` +
		`CREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s|(^|[(,]\s*)` + q + `(SET\s+(SESSION\s+)?[a-z_.]+\s*(=|TO\s)|LISTEN\s|PREPARE\s)`)
	for _, bad := range []string{`db.Exec("SET search_path = x")`, `c.Exec("SET statement_timeout TO 5")`, "x(`SELECT pg_advisory_lock(1)`)",
		`tx.Exec("CREATE TEMP TABLE t (x int)")`, `Exec(ctx, "LISTEN ch")`, `exec(ctx, "PREPARE p AS SELECT 1")`} {
		if !forbidden.MatchString(bad) {
			t.Fatalf("the check misses %s", bad)
		}
	}
	for _, ok := range []string{`tx.exec(ctx, "UPDATE "+probeTable+" SET count = 0 WHERE bucket = ?")`, `exec(ctx, "SET LOCAL lock_timeout = 5")`,
		"`SELECT pg_advisory_xact_lock(1)`"} {
		if forbidden.MatchString(ok) {
			t.Fatalf("the check refuses %s", ok)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if forbidden.MatchString(line) {
				t.Errorf("%s:%d sets session state: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}

	dsn := pgbouncerTestRole(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := u.User.Username()
	open := func() *gorm.DB {
		db, err := OpenPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, db)
		return db
	}
	a, b := newEnv(t, open()), newEnv(t, open())
	ca := a.client()
	ca.register("lee@example.com", "lee", "correct horse battery")
	cb := b.client()
	cb.jar, cb.hc.Jar = ca.jar, ca.jar
	wantStatus(t, cb.post("/login", map[string]string{"login": "lee", "password": "correct horse battery"}), 200)
	wantStatus(t, ca.post("/token/refresh", nil), 200)
	wantStatus(t, cb.post("/logout", nil), 200)

	var locks, temps int64
	check := open()
	if err := check.Raw(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND a.usename = ?`, role).Scan(&locks).Error; err != nil {
		t.Fatal(err)
	}
	if err := check.Raw(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_roles r ON r.oid = c.relowner WHERE n.nspname LIKE 'pg_temp%' AND r.rolname = ?`, role).Scan(&temps).Error; err != nil {
		t.Fatal(err)
	}
	if locks != 0 || temps != 0 {
		t.Fatalf("server connections of the test role hold %d advisory locks and %d temporary tables", locks, temps)
	}
}

// OpenPostgres keeps the query execution mode a DSN asks for, which is how
// an app behind PgBouncer turns off pgx's prepared statement cache.
func TestOpenPostgresQueryExecMode(t *testing.T) {
	base := os.Getenv(postgresDSNEnv)
	if base == "" {
		t.Skipf("set %s to run this test", postgresDSNEnv)
	}
	for param, want := range map[string]pgx.QueryExecMode{
		"":                                       pgx.QueryExecModeCacheStatement,
		"default_query_exec_mode=cache_describe": pgx.QueryExecModeCacheDescribe,
		"default_query_exec_mode=exec":           pgx.QueryExecModeExec,
	} {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		if param != "" {
			k, v, _ := strings.Cut(param, "=")
			q := u.Query()
			q.Set(k, v)
			u.RawQuery = q.Encode()
		}
		db, err := OpenPostgres(u.String())
		if err != nil {
			t.Fatal(err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := sqlDB.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got pgx.QueryExecMode
		err = conn.Raw(func(c any) error {
			got = c.(*stdlib.Conn).Conn().Config().DefaultQueryExecMode
			return nil
		})
		conn.Close()
		closeDB(db)
		if err != nil || got != want {
			t.Errorf("%q: mode %v (%v), want %v", param, got, err, want)
		}
	}
}
