package authgin

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestBindVars: the plain statements keep ? placeholders, and get
// PostgreSQL's numbered ones there.
func TestBindVars(t *testing.T) {
	q := "UPDATE t SET a = ?, b = ? WHERE id = ? RETURNING id"
	pg := &dialect{name: dialectPostgres, numbered: true}
	if got, want := pg.bind(q), "UPDATE t SET a = $1, b = $2 WHERE id = $3 RETURNING id"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	if got := (&dialect{name: dialectSQLite}).bind(q); got != q {
		t.Errorf("sqlite: %q, want it unchanged", got)
	}
}

// TestAccountLookup: the hand-written scan reads every column GORM's Find
// reads, NULL and set, on both backends.
func TestAccountLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db)
		c := e.client()
		wantStatus(t, c.register("carol@example.com", "Carol", "correct horse battery"), 200)
		wantStatus(t, c.register("dave@example.com", "dave", "correct horse battery"), 200)
		e.clock.Advance(time.Minute)
		wantStatus(t, c.post("/login", map[string]string{"login": "dave", "password": "correct horse battery"}), 200)
		if err := db.Model(&Account{}).Where("username_key = ?", "dave").
			Updates(map[string]any{"permissions": Permissions{"admin", "reports"}, "confirmed": true}).Error; err != nil {
			t.Fatal(err)
		}
		st := e.auth.svc.st
		ctx := context.Background()
		for _, key := range []string{"carol", "dave"} {
			var want Account
			if err := db.Where("username_key = ?", key).First(&want).Error; err != nil {
				t.Fatal(err)
			}
			byKey, err := st.accountByUsername(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			byID, err := st.accountByID(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []*Account{byKey, byID} {
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("%s: got %+v, want %+v", key, got, &want)
				}
			}
		}
		if a, err := st.accountByEmail(ctx, "nobody@example.com"); a != nil || err != nil {
			t.Errorf("unknown key: %v, %v", a, err)
		}
		if _, err := st.accountByID(ctx, 1<<40); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown id: %v", err)
		}
	})
}

// BenchmarkAccountLookup compares the plain account read every login runs
// with GORM's Find of the same row (SQLite), both under the store's
// deadline.
func BenchmarkAccountLookup(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a, err := svc.st.accountByUsername(ctx, "knownuser"); err != nil || a == nil {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("gorm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a Account
			ctx, cancel := dbDeadline(ctx, svc.st.timeout)
			res := svc.st.db.WithContext(ctx).Where("username_key = ?", "knownuser").Limit(1).Find(&a)
			cancel()
			if res.Error != nil || res.RowsAffected != 1 {
				b.Fatal(res.RowsAffected, res.Error)
			}
		}
	})
}

// TestAtomicRetriesDeadlock: two transactions that lock two accounts in
// opposite orders deadlock on their first run. The database rolls one of
// them back, and atomic runs it again, so both commit. (SQLite begins
// every transaction with the write lock and never deadlocks.)
func TestAtomicRetriesDeadlock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		if db.Name() == "sqlite" {
			t.Skip("SQLite transactions never deadlock")
		}
		e := newEnv(t, db)
		a := userID(e.client().register("dl1@example.com", "deadlock1", "correct horse battery"))
		b := userID(e.client().register("dl2@example.com", "deadlock2", "correct horse battery"))
		st := e.auth.svc.st

		var runs atomic.Int32
		var holding sync.WaitGroup // both hold their first lock
		holding.Add(2)
		lockBoth := func(first, second int64) error {
			var waited bool
			return st.atomic(context.Background(), func(ctx context.Context, tx *store) error {
				runs.Add(1)
				if _, err := tx.lockAccount(ctx, first); err != nil {
					return err
				}
				if !waited {
					waited = true
					holding.Done()
					holding.Wait()
				}
				_, err := tx.lockAccount(ctx, second)
				return err
			})
		}
		errs := make(chan error, 2)
		go func() { errs <- lockBoth(a, b) }()
		go func() { errs <- lockBoth(b, a) }()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("a transaction failed: %v", err)
			}
		}
		if got := runs.Load(); got != 3 {
			t.Errorf("%d runs, want 3: one deadlock victim run again", got)
		}
	})
}
