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
const sqliteMaxConns = 2

// OpenSQLite opens (creating if needed) the SQLite database at path (a file
// path, or a "file:" URI), configured for a web server: WAL journal, a
// 10 s busy timeout so that concurrent writers wait instead of failing
// with "database is locked", write transactions that take the write lock
// at BEGIN (BEGIN IMMEDIATE, so two transactions never deadlock upgrading
// a read lock), synchronous=NORMAL (durable across application crashes,
// the usual WAL choice), foreign keys on, no implicit transaction around
// single statements, and no SQL logging.
//
// The pool keeps at most 2 connections, both idle between bursts: SQLite
// runs one writer at a time, and writers beyond it wait in SQLite's busy
// handler, which sleeps 1, 2, 5, 10 ms and longer between tries, while
// database/sql hands a freed connection over at once; the second
// connection lets a read run beside the writer. Bounding the pool at 4
// took 200 concurrent logins from 53 to 73 a second and ended the 503s
// from waits past DBTimeout; 2 instead of 4 took refresh and register at
// 8 clients up about a fifth, left logins unchanged, and 1 measured below
// 2 in those flows, though 1-3 % above it in logins under hash overload
// (bench: TestLoginLoad, TestLoginLoadAB, BenchmarkFlows, on 2 cores).
// Change it through db.DB() if needed.
//
// Each connection keeps the statements it prepared, and statements that
// write and return rows (INSERT ... RETURNING, which GORM uses for Create,
// and the throttle's upsert) always run to completion, which keeps the WAL
// bounded: see sqliteConn.
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
	return &sqliteConn{SQLiteConn: conn.(*sqlite3.SQLiteConn), stmts: map[string]*cachedStmt{}}, nil
}

func (c *sqliteConnector) Driver() driver.Driver { return c.driver }

// sqliteConn keeps the prepared statements of the queries it runs, and
// makes every statement that writes and returns rows (one with a RETURNING
// clause) step to SQLITE_DONE before it is reset.
//
// Statements: mattn/go-sqlite3 prepares and finalizes a statement for
// every Exec and Query, and under load sqlite3_prepare took a quarter of
// SQLite's time in a login. The connection's statements are kept by their
// SQL (at most sqliteStmtCacheSize of them) and reset and rebound for the
// next use; database/sql never uses one connection from two goroutines at
// once.
//
// RETURNING: SQLite runs its WAL auto-checkpoint from the WAL hook, and
// calls the hook only when sqlite3_step returns SQLITE_DONE on an
// autocommit statement. A caller that reads the single row of INSERT ...
// RETURNING and closes the rows (GORM's Create, Raw(...).Scan into a
// struct, QueryRow) resets the statement before SQLITE_DONE: the implicit
// transaction commits inside sqlite3_reset, and no checkpoint ever runs.
// With SkipDefaultTransaction there is no COMMIT statement to do it
// either, so the WAL grew by about 13 KiB per insert without bound (and
// inserts slowed threefold as readers searched an ever larger WAL index).
// Draining the remaining rows on Close costs nothing (they are already
// computed) and lets the checkpoint run as designed.
type sqliteConn struct {
	*sqlite3.SQLiteConn
	stmts map[string]*cachedStmt
}

// sqliteStmtCacheSize bounds a connection's kept statements; authgin runs
// a few dozen distinct ones.
const sqliteStmtCacheSize = 64

// cachedStmt is a kept prepared statement; busy while rows of it are open
// (a query run again before its rows are closed gets a statement of its
// own).
type cachedStmt struct {
	*sqlite3.SQLiteStmt
	busy bool
}

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

// cacheable reports whether query's statement may be kept: a single
// statement (mattn runs several only when it prepares them itself) that
// reads or changes rows. For Exec, a SELECT is left out: Exec steps once
// and would leave its read transaction open until the next use.
func cacheable(query string, exec bool) bool {
	if strings.IndexByte(query, ';') >= 0 {
		return false
	}
	verb, _, _ := strings.Cut(strings.TrimLeft(query, " \t\r\n"), " ")
	switch strings.ToUpper(verb) {
	case "INSERT", "UPDATE", "DELETE":
		return true
	case "SELECT":
		return !exec
	}
	return false
}

// stmt returns the kept statement of query, preparing it on first use, or
// nil when query is not to be kept or its statement is busy.
func (c *sqliteConn) stmt(ctx context.Context, query string, exec bool) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if !cacheable(query, exec) {
		return nil, nil
	}
	if len(c.stmts) >= sqliteStmtCacheSize {
		// Drop any idle one: the hot statements come back at once.
		for q, s := range c.stmts {
			if !s.busy {
				_ = s.Close() // finalize errors repeat the last step's, reported then
				delete(c.stmts, q)
				break
			}
		}
	}
	ps, err := c.SQLiteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{SQLiteStmt: ps.(*sqlite3.SQLiteStmt)}
	c.stmts[query] = s
	return s, nil
}

func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.stmt(ctx, query, false)
	if err != nil {
		return nil, err
	}
	if s == nil {
		rows, err := c.SQLiteConn.QueryContext(ctx, query, args)
		if err != nil || !hasReturning(query) {
			return rows, err
		}
		return newSQLiteRows(rows, nil, true), nil
	}
	rows, err := s.SQLiteStmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return newSQLiteRows(rows, s, hasReturning(query)), nil
}

func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if hasReturning(query) {
		// mattn's Exec steps once only: read the rows to the end instead.
		rows, err := c.QueryContext(ctx, query, args)
		if err != nil {
			return nil, err
		}
		return c.resultOf(ctx, rows)
	}
	s, err := c.stmt(ctx, query, true)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.SQLiteConn.ExecContext(ctx, query, args)
	}
	return s.SQLiteStmt.ExecContext(ctx, args)
}

// Close finalizes the kept statements: a connection closes only once all
// of its statements are gone.
func (c *sqliteConn) Close() error {
	for q, s := range c.stmts {
		_ = s.Close() // finalize errors repeat the last step's, reported then
		delete(c.stmts, q)
	}
	return c.SQLiteConn.Close()
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
	r, err := c.QueryContext(ctx, "SELECT changes(), last_insert_rowid()", nil)
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
	return newSQLiteRows(rows, nil, true), nil
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

// sqliteRows are rows of a kept statement (stmt, freed on Close), or of a
// statement that writes and returns rows (complete: read to the end before
// closing).
type sqliteRows struct {
	*sqlite3.SQLiteRows
	stmt     *cachedStmt
	complete bool
}

func newSQLiteRows(rows driver.Rows, stmt *cachedStmt, complete bool) driver.Rows {
	r, ok := rows.(*sqlite3.SQLiteRows)
	if !ok {
		return rows
	}
	if stmt != nil {
		stmt.busy = true
	}
	return &sqliteRows{SQLiteRows: r, stmt: stmt, complete: complete}
}

func (r *sqliteRows) Close() error {
	if r.complete {
		dest := make([]driver.Value, len(r.Columns()))
		for r.Next(dest) == nil {
		}
		r.complete = false
	}
	err := r.SQLiteRows.Close() // resets a kept statement
	if r.stmt != nil {
		r.stmt.busy = false
		r.stmt = nil
	}
	return err
}
