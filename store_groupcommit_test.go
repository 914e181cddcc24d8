package authgin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// newTestGroupCommit returns a group commit on a fresh SQLite database that
// lingers for a group of max (or an hour) whenever queued is set.
func newTestGroupCommit(t *testing.T, max int, queued *atomic.Bool) *groupCommit {
	t.Helper()
	st := migratedStore(t, openTestDB(t, "sqlite"))
	st.timeout = 5 * time.Second
	g := newGroupCommit(st, queued.Load, nil)
	if !g.on {
		t.Fatal("group commit is off on SQLite")
	}
	g.linger, g.max = time.Hour, max
	return g
}

// insertBucket is a transaction that inserts a throttle row named bucket
// and reports the transaction it ran in.
func insertBucket(bucket string, ran func(tx *store)) func(ctx context.Context, tx *store) error {
	return func(ctx context.Context, tx *store) error {
		ran(tx)
		_, err := tx.exec(ctx, "INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, 0, 1, 0)", bucket)
		return err
	}
}

func bucketCount(t *testing.T, g *groupCommit) int64 {
	t.Helper()
	var n int64
	if err := g.st.db.Model(&throttleRow{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGroupCommitShares(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	const n = 8
	g := newTestGroupCommit(t, n, &queued)
	var mu sync.Mutex
	txs := map[gorm.ConnPool]int{}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- g.run(context.Background(), insertBucket(fmt.Sprint("b", i), func(tx *store) {
				mu.Lock()
				txs[tx.db.Statement.ConnPool]++
				mu.Unlock()
			}))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The first to take the turn waits (an hour at most) until all n are
	// queued, and commits them as one.
	if len(txs) != 1 {
		t.Errorf("%d transactions ran in %d different ones, want all in one", n, len(txs))
	}
	if got := bucketCount(t, g); got != n {
		t.Errorf("%d rows committed, want %d", got, n)
	}
}

func TestGroupCommitAloneWhenNotSaturated(t *testing.T) {
	var queued atomic.Bool // no hash waits for a slot: nobody lingers
	g := newTestGroupCommit(t, 8, &queued)
	done := make(chan error, 1)
	go func() { done <- g.run(context.Background(), insertBucket("a", func(*store) {})) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a lone transaction waited for a group while no hash was queued")
	}
	if got := bucketCount(t, g); got != 1 {
		t.Errorf("%d rows committed, want 1", got)
	}
}

// runGroup queues fns while holding the turn, then lets one group commit
// them, and returns each caller's error.
func runGroup(t *testing.T, g *groupCommit, fns ...func(ctx context.Context, tx *store) error) []error {
	t.Helper()
	g.turn <- struct{}{}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = g.run(context.Background(), fn) })
		waitQueued(t, g, i+1) // in this order
	}
	<-g.turn
	wg.Wait()
	return errs
}

func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", q, n)
		}
	}
}

func TestGroupCommitIsolatesFailure(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	g := newTestGroupCommit(t, 3, &queued)
	var calls [3]atomic.Int32
	count := func(i int) func(*store) { return func(*store) { calls[i].Add(1) } }
	// A transaction that writes, then fails (not an outage).
	errBroken := errors.New("broken")
	broken := func(ctx context.Context, tx *store) error {
		if err := insertBucket("broken", count(1))(ctx, tx); err != nil {
			return err
		}
		return errBroken
	}
	errs := runGroup(t, g, insertBucket("a", count(0)), broken, insertBucket("c", count(2)))
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the others' transactions failed with the broken one: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], errBroken) {
		t.Errorf("the broken transaction: %v, want its own error", errs[1])
	}
	var buckets []string
	if err := g.st.db.Model(&throttleRow{}).Order("bucket").Pluck("bucket", &buckets).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(buckets) != "[a c]" {
		t.Errorf("committed rows %v, want [a c] (nothing of the failed transaction)", buckets)
	}
	// The third never ran in the group: it stopped at the broken one.
	for i, want := range []int32{2, 2, 1} {
		if got := calls[i].Load(); got != want {
			t.Errorf("transaction %d ran %d times, want %d", i, got, want)
		}
	}
}

