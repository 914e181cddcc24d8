package authgin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Limit is one row of the throttling table. Max < 0 turns it off.
//
// A counting limit (Delay zero) allows Max events per Window; the event
// over Max starts a lockout of Lockout, or, when Lockout is zero, one that
// lasts until the window ends.
//
// A backoff limit (Delay set, as LoginAccount) counts consecutive failures:
// once Free failures are reached, each failure makes the next attempt wait
// Delay, doubling with every further failure up to MaxDelay; Max failures
// within Window (counted from the first failure) make attempts wait until
// that window ends. A success forgets the failures. Every wait ends, so an
// attacker can slow a victim down but never lock them out for good.
type Limit struct {
	Max     int64
	Window  time.Duration
	Lockout time.Duration

	Free     int64
	Delay    time.Duration
	MaxDelay time.Duration
}

// Limits is the throttling table. Every counter lives in the database, so
// the limits hold across app instances. Each limit answers 429 with a
// Retry-After of the remaining wait in whole seconds.
type Limits struct {
	// LoginIP counts login attempts per client IP (authx: 30 a minute, then
	// a 60 s lockout).
	LoginIP Limit
	// LoginAccount counts consecutive failed logins per login name (email
	// or username, normalised), across all IPs, whether or not the account
	// exists: the answer never tells. Default: 5 free failures, then a
	// delay from 1 s doubling up to 15 minutes, at most 100 failures in 24
	// hours.
	LoginAccount Limit
	// RegisterIP counts registration attempts per client IP. Default 50 an
	// hour.
	RegisterIP Limit
	// RefreshSession counts token refreshes per refresh session. Default 60
	// a minute.
	RefreshSession Limit
	// TokenGuessIP counts failed confirmation and password-reset tokens per
	// client IP. Default 20 failures in 10 minutes, then 10 minutes' wait.
	TokenGuessIP Limit
	// ConfirmMailUser counts confirmation mails per user (authx: 2 per 30
	// minutes).
	ConfirmMailUser Limit
	// ConfirmMailIP counts confirmation mail requests per client IP.
	// Default 10 an hour.
	ConfirmMailIP Limit
	// ResetMailUser counts password reset requests per email address,
	// known or not, so that the answer never tells whether an account
	// exists (authx: 2 per 30 minutes per user).
	ResetMailUser Limit
	// ResetMailIP counts forgot-password requests per client IP. Default 10
	// an hour.
	ResetMailIP Limit
}

// DefaultLimits returns the default throttling table.
func DefaultLimits() Limits {
	return Limits{
		LoginIP: Limit{Max: 30, Window: time.Minute, Lockout: time.Minute},
		LoginAccount: Limit{Max: 100, Window: 24 * time.Hour,
			Free: 5, Delay: time.Second, MaxDelay: 15 * time.Minute},
		RegisterIP:      Limit{Max: 50, Window: time.Hour},
		RefreshSession:  Limit{Max: 60, Window: time.Minute},
		TokenGuessIP:    Limit{Max: 20, Window: 10 * time.Minute, Lockout: 10 * time.Minute},
		ConfirmMailUser: Limit{Max: 2, Window: 30 * time.Minute},
		ConfirmMailIP:   Limit{Max: 10, Window: time.Hour},
		ResetMailUser:   Limit{Max: 2, Window: 30 * time.Minute},
		ResetMailIP:     Limit{Max: 10, Window: time.Hour},
	}
}

// named lists the limits of l with their field names.
func (l *Limits) named() []struct {
	name string
	v    *Limit
} {
	return []struct {
		name string
		v    *Limit
	}{
		{"LoginIP", &l.LoginIP}, {"LoginAccount", &l.LoginAccount}, {"RegisterIP", &l.RegisterIP},
		{"RefreshSession", &l.RefreshSession}, {"TokenGuessIP", &l.TokenGuessIP},
		{"ConfirmMailUser", &l.ConfirmMailUser}, {"ConfirmMailIP", &l.ConfirmMailIP},
		{"ResetMailUser", &l.ResetMailUser}, {"ResetMailIP", &l.ResetMailIP},
	}
}

