package authgin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"
	moderncsqlite "modernc.org/sqlite"
)

// postgresDSNEnv and mysqlDSNEnv name the variables that point the tests
// at a PostgreSQL and a MySQL/MariaDB server, e.g.
// postgres://postgres@127.0.0.1:5432/authgin_test?sslmode=disable and
// mysql://user:password@127.0.0.1:3306/authgin_test. .ci/run starts
// throwaway servers and sets them.
const (
	postgresDSNEnv = "AUTHGIN_TEST_POSTGRES_DSN"
	mysqlDSNEnv    = "AUTHGIN_TEST_MYSQL_DSN"
)

// testBackends are the databases every backend test runs on: SQLite through
// OpenSQLite's driver (mattn/go-sqlite3 with cgo, modernc.org/sqlite
// without), SQLite through the pure-Go driver (in cgo builds, where it is
// not the default), PostgreSQL, MariaDB/MySQL, and PostgreSQL through
// PgBouncer in transaction pooling mode (pgbouncer_test.go).
func testBackends() []string {
	if defaultSQLiteDriver().params == moderncParams {
		return []string{"sqlite", "postgres", "mysql", "pgbouncer"}
	}
	return []string{"sqlite", "sqlite-purego", "postgres", "mysql", "pgbouncer"}
}

// forEachBackend runs fn as one subtest per database backend
// (testBackends), each with its own isolated database. Server subtests
// skip when their DSN variable is unset.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, backend := range testBackends() {
		t.Run(backend, func(t *testing.T) { fn(t, openTestDB(t, backend)) })
	}
}

// forEachBackendDatabase is forEachBackend for tests that need several
// independent connection pools (app instances) on one isolated database:
// open returns a new pool each time it is called.
func forEachBackendDatabase(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *gorm.DB)) {
	t.Helper()
	for _, backend := range testBackends() {
		t.Run(backend, func(t *testing.T) { fn(t, newTestDatabase(t, backend)) })
	}
}

// openTestDB opens a fresh, isolated database of the given backend
// (one of testBackends), closed and dropped when the test ends.
func openTestDB(t *testing.T, backend string) *gorm.DB {
	t.Helper()
	return newTestDatabase(t, backend)(t)
}

// newTestDatabase creates a fresh, isolated database of the given backend
// and returns a function that opens a new, independent connection pool onto
// it, as a second app instance would. Pools are closed, and the database is
// dropped, when the test ends.
func newTestDatabase(t *testing.T, backend string) func(t *testing.T) *gorm.DB {
	t.Helper()
	switch backend {
	case "sqlite", "sqlite-purego":
		path := filepath.Join(t.TempDir(), "test.db")
		drv := defaultSQLiteDriver()
		if backend == "sqlite-purego" {
			drv = sqliteDriver{drv: &moderncsqlite.Driver{}, params: moderncParams}
		}
		return func(t *testing.T) *gorm.DB {
			t.Helper()
			db, err := openSQLite(path, drv)
			if err != nil {
				t.Fatalf("OpenSQLite: %v", err)
			}
			closeOnCleanup(t, db)
			return db
		}
	case "mysql":
		dsn := mysqlTestDatabase(t)
		return func(t *testing.T) *gorm.DB {
			t.Helper()
			db, err := OpenMySQL(dsn)
			if err != nil {
				t.Fatalf("OpenMySQL: %v", err)
			}
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			sqlDB.SetMaxOpenConns(10)
			sqlDB.SetMaxIdleConns(10)
			closeOnCleanup(t, db)
			return db
		}
	case "postgres", "pgbouncer":
		var dsn string
		if backend == "pgbouncer" {
			dsn = pgbouncerTestRole(t)
		} else {
			dsn = postgresTestSchema(t)
		}
		return func(t *testing.T) *gorm.DB {
			t.Helper()
			db, err := OpenPostgres(dsn)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			// Small pools, so that many parallel tests stay far below
			// the server's max_connections.
			sqlDB.SetMaxOpenConns(10)
			sqlDB.SetMaxIdleConns(10)
			closeOnCleanup(t, db)
			return db
		}
	default:
		t.Fatalf("unknown backend %q", backend)
		return nil
	}
}

