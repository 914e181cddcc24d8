package authgin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// countRows counts the rows of model.
func countRows(t *testing.T, db *gorm.DB, model any) int64 {
	t.Helper()
	var n int64
	if err := db.Model(model).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// mustPrune runs Prune and fails the test on an error.
func mustPrune(t *testing.T, e *testEnv) PruneResult {
	t.Helper()
	r, err := e.auth.Service().Prune(context.Background())
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	return r
}

// sameAnswer fails unless two error answers have one status and code.
func sameAnswer(t *testing.T, what string, before, after *response) {
	t.Helper()
	if before.status != after.status || before.str("code") != after.str("code") {
		t.Errorf("%s: %d %s before pruning, %d %s after", what, before.status, before.str("code"), after.status, after.str("code"))
	}
}

// TestPrune follows the rows of a user's life through Prune: nothing that a
// client could still use goes, everything that ended an hour ago does, and
// every answer is the same after pruning as before.
func TestPrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1 })
		const pw = "correct horse battery"

		alice := e.client()
		alice.register("alice@example.com", "alice", pw) // a session, a confirmation token
		confirm := linkToken(t, e.mail.wait(t, 1).Text, "https://app.example/confirm?token=")
		gone := e.client()
		wantStatus(t, loginAs(gone, "alice", pw), 200)
		goneToken := gone.jarCookie(testBase, refreshCookie)
		wantStatus(t, gone.post("/logout", nil), 200) // a revoked session
		wantError(t, loginAs(e.client(), "nobody", "wrong password"), 401, "invalid_credentials", "")
		wantStatus(t, e.client().post("/forgot_password", map[string]string{"email": "alice@example.com"}), 200)
		reset := linkToken(t, e.mail.waitWith(t, 1, "reset_password").Text, "https://app.example/reset_password?token=")
		events := countRows(t, db, &SecurityEvent{})
		if countRows(t, db, &throttleRow{}) == 0 || countRows(t, db, &passwordReset{}) != 1 || events == 0 {
			t.Fatal("the set-up left no throttle counter, reset token or event")
		}

		// Everything ended less than an hour ago, if at all.
		if r := mustPrune(t, e); r != (PruneResult{}) {
			t.Fatalf("fresh rows pruned: %+v", r)
		}

		// Two hours on: the logout and the reset token (1 h) ended more
		// than an hour ago.
		e.clock.Advance(2 * time.Hour)
		refreshGone := func() *response { return e.withRefresh(goneToken).post("/token/refresh", nil) }
		useReset := func() *response {
			return e.client().post("/password/"+reset, pwBody("new staple battery", "new staple battery"))
		}
		beforeRefresh, beforeReset := refreshGone(), useReset()
		wantError(t, beforeRefresh, 401, "invalid_token", "")
		wantError(t, beforeReset, 404, "invalid_reset_token", "")
		if r, want := mustPrune(t, e), (PruneResult{Sessions: 1, RefreshTokens: 1, Resets: 1}); r != want {
			t.Fatalf("after 2 h: pruned %+v, want %+v", r, want)
		}
		sameAnswer(t, "refresh of the ended session", beforeRefresh, refreshGone())
		sameAnswer(t, "expired reset token", beforeReset, useReset())
		wantStatus(t, alice.post("/token/refresh", nil), 200) // the live session is untouched

		// A day later every counter's window (24 h at most) has passed.
		e.clock.Advance(26 * time.Hour)
		counters := countRows(t, db, &throttleRow{})
		if r, want := mustPrune(t, e), (PruneResult{Throttles: counters}); r != want {
			t.Fatalf("after 28 h: pruned %+v, want %+v", r, want)
		}
		if n := countRows(t, db, &throttleRow{}); n != 0 {
			t.Fatalf("%d counters left", n)
		}

		// The confirmation token (48 h) has ended an hour ago.
		e.clock.Advance(22 * time.Hour)
		confirmIt := func() *response { return e.client().post("/confirm/"+confirm, nil) }
		before := confirmIt()
		wantError(t, before, 403, "invalid_confirmation_token", "")
		if r, want := mustPrune(t, e), (PruneResult{Confirmations: 1}); r != want {
			t.Fatalf("after 50 h: pruned %+v, want %+v", r, want)
		}
		sameAnswer(t, "expired confirmation token", before, confirmIt())

		// A week without use ends alice's session (RefreshIdleTTL): it goes
		// with both its tokens, the rotated one and the live one.
		e.clock.Advance(7 * 24 * time.Hour)
		beforeRefresh = alice.post("/token/refresh", nil)
		wantError(t, beforeRefresh, 401, "invalid_token", "")
		r := mustPrune(t, e)
		if r.Sessions != 1 || r.RefreshTokens != 2 || r.Confirmations+r.Resets+r.Events != 0 {
			t.Fatalf("after the idle week: pruned %+v, want 1 session and 2 refresh tokens", r)
		}
		sameAnswer(t, "refresh of the idle session", beforeRefresh, alice.post("/token/refresh", nil))
		if n := countRows(t, db, &session{}) + countRows(t, db, &refreshToken{}); n != 0 {
			t.Fatalf("%d sessions and tokens left", n)
		}
		// Without EventRetention the security log is kept whole.
		if n := countRows(t, db, &SecurityEvent{}); n < events {
			t.Fatalf("events went from %d to %d", events, n)
		}
		wantStatus(t, loginAs(e.client(), "alice", pw), 200)
	})
}

