package authgin

import (
	"path/filepath"
	"testing"

	"gorm.io/gorm"
)

// forEachBackend runs fn once per database backend, each with its own
// isolated database. (SQLite only until the PostgreSQL harness lands.)
func forEachBackend(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openTestDB(t, "sqlite")) })
}

// openTestDB opens a fresh, isolated database of the given backend.
func openTestDB(t *testing.T, backend string) *gorm.DB {
	t.Helper()
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}
