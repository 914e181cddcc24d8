package authgin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// storeError marks a database that cannot serve right now (isUnavailable:
// down, unreachable, too slow, locked). Clients see 503 "unavailable"; the
// cause is logged, never sent.
type storeError struct{ err error }

func (e *storeError) Error() string { return "authgin: database: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// errDuplicate reports a unique-index violation.
var errDuplicate = errors.New("authgin: duplicate key")

// dbError classifies a GORM error: nil, not-found and errors already
// classified (an *Error, errDuplicate, a storeError, e.g. returned from a
// transaction's function) pass through, unique violations become
// errDuplicate, text the database cannot store becomes a 400, an outage a
// storeError (503). Anything else is a bug (bad SQL, a violated NOT NULL):
// a plain error, which the handlers log and answer with 500.
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

// store is the GORM layer: every query the service runs.
type store struct {
	db      *gorm.DB
	timeout time.Duration // bounds each call (Options.DBTimeout); 0 inside a transaction
}

func (s *store) migrate(ctx context.Context) error {
	return dbError(migrateSchema(ctx, s.db))
}

// tx runs fn in a transaction.
func (s *store) tx(ctx context.Context, fn func(tx *store) error) error {
	return s.transaction(ctx, func(_ context.Context, tx *store) error { return fn(tx) })
}

// batch runs fn's statements together under one deadline: in one
// transaction on SQLite, where every commit writes the WAL and costs more
// than the statements (and a failure rolls them all back), and one by one
// on PostgreSQL, where a transaction would cost two more round trips. So
// fn must leave nothing to undo when a statement after a write fails.
func (s *store) batch(ctx context.Context, fn func(ctx context.Context, st *store) error) error {
	if s.db.Dialector.Name() == "postgres" {
		ctx, cancel := dbDeadline(ctx, s.timeout)
		defer cancel()
		return fn(ctx, &store{db: s.db})
	}
	return s.transaction(ctx, fn)
}

// transaction runs fn in a transaction whose statements share one deadline
// (fn's ctx).
func (s *store) transaction(ctx context.Context, fn func(ctx context.Context, tx *store) error) error {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	return dbError(s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return fn(ctx, &store{db: db})
	}))
}