// TestPruneEvents: with EventRetention, older security events go and newer
// ones stay.
func TestPruneEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1; o.EventRetention = 24 * time.Hour })
		c := e.client()
		c.register("eve@example.com", "eve", "correct horse battery")
		old := countRows(t, db, &SecurityEvent{})
		e.clock.Advance(25 * time.Hour)
		wantStatus(t, loginAs(e.client(), "eve", "correct horse battery"), 200)
		if r := mustPrune(t, e); r.Events != old || old == 0 {
			t.Fatalf("pruned %d events, want the %d of the first day", r.Events, old)
		}
		var left []SecurityEvent
		if err := db.Find(&left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].Event != EventLogin {
			t.Fatalf("events left: %+v", left)
		}
	})
}

// TestPruneBatches: Prune works through more rows than one batch, and more
// refresh tokens of one session than a batch, and keeps counters that a
// lockout or a recent window still needs.
func TestPruneBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1 })
		now := e.clock.Now()
		dayAgo := now.Add(-25 * time.Hour)
		const dead = 2*pruneBatch + 3
		var counters []throttleRow
		var sessions []session
		var tokens []refreshToken
		for i := range dead {
			counters = append(counters, throttleRow{Key: fmt.Sprintf("test:%d", i), WindowStart: dayAgo.UnixMilli(), Count: 3})
		}
		for i := range pruneBatch + 7 {
			sid := fmt.Sprintf("s%042d", i)
			sessions = append(sessions, session{ID: sid, UserID: 1, CreatedAt: dayAgo, LastUsedAt: dayAgo, ExpiresAt: now.Add(time.Hour), RevokedAt: &dayAgo})
			tokens = append(tokens, refreshToken{TokenHash: fmt.Sprintf("%064d", i), SessionID: sid, UserID: 1, CreatedAt: dayAgo})
		}
		// A revoked session that was refreshed more often than a batch.
		many := strings.Repeat("M", 43)
		sessions = append(sessions, session{ID: many, UserID: 1, CreatedAt: dayAgo, LastUsedAt: dayAgo, ExpiresAt: now.Add(time.Hour), RevokedAt: &dayAgo})
		for i := range 2*pruneBatch + 1 {
			tokens = append(tokens, refreshToken{TokenHash: fmt.Sprintf("m%063d", i), SessionID: many, UserID: 1, CreatedAt: dayAgo})
		}
		// Kept: a lockout still running, a window still open, a live session.
		counters = append(counters,
			throttleRow{Key: "test:locked", WindowStart: dayAgo.UnixMilli(), Count: 9, BlockedUntil: now.Add(time.Minute).UnixMilli()},
			throttleRow{Key: "test:open", WindowStart: now.Add(-time.Hour).UnixMilli(), Count: 1})
		sessions = append(sessions, session{ID: strings.Repeat("L", 43), UserID: 1, CreatedAt: dayAgo, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)})
		tokens = append(tokens, refreshToken{TokenHash: strings.Repeat("f", 64), SessionID: strings.Repeat("L", 43), UserID: 1, CreatedAt: now})
		for _, rows := range []any{counters, sessions, tokens} {
			if err := db.CreateInBatches(rows, 200).Error; err != nil {
				t.Fatal(err)
			}
		}

		r := mustPrune(t, e)
		if want := (PruneResult{Throttles: dead, Sessions: pruneBatch + 8, RefreshTokens: 3*pruneBatch + 8}); r != want {
			t.Fatalf("pruned %+v, want %+v", r, want)
		}
		var keys []string
		db.Model(&throttleRow{}).Order("bucket").Pluck("bucket", &keys)
		if strings.Join(keys, ",") != "test:locked,test:open" {
			t.Errorf("counters left: %v", keys)
		}
		if countRows(t, db, &session{}) != 1 || countRows(t, db, &refreshToken{}) != 1 {
			t.Error("the live session or its token went")
		}
	})
}