// withDefaults fills zero limits with the defaults and validates the rest.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	defs := d.named()
	for i, f := range l.named() {
		if *f.v == (Limit{}) {
			*f.v = *defs[i].v
		}
		if err := f.v.validate(); err != nil {
			return l, fmt.Errorf("authgin: Options.Limits.%s: %w", f.name, err)
		}
	}
	return l, nil
}

func (l Limit) validate() error {
	if l.Max < 0 {
		return nil
	}
	switch {
	case l.Max == 0:
		return errors.New("needs a positive Max, or a negative one to turn the limit off")
	case l.Window <= 0:
		return fmt.Errorf("needs a positive Window (got %s)", l.Window)
	case l.Lockout < 0 || l.Free < 0 || l.Delay < 0 || l.MaxDelay < 0:
		return errors.New("has a negative Lockout, Free, Delay or MaxDelay")
	case l.Delay > 0 && l.MaxDelay < l.Delay:
		return fmt.Errorf("needs a MaxDelay (%s) of at least Delay (%s)", l.MaxDelay, l.Delay)
	}
	return nil
}

// off reports whether the limit is turned off.
func (l Limit) off() bool { return l.Max < 0 }

// delayAfter is the wait a backoff limit imposes after n consecutive
// failures (n counts the one just made).
func (l Limit) delayAfter(n int64) time.Duration {
	first := max(l.Free, 1) // the failure that brings the first wait
	if l.Delay <= 0 || n < first {
		return 0
	}
	d := l.Delay
	for i := first; i < n && d < l.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.MaxDelay)
}

// throttler keeps rate-limit counters in the Throttle table.
type throttler struct {
	db      *gorm.DB
	now     func() time.Time
	timeout time.Duration // bounds each call (Options.DBTimeout)
	queries *sync.Map     // Limit -> its attemptSQL, built once
}

func newThrottler(db *gorm.DB, now func() time.Time, timeout time.Duration) *throttler {
	return &throttler{db: db, now: now, timeout: timeout, queries: new(sync.Map)}
}

// within returns t working in the transaction db (whose deadline bounds
// its calls).
func (t *throttler) within(db *gorm.DB) *throttler {
	return &throttler{db: db, now: t.now, queries: t.queries}
}

// attemptQuery returns attemptSQL(l), built on its first use.
func (t *throttler) attemptQuery(l Limit) string {
	if q, ok := t.queries.Load(l); ok {
		return q.(string)
	}
	q := attemptSQL(l)
	t.queries.Store(l, q)
	return q
}

// hit counts one event for key and reports how long the caller must wait
// when the event is over the limit (zero when allowed). The increment is a
// single atomic upsert, so concurrent hits from many instances never lose
// a count.
func (t *throttler) hit(ctx context.Context, key string, l Limit) (time.Duration, error) {
	return t.count(ctx, key, l, l.Max+1)
}

// failure counts one failed attempt (e.g. a wrong one-time token), gated
// by check before the attempt: the Max-th failure starts the lockout, so
// at most Max failures are ever made per lockout.
func (t *throttler) failure(ctx context.Context, key string, l Limit) (time.Duration, error) {
	return t.count(ctx, key, l, l.Max)
}

// count counts an event and blocks the key once the count reaches blockAt.
func (t *throttler) count(ctx context.Context, key string, l Limit, blockAt int64) (time.Duration, error) {
	if l.off() {
		return 0, nil
	}
	ctx, cancel := dbDeadline(ctx, t.timeout)
	defer cancel()
	now := t.now().UnixMilli()
	windowStart := now - l.Window.Milliseconds()
	var row Throttle
	// One statement on SQLite and PostgreSQL alike: a new window starts
	// when the old one has passed and no lockout is running.
	err := queryRowPlain(ctx, t.db, `
INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN ? ELSE throttles.window_start END
RETURNING bucket, window_start, count, blocked_until`,
		key, now, windowStart, now, windowStart, now, now).Scan(&row.Key, &row.WindowStart, &row.Count, &row.BlockedUntil)
	if err != nil {
		return 0, dbError(err)
	}
	if row.BlockedUntil > now {
		return time.Duration(row.BlockedUntil-now) * time.Millisecond, nil
	}
	if row.Count >= blockAt {
		return t.block(ctx, key, l, row, now)
	}
	return 0, nil
}

