package authgin

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// groupCommit runs the writes of concurrent logins on SQLite in shared
// transactions. SQLite takes one writer at a time, and a transaction's
// BEGIN, locks and COMMIT (a WAL write) cost more than a login's few
// statements. So a login's transaction joins the ones waiting for the
// write turn, and whoever takes the turn commits them all together. When
// hashes are queued for a slot (the server is saturated and every login
// waits anyway), the one taking the turn first waits up to groupLinger
// for more to join, so that groups form (bench/README.md: logins under
// overload).
//
// A failing statement rolls back the whole group, and every transaction
// of it then runs again alone, so one login's failure (a violated
// constraint, a bug) is no other login's; an outage fails them all at once.
// PostgreSQL has no one-writer lock, and its server groups commits of its
// own: there (on is false) every transaction runs alone.
type groupCommit struct {
	st     *store
	on     bool
	queued func() bool // whether the server is saturated
	linger time.Duration
	max    int
	turn   chan struct{} // held by the caller committing a group
	full   chan struct{} // a group of max is waiting
	mu     sync.Mutex
	queue  []*groupTx
	// onGroup, when set, learns each group's size.
	onGroup func(n int)
}

// Group commit's shape: how long a saturated server waits for a group, and
// how many transactions may hold SQLite's write lock as one.
const (
	groupLinger = 25 * time.Millisecond
	groupMax    = 32
)

// groupTx is one caller's transaction in a group.
type groupTx struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *store) error
	done chan error // buffered: a committer never waits for its caller
}

func newGroupCommit(st *store, queued func() bool, onGroup func(n int)) *groupCommit {
	return &groupCommit{
		st: st, on: st.d.groupCommit, queued: queued, onGroup: onGroup, linger: groupLinger, max: groupMax,
		turn: make(chan struct{}, 1), full: make(chan struct{}, 1),
	}
}

// run runs fn in a transaction, maybe shared with other callers' (see
// groupCommit). fn may run twice (again alone when its group fails), so it
// must set, not add to, what it reports to the caller, and it must use the
// ctx it is given, which is not the caller's.
func (g *groupCommit) run(ctx context.Context, fn func(ctx context.Context, tx *store) error) error {
	if !g.on {
		return g.st.atomic(ctx, fn)
	}
	t := &groupTx{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, t)
	if len(g.queue) >= g.max {
		select {
		case g.full <- struct{}{}:
		default:
		}
	}
	g.mu.Unlock()
	for {
		select {
		case err := <-t.done:
			return err
		case g.turn <- struct{}{}:
			g.commitNext()
			<-g.turn
		case <-ctx.Done():
			// Gone from the queue, or its group's outcome goes unheard,
			// like a cancelled request's COMMIT.
			g.remove(t)
			return dbError(ctx.Err())
		}
	}
}

func (g *groupCommit) remove(t *groupTx) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.queue {
		if q == t {
			g.queue = slices.Delete(g.queue, i, i+1)
			return
		}
	}
}

// commitNext commits the transactions at the head of the queue (up to max)
// as one. The caller holds the turn.
func (g *groupCommit) commitNext() {
	if g.queued() {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n > 0 && n < g.max {
			select {
			case <-g.full: // stale
			default:
			}
			t := time.NewTimer(g.linger)
			select {
			case <-t.C:
			case <-g.full:
			}
			t.Stop()
		}
	}
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	group := make([]*groupTx, 0, n)
	for _, t := range g.queue[:n] {
		// A caller that gave up has left the queue, but it may leave
		// between here and its turn: its transaction then still commits.
		if t.ctx.Err() == nil {
			group = append(group, t)
		}
	}
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()
	if g.onGroup != nil {
		g.onGroup(len(group))
	}
	switch len(group) {
	case 0:
		return
	case 1:
		group[0].done <- g.st.atomic(group[0].ctx, group[0].fn)
		return
	}
	// The group belongs to no single request: its deadline
	// (Options.DBTimeout), not a caller's cancellation, bounds it.
	err := g.st.atomic(context.WithoutCancel(group[0].ctx), func(ctx context.Context, tx *store) error {
		for _, t := range group {
			if err := t.fn(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	var outage *storeError
	if err == nil || errors.As(err, &outage) {
		for _, t := range group {
			t.done <- err
		}
		return
	}
	for _, t := range group {
		t.done <- g.st.atomic(t.ctx, t.fn)
	}
}