func TestGroupCommitOutageFailsAll(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	g := newTestGroupCommit(t, 3, &queued)
	var calls atomic.Int32
	count := func(*store) { calls.Add(1) }
	down := func(ctx context.Context, tx *store) error {
		calls.Add(1)
		return &storeError{errors.New("database is down")}
	}
	errs := runGroup(t, g, insertBucket("a", count), down, insertBucket("c", count))
	for i, err := range errs {
		if code := httpError(err).Status; code != http.StatusServiceUnavailable {
			t.Errorf("transaction %d: %v (status %d), want the outage (503)", i, err, code)
		}
	}
	// Not again one by one: each would wait out the outage on its own.
	if got := calls.Load(); got != 2 {
		t.Errorf("transactions ran %d times, want 2 (the group's first two, once)", got)
	}
	if got := bucketCount(t, g); got != 0 {
		t.Errorf("%d rows committed, want none", got)
	}
}

func TestGroupCommitCallerGivesUp(t *testing.T) {
	var queued atomic.Bool
	g := newTestGroupCommit(t, 8, &queued)
	g.turn <- struct{}{} // a group is committing
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() { done <- g.run(ctx, insertBucket("gone", func(*store) { ran.Store(true) })) }()
	waitQueued(t, g, 1)
	cancel()
	if err := <-done; httpError(err).Status != http.StatusServiceUnavailable {
		t.Errorf("a caller that gave up: %v, want an unavailable error", err)
	}
	waitQueued(t, g, 0)
	<-g.turn
	if err := g.run(context.Background(), insertBucket("next", func(*store) {})); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Error("the transaction of a caller that gave up ran")
	}
	if got := bucketCount(t, g); got != 1 {
		t.Errorf("%d rows committed, want 1", got)
	}
}

func TestGroupCommitOffOnPostgres(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		g := newGroupCommit(migratedStore(t, db), func() bool { return true }, nil)
		if want := db.Dialector.Name() == "sqlite"; g.on != want {
			t.Errorf("group commit on = %v, want %v", g.on, want)
		}
	})
}

// TestLoginGroupCommit logs in many clients at once through a single
// hashing slot, held until every login waits for it, so that their
// transactions commit in groups (on SQLite): every login must still get
// its own session, event and tokens, and its backoff must be reset.
func TestLoginGroupCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.HashConcurrency = 1 })
		const users, each = 4, 5
		for i := range users {
			wantStatus(t, e.client().register(fmt.Sprintf("u%d@example.com", i), fmt.Sprint("user", i), "correct horse battery"), 200)
		}
		svc := e.auth.svc
		var largest atomic.Int64
		svc.loginTx = newGroupCommit(svc.st, svc.hasher.queued, func(n int) {
			if int64(n) > largest.Load() {
				largest.Store(int64(n))
			}
		})
		svc.hasher.sem <- struct{}{}
		var wg sync.WaitGroup
		status := make(chan int, users*each)
		for i := range users * each {
			wg.Go(func() {
				c := e.client()
				r := c.post("/login", map[string]string{"login": fmt.Sprint("user", i%users), "password": "correct horse battery"})
				if r.status == 200 {
					if c.do("GET", "/api/me", nil).status != 200 {
						r.status = -1
					}
				}
				status <- r.status
			})
		}
		for deadline := time.Now().Add(30 * time.Second); svc.hasher.waiting.Load() < users*each; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				<-svc.hasher.sem
				t.Fatalf("%d logins wait for the hashing slot, want %d", svc.hasher.waiting.Load(), users*each)
			}
		}
		<-svc.hasher.sem
		wg.Wait()
		close(status)
		for code := range status {
			if code != 200 {
				t.Errorf("login: status %d, want 200 with a working session", code)
			}
		}
		var sessions, events, counters int64
		db.Model(&session{}).Count(&sessions)
		db.Model(&SecurityEvent{}).Where("event = ?", EventLogin).Count(&events)
		db.Model(&throttleRow{}).Where("bucket LIKE ?", "login:account:%").Count(&counters)
		if sessions != users*(each+1) || events != users*each || counters != 0 {
			t.Errorf("%d sessions, %d login events, %d backoff counters; want %d, %d, 0",
				sessions, events, counters, users*(each+1), users*each)
		}
		if grouped := largest.Load() > 1; grouped != svc.loginTx.on {
			t.Errorf("largest group %d with group commit on = %v", largest.Load(), svc.loginTx.on)
		}
	})
}

