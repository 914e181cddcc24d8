package authgin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RevocationMode is what the middleware checks beyond an access token's
// signature, claims and the blackout, and so how soon revoking a user's
// sessions (logout everywhere, password change or reset, ban, kick,
// permission change) reaches the access tokens already issued
// (Options.Revocation). docs/security.md compares the three.
type RevocationMode int

const (
	// RevocationStateless checks nothing more: no database, no lookup. A
	// revoked session's access tokens live until they expire (AccessTTL).
	RevocationStateless RevocationMode = iota
	// RevocationCached also rejects a token issued before its user's
	// latest revocation of all sessions (the session that changed the
	// password keeps its tokens). Each instance holds the revocations of
	// the last AccessTTL in memory, re-read every Options.BlackoutRefresh
	// in the background: a request costs one map lookup and no database
	// access, and a revocation applies at once on the instance that made
	// it and within BlackoutRefresh on the others. Revoking one session
	// (POST /logout, DELETE /sessions/{id}) is not covered: its access
	// tokens live until they expire, as in the stateless mode.
	RevocationCached
	// RevocationStrict reads the token's session on every request (one
	// primary-key round trip, Options.StrictCacheTTL caches it), so every
	// revocation, of one session or all, applies at once. Options.Strict
	// selects it too.
	RevocationStrict
)

func (m RevocationMode) String() string {
	switch m {
	case RevocationStateless:
		return "stateless"
	case RevocationCached:
		return "cached"
	case RevocationStrict:
		return "strict"
	}
	return fmt.Sprintf("RevocationMode(%d)", int(m))
}

// revocation is a user's latest revocation of all its sessions (see
// revocationRow): tokens issued before validAfterMS are void, except
// keepSession's issued at or after keepAfterMS. Times are Unix ms.
type revocation struct {
	validAfterMS int64
	keepSession  string
	keepAfterMS  int64
}

// cutoff is the time (Unix ms) before which tokens of session sid are void.
func (r revocation) cutoff(sid string) int64 {
	if r.keepSession != "" && sid == r.keepSession {
		return r.keepAfterMS
	}
	return r.validAfterMS
}

// then is r followed by a revocation at nowMS that keeps keep: the rule of
// the store's upsert (dialect.revocationSQL). The zero r is no revocation.
func (r revocation) then(nowMS int64, keep string) revocation {
	next := revocation{validAfterMS: max(r.validAfterMS, nowMS), keepSession: keep}
	if r.keepSession == keep {
		next.keepAfterMS = r.keepAfterMS
	} else {
		next.keepAfterMS = r.validAfterMS
	}
	return next
}

// revocationCache holds the recent revocations for RevocationCached: those
// made within the last AccessTTL (plus a margin for clock skew), the only
// ones that can void a token still unexpired. It is re-read from the
// database every interval in the background, and revocations made through
// this instance are added at once. Readers load an immutable map, so a
// check costs an atomic load and a map lookup and allocates nothing. A nil
// cache (the other modes) rejects nothing.
type revocationCache struct {
	m atomic.Pointer[map[int64]revocation]

	mu       sync.Mutex // serialises the writers of m
	st       *store     // bounds each read by Options.DBTimeout
	now      func() time.Time
	horizon  time.Duration // how far back revocations matter
	interval time.Duration
	log      *slog.Logger

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// revocationMargin extends the cache's look-back beyond AccessTTL: tokens
// may carry an iat up to clockSkew seconds ahead, rounded to whole seconds.
const revocationMargin = time.Minute

func newRevocationCache(o *Options, st *store) *revocationCache {
	if o.Revocation != RevocationCached {
		return nil
	}
	return &revocationCache{st: st, now: o.Now, horizon: o.AccessTTL + revocationMargin, interval: o.BlackoutRefresh,
		log: o.Logger, stop: make(chan struct{}), done: make(chan struct{})}
}

// rejects reports whether the access token c was issued before its user's
// latest revocation that applies to its session.
func (k *revocationCache) rejects(c *AccessClaims) bool {
	if k == nil {
		return false
	}
	m := k.m.Load()
	if m == nil {
		return false
	}
	r, ok := (*m)[c.ID]
	return ok && issuedBeforeBlackout(c.IssuedAt, r.cutoff(c.SessionID))
}

// issueTime is the time to issue an access token for session sid of user
// at now. Tokens carry whole seconds, and a token of a revocation's own
// second counts as before it; so a token issued after the revocation but
// within its second is dated to the next second (within the clockSkew that
// parsing allows), lest it be rejected until it expires.
func (k *revocationCache) issueTime(userID int64, sid string, now time.Time) time.Time {
	if k == nil {
		return now
	}
	m := k.m.Load()
	if m == nil {
		return now
	}
	r, ok := (*m)[userID]
	if !ok {
		return now
	}
	if c := r.cutoff(sid); now.UnixMilli() >= c && issuedBeforeBlackout(now.Unix(), c) {
		return now.Truncate(time.Second).Add(time.Second)
	}
	return now
}

// revoked adds a revocation made through this instance: every session of
// userID but keep, at now.
func (k *revocationCache) revoked(userID int64, keep string, now time.Time) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.m.Load()
	m := make(map[int64]revocation, k.size(old)+1)
	if old != nil {
		for id, r := range *old {
			m[id] = r
		}
	}
	m[userID] = m[userID].then(now.UnixMilli(), keep)
	k.m.Store(&m)
}

func (k *revocationCache) size(m *map[int64]revocation) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// reload replaces the cache with the database's recent revocations. An
// entry added through this instance that the read did not see yet (its
// transaction committed after the read began) stays while it is recent.
// On failure the cache stays as it is.
func (k *revocationCache) reload(ctx context.Context) error {
	since := k.now().Add(-k.horizon).UnixMilli()
	m, err := k.st.revocationsSince(ctx, since)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old := k.m.Load(); old != nil {
		for id, r := range *old {
			if cur, ok := m[id]; r.validAfterMS > since && (!ok || r.validAfterMS > cur.validAfterMS) {
				m[id] = r
			}
		}
	}
	k.m.Store(&m)
	return nil
}

// start loads the cache once and keeps re-reading it until close.
func (k *revocationCache) start() {
	if k == nil {
		return
	}
	if err := k.reload(context.Background()); err != nil {
		k.log.Warn("authgin: reading the revocations failed; retrying in the background", "err", err)
	}
	go func() {
		defer close(k.done)
		t := time.NewTicker(k.interval)
		defer t.Stop()
		for {
			select {
			case <-k.stop:
				return
			case <-t.C:
				if err := k.reload(context.Background()); err != nil {
					k.log.Warn("authgin: reading the revocations failed", "err", err)
				}
			}
		}
	}()
}

// close stops the background reads and waits for the last one until ctx
// ends.
func (k *revocationCache) close(ctx context.Context) error {
	if k == nil {
		return nil
	}
	k.stopOnce.Do(func() { close(k.stop) })
	select {
	case <-k.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sessionsRevoked updates the in-process views after every session of
// userID but keep was revoked at now (store.revokeSessions): the strict
// cache forgets them and the revocation cache learns the revocation.
func (s *Service) sessionsRevoked(userID int64, keep string, now time.Time) {
	s.strict.clear()
	s.revoked.revoked(userID, keep, now)
}
