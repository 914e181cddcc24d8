// Package sqlitedrv wraps a database/sql SQLite driver (mattn/go-sqlite3
// with cgo, modernc.org/sqlite without) with the two things a busy web
// server needs from it and neither driver does by itself:
//
//   - Each connection keeps the statements it prepared, by their SQL, and
//     resets and rebinds them for the next use. Both drivers prepare and
//     finalize a statement for every Exec and Query, and under load
//     sqlite3_prepare costs about as much as the statement itself.
//   - Statements that write and return rows (INSERT ... RETURNING, which
//     GORM's Create uses) always run to SQLITE_DONE before they are reset.
//     SQLite runs its WAL auto-checkpoint from the WAL hook, which it calls
//     only when an autocommit statement steps to SQLITE_DONE; a caller that
//     reads the single returned row and closes (QueryRow, GORM's Create)
//     resets it earlier, the implicit transaction commits inside
//     sqlite3_reset, no checkpoint ever runs, and the -wal file grows
//     without bound. Draining the remaining rows on Close costs nothing.
//
// The wrapper knows no driver's types: it works through database/sql/driver
// interfaces only, so it behaves the same on every SQLite driver.
package sqlitedrv

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"strings"
)

// StmtCacheSize bounds the statements one connection keeps; authgin runs a
// few dozen distinct ones.
const StmtCacheSize = 64

// Connector opens connections of Drv to DSN, runs Init on each new one,
// and wraps them. Use it with sql.OpenDB.
type Connector struct {
	Drv driver.Driver
	DSN string
	// Init are statements (PRAGMAs) run on every new connection.
	Init []string
}

// Connect implements driver.Connector.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	var raw driver.Conn
	var err error
	if dc, ok := c.Drv.(driver.DriverContext); ok {
		var conn driver.Connector
		if conn, err = dc.OpenConnector(c.DSN); err == nil {
			raw, err = conn.Connect(ctx)
		}
	} else {
		raw, err = c.Drv.Open(c.DSN)
	}
	if err != nil {
		return nil, err
	}
	cn, err := wrap(raw)
	if err != nil {
		_ = raw.Close() // the wrap error is the one to report
		return nil, err
	}
	for _, q := range c.Init {
		if _, err := cn.ExecContext(ctx, q, nil); err != nil {
			_ = cn.Close() // the init error is the one to report
			return nil, err
		}
	}
	return cn, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return c.Drv }

// rawConn is what the wrapper needs of a driver's connection; both SQLite
// drivers implement it.
type rawConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
}

var errUnsupported = errors.New("sqlitedrv: the driver's connections lack context-aware Prepare, Begin, Exec or Query")

func wrap(c driver.Conn) (*conn, error) {
	rc, ok := c.(rawConn)
	if !ok {
		return nil, errUnsupported
	}
	return &conn{raw: rc, stmts: map[string]*cachedStmt{}}, nil
}

// conn is a driver connection with kept statements. database/sql never
// uses one connection from two goroutines at once.
type conn struct {
	raw   rawConn
	stmts map[string]*cachedStmt
}

// cachedStmt is a kept prepared statement; busy while rows of it are open
// (a query run again before its rows are closed gets a statement of its
// own).
type cachedStmt struct {
	driver.Stmt
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
// statement that reads or changes rows. For Exec, a SELECT is left out:
// Exec steps once and would leave its read transaction open until the
// statement's next use.
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
func (c *conn) stmt(ctx context.Context, query string, exec bool) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if !cacheable(query, exec) {
		return nil, nil
	}
	if len(c.stmts) >= StmtCacheSize {
		// Drop any idle one: the hot statements come back at once.
		for q, s := range c.stmts {
			if !s.busy {
				_ = s.Close() // finalize errors repeat the last step's, reported then
				delete(c.stmts, q)
				break
			}
		}
	}
	ps, err := c.raw.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{Stmt: ps}
	c.stmts[query] = s
	return s, nil
}

