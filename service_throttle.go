package authgin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
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
	// LoginAccount counts consecutive failed logins per client IP and
	// account: the growing delay one client meets when it guesses. The
	// account is its id when the login names one, so its email and its
	// username share the count; otherwise the login name (normalised
	// email or username), which gets the same statements, counts and
	// delays, so that the answer never tells whether the account exists.
	// The victim's own IP has a count of its own, so an attacker elsewhere
	// cannot slow the victim down. Default: 5 free failures, then a delay
	// from 1 s doubling up to 15 minutes, at most 100 failures in 24 hours.
	LoginAccount Limit
	// LoginAccountAllIPs counts consecutive failed logins per account across
	// every IP, against guessing spread over many addresses (NIST SP
	// 800-63B §5.2.2: at most 100 consecutive failures on one account). Its
	// delay applies only to an IP that has failed on the account itself
	// (its LoginAccount count is not zero): an IP without failures always
	// gets its try checked, so a victim is never refused before the
	// password is, and a distributed guesser gets one try per address and
	// then waits the account's delay. With LoginAccount off no IP is known
	// to have failed, and this limit is off too. Default: 10 free
	// failures, then a delay from 1 s doubling up to 15 minutes, at most 100
	// failures in 24 hours.
	LoginAccountAllIPs Limit
	// RegisterIP counts registration attempts per client IP. Default 50 an
	// hour.
	RegisterIP Limit
	// RefreshSession counts token refreshes per refresh session. Default 60
	// a minute.
	RefreshSession Limit
	// TokenGuessIP counts failed confirmation and password-reset tokens per
	// client IP: each try is counted before the token is looked at, and a
	// try with a valid token is given back. Default 20 failures in 10
	// minutes, then 10 minutes' wait.
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
	// MFAAccount counts consecutive wrong second-factor codes (TOTP and
	// recovery codes) per account, from any IP, with the login backoff:
	// a guesser of six-digit codes soon waits. Default: 5 free failures,
	// then a delay from 1 s doubling up to 15 minutes, at most 100
	// failures in 24 hours.
	MFAAccount Limit
}

