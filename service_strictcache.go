package authgin

import (
	"sync"
	"time"
)

// strictCache remembers, for Options.StrictCacheTTL, sessions that strict
// mode found live, trading that much revocation delay on other instances
// for fewer database reads. Revocations through this instance drop the
// entries they concern at once. A nil cache caches nothing.
type strictCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]strictEntry // by session id
}

type strictEntry struct {
	userID int64
	until  time.Time
}

// maxStrictEntries bounds the cache; when full, it starts over.
const maxStrictEntries = 1 << 16

func newStrictCache(ttl time.Duration) *strictCache {
	if ttl <= 0 {
		return nil
	}
	return &strictCache{ttl: ttl, m: make(map[string]strictEntry)}
}

func (k *strictCache) live(sid string, userID int64, now time.Time) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[sid]
	return ok && e.userID == userID && now.Before(e.until)
}

func (k *strictCache) put(sid string, userID int64, now time.Time) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= maxStrictEntries {
		clear(k.m)
	}
	k.m[sid] = strictEntry{userID: userID, until: now.Add(k.ttl)}
}

// forget drops one session.
func (k *strictCache) forget(sid string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	delete(k.m, sid)
	k.mu.Unlock()
}

// clear drops every entry (a user's sessions were revoked, a blackout set).
func (k *strictCache) clear() {
	if k == nil {
		return
	}
	k.mu.Lock()
	clear(k.m)
	k.mu.Unlock()
}
