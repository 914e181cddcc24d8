package authgin

import (
	"context"
	"log/slog"
	"time"
)

// PruneResult counts the rows one Prune deleted, by table.
type PruneResult struct {
	Sessions      int64 // ended sessions: expired, idle or revoked
	RefreshTokens int64 // the refresh tokens of ended sessions
	Confirmations int64 // expired or used email confirmation tokens
	Resets        int64 // expired or used password reset tokens
	Throttles     int64 // counters whose window and lockout have passed
	Events        int64 // security events older than Options.EventRetention
	Revocations   int64 // revocations older than any unexpired access token
	OAuthStates   int64 // social logins in flight that expired more than an hour ago
	MFAChallenges int64 // mfa_token challenges and WebAuthn ceremonies that expired
}

// Total is the number of rows deleted.
func (r PruneResult) Total() int64 {
	return r.Sessions + r.RefreshTokens + r.Confirmations + r.Resets + r.Throttles + r.Events + r.Revocations +
		r.OAuthStates + r.MFAChallenges
}

const (
	// pruneGrace keeps what ended less than this ago: a request that read
	// a row just before it ended still finds it.
	pruneGrace = time.Hour
	// pruneFirst is when Register's background pruning first runs: soon,
	// so that instances restarted more often than PruneInterval prune too.
	pruneFirst = time.Minute
)

// Prune deletes what no request can use any more: sessions that ended
// (expired, idle past RefreshIdleTTL or revoked) more than an hour ago
// with their refresh tokens, confirmation and reset tokens that expired or
// were used more than an hour ago, throttle counters whose window and
// lockout have passed (the same as no counter), revocations older than
// every access token they could void, and, when
// Options.EventRetention is set, older security events. Nothing a client
// could still present or be counted against goes: every answer stays the
// same. It reads in key order and deletes in batches, pausing after each
// as long as it took, so it may run while the app serves, on every
// instance at once; Register runs it every Options.PruneInterval.
func (s *Service) Prune(ctx context.Context) (PruneResult, error) {
	now := s.now()
	ended := now.Add(-pruneGrace)
	c := pruneCutoffs{
		ended: ended,
		idle:  ended.Add(-s.o.RefreshIdleTTL),
		// A counter is dead once no lockout runs and its window has passed
		// for the longest window of any limit: a hit then starts afresh,
		// exactly as without a row.
		nowMS:    now.UnixMilli(),
		windowMS: now.UnixMilli() - s.o.Limits.longestWindow().Milliseconds(),
		// A revocation voids only tokens issued before it, which have all
		// expired once AccessTTL (and the cache's margin) has passed.
		revokedMS: ended.Add(-s.o.AccessTTL - revocationMargin).UnixMilli(),
	}
	if s.o.EventRetention > 0 {
		c.eventsEnd = now.Add(-s.o.EventRetention)
	}
	// Pause as long as each batch took, so that the app's writes get at
	// least half of the database's time: SQLite's busy handler sleeps ever
	// longer between tries, and a writer that took the lock back at once
	// would starve it.
	p, err := s.st.prune(ctx, c, sleepCtx)
	r := PruneResult{Sessions: p.sessions, RefreshTokens: p.refreshTokens, Confirmations: p.confirmations,
		Resets: p.resets, Throttles: p.throttles, Events: p.events, Revocations: p.revocations, OAuthStates: p.oauthStates}
	if err == nil {
		r.MFAChallenges, err = s.st.pruneChallenges(ctx, ended)
	}
	if err == nil {
		var n int64
		n, err = s.st.pruneCeremonies(ctx, ended)
		r.MFAChallenges += n
	}
	return r, err
}

// sleepCtx waits for d or until ctx ends, and then returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// longestWindow is the longest Window of l's limits.
func (l *Limits) longestWindow() time.Duration {
	var w time.Duration
	for _, f := range l.named() {
		w = max(w, f.v.Window)
	}
	return w
}

// pruner runs Service.Prune in the background until close.
type pruner struct {
	svc             *Service
	first, interval time.Duration
	log             *slog.Logger

	// ctx ends with close, which so cancels a run in progress.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// newPruner returns a pruner of svc that runs first after first, then
// every interval; interval < 0 makes it do nothing.
func newPruner(svc *Service, first, interval time.Duration, log *slog.Logger) *pruner {
	ctx, cancel := context.WithCancel(context.Background())
	return &pruner{svc: svc, first: first, interval: interval, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (p *pruner) start() {
	if p.interval < 0 {
		close(p.done)
		return
	}
	go func() {
		defer close(p.done)
		t := time.NewTimer(p.first)
		defer t.Stop()
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
			r, err := p.svc.Prune(p.ctx)
			switch {
			case err != nil && p.ctx.Err() == nil:
				p.log.Warn("authgin: pruning failed; retrying at the next interval", "err", err, "deleted", r.Total())
			case r.Total() > 0:
				p.log.Info("authgin: pruned", "sessions", r.Sessions, "refresh_tokens", r.RefreshTokens,
					"confirmations", r.Confirmations, "resets", r.Resets, "throttles", r.Throttles, "events", r.Events,
					"revocations", r.Revocations)
			}
			t.Reset(p.interval)
		}
	}()
}

// close stops the pruning, cancelling a run in progress, and waits for it
// until ctx ends.
func (p *pruner) close(ctx context.Context) error {
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
