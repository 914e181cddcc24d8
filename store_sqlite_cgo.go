//go:build cgo

package authgin

import "github.com/mattn/go-sqlite3"

// defaultSQLiteDriver is mattn/go-sqlite3 when cgo is available.
func defaultSQLiteDriver() sqliteDriver {
	return sqliteDriver{drv: &sqlite3.SQLiteDriver{}, params: mattnParams}
}