// QueryContext implements driver.QueryerContext.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.stmt(ctx, query, false)
	if err != nil {
		return nil, err
	}
	if s == nil {
		rows, err := c.raw.QueryContext(ctx, query, args)
		if err != nil || !hasReturning(query) {
			return rows, err
		}
		return &rowsWrap{Rows: rows, complete: true}, nil
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &rowsWrap{Rows: rows, stmt: s, complete: hasReturning(query)}, nil
}

// ExecContext implements driver.ExecerContext.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if hasReturning(query) {
		// An Exec may step once only: read the rows to the end instead.
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
		return c.raw.ExecContext(ctx, query, args)
	}
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

// resultOf closes (and so completes) rows and reports what the statement
// changed.
func (c *conn) resultOf(ctx context.Context, rows driver.Rows) (driver.Result, error) {
	if err := rows.Close(); err != nil {
		return nil, err
	}
	r, err := c.raw.QueryContext(ctx, "SELECT changes(), last_insert_rowid()", nil)
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
	return result{id: id, changes: changes}, nil
}

// PrepareContext implements driver.ConnPrepareContext. Statements prepared
// by callers are theirs to close and are not kept.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.raw.PrepareContext(ctx, query)
	if err != nil || !hasReturning(query) {
		return s, err
	}
	return &returningStmt{Stmt: s, conn: c}, nil
}

// Prepare implements driver.Conn.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// Begin implements driver.Conn.
func (c *conn) Begin() (driver.Tx, error) {
	return c.raw.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.raw.BeginTx(ctx, opts)
}

// Close finalizes the kept statements: a connection closes only once all
// of its statements are gone.
func (c *conn) Close() error {
	for q, s := range c.stmts {
		_ = s.Close() // finalize errors repeat the last step's, reported then
		delete(c.stmts, q)
	}
	return c.raw.Close()
}

// Ping implements driver.Pinger.
func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.raw.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession implements driver.SessionResetter.
func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.raw.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *conn) IsValid() bool {
	if v, ok := c.raw.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue implements driver.NamedValueChecker.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.raw.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// returningStmt is a caller's prepared statement with a RETURNING clause.
type returningStmt struct {
	driver.Stmt
	conn *conn
}

func (s *returningStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return &rowsWrap{Rows: rows, complete: true}, nil
}

func (s *returningStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return s.conn.resultOf(ctx, rows)
}

type result struct{ id, changes int64 }

func (r result) LastInsertId() (int64, error) { return r.id, nil }
func (r result) RowsAffected() (int64, error) { return r.changes, nil }

// rowsWrap are rows of a kept statement (stmt, freed on Close), or of a
// statement that writes and returns rows (complete: read to the end before
// closing).
type rowsWrap struct {
	driver.Rows
	stmt     *cachedStmt
	complete bool
}

func (r *rowsWrap) Close() error {
	if r.complete {
		dest := make([]driver.Value, len(r.Columns()))
		for {
			if err := r.Next(dest); err != nil {
				if !errors.Is(err, io.EOF) {
					_ = r.Rows.Close() // the step error is the one to report
					r.release()
					return err
				}
				break
			}
		}
		r.complete = false
	}
	err := r.Rows.Close() // resets a kept statement
	r.release()
	return err
}

func (r *rowsWrap) release() {
	if r.stmt != nil {
		r.stmt.busy = false
		r.stmt = nil
	}
}

// The column type methods forward to the driver's rows (GORM's migrator
// reads them), with database/sql's answers for a driver that lacks them.

func (r *rowsWrap) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rowsWrap) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rowsWrap) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, is := r.Rows.(driver.RowsColumnTypeNullable); is {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rowsWrap) ColumnTypeLength(i int) (length int64, ok bool) {
	if t, is := r.Rows.(driver.RowsColumnTypeLength); is {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rowsWrap) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, is := r.Rows.(driver.RowsColumnTypePrecisionScale); is {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
