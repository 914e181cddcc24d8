package authgin

// Deleting what no request can use any more (Service.Prune), table by
// table, in key-ordered batches.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// pruneBatch bounds the rows Prune reads and deletes at a time, so that a
// backlog never holds SQLite's write lock (or row locks) for long.
const pruneBatch = 500

// pruneWindow bounds the rows one of Prune's reads looks at: a pass walks
// a table in windows of this many keys, so that each statement stays short
// (well within DBTimeout) however large the table and however few of its
// rows are dead. Searching "the next 500 dead rows" instead would read the
// whole table in one statement when few are dead.
const pruneWindow = 5000

// pruneCutoffs say which rows are dead.
type pruneCutoffs struct {
	ended     time.Time // sessions revoked or expired, tokens used or expired, before it
	idle      time.Time // sessions last used before it
	nowMS     int64     // counters with no lockout running at it...
	windowMS  int64     // ...whose window started at or before it
	eventsEnd time.Time // security events created before it; zero keeps them all
	revokedMS int64     // revocations made before it (Unix ms)
}

// pruned counts the rows one prune deleted, by table.
type pruned struct {
	sessions, refreshTokens, confirmations, resets, throttles, events, revocations int64
	oauthStates                                                                    int64
}

// pruneTable is one table of prune: the rows whose cond holds go.
// children, if set, is a table whose rows (by parent column) go first, and
// a row goes only once none of them is left.
type pruneTable struct {
	n      *int64
	table  string
	key    string // the primary key
	intKey bool   // an integer key, else text
	cond   string
	args   []any
	child  *pruneChild
}

type pruneChild struct {
	n                  *int64
	table, key, parent string
}

// prune deletes the dead rows of every table, batch by batch; pause runs
// after each full batch with the time it took (Prune paces itself).
func (s *store) prune(ctx context.Context, c pruneCutoffs, pause func(ctx context.Context, took time.Duration) error) (pruned, error) {
	var r pruned
	tables := []pruneTable{
		// A session's refresh tokens go before it (a rotated session holds
		// one per refresh), and a session goes only once none is left, so
		// no token outlives its session.
		{n: &r.sessions, table: "sessions", key: "id",
			cond: "expires_at <= ? OR last_used_at <= ? OR revoked_at <= ?", args: []any{c.ended, c.idle, c.ended},
			child: &pruneChild{n: &r.refreshTokens, table: "refresh_tokens", key: "token_hash", parent: "session_id"}},
		{n: &r.confirmations, table: "email_confirmations", key: "id", intKey: true,
			cond: "expires_at <= ? OR used_at <= ?", args: []any{c.ended, c.ended}},
		{n: &r.resets, table: "password_resets", key: "id", intKey: true,
			cond: "expires_at <= ? OR used_at <= ?", args: []any{c.ended, c.ended}},
		{n: &r.throttles, table: "throttles", key: "bucket",
			cond: "blocked_until <= ? AND window_start <= ?", args: []any{c.nowMS, c.windowMS}},
		{n: &r.revocations, table: "revocations", key: "user_id", intKey: true,
			cond: "valid_after_ms < ?", args: []any{c.revokedMS}},
		{n: &r.oauthStates, table: "oauth_states", key: "id",
			cond: "expires_at <= ?", args: []any{c.ended}},
	}
	if !c.eventsEnd.IsZero() {
		tables = append(tables, pruneTable{n: &r.events, table: "security_events", key: "id", intKey: true,
			cond: "created_at < ?", args: []any{c.eventsEnd}})
	}
	for _, t := range tables {
		if err := s.pruneTable(ctx, t, pause); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *store) pruneTable(ctx context.Context, t pruneTable, pause func(context.Context, time.Duration) error) error {
	var after any = ""
	if t.intKey {
		after = int64(0)
	}
	del := t.cond
	if t.child != nil {
		del = fmt.Sprintf("(%s) AND NOT EXISTS (SELECT 1 FROM %s WHERE %[2]s.%s = %s.%s)", del, t.child.table, t.child.parent, t.table, t.key)
	}
	for {
		start := time.Now()
		// The window is (after, end]; the last one has no end.
		end, last, err := s.windowEnd(ctx, t, after)
		if err != nil {
			return err
		}
		keys, err := s.deadKeys(ctx, t, after, end, last)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if t.child != nil {
				n, err := s.deleteChildren(ctx, t.child, keys)
				*t.child.n += n
				if err != nil {
					return err
				}
			}
			n, err := s.execPrune(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s) AND (%s)", t.table, t.key, marks(len(keys)), del),
				append(slices.Clip(keys), t.args...)...)
			*t.n += n
			if err != nil {
				return err
			}
		}
		switch {
		case len(keys) == pruneBatch: // more may be dead in this window
			after = keys[len(keys)-1]
		case last:
			return nil
		default:
			after = end
		}
		if err := pause(ctx, time.Since(start)); err != nil {
			return err
		}
	}
}

