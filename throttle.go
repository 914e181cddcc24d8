package authgin

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Limit allows Max events per Window; the event that reaches Max starts a
// lockout of Lockout (or, when Lockout is zero, until the window ends).
type Limit struct {
	Max     int64
	Window  time.Duration
	Lockout time.Duration
}

// Limits is the throttling table. Every counter lives in the database, so
// the limits hold across app instances.
type Limits struct {
	// LoginIP counts login attempts per client IP (authx: 30 a minute, then
	// a 60 s lockout).
	LoginIP Limit
	// ConfirmMailUser counts confirmation mails per user (authx: 2 per 30
	// minutes).
	ConfirmMailUser Limit
	// ResetMailUser counts password reset requests per email address,
	// known or not, so that the answer never tells whether an account
	// exists (authx: 2 per 30 minutes per user).
	ResetMailUser Limit
	// ResetMailIP counts forgot-password requests per client IP.
	ResetMailIP Limit
}

// DefaultLimits returns the default throttling table.
func DefaultLimits() Limits {
	return Limits{
		LoginIP:         Limit{Max: 30, Window: time.Minute, Lockout: time.Minute},
		ConfirmMailUser: Limit{Max: 2, Window: 30 * time.Minute},
		ResetMailUser:   Limit{Max: 2, Window: 30 * time.Minute},
		ResetMailIP:     Limit{Max: 10, Window: time.Hour},
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *Limit, def Limit) {
		if *v == (Limit{}) {
			*v = def
		}
	}
	fill(&l.LoginIP, d.LoginIP)
	fill(&l.ConfirmMailUser, d.ConfirmMailUser)
	fill(&l.ResetMailUser, d.ResetMailUser)
	fill(&l.ResetMailIP, d.ResetMailIP)
	return l
}

// throttler keeps rate-limit counters in the Throttle table.
type throttler struct {
	db  *gorm.DB
	now func() time.Time
}

// hit counts one event for key and reports how long the caller must wait
// when the event is over the limit (zero when allowed). The increment is a
// single atomic upsert, so concurrent hits from many instances never lose
// a count.
func (t *throttler) hit(ctx context.Context, key string, l Limit) (time.Duration, error) {
	now := t.now().UnixMilli()
	windowStart := now - l.Window.Milliseconds()
	var row Throttle
	// One statement on SQLite and PostgreSQL alike: a new window starts
	// when the old one has passed and no lockout is running.
	err := t.db.WithContext(ctx).Raw(`
INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, ?, 1, 0)
ON CONFLICT (bucket) DO UPDATE SET
  count = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN 1 ELSE throttles.count + 1 END,
  window_start = CASE WHEN throttles.window_start <= ? AND throttles.blocked_until <= ? THEN ? ELSE throttles.window_start END
RETURNING bucket, window_start, count, blocked_until`,
		key, now, windowStart, now, windowStart, now, now).Scan(&row).Error
	if err != nil {
		return 0, dbError(err)
	}
	if row.BlockedUntil > now {
		return time.Duration(row.BlockedUntil-now) * time.Millisecond, nil
	}
	if row.Count > l.Max {
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
	err := t.db.WithContext(ctx).Model(&Throttle{}).
		Where("bucket = ? AND count > 0", key).
		Update("count", gorm.Expr("count - 1")).Error
	return dbError(err)
}

// reset forgets key, e.g. after a successful login.
func (t *throttler) reset(ctx context.Context, key string) error {
	return dbError(t.db.WithContext(ctx).Where("bucket = ?", key).Delete(&Throttle{}).Error)
}
