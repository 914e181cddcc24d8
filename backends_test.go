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
)

// postgresDSNEnv names the variable that points the tests at a PostgreSQL
// server, e.g. postgres://postgres@127.0.0.1:5432/authgin_test?sslmode=disable.
// .ci/run starts a throwaway server and sets it.
const postgresDSNEnv = "AUTHGIN_TEST_POSTGRES_DSN"

// forEachBackend runs fn as one subtest per database backend ("sqlite",
// "postgres"), each with its own isolated database. PostgreSQL subtests
// skip when AUTHGIN_TEST_POSTGRES_DSN is unset.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { fn(t, openTestDB(t, backend)) })
	}
}

// forEachBackendDatabase is forEachBackend for tests that need several
// independent connection pools (app instances) on one isolated database:
// open returns a new pool each time it is called.
func forEachBackendDatabase(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *gorm.DB)) {
	t.Helper()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { fn(t, newTestDatabase(t, backend)) })
	}
}

// openTestDB opens a fresh, isolated database of the given backend
// ("sqlite" or "postgres"), closed and dropped when the test ends.
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
	case "sqlite":
		path := filepath.Join(t.TempDir(), "test.db")
		return func(t *testing.T) *gorm.DB {
			t.Helper()
			db, err := OpenSQLite(path)
			if err != nil {
				t.Fatalf("OpenSQLite: %v", err)
			}
			closeOnCleanup(t, db)
			return db
		}
	case "postgres":
		dsn := postgresTestSchema(t)
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

// postgresTestSchema creates a schema of its own for the test and returns
// a DSN whose connections use it (search_path as a startup parameter), so
// that tests run in parallel against one database without seeing each
// other's tables. The schema is dropped when the test ends.
func postgresTestSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresDSNEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/authgin_test?sslmode=disable) to run them", postgresDSNEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", postgresDSNEnv, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "authgin_t_" + hex.EncodeToString(b)

	admin := func(sql string) error {
		db, err := OpenPostgres(base)
		if err != nil {
			return err
		}
		defer closeDB(db)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return db.WithContext(ctx).Exec(sql).Error
	}
	if err := admin("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("PostgreSQL at %s=%s is unreachable or unusable: %v", postgresDSNEnv, u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := admin("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func closeOnCleanup(t *testing.T, db *gorm.DB) {
	t.Cleanup(func() { closeDB(db) })
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}