// serverTestDB is what the helpers of the server backends share: the
// base DSN of env (the test skips without it), a fresh random name for
// the test's schema, database or role, and admin, which runs statements
// on the base DSN's database.
type serverTestDB struct {
	u     *url.URL
	name  string
	admin func(sqls ...string) error
}

// newServerTestDB reads env (what names the server, example shows a DSN),
// lets adjust change the URL, and opens admin's connections with open.
func newServerTestDB(t *testing.T, env, what, example string, open func(string) (*gorm.DB, error), adjust func(*url.URL)) serverTestDB {
	t.Helper()
	base := os.Getenv(env)
	if base == "" {
		t.Skipf("%s tests skipped: set %s (e.g. %s) to run them", what, env, example)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	if adjust != nil {
		adjust(u)
	}
	b := make([]byte, 8)
	rand.Read(b)
	dsn := u.String()
	return serverTestDB{u: u, name: "authgin_t_" + hex.EncodeToString(b), admin: func(sqls ...string) error {
		db, err := open(dsn)
		if err != nil {
			return err
		}
		defer closeDB(db)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, sql := range sqls {
			if err := db.WithContext(ctx).Exec(sql).Error; err != nil {
				return err
			}
		}
		return nil
	}}
}

// create runs the statements that make the test's schema, database or
// role, failing the test with what and env when the server refuses, and
// drops it with drop when the test ends.
func (d serverTestDB) create(t *testing.T, what, env string, create, drop []string) {
	t.Helper()
	if err := d.admin(create...); err != nil {
		t.Fatalf("%s at %s=%s is unreachable or unusable: %v", what, env, d.u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := d.admin(drop...); err != nil {
			t.Errorf("drop test %s %s: %v", what, d.name, err)
		}
	})
}

// postgresTestSchema creates a schema of its own for the test and returns
// a DSN whose connections use it (search_path as a startup parameter), so
// that tests run in parallel against one database without seeing each
// other's tables. The schema is dropped when the test ends.
func postgresTestSchema(t *testing.T) string {
	t.Helper()
	d := newServerTestDB(t, postgresDSNEnv, "PostgreSQL", "postgres://postgres@127.0.0.1:5432/authgin_test?sslmode=disable", OpenPostgres, nil)
	d.create(t, "PostgreSQL", postgresDSNEnv, []string{"CREATE SCHEMA " + d.name}, []string{"DROP SCHEMA " + d.name + " CASCADE"})
	q := d.u.Query()
	q.Set("search_path", d.name)
	d.u.RawQuery = q.Encode()
	return d.u.String()
}

// mysqlTestDatabase creates a database of its own for the test and returns
// its DSN; the database is dropped when the test ends.
func mysqlTestDatabase(t *testing.T) string {
	t.Helper()
	d := newServerTestDB(t, mysqlDSNEnv, "MySQL/MariaDB", "mysql://user:password@127.0.0.1:3306/authgin_test", OpenMySQL, nil)
	d.create(t, "MySQL", mysqlDSNEnv, []string{"CREATE DATABASE " + d.name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"},
		[]string{"DROP DATABASE " + d.name})
	d.u.Path = "/" + d.name
	return d.u.String()
}

func closeOnCleanup(t *testing.T, db *gorm.DB) {
	t.Cleanup(func() { closeDB(db) })
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// migratedStore returns the store over db with the schema migrated.
func migratedStore(t testing.TB, db *gorm.DB) *store {
	t.Helper()
	st, err := openStore(db, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// refuseInserts installs a trigger that makes every insert into table for
// which cond (SQL over NEW) holds fail, to stage a failing statement.
func refuseInserts(t *testing.T, db *gorm.DB, table, cond string) {
	t.Helper()
	name := "refuse_" + table
	var ddl []string
	switch db.Dialector.Name() {
	case dialectPostgres:
		ddl = []string{
			`CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF ` + cond + ` THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER ` + name + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION ` + name + `()`}
	case dialectMySQL:
		ddl = []string{`CREATE TRIGGER ` + name + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW
BEGIN IF ` + cond + ` THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END`}
	default:
		ddl = []string{`CREATE TRIGGER ` + name + ` BEFORE INSERT ON ` + table + `
WHEN ` + cond + ` BEGIN SELECT RAISE(ABORT, 'refused'); END`}
	}
	for _, q := range ddl {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
}
