package authgin

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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
// A transaction that panics is a failure too: its caller gets a
// *txPanicError and the others run again alone, and the turn is given back
// whatever happens, so that one bad transaction never stalls later logins.
// Each transaction's statements see its own caller's context values
// (trace ids, loggers) under the group's deadline.
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
	// panicked is set when fn panicked: it is not run again, and its
	// caller gets this error.
	panicked *txPanicError
}

// txPanicError is the error of a transaction whose function panicked in a
// group commit: the panic is recovered in the committer, which may be
// another caller's request, and reported to the caller whose function it
// was, with the stack of the panic.
type txPanicError struct {
	value any
	stack []byte
}

func (e *txPanicError) Error() string {
	return fmt.Sprintf("authgin: transaction panicked: %v\n%s", e.value, e.stack)
}

// call runs t.fn in tx under ctx and turns a panic into a *txPanicError.
func (t *groupTx) call(ctx context.Context, tx *store) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.panicked = &txPanicError{value: r, stack: debug.Stack()}
			err = t.panicked
		}
	}()
	return t.fn(ctx, tx)
}

// alone runs t in a transaction of its own.
func (g *groupCommit) alone(t *groupTx) error {
	err := g.st.atomic(t.ctx, t.call)
	if t.panicked != nil {
		return t.panicked
	}
	return err
}

// memberContext is the context a member's function runs under inside a
// group's transaction: the member's own values, the group's deadline (a
// member's cancellation cannot abandon statements of a shared
// transaction).
func memberContext(group, member context.Context) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(member)
	if dl, ok := group.Deadline(); ok {
		return context.WithDeadline(ctx, dl)
	}
	return ctx, func() {}
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
// ctx it is given: in a group, one with ctx's values and the group's
// deadline instead of ctx's.
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
			g.commitTurn()
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

// commitTurn commits the next group with the turn the caller took, and
// gives the turn back even when something panics.
func (g *groupCommit) commitTurn() {
	defer func() { <-g.turn }()
	g.commitNext()
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
		group[0].done <- g.alone(group[0])
		return
	}
	// The group belongs to no single request: its deadline
	// (Options.DBTimeout), not a caller's cancellation, bounds it.
	var failed *groupTx
	err := g.st.atomic(context.WithoutCancel(group[0].ctx), func(ctx context.Context, tx *store) error {
		for _, t := range group {
			mctx, cancel := memberContext(ctx, t.ctx)
			err := t.call(mctx, tx)
			cancel()
			if err != nil {
				failed = t
				return err
			}
		}
		return nil
	})
	var outage *storeError
	if err == nil || (errors.As(err, &outage) && (failed == nil || failed.panicked == nil)) {
		for _, t := range group {
			t.done <- err
		}
		return
	}
	for _, t := range group {
		if t.panicked != nil {
			t.done <- t.panicked
			continue
		}
		t.done <- g.alone(t)
	}
}