// DefaultLimits returns the default throttling table.
func DefaultLimits() Limits {
	return Limits{
		LoginIP: Limit{Max: 30, Window: time.Minute, Lockout: time.Minute},
		LoginAccount: Limit{Max: 100, Window: 24 * time.Hour,
			Free: 5, Delay: time.Second, MaxDelay: 15 * time.Minute},
		LoginAccountAllIPs: Limit{Max: 100, Window: 24 * time.Hour,
			Free: 10, Delay: time.Second, MaxDelay: 15 * time.Minute},
		RegisterIP:      Limit{Max: 50, Window: time.Hour},
		RefreshSession:  Limit{Max: 60, Window: time.Minute},
		TokenGuessIP:    Limit{Max: 20, Window: 10 * time.Minute, Lockout: 10 * time.Minute},
		ConfirmMailUser: Limit{Max: 2, Window: 30 * time.Minute},
		ConfirmMailIP:   Limit{Max: 10, Window: time.Hour},
		ResetMailUser:   Limit{Max: 2, Window: 30 * time.Minute},
		ResetMailIP:     Limit{Max: 10, Window: time.Hour},
		MFAAccount: Limit{Max: 100, Window: 24 * time.Hour,
			Free: 5, Delay: time.Second, MaxDelay: 15 * time.Minute},
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
		{"LoginIP", &l.LoginIP}, {"LoginAccount", &l.LoginAccount}, {"LoginAccountAllIPs", &l.LoginAccountAllIPs},
		{"RegisterIP", &l.RegisterIP},
		{"RefreshSession", &l.RefreshSession}, {"TokenGuessIP", &l.TokenGuessIP},
		{"ConfirmMailUser", &l.ConfirmMailUser}, {"ConfirmMailIP", &l.ConfirmMailIP},
		{"ResetMailUser", &l.ResetMailUser}, {"ResetMailIP", &l.ResetMailIP},
		{"MFAAccount", &l.MFAAccount},
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
	if l.LoginAccount.off() {
		// It refuses only IPs that LoginAccount counted failures for:
		// counting would be work (and row contention) for nothing.
		l.LoginAccountAllIPs = Limit{Max: -1}
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

// throttler applies the limits to counters kept by the store.
type throttler struct {
	st  *store
	now func() time.Time
}

func newThrottler(st *store, now func() time.Time) *throttler {
	return &throttler{st: st, now: now}
}

// within returns t working in the transaction tx.
func (t *throttler) within(tx *store) *throttler {
	return &throttler{st: tx, now: t.now}
}

// hit counts one event for key and reports how long the caller must wait
// when the event is over the limit (zero when allowed). The increment is a
// single atomic upsert, so concurrent hits from many instances never lose
// a count.
func (t *throttler) hit(ctx context.Context, key string, l Limit) (time.Duration, error) {
	return t.count(ctx, key, l, l.Max+1)
}

// count counts an event and blocks the key once the count reaches blockAt.
func (t *throttler) count(ctx context.Context, key string, l Limit, blockAt int64) (time.Duration, error) {
	if l.off() {
		return 0, nil
	}
	now := t.now().UnixMilli()
	b, err := t.st.countEvent(ctx, key, now, now-l.Window.Milliseconds())
	if err != nil {
		return 0, err
	}
	if b.blockedUntil > now {
		return time.Duration(b.blockedUntil-now) * time.Millisecond, nil
	}
	if b.count < blockAt {
		return 0, nil
	}
	// Over the limit: start the lockout.
	until := b.windowStart + l.Window.Milliseconds()
	if l.Lockout > 0 {
		until = now + l.Lockout.Milliseconds()
	}
	if err := t.st.blockBucket(ctx, key, until, now); err != nil {
		return 0, err
	}
	return time.Duration(until-now) * time.Millisecond, nil
}

// undo takes back one event counted by hit, e.g. when the mail the event
// paid for could not be sent.
func (t *throttler) undo(ctx context.Context, key string) error {
	return t.st.uncount(ctx, key)
}

// reset forgets key, e.g. after a successful login.
func (t *throttler) reset(ctx context.Context, key string) error {
	return t.st.forgetBucket(ctx, key)
}

// attempt reserves one try of a backoff limit (LoginAccount) before the
// expensive check it guards, and reports the wait instead when a delay is
// running. The try is counted as a failure up front, so that concurrent
// tries see its delay at once and a burst cannot slip through together;
// reset forgets the failures when the try succeeds. The count and the
// delay it brings are one atomic statement (store.countAttempt).
func (t *throttler) attempt(ctx context.Context, key string, l Limit) (time.Duration, error) {
	wait, _, err := t.attemptCount(ctx, key, l, false)
	return wait, err
}

// attemptCount is attempt that also reports, when withCount is set, the
// key's count of failures in its window including this try (0 when the
// try was not counted or the limit is off).
func (t *throttler) attemptCount(ctx context.Context, key string, l Limit, withCount bool) (time.Duration, int64, error) {
	if l.off() {
		return 0, 0, nil
	}
	now := t.now().UnixMilli()
	rule := backoff{max: l.Max, windowMS: l.Window.Milliseconds(), free: l.Free,
		delayMS: l.Delay.Milliseconds(), maxDelayMS: l.MaxDelay.Milliseconds()}
	for range 4 {
		counted, n, err := t.st.countAttempt(ctx, key, now, l.blockedFrom(1, now, now), rule, withCount)
		if err != nil || counted {
			return 0, n, err
		}
		// A delay is running and nothing was counted.
		until, err := t.st.blockedUntil(ctx, key)
		if err != nil {
			return 0, 0, err
		}
		if until > now {
			return time.Duration(until-now) * time.Millisecond, 0, nil
		}
		// A success reset the key in between: count the try again.
	}
	return time.Second, 0, nil // a key reset and blocked over and over: wait
}

// takeBack takes back the try of a backoff limit that attempt just
// counted, in the same transaction, for a try that was refused after all:
// the count goes back by one and the delay it set is lifted (no delay ran
// before it, or attempt would not have counted it).
func (t *throttler) takeBack(ctx context.Context, key string) error {
	return t.st.untry(ctx, key)
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
func (s *Service) throttleRefresh(ctx context.Context, sess *session) error {
	return s.throttle(ctx, "refresh:session:"+sess.ID, s.o.Limits.RefreshSession)
}

// guardTokenGuess runs consume, the use of a one-time token a client sent
// (confirmation, password reset), under the client's TokenGuessIP limit.
// The try is counted before the token is looked at, in one atomic upsert,
// so that concurrent guesses cannot all pass a check that none of them has
// counted yet: at most Max tries per window are evaluated, and the one over
// Max starts the lockout and gets 429. A try that turned out to be no
// guess (the token was valid, or consume failed for another reason, e.g. a
// weak new password) gives its count back, so only failures stay counted.
func (s *Service) guardTokenGuess(ctx context.Context, cl Client, invalid *Error, consume func() error) error {
	key := "guess:ip:" + cl.IP
	if err := s.throttle(ctx, key, s.o.Limits.TokenGuessIP); err != nil {
		return err
	}
	err := consume()
	if !errors.Is(err, invalid) && !s.o.Limits.TokenGuessIP.off() {
		s.undoHits(ctx, key)
	}
	return err
}

// loginBuckets are the counters a login's try goes to: LoginAccount's
// per IP and account, LoginAccountAllIPs' per account. counted tells
// which of them counted the try (for undo).
type loginBuckets struct {
	ipAccount, account        string
	ipCounted, accountCounted bool
}

// bucketsFor returns the buckets of a login from ip: keyed on the account
// id when acct is the account the login names, else on the email or
// username key that admitLogin looked up, else the raw text; hashed, so
// that the table holds no addresses and every key has one length.
func bucketsFor(n loginName, acct *Account, ip string) loginBuckets {
	subject := "raw:" + n.raw
	switch {
	case acct != nil:
		subject = "id:" + strconv.FormatInt(acct.ID, 10)
	case n.kind == loginEmail:
		subject = "email:" + n.key
	case n.kind == loginUsername:
		subject = "username:" + n.key
	}
	return loginBuckets{
		ipAccount: "login:ip_account:" + hashOpaque(ip+"\x00"+subject),
		account:   "login:account:" + hashOpaque(subject),
	}
}
