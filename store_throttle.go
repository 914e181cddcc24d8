package authgin

// The throttles table: one rate-limit counter per bucket. Times are Unix
// milliseconds, so that the atomic upserts compare numbers on every
// database. The limits' rules live in service_throttle.go; the upserts
// that apply them atomically are per database in store_dialect.go.

import (
	"context"
)

// bucketState is a counter: count events since windowStart, and a lockout
// until blockedUntil.
type bucketState struct{ windowStart, count, blockedUntil int64 }

// backoff is a backoff limit in the numbers its upsert needs (see
// Limit): max failures per windowMS, the first delay after free failures,
// doubling up to maxDelayMS.
type backoff struct{ max, windowMS, free, delayMS, maxDelayMS int64 }

// countEvent adds one event to bucket key and returns the counter after
// it. A new window starts at now when the old one started at or before
// windowStart and no lockout runs. It is one atomic statement (two in one
// transaction on MySQL), so concurrent counts from many instances are
// never lost.
func (s *store) countEvent(ctx context.Context, key string, now, windowStart int64) (bucketState, error) {
	q, args := s.d.countSQL(key, now, windowStart)
	var b bucketState
	if s.d.returning { // PostgreSQL and SQLite: the upsert returns the row
		_, err := s.scanRow(ctx, q, args, &b.windowStart, &b.count, &b.blockedUntil)
		return b, err
	}
	err := s.atomic(ctx, func(ctx context.Context, tx *store) error {
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return err
		}
		_, err := tx.scanRow(ctx, "SELECT window_start, count, blocked_until FROM throttles WHERE bucket = ?", []any{key},
			&b.windowStart, &b.count, &b.blockedUntil)
		return err
	})
	return b, err
}

// blockBucket starts a lockout of bucket key until until, unless one runs
// already (only the first request over a limit starts it).
func (s *store) blockBucket(ctx context.Context, key string, until, now int64) error {
	_, err := s.exec(ctx, "UPDATE throttles SET blocked_until = ? WHERE bucket = ? AND blocked_until <= ?", until, key, now)
	return err
}

// uncount takes one event back from bucket key.
func (s *store) uncount(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "UPDATE throttles SET count = count - 1 WHERE bucket = ? AND count > 0", key)
	return err
}

// forgetBucket deletes the counter of key.
func (s *store) forgetBucket(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM throttles WHERE bucket = ?", key)
	return err
}

// countAttempt counts one try of backoff limit b for bucket key, and sets
// the delay it brings, in one atomic statement; firstBlocked is the
// blocked_until of a bucket's first try. counted is false when a delay was
// running: then nothing changed. Concurrent tries of one key queue on its
// row, and none is refused for losing a race. count is the bucket's count
// after a counted try; on MySQL it is read back (in the same transaction,
// the row locked by the upsert) only when withCount is set.
func (s *store) countAttempt(ctx context.Context, key string, now, firstBlocked int64, b backoff, withCount bool) (counted bool, count int64, err error) {
	q := s.d.attemptSQL(b)
	args := []any{key, now, firstBlocked}
	if s.d.returning { // PostgreSQL and SQLite: a row comes back when counted
		counted, err = s.scanRow(ctx, q, args, &count)
		return counted, count, err
	}
	// MySQL: a try during a delay changes nothing, and MySQL counts an
	// unchanged row as 0 rows affected (changedRows).
	n, err := s.exec(ctx, q, args...)
	if err != nil || n == 0 || !withCount {
		return n > 0, 0, err
	}
	_, err = s.scanRow(ctx, "SELECT count FROM throttles WHERE bucket = ?", []any{key}, &count)
	return true, count, err
}

// untry takes back the try countAttempt just counted for bucket key: one
// count less, and no delay.
func (s *store) untry(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "UPDATE throttles SET count = count - 1, blocked_until = 0 WHERE bucket = ? AND count > 0", key)
	return err
}

// blockedUntil reads the lockout end of bucket key (0: none).
func (s *store) blockedUntil(ctx context.Context, key string) (int64, error) {
	var until int64
	_, err := s.scanRow(ctx, "SELECT blocked_until FROM throttles WHERE bucket = ?", []any{key}, &until)
	return until, err
}