// block starts the lockout of a counter that went over its limit.
func (t *throttler) block(ctx context.Context, key string, l Limit, row Throttle, now int64) (time.Duration, error) {
	until := row.WindowStart + l.Window.Milliseconds()
	if l.Lockout > 0 {
		until = now + l.Lockout.Milliseconds()
	}
	// Only the first request over the limit starts the lockout; later ones
	// see it in blocked_until.
	err := t.db.WithContext(ctx).Model(&Throttle{}).
		Where("bucket = ? AND blocked_until <= ?", key, now).
		Update("blocked_until", until).Error
	if err != nil {
		return 0, dbError(err)
	}
	return time.Duration(until-now) * time.Millisecond, nil
}

// check reports how long key is locked out without counting an event.
func (t *throttler) check(ctx context.Context, key string, l Limit) (time.Duration, error) {
	if l.off() {
		return 0, nil
	}
	ctx, cancel := dbDeadline(ctx, t.timeout)
	defer cancel()
	var rows []Throttle
	if err := t.db.WithContext(ctx).Where("bucket = ?", key).Limit(1).Find(&rows).Error; err != nil {
		return 0, dbError(err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	now := t.now().UnixMilli()
	row := rows[0]
	if row.BlockedUntil > now {
		return time.Duration(row.BlockedUntil-now) * time.Millisecond, nil
	}
	if row.WindowStart > now-l.Window.Milliseconds() && row.Count >= l.Max {
		return time.Duration(row.WindowStart+l.Window.Milliseconds()-now) * time.Millisecond, nil
	}
	return 0, nil
}

// undo takes back one event counted by hit, e.g. when the mail the event
// paid for could not be sent.
func (t *throttler) undo(ctx context.Context, key string) error {
	ctx, cancel := dbDeadline(ctx, t.timeout)
	defer cancel()
	err := t.db.WithContext(ctx).Model(&Throttle{}).
		Where("bucket = ? AND count > 0", key).
		Update("count", gorm.Expr("count - 1")).Error
	return dbError(err)
}

// reset forgets key, e.g. after a successful login.
func (t *throttler) reset(ctx context.Context, key string) error {
	ctx, cancel := dbDeadline(ctx, t.timeout)
	defer cancel()
	_, err := execPlain(ctx, t.db, "DELETE FROM throttles WHERE bucket = ?", key)
	return dbError(err)
}

// attempt reserves one try of a backoff limit (LoginAccount) before the
// expensive check it guards, and reports the wait instead when a delay is
// running. The try is counted as a failure up front, so that concurrent
// tries see its delay at once and a burst cannot slip through together;
// reset forgets the failures when the try succeeds.
//
// The count and the delay it brings are one atomic upsert (attemptSQL) on
// SQLite and PostgreSQL alike: concurrent tries of one key queue on its
// row, and none is refused for losing a race to the others.
func (t *throttler) attempt(ctx context.Context, key string, l Limit) (time.Duration, error) {
	if l.off() {
		return 0, nil
	}
	ctx, cancel := dbDeadline(ctx, t.timeout)
	defer cancel()
	now := t.now().UnixMilli()
	// Plain SQL (see execPlain): every login runs this.
	q := t.attemptQuery(l)
	for range 4 {
		var count int64
		err := queryRowPlain(ctx, t.db, q, key, now, l.blockedFrom(1, now, now)).Scan(&count)
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, dbError(err)
		}
		// No row back: a delay is running and nothing was counted.
		var until int64
		err = queryRowPlain(ctx, t.db, "SELECT blocked_until FROM throttles WHERE bucket = ?", key).Scan(&until)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, dbError(err)
		}
		if until > now {
			return time.Duration(until-now) * time.Millisecond, nil
		}
		// A success reset the key in between: count the try again.
	}
	return time.Second, nil // a key reset and blocked over and over: wait
}

