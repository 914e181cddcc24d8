package authgin

// The one place that knows driver error types: SQLite (mattn/go-sqlite3)
// and PostgreSQL (pgx). The store maps these classes to *Error values.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// PostgreSQL SQLSTATE codes the store tells apart.
const (
	pgUniqueViolation          = "23505"
	pgCharacterNotInRepertoire = "22021" // e.g. a NUL byte or invalid UTF-8 in text
	pgUntranslatableCharacter  = "22P05"
	pgQueryCanceled            = "57014" // statement_timeout, cancel request
	pgDeadlockDetected         = "40P01"
	pgSerializationFailure     = "40001"
)

// isUniqueViolation reports whether err is a unique (or primary key)
// constraint violation: the loser of a race to insert the same key.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique ||
			se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgUniqueViolation
	}
	return false
}

// isInvalidText reports whether the database refused a text value, as
// PostgreSQL does for NUL bytes and invalid UTF-8. SQLite stores any bytes,
// so input must be validated before it reaches the store; this only keeps a
// slipped value from becoming a 500.
func isInvalidText(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgCharacterNotInRepertoire || pe.Code == pgUntranslatableCharacter
	}
	return false
}

// isUnavailable reports whether err means the database cannot serve the
// request right now (closed pool, unreachable or restarting server, a
// deadline, lock contention beyond the busy timeout...), as opposed to a
// bad query. Such errors become 503 "unavailable": retrying later may work.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	// database/sql's errDBClosed is unexported.
	if strings.Contains(err.Error(), "sql: database is closed") {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrIoErr, sqlite3.ErrFull,
			sqlite3.ErrCantOpen, sqlite3.ErrNomem, sqlite3.ErrReadonly, sqlite3.ErrProtocol:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources (too many connections, disk full)
			strings.HasPrefix(pe.Code, "57P"), // admin/crash shutdown, cannot connect now
			pe.Code == pgQueryCanceled, pe.Code == pgDeadlockDetected, pe.Code == pgSerializationFailure:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// pgx reports a connection it gave up on (closed, broken mid-query) with
	// errors that are safe to retry or timeouts.
	return pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// dbDeadline bounds one database call by d (no bound when d is 0), so that
// a database that stops answering, e.g. behind a network that drops
// packets, fails the call as unavailable instead of holding the request
// (and a pooled connection) forever.
func dbDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
