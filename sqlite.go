package authgin

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqliteJournalSizeLimit caps the -wal file that SQLite leaves behind after
// a checkpoint; a burst may grow it past the 1000-page auto-checkpoint.
const sqliteJournalSizeLimit = 8 << 20

// sqliteMaxConns bounds OpenSQLite's pool (see OpenSQLite).
const sqliteMaxConns = 4

// OpenSQLite opens (creating if needed) the SQLite database at path (a file
// path, or a "file:" URI), configured for a web server: WAL journal, a
// 10 s busy timeout so that concurrent writers wait instead of failing
// with "database is locked", write transactions that take the write lock
// at BEGIN (BEGIN IMMEDIATE, so two transactions never deadlock upgrading
// a read lock), synchronous=NORMAL (durable across application crashes,
// the usual WAL choice), foreign keys on, no implicit transaction around
// single statements, and no SQL logging.
//
// The pool keeps at most 4 connections, all of them idle between bursts:
// SQLite runs one writer at a time, and writers beyond it wait in SQLite's
// busy handler, which sleeps in steps of milliseconds, while database/sql
// hands a freed connection over at once. Under 200 concurrent logins this
// took throughput from 53 to 73 a second and ended the 503s from waits past
// DBTimeout (bench: TestLoginLoad). Change it through db.DB() if needed.
//
// Statements that write and return rows (INSERT ... RETURNING, which GORM
// uses for Create, and the throttle's upsert) always run to completion,
// which keeps the WAL bounded: see sqliteConn.
func OpenSQLite(path string) (*gorm.DB, error) {
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
	// mattn/go-sqlite3 applies these to every new connection.
	dsn += sep + "_journal_mode=WAL&_busy_timeout=10000&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate"

	sqlDB := sql.OpenDB(&sqliteConnector{dsn: dsn, driver: &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(fmt.Sprintf("PRAGMA journal_size_limit = %d", sqliteJournalSizeLimit), nil)
			return err
		},
	}})
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

// sqliteConnector opens mattn/go-sqlite3 connections wrapped in sqliteConn.
type sqliteConnector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &sqliteConn{conn.(*sqlite3.SQLiteConn)}, nil
}

func (c *sqliteConnector) Driver() driver.Driver { return c.driver }

// sqliteConn makes every statement that writes and returns rows (one with
// a RETURNING clause) step to SQLITE_DONE before it is reset.
//
// Why: SQLite runs its WAL auto-checkpoint from the WAL hook, and calls the
// hook only when sqlite3_step returns SQLITE_DONE on an autocommit
// statement. A caller that reads the single row of INSERT ... RETURNING
// and closes the rows (GORM's Create, Raw(...).Scan into a struct,
// QueryRow) resets the statement before SQLITE_DONE: the implicit
// transaction commits inside sqlite3_reset, and no checkpoint ever runs.
// With SkipDefaultTransaction there is no COMMIT statement to do it
// either, so the WAL grew by about 13 KiB per insert without bound (and
// inserts slowed threefold as readers searched an ever larger WAL index).
// Draining the remaining rows on Close costs nothing (they are already
// computed) and lets the checkpoint run as designed.
type sqliteConn struct{ *sqlite3.SQLiteConn }

// hasReturning reports whether a statement may write and return rows.
// A false positive (the word in a string or a name) only drains rows.
func hasReturning(query string) bool {
	const word = "returning"
	for i := 0; i+len(word) <= len(query); i++ {
		if c := query[i]; c != 'r' && c != 'R' {
			continue
		}
		if strings.EqualFold(query[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.SQLiteConn.QueryContext(ctx, query, args)
	if err != nil || !hasReturning(query) {
		return rows, err
	}
	return completeRows(rows), nil
}

func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !hasReturning(query) {
		return c.SQLiteConn.ExecContext(ctx, query, args)
	}
	// mattn's Exec steps once only: read the rows to the end instead.
	rows, err := c.QueryContext(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return c.resultOf(ctx, rows)
}

func (c *sqliteConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.SQLiteConn.PrepareContext(ctx, query)
	if err != nil || !hasReturning(query) {
		return s, err
	}
	return &sqliteStmt{SQLiteStmt: s.(*sqlite3.SQLiteStmt), conn: c}, nil
}

// resultOf closes (and so completes) rows and reports what the statement
// changed.
func (c *sqliteConn) resultOf(ctx context.Context, rows driver.Rows) (driver.Result, error) {
	if err := rows.Close(); err != nil {
		return nil, err
	}
	r, err := c.SQLiteConn.QueryContext(ctx, "SELECT changes(), last_insert_rowid()", nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	v := make([]driver.Value, 2)
	if err := r.Next(v); err != nil {
		return nil, err
	}
	changes, _ := v[0].(int64)
	id, _ := v[1].(int64)
	return sqliteResult{id: id, changes: changes}, nil
}

// sqliteStmt is a prepared statement with a RETURNING clause.
type sqliteStmt struct {
	*sqlite3.SQLiteStmt
	conn *sqliteConn
}

func (s *sqliteStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.SQLiteStmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return completeRows(rows), nil
}

func (s *sqliteStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return s.conn.resultOf(ctx, rows)
}

type sqliteResult struct{ id, changes int64 }

func (r sqliteResult) LastInsertId() (int64, error) { return r.id, nil }
func (r sqliteResult) RowsAffected() (int64, error) { return r.changes, nil }

// completingRows reads the rows that its reader left before closing them.
type completingRows struct{ *sqlite3.SQLiteRows }

func completeRows(rows driver.Rows) driver.Rows {
	if r, ok := rows.(*sqlite3.SQLiteRows); ok {
		return &completingRows{r}
	}
	return rows
}

func (r *completingRows) Close() error {
	dest := make([]driver.Value, len(r.Columns()))
	for r.Next(dest) == nil {
	}
	return r.SQLiteRows.Close()
}