// first loads the single row matching query into dst; found is false when
// there is none.
func (s *store) first(ctx context.Context, dst any, query string, args ...any) (found bool, err error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	res := s.db.WithContext(ctx).Where(query, args...).Limit(1).Find(dst)
	if res.Error != nil {
		return false, dbError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// accountByID loads the account with id; ErrUserNotFound if none.
func (s *store) accountByID(ctx context.Context, id int64) (*Account, error) {
	a, err := s.accountByKey(ctx, "id", id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, ErrUserNotFound
	}
	return a, nil
}

// accountColumns are the users columns in the order of Account.scanDest.
const accountColumns = "id, email, email_key, username, username_key, password_hash, permissions, confirmed, banned, created_at, updated_at, last_login_at"

// scanDest is where a row of accountColumns scans to.
func (a *Account) scanDest() []any {
	return []any{&a.ID, &a.Email, &a.EmailKey, &a.Username, &a.UsernameKey, &a.PasswordHash, &a.Permissions,
		&a.Confirmed, &a.Banned, &a.CreatedAt, &a.UpdatedAt, &a.LastLoginAt}
}

// accountByKey loads the account whose column, a unique one ("id",
// "email_key" or "username_key"), equals v; nil if none. Plain SQL (see
// execPlain): every login runs it, and GORM's reflection took a third of
// its time.
func (s *store) accountByKey(ctx context.Context, column string, v any) (*Account, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	var a Account
	err := queryRowPlain(ctx, s.db, "SELECT "+accountColumns+" FROM users WHERE "+column+" = ?", v).Scan(a.scanDest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbError(err)
	}
	return &a, nil
}

// existingKey reports whether an email or username key is taken, and which.
func (s *store) existingKey(ctx context.Context, emailKey, usernameKey string) (emailTaken, usernameTaken bool, err error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	var rows []Account
	err = s.db.WithContext(ctx).Select("email_key", "username_key").
		Where("email_key = ? OR username_key = ?", emailKey, usernameKey).Limit(2).Find(&rows).Error
	if err != nil {
		return false, false, dbError(err)
	}
	for _, r := range rows {
		emailTaken = emailTaken || r.EmailKey == emailKey
		usernameTaken = usernameTaken || r.UsernameKey == usernameKey
	}
	return emailTaken, usernameTaken, nil
}

func (s *store) create(ctx context.Context, v any) error {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	return dbError(s.db.WithContext(ctx).Create(v).Error)
}

// exec runs one statement written in SQL and returns how many rows it
// changed. Hot paths (refresh) use it: it skips GORM's model reflection,
// which costs more than a SQLite statement itself (bench: BenchmarkDBFloor).
// The SQL must be portable (plain names, ? placeholders).
func (s *store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	res, err := execPlain(ctx, s.db, query, args...)
	if err != nil {
		return 0, dbError(err)
	}
	n, err := res.RowsAffected()
	return n, dbError(err)
}

// execPlain and queryRowPlain run SQL written for both databases (with ?
// placeholders) straight on db's connection pool, or its transaction,
// without GORM's statement builder and callbacks: on SQLite these took a
// tenth of a refresh. They are for the statements every login, refresh and
// registration runs.
func execPlain(ctx context.Context, db *gorm.DB, query string, args ...any) (sql.Result, error) {
	return db.Statement.ConnPool.ExecContext(ctx, bindVars(db, query), args...)
}

func queryRowPlain(ctx context.Context, db *gorm.DB, query string, args ...any) *sql.Row {
	return db.Statement.ConnPool.QueryRowContext(ctx, bindVars(db, query), args...)
}

// bindVars turns the ? placeholders of query into PostgreSQL's $1, $2, ...
// (the statements it gets have no ? in literals).
func bindVars(db *gorm.DB, query string) string {
	if db.Dialector.Name() != "postgres" {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := range len(query) {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// insertAccount inserts a and sets its ID, in plain SQL like exec (every
// registration runs it). A taken email or username key is errDuplicate.
func (s *store) insertAccount(ctx context.Context, a *Account) error {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	err := queryRowPlain(ctx, s.db, `INSERT INTO users (email, email_key, username, username_key, password_hash,
  permissions, confirmed, banned, created_at, updated_at, last_login_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.Email, a.EmailKey, a.Username, a.UsernameKey, a.PasswordHash,
		a.Permissions, a.Confirmed, a.Banned, a.CreatedAt, a.UpdatedAt, a.LastLoginAt).Scan(&a.ID)
	return dbError(err)
}

// insertEvent inserts ev and sets its ID, in plain SQL like exec (most
// requests that change something record one).
func (s *store) insertEvent(ctx context.Context, ev *SecurityEvent) error {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	err := queryRowPlain(ctx, s.db, `INSERT INTO security_events (user_id, event, actor_id, session_id, ip, user_agent, detail, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ev.UserID, ev.Event, ev.ActorID, ev.SessionID, ev.IP, ev.UserAgent, ev.Detail, ev.CreatedAt).Scan(&ev.ID)
	return dbError(err)
}

// update sets columns on the rows of model matching query and returns how
// many rows changed.
func (s *store) update(ctx context.Context, model any, values map[string]any, query string, args ...any) (int64, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	res := s.db.WithContext(ctx).Model(model).Where(query, args...).Updates(values)
	return res.RowsAffected, dbError(res.Error)
}

// sessionByRefresh loads the refresh token with hash and its session.
func (s *store) sessionByRefresh(ctx context.Context, hash string) (*RefreshToken, *Session, error) {
	var rt RefreshToken
	found, err := s.first(ctx, &rt, "token_hash = ?", hash)
	if err != nil || !found {
		return nil, nil, err
	}
	var sess Session
	found, err = s.first(ctx, &sess, "id = ?", rt.SessionID)
	if err != nil || !found {
		return nil, nil, err
	}
	return &rt, &sess, nil
}

// revokeSessions revokes every live session of a user except keep (empty:
// none kept) and consumes their refresh tokens, so that no live token
// remains in those families; it returns the number of sessions ended.
func (s *store) revokeSessions(ctx context.Context, userID int64, keep string, now time.Time) (int64, error) {
	sessionCond, familyCond, args := "user_id = ? AND revoked_at IS NULL", "user_id = ? AND consumed_at IS NULL", []any{userID}
	if keep != "" {
		sessionCond, familyCond, args = sessionCond+" AND id <> ?", familyCond+" AND session_id <> ?", append(args, keep)
	}
	n, err := s.update(ctx, &Session{}, map[string]any{"revoked_at": now}, sessionCond, args...)
	if err != nil {
		return 0, err
	}
	_, err = s.update(ctx, &RefreshToken{}, map[string]any{"consumed_at": now}, familyCond, args...)
	return n, err
}

// page counts the rows of model that filter selects and loads page p of
// them (PageSize rows in order) into dst.
func (s *store) page(ctx context.Context, model any, filter func(*gorm.DB) *gorm.DB, order string, p int, dst any) (int64, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	db := s.db.WithContext(ctx)
	var n int64
	if err := filter(db.Model(model)).Count(&n).Error; err != nil {
		return 0, dbError(err)
	}
	if n > int64(p-1)*PageSize {
		if err := filter(db.Model(model)).Order(order).Offset((p - 1) * PageSize).Limit(PageSize).Find(dst).Error; err != nil {
			return 0, dbError(err)
		}
	}
	return n, nil
}

// bans loads every banned user into banned (by id) and returns the ids of
// the users banned since since.
func (s *store) bans(ctx context.Context, since time.Time, banned *[]UserRef) ([]int64, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	db := s.db.WithContext(ctx)
	if err := db.Model(&Account{}).Select("id", "username").Where("banned = ?", true).Order("id").Find(banned).Error; err != nil {
		return nil, dbError(err)
	}
	var recent []int64
	err := db.Model(&SecurityEvent{}).Distinct("user_id").
		Where("event = ? AND created_at >= ?", EventBan, since).Pluck("user_id", &recent).Error
	return recent, dbError(err)
}

// lockAccount serialises concurrent changes to one account on backends
// that support row locks; SQLite serialises writers anyway.
func (s *store) lockAccount(ctx context.Context, id int64) (*Account, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	var a Account
	q := s.db.WithContext(ctx)
	if s.db.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	res := q.Where("id = ?", id).Limit(1).Find(&a)
	if res.Error != nil {
		return nil, dbError(res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrUserNotFound
	}
	return &a, nil
}

// deadKeys returns, in order, the keys above after of up to pruneBatch rows
// of table whose cond (with args) holds. Prune reads them outside any
// write, so that SQLite's write lock is held only for the deletes.
func (s *store) deadKeys(ctx context.Context, table, key string, intKey bool, cond string, args []any, after any) ([]any, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Statement.ConnPool.QueryContext(ctx, bindVars(s.db, fmt.Sprintf(
		"SELECT %[2]s FROM %[1]s WHERE %[2]s > ? AND (%[3]s) ORDER BY %[2]s LIMIT %[4]d", table, key, cond, pruneBatch)),
		append([]any{after}, args...)...)
	if err != nil {
		return nil, dbError(err)
	}
	var keys []any
	for rows.Next() {
		var id int64
		var str string
		dest := any(&str)
		if intKey {
			dest = &id
		}
		if err := rows.Scan(dest); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return nil, dbError(err)
		}
		if intKey {
			keys = append(keys, id)
		} else {
			keys = append(keys, str)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, dbError(err)
	}
	return keys, nil
}

// deleteKeys deletes the rows of table with these keys whose cond still
// holds: a row a request changed since deadKeys read it stays (PostgreSQL
// also checks again a row that changes while the DELETE waits for it).
func (s *store) deleteKeys(ctx context.Context, table, key string, keys []any, cond string, args []any) (int64, error) {
	return s.exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s) AND (%s)", table, key, marks(len(keys)), cond),
		append(slices.Clip(keys), args...)...)
}

// deleteChildren deletes the rows of table whose parent column is one of
// parents, pruneBatch rows (by key) at a time, and returns how many went.
func (s *store) deleteChildren(ctx context.Context, table, key, parent string, parents []any) (int64, error) {
	q := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s IN (%[4]s) LIMIT %[5]d)",
		table, key, parent, marks(len(parents)), pruneBatch)
	var total int64
	for {
		n, err := s.exec(ctx, q, parents...)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// marks returns n comma-separated ? placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