// TestPrunerRuns: the background pruner prunes at its interval, logs what
// it deleted, and close stops it.
func TestPrunerRuns(t *testing.T) {
	e := newEnv(t, openTestDB(t, "sqlite"), func(o *Options) { o.PruneInterval = -1 })
	old := e.clock.Now().Add(-48 * time.Hour).UnixMilli()
	add := func(key string) {
		if err := e.db.Create(&throttleRow{Key: key, WindowStart: old, Count: 1}).Error; err != nil {
			t.Fatal(err)
		}
	}
	add("test:first")
	p := newPruner(e.auth.Service(), 0, 10*time.Millisecond, e.auth.o.Logger)
	p.start()
	waitGone := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); countRows(t, e.db, &throttleRow{}) > 0; {
			if time.Now().After(deadline) {
				t.Fatal("the pruner never deleted the dead counter")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitGone()
	add("test:second") // pruned at a later interval, not only the first run
	waitGone()
	if err := p.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "authgin: pruned") || !strings.Contains(e.logs.String(), "throttles=1") {
		t.Errorf("no prune logged:\n%s", e.logs.String())
	}
	add("test:after")
	time.Sleep(50 * time.Millisecond)
	if countRows(t, e.db, &throttleRow{}) != 1 {
		t.Error("the pruner ran after close")
	}

	// Turned off, it never runs, and close returns at once.
	off := newPruner(e.auth.Service(), 0, -1, e.auth.o.Logger)
	off.start()
	time.Sleep(50 * time.Millisecond)
	if err := off.close(context.Background()); err != nil || countRows(t, e.db, &throttleRow{}) != 1 {
		t.Errorf("a pruner with a negative interval ran (close: %v)", err)
	}
}

// TestPruneRacesHit: a counter that a hit revives while Prune is deleting
// it stays, so the hit is not lost. Prune reads the row as dead before the
// hit commits, and its DELETE, which waits for the hit's transaction, must
// check the row again.
func TestPruneRacesHit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1 })
		old := e.clock.Now().Add(-48 * time.Hour).UnixMilli()
		if err := db.Create(&throttleRow{Key: "race", WindowStart: old, Count: 5}).Error; err != nil {
			t.Fatal(err)
		}
		svc := e.auth.Service()
		ctx := context.Background()
		tx := db.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		// The hit starts a new window: count 1.
		if _, err := svc.limits.within(&store{db: tx, d: svc.st.d, inTx: true}).hit(ctx, "race", Limit{Max: 10, Window: time.Minute}); err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		pruned := make(chan error, 1)
		go func() {
			_, err := svc.Prune(ctx)
			pruned <- err
		}()
		if db.Dialector.Name() == "postgres" {
			// Until the DELETE waits for the hit's row lock.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
				var waiting int64
				db.Raw("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM throttles%'").Scan(&waiting)
				if waiting > 0 {
					break
				}
				if time.Now().After(deadline) {
					tx.Rollback()
					t.Fatal("Prune's DELETE never waited for the hit")
				}
			}
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		if err := <-pruned; err != nil {
			t.Fatal(err)
		}
		var rows []throttleRow
		db.Where("bucket = ?", "race").Find(&rows)
		if len(rows) != 1 || rows[0].Count != 1 {
			t.Fatalf("the revived counter is %+v, want one row with count 1", rows)
		}
	})
}

