//go:build !cgo

package authgin

import "modernc.org/sqlite"

// defaultSQLiteDriver is the pure-Go modernc.org/sqlite without cgo.
func defaultSQLiteDriver() sqliteDriver {
	return sqliteDriver{drv: &sqlite.Driver{}, params: moderncParams}
}
