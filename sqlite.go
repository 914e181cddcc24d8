package authgin

import (
	"fmt"
	"net/url"
	"strings"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// OpenSQLite opens (creating if needed) the SQLite database at path,
// configured for a web server: WAL journal, a busy timeout so concurrent
// writers wait instead of failing with "database is locked", immediate
// write transactions, synchronous=NORMAL and foreign keys.
func OpenSQLite(path string) (*gorm.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("authgin: OpenSQLite: empty path")
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	dsn := "file:" + strings.TrimPrefix(path, "file:") + "?" + q.Encode()
	return gorm.Open(sqlite.Open(dsn), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	})
}
