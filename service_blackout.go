package authgin

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// beforeBlackout reports whether something created at t predates the
// cutoff (Unix ms; zero: no blackout).
func beforeBlackout(t time.Time, cutoffMS int64) bool {
	return cutoffMS > 0 && t.UnixMilli() < cutoffMS
}

// issuedBeforeBlackout is beforeBlackout for a token's iat, which has whole
// seconds: a token of the blackout's own second counts as before it, so no
// token older than the cutoff ever passes.
func issuedBeforeBlackout(iat, cutoffMS int64) bool {
	return cutoffMS > 0 && iat*1000 < cutoffMS
}

// blackoutCache is the blackout as the stateless middleware sees it: a
// copy in process memory, re-read from the database every interval in the
// background, so that checking it costs one atomic load and no database
// access per request. A blackout set on another instance reaches this one
// within the interval; one set through this instance applies at once.
type blackoutCache struct {
	cutoff atomic.Int64 // Unix ms; zero: none

	st       *store // bounds each read by Options.DBTimeout
	interval time.Duration
	log      *slog.Logger

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newBlackoutCache(st *store, interval time.Duration, log *slog.Logger) *blackoutCache {
	return &blackoutCache{st: st, interval: interval, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// rejects reports whether a token issued at iat (Unix seconds) predates the
// blackout.
func (b *blackoutCache) rejects(iat int64) bool { return issuedBeforeBlackout(iat, b.cutoff.Load()) }

// reload reads the blackout from the database; on failure the last value
// stays in force.
func (b *blackoutCache) reload(ctx context.Context) error {
	c, err := b.st.blackoutCutoff(ctx)
	if err != nil {
		return err
	}
	b.cutoff.Store(c)
	return nil
}

// start loads the blackout once and keeps re-reading it until close.
func (b *blackoutCache) start() {
	if err := b.reload(context.Background()); err != nil {
		b.log.Warn("authgin: reading the blackout failed; retrying in the background", "err", err)
	}
	go func() {
		defer close(b.done)
		t := time.NewTicker(b.interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				if err := b.reload(context.Background()); err != nil {
					b.log.Warn("authgin: reading the blackout failed", "err", err)
				}
			}
		}
	}()
}

// close stops the background reads and waits for the last one until ctx
// ends.
func (b *blackoutCache) close(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