// windowEnd returns the pruneWindow-th key of t above after, or last when
// fewer keys remain. It reads the primary key's index only.
func (s *store) windowEnd(ctx context.Context, t pruneTable, after any) (end any, last bool, err error) {
	var id int64
	var str string
	dest := any(&str)
	if t.intKey {
		dest = &id
	}
	found, err := s.scanRow(ctx, fmt.Sprintf("SELECT %[2]s FROM %[1]s WHERE %[2]s > ? ORDER BY %[2]s LIMIT 1 OFFSET %[3]d",
		t.table, t.key, pruneWindow-1), []any{after}, dest)
	if err != nil || !found {
		return nil, true, err
	}
	if t.intKey {
		return id, false, nil
	}
	return str, false, nil
}

// deadKeys returns, in order, the keys of up to pruneBatch rows of t whose
// cond holds, in the window above after (up to end unless last). They
// are read outside any write, so that SQLite's write lock is held only for
// the deletes, which check cond again: a row a request changed since
// stays.
func (s *store) deadKeys(ctx context.Context, t pruneTable, after, end any, last bool) ([]any, error) {
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	window, args := t.key+" > ?", []any{after}
	if !last {
		window, args = window+" AND "+t.key+" <= ?", append(args, end)
	}
	rows, err := s.db.Statement.ConnPool.QueryContext(ctx, s.d.bind(fmt.Sprintf(
		"SELECT %[2]s FROM %[1]s WHERE %[3]s AND (%[4]s) ORDER BY %[2]s LIMIT %[5]d", t.table, t.key, window, t.cond, pruneBatch)),
		append(args, t.args...)...)
	if err != nil {
		return nil, dbError(err)
	}
	var keys []any
	for rows.Next() {
		var id int64
		var str string
		dest := any(&str)
		if t.intKey {
			dest = &id
		}
		if err := rows.Scan(dest); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return nil, dbError(err)
		}
		if t.intKey {
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

// deleteChildren deletes the rows of c whose parent is one of parents,
// pruneBatch rows at a time, and returns how many went. MySQL allows
// neither LIMIT in a subquery nor a subquery on the table being deleted
// from, but has DELETE ... LIMIT; the others have the subquery.
func (s *store) deleteChildren(ctx context.Context, c *pruneChild, parents []any) (int64, error) {
	q := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s IN (%[4]s) LIMIT %[5]d)",
		c.table, c.key, c.parent, marks(len(parents)), pruneBatch)
	if s.d.name == dialectMySQL {
		q = fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s) LIMIT %d", c.table, c.parent, marks(len(parents)), pruneBatch)
	}
	var total int64
	for {
		n, err := s.execPrune(ctx, q, parents...)
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

// execPrune runs one of prune's deletes. Where the database locks the gaps
// that a statement's scan passes (dialect.gapLocks), it runs at READ
// COMMITTED, so that it locks only the rows it deletes: a delete whose scan
// locked a range of refresh_tokens' key would block, and deadlock with, the
// logins and refreshes inserting into that range.
func (s *store) execPrune(ctx context.Context, query string, args ...any) (int64, error) {
	if !s.d.gapLocks {
		return s.exec(ctx, query, args...)
	}
	ctx, cancel := dbDeadline(ctx, s.timeout)
	defer cancel()
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res, err := tx.Statement.ConnPool.ExecContext(ctx, s.d.bind(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	return n, dbError(err)
}
