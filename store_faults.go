package authgin

// The one place that reads driver errors: which are unique violations (a
// 400 "*_exists" for the loser of a race), which mean the database cannot
// serve right now (503), and which refused a text value (400). It knows
// mattn/go-sqlite3 (store_faults_cgo.go), the pure-Go SQLite drivers
// (modernc.org/sqlite and its glebarez fork), pgx (through GORM or
// database/sql) and go-sql-driver/mysql. An error it cannot read stays a
// logged 500, never a wrong answer.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
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

// MySQL and MariaDB error numbers the store tells apart.
const (
	myDupEntry            = 1062
	myDupEntryWithKeyName = 1586
	myTooManyConnections  = 1040
	myConCount            = 1203 // max_user_connections
	myLockWaitTimeout     = 1205
	myLockDeadlock        = 1213
	myQueryInterrupted    = 1317
	myServerShutdown      = 1053
	myMaxExecutionTime    = 3024 // MySQL's max_execution_time
	myStatementTimeout    = 1969 // MariaDB's max_statement_time
	myReadOnly            = 1290 // --read-only (a replica, or a primary being switched)
	myReadOnlyTx          = 1792
	myIncorrectString     = 1366 // text the column's character set cannot hold
)

// SQLite result codes (https://sqlite.org/rescode.html), the same for
// every driver: the primary code is the low byte of the extended one.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteNomem                = 7
	sqliteReadonly             = 8
	sqliteIOErr                = 10
	sqliteFull                 = 13
	sqliteCantOpen             = 14
	sqliteProtocol             = 15
)

// sqliteCode returns the extended SQLite result code of err, when a SQLite
// driver made it.
func sqliteCode(err error) (code int, ok bool) {
	// modernc.org/sqlite and github.com/glebarez/go-sqlite.
	var coded interface {
		error
		Code() int
	}
	if errors.As(err, &coded) {
		return coded.Code(), true
	}
	return mattnCode(err)
}

// isUniqueViolation reports whether err is a unique (or primary key)
// constraint violation: the loser of a race to insert the same key.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	if code, ok := sqliteCode(err); ok {
		return code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgUniqueViolation
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == myDupEntry || me.Number == myDupEntryWithKeyName
	}
	return false
}

// isInvalidText reports whether the database refused a text value, as
// PostgreSQL does for NUL bytes and invalid UTF-8 and MySQL for invalid
// UTF-8. SQLite stores any bytes, so input must be validated before it
// reaches the store; this only keeps a slipped value from becoming a 500.
func isInvalidText(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgCharacterNotInRepertoire || pe.Code == pgUntranslatableCharacter
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == myIncorrectString
	}
	return false
}

// isTxConflict reports whether err means the database rolled back a
// transaction to resolve a conflict with another one (a deadlock victim,
// a serialisation failure): running it again is expected to succeed.
func isTxConflict(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgDeadlockDetected || pe.Code == pgSerializationFailure
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == myLockDeadlock
}

// isUnavailable reports whether err means the database cannot serve the
// request right now (closed pool, unreachable or restarting server, a
// deadline, lock contention beyond the busy timeout, a deadlock victim...),
// as opposed to a bad query. Such errors become 503 "unavailable":
// retrying later may work.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, mysql.ErrInvalidConn):
		return true
	}
	// database/sql's errDBClosed is unexported.
	if strings.Contains(err.Error(), "sql: database is closed") {
		return true
	}
	if code, ok := sqliteCode(err); ok {
		switch code & 0xff {
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteNomem, sqliteReadonly, sqliteProtocol:
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
			pe.Code == "25006",                // read-only transaction (a standby)
			pe.Code == pgQueryCanceled, pe.Code == pgDeadlockDetected, pe.Code == pgSerializationFailure:
			return true
		}
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case myTooManyConnections, myConCount, myLockWaitTimeout, myLockDeadlock, myQueryInterrupted,
			myServerShutdown, myMaxExecutionTime, myStatementTimeout, myReadOnly, myReadOnlyTx:
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