// blockedFrom is the blocked_until a backoff limit sets when its count
// reaches n in a window that started at windowStart: the window's end once
// n reaches Max, else the delay after n failures from now (0: none).
func (l Limit) blockedFrom(n, windowStart, now int64) int64 {
	if n >= l.Max {
		return windowStart + l.Window.Milliseconds()
	}
	if d := l.delayAfter(n); d > 0 {
		return now + d.Milliseconds()
	}
	return 0
}

// attemptSQL is attempt's upsert for l, l's numbers written in. Its
// arguments are the key, now and blockedFrom(1, now, now), the row a first
// try inserts; an existing row gets the new count n (1 when its window has
// passed, else one more) and the blocked_until that blockedFrom gives for
// n, its doubling delays one CASE arm each (at most 64: they stop at
// MaxDelay). While a delay runs, nothing changes and no row comes back.
func attemptSQL(l Limit) string {
	w := l.Window.Milliseconds()
	var b strings.Builder
	fmt.Fprintf(&b, `INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, ?)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN excluded.window_start ELSE throttles.window_start END,
  blocked_until = CASE WHEN throttles.window_start <= excluded.window_start - %[1]d THEN excluded.blocked_until
    WHEN throttles.count + 1 >= %[2]d THEN throttles.window_start + %[1]d
`, w, l.Max)
	if first := max(l.Free, 1); l.Delay > 0 {
		fmt.Fprintf(&b, "    WHEN throttles.count + 1 < %d THEN 0\n", first)
		n := first
		for d := l.Delay; d < l.MaxDelay; d, n = d*2, n+1 {
			fmt.Fprintf(&b, "    WHEN throttles.count + 1 = %d THEN excluded.window_start + %d\n", n, d.Milliseconds())
		}
		fmt.Fprintf(&b, "    ELSE excluded.window_start + %d END\n", l.MaxDelay.Milliseconds())
	} else {
		b.WriteString("    ELSE 0 END\n")
	}
	b.WriteString("WHERE throttles.blocked_until <= excluded.window_start\nRETURNING count")
	return b.String()
}

// throttle counts an event for key and turns a wait into a 429.
func (s *Service) throttle(ctx context.Context, key string, l Limit) error {
	wait, err := s.limits.hit(ctx, key, l)
	if err != nil {
		return err
	}
	if wait > 0 {
		return ErrTooManyRequests.withRetry(wait)
	}
	return nil
}

// throttleRefresh applies RefreshSession. A reuse past the grace window is
// never throttled: it must revoke the session at once.
func (s *Service) throttleRefresh(ctx context.Context, sess *Session) error {
	return s.throttle(ctx, "refresh:session:"+sess.ID, s.o.Limits.RefreshSession)
}

// guardTokenGuess runs consume, the use of a one-time token a client sent
// (confirmation, password reset), under the client's TokenGuessIP limit: a
// client over it gets 429 before the token is looked at, and a consume
// that fails with invalid counts as a guess.
func (s *Service) guardTokenGuess(ctx context.Context, cl Client, invalid *Error, consume func() error) error {
	key := "guess:ip:" + cl.IP
	if wait, err := s.limits.check(ctx, key, s.o.Limits.TokenGuessIP); err != nil {
		return err
	} else if wait > 0 {
		return ErrTooManyRequests.withRetry(wait)
	}
	err := consume()
	if errors.Is(err, invalid) {
		if _, ferr := s.limits.failure(ctx, key, s.o.Limits.TokenGuessIP); ferr != nil {
			return ferr
		}
	}
	return err
}

// throttleKey is the LoginAccount bucket of a login: the email or
// username key that admitLogin looks up, else the raw text, hashed so that
// the table holds no addresses.
func (n loginName) throttleKey() string {
	norm := "raw:" + n.raw
	switch n.column {
	case "email_key":
		norm = "email:" + n.key
	case "username_key":
		norm = "username:" + n.key
	}
	return "login:account:" + hashOpaque(norm)
}