// TestPruneDatabaseHangPostgres: on a database that stops answering, Prune
// fails within DBTimeout with an outage (not a hang), Close stops a
// background pass stuck on it, and Prune works again once the database is
// back.
func TestPruneDatabaseHangPostgres(t *testing.T) {
	db, proxy := postgresViaProxy(t)
	e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1; o.DBTimeout = 300 * time.Millisecond })
	svc := e.auth.Service()
	proxy.Hang()
	start := time.Now()
	_, err := svc.Prune(context.Background())
	if !isUnavailable(err) {
		t.Fatalf("Prune on a hung database: %v, want an outage", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Prune took %v on a hung database (DBTimeout 300ms)", d)
	}

	p := newPruner(svc, 0, time.Hour, e.auth.o.Logger)
	p.start()
	time.Sleep(100 * time.Millisecond) // inside its first statement
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.close(ctx); err != nil {
		t.Fatalf("close of a pruner stuck on a hung database: %v", err)
	}

	proxy.Restore()
	if _, err := svc.Prune(context.Background()); err != nil {
		t.Fatalf("Prune after the database came back: %v", err)
	}
}

// TestPruneIntervalShort: with a PruneInterval shorter than the first
// pass's minute, the first pass comes after PruneInterval.
func TestPruneIntervalShort(t *testing.T) {
	db := openTestDB(t, "sqlite")
	e := newEnv(t, db, func(o *Options) { o.PruneInterval = 50 * time.Millisecond })
	if err := db.Create(&throttleRow{Key: "dead", WindowStart: 0, Count: 1}).Error; err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); countRows(t, e.db, &throttleRow{}) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a dead counter outlived 20 s with PruneInterval 50 ms")
		}
	}
}

// TestPruneBesideWrites: a prune pass deleting many dead sessions and
// refresh tokens while clients log in and refresh fails none of their
// requests (on MySQL, a delete that locked the gaps of its scan
// deadlocked with the logins' inserts).
func TestPruneBesideWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) {
			o.PruneInterval = -1
			off := Limit{Max: -1}
			o.Limits.LoginIP, o.Limits.LoginAccount, o.Limits.RefreshSession = off, off, off
		})
		const pw = "correct horse battery"
		uid := userID(e.client().register("busy@example.com", "busy", pw))
		// Dead sessions, each with a few rotated refresh tokens.
		ended := e.clock.Now().Add(-3 * time.Hour)
		for batch := range 6 {
			var sessions []session
			var tokens []refreshToken
			for i := range 200 {
				sid := fmt.Sprintf("dead-%d-%d", batch, i)
				sessions = append(sessions, session{ID: sid, UserID: uid, CreatedAt: ended, LastUsedAt: ended,
					ExpiresAt: ended.Add(time.Hour), RevokedAt: &ended})
				for j := range 3 {
					tokens = append(tokens, refreshToken{TokenHash: hashOpaque(fmt.Sprint(sid, j)), SessionID: sid,
						UserID: uid, CreatedAt: ended, ConsumedAt: &ended})
				}
			}
			if err := db.Create(&sessions).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&tokens).Error; err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var failed sync.Map
		for w := range 4 {
			wg.Go(func() {
				c := e.client()
				for i := 0; ctx.Err() == nil; i++ {
					r := loginAs(c, "busy", pw)
					if r.status == 200 {
						r = c.post("/token/refresh", nil)
					}
					if r.status != 200 {
						failed.Store(fmt.Sprint(w, i), fmt.Sprintf("%d %s", r.status, r.raw))
					}
				}
			})
		}
		r, err := e.auth.Service().Prune(context.Background())
		cancel()
		wg.Wait()
		if err != nil || r.Sessions != 1200 || r.RefreshTokens != 3600 {
			t.Errorf("prune: %+v, %v; want 1200 sessions and 3600 refresh tokens", r, err)
		}
		failed.Range(func(k, v any) bool {
			t.Errorf("a request beside the prune: %v", v)
			return true
		})
	})
}
