package authgin

// The store is authgin's one data layer: the only code that writes SQL,
// names tables and columns, or holds a *gorm.DB. The service asks it for
// intents ("open a session", "rotate this refresh token", "count this
// login attempt"); what differs between databases sits in store_dialect.go.
// The store_*.go files group its operations by table.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"
)

// storeError marks a database that cannot serve right now (isUnavailable:
// down, unreachable, too slow, locked). Clients see 503 "unavailable"; the
// cause is logged, never sent.
type storeError struct{ err error }

func (e *storeError) Error() string { return "authgin: database: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// errDuplicate reports a unique-index violation.
var errDuplicate = errors.New("authgin: duplicate key")

// dbError classifies a database error: nil, not-found and errors already
// classified (an *Error, errDuplicate, a storeError, e.g. returned from a
// transaction's function) pass through, unique violations become
// errDuplicate, text the database cannot store becomes a 400, an outage a
// storeError (503). Anything else is a bug (bad SQL, a violated NOT NULL)
// or a driver whose errors the store cannot read: a plain error, which the
// handlers log and answer with 500.
func dbError(err error) error {
	switch {
	case err == nil, errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, errDuplicate),
		errors.As(err, new(*Error)), errors.As(err, new(*storeError)):
		return err
	case isUniqueViolation(err):
		return errDuplicate
	case isInvalidText(err):
		return ErrInvalidInput
	case isUnavailable(err):
		return &storeError{err}
	default:
		return fmt.Errorf("authgin: database: %w", err)
	}
}

// store runs the plugin's statements on one database, or inside one
// transaction of it.
type store struct {
	db      *gorm.DB
	d       *dialect
	timeout time.Duration // bounds each call (Options.DBTimeout); 0 inside a transaction
	inTx    bool
}

// openStore returns the store over db, or an error naming the supported
// databases when db is none of them. Its dialect's check tells whether db
// is configured as the store needs.
func openStore(db *gorm.DB, timeout time.Duration) (*store, error) {
	d, err := dialectOf(db)
	if err != nil {
		return nil, err
	}
	return &store{db: db, d: d, timeout: timeout}, nil
}

func (s *store) migrate(ctx context.Context) error {
	return dbError(s.d.migrate(ctx, s.db, models()))
}

// txAttempts is how often atomic runs a transaction that the database
// chose as a deadlock victim or could not serialise.
const txAttempts = 3

// atomic runs fn in a transaction whose statements share one deadline
// (fn's ctx). It is the store's only way to begin one; fn runs inside the
// transaction already begun when s is a transaction's store.
//
// A transaction that loses a deadlock or a serialisation conflict was
// rolled back whole, so atomic runs fn again (up to txAttempts times in
// all, within the same deadline): fn must keep its effects to tx and to
// variables it sets afresh on each run.
func (s *store) atomic(ctx context.Context, fn func(ctx context.Context, tx *store) error) error {
	if s.inTx {
		return fn(ctx, s)
	}
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
			return fn(ctx, &store{db: db, d: s.d, inTx: true})
		})
		if attempt == txAttempts || !isTxConflict(err) {
			return dbError(err)
		}
		// The winner holds its locks until it commits: give it a moment.
		// #nosec G404 -- jitter, not a secret
		wait := time.Duration(attempt) * (time.Millisecond + rand.N(4*time.Millisecond))
		select {
		case <-ctx.Done():
			return dbError(err)
		case <-time.After(wait):
		}
	}
}

// exec runs one statement written in SQL (with ? placeholders, see
// dialect.bind) and returns how many rows it changed. It skips GORM's
// statement builder and callbacks, which on SQLite cost more than the
// statements every login, refresh and registration runs.
func (s *store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.execResult(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, dbError(err)
}

func (s *store) execResult(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	res, err := s.db.Statement.ConnPool.ExecContext(ctx, s.d.bind(query), args...)
	return res, dbError(err)
}

// scanRow runs a query written in SQL like exec and scans its one row into
// dest; found is false when there is none.
func (s *store) scanRow(ctx context.Context, query string, args []any, dest ...any) (found bool, err error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	err = s.db.Statement.ConnPool.QueryRowContext(ctx, s.d.bind(query), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, dbError(err)
}

// insertID runs an INSERT written in SQL into a table with an integer id
// and returns the new row's id.
func (s *store) insertID(ctx context.Context, query string, args ...any) (int64, error) {
	if s.d.returningID {
		var id int64
		_, err := s.scanRow(ctx, query+" RETURNING id", args, &id)
		return id, err
	}
	res, err := s.execResult(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	return id, dbError(err)
}

// gorm returns s's GORM handle bounded by the call's deadline, for the
// statements that are not on a hot path; cancel releases the deadline.
func (s *store) gorm(ctx context.Context) (db *gorm.DB, cancel context.CancelFunc) {
	ctx, cancel = dbDeadline(ctx, s.timeout)
	return s.db.WithContext(ctx), cancel
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