// TestGroupCommitPanic: a transaction that panics, in a group or alone,
// fails with an error for its own caller only, the others of its group
// commit, and the write turn is free for the next login at once.
func TestGroupCommitPanic(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	g := newTestGroupCommit(t, 3, &queued)
	var calls [3]atomic.Int32
	count := func(i int) func(*store) { return func(*store) { calls[i].Add(1) } }
	boom := func(ctx context.Context, tx *store) error {
		if err := insertBucket("boom", count(1))(ctx, tx); err != nil {
			return err
		}
		panic("boom")
	}
	errs := runGroup(t, g, insertBucket("a", count(0)), boom, insertBucket("c", count(2)))
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the others' transactions failed with the panicking one: %v, %v", errs[0], errs[2])
	}
	var pe *txPanicError
	if !errors.As(errs[1], &pe) || pe.value != "boom" {
		t.Errorf("the panicking transaction: %v, want a *txPanicError of its panic", errs[1])
	}
	if code := httpError(errs[1]).Status; code != http.StatusInternalServerError {
		t.Errorf("the panicking transaction answers %d, want 500", code)
	}
	// Once in the group; the panicking one is not run again.
	for i, want := range []int32{2, 1, 1} {
		if got := calls[i].Load(); got != want {
			t.Errorf("transaction %d ran %d times, want %d", i, got, want)
		}
	}
	// Alone, too (nobody lingers for a group).
	queued.Store(false)
	if err := g.run(context.Background(), func(context.Context, *store) error { panic("alone") }); !errors.As(err, &pe) {
		t.Errorf("a lone panicking transaction: %v, want a *txPanicError", err)
	}
	// The turn is free: the next transaction commits at once, not after
	// its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.run(ctx, insertBucket("next", func(*store) {})); err != nil {
		t.Fatalf("the transaction after the panics: %v", err)
	}
	var buckets []string
	if err := g.st.db.Model(&throttleRow{}).Order("bucket").Pluck("bucket", &buckets).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(buckets) != "[a c next]" {
		t.Errorf("committed rows %v, want [a c next]", buckets)
	}
}

// TestGroupCommitMemberContext: in a group, each transaction's statements
// run with its own caller's context values (a trace id), not the first
// member's, under the group's deadline.
func TestGroupCommitMemberContext(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	g := newTestGroupCommit(t, 3, &queued)
	type traceKey struct{}
	g.turn <- struct{}{}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for i, id := range []string{"t0", "t1", "t2"} {
		ctx := context.WithValue(context.Background(), traceKey{}, id)
		wg.Go(func() {
			err := g.run(ctx, func(ctx context.Context, tx *store) error {
				got, _ := ctx.Value(traceKey{}).(string)
				if _, ok := ctx.Deadline(); !ok {
					got += " (no deadline)"
				}
				mu.Lock()
				seen[id] = got
				mu.Unlock()
				_, err := tx.exec(ctx, "INSERT INTO throttles (bucket, window_start, count, blocked_until) VALUES (?, 0, 1, 0)", id)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
		waitQueued(t, g, i+1)
	}
	<-g.turn
	wg.Wait()
	for id, got := range seen {
		if got != id {
			t.Errorf("transaction %s ran with trace id %q, want its own", id, got)
		}
	}
	if got := bucketCount(t, g); got != 3 {
		t.Errorf("%d rows committed, want 3", got)
	}
}
