package authgin

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/authgin/authgin/internal/sqlitedrv"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqliteJournalSizeLimit caps the -wal file that SQLite leaves behind after
// a checkpoint; a burst may grow it past the 1000-page auto-checkpoint.
const sqliteJournalSizeLimit = 8 << 20

// sqliteCacheKiB is the page cache of each of OpenSQLite's connections.
// SQLite's default (2 MiB) holds little more than the top levels of a
// large database's indexes, so each lookup of a random key (session ids,
// token hashes) would read its leaf from the operating system. Pages are
// cached as they are read: a small database uses no more than its size.
const sqliteCacheKiB = 64 << 10

// sqliteMaxConns bounds OpenSQLite's pool (see OpenSQLite).
const sqliteMaxConns = 2

// OpenSQLite opens (creating if needed) the SQLite database at path (a file
// path, or a "file:" URI), configured for a web server: WAL journal, a
// 10 s busy timeout so that concurrent writers wait instead of failing
// with "database is locked", write transactions that take the write lock
// at BEGIN (BEGIN IMMEDIATE, so two transactions never deadlock upgrading
// a read lock), synchronous=NORMAL (durable across application crashes,
// the usual WAL choice), foreign keys on, a page cache of up to 64 MiB per
// connection, no implicit transaction around single statements, and no
// SQL logging.
//
// With cgo it uses mattn/go-sqlite3 (SQLite's C code); built with
// CGO_ENABLED=0 it uses modernc.org/sqlite (the same C code translated to
// Go), so the package cross-compiles and runs in scratch images. Both
// behave the same.
//
// The pool keeps at most 2 connections: SQLite runs one writer at a time,
// and writers beyond it would wait in SQLite's busy handler, which sleeps
// between tries, while database/sql hands a freed connection over at once;
// the second connection lets a read run beside the writer. Change it
// through db.DB() if needed.
//
// Each connection keeps the statements it prepared, and statements that
// write and return rows always run to completion, which keeps the WAL
// bounded (internal/sqlitedrv).
func OpenSQLite(path string) (*gorm.DB, error) {
	return openSQLite(path, defaultSQLiteDriver())
}

// sqliteDriver is a SQLite database/sql driver and the DSN parameters that
// configure its connections as OpenSQLite promises.
type sqliteDriver struct {
	drv    driver.Driver
	params string
}

// The DSN parameters of each driver for OpenSQLite's settings.
const (
	mattnParams   = "_journal_mode=WAL&_busy_timeout=10000&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate"
	moderncParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate&_time_format=sqlite"
)

func openSQLite(path string, d sqliteDriver) (*gorm.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("authgin: OpenSQLite: empty path")
	}
	dsn := path
	if !strings.HasPrefix(dsn, "file:") {
		// SQLite opens the DSN as a URI: escape what a URI would read.
		dsn = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	sqlDB := sql.OpenDB(&sqlitedrv.Connector{
		Drv: d.drv, DSN: dsn + sep + d.params,
		Init: []string{fmt.Sprintf("PRAGMA journal_size_limit = %d", sqliteJournalSizeLimit),
			fmt.Sprintf("PRAGMA cache_size = -%d", sqliteCacheKiB)},
	})
	sqlDB.SetMaxOpenConns(sqliteMaxConns)
	sqlDB.SetMaxIdleConns(sqliteMaxConns)
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		_ = sqlDB.Close() // the open error is the one to report
		return nil, fmt.Errorf("authgin: OpenSQLite: %w", err)
	}
	return db, nil
}
