package authgin

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// TestBindVars: the plain statements keep SQLite's ? placeholders and get
// PostgreSQL's numbered ones.
func TestBindVars(t *testing.T) {
	q := "UPDATE t SET a = ?, b = ? WHERE id = ? RETURNING id"
	pg := &gorm.DB{Config: &gorm.Config{Dialector: postgres.New(postgres.Config{})}}
	if got, want := bindVars(pg, q), "UPDATE t SET a = $1, b = $2 WHERE id = $3 RETURNING id"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	lite := &gorm.DB{Config: &gorm.Config{Dialector: sqlite.Open("x")}}
	if got := bindVars(lite, q); got != q {
		t.Errorf("sqlite: %q, want it unchanged", got)
	}
}

func TestHasReturning(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO t (a) VALUES (?) RETURNING id": true,
		"insert into t (a) values (?) returning id": true,
		"DELETE FROM t WHERE a = ? ReTuRnInG *":     true,
		"SELECT returnin FROM t":                    false,
		"UPDATE t SET r = ?":                        false,
		"":                                          false,
	} {
		if got := hasReturning(q); got != want {
			t.Errorf("hasReturning(%q) = %v", q, got)
		}
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
			byKey, err := st.accountByKey(ctx, "username_key", key)
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
		if a, err := st.accountByKey(ctx, "email_key", "nobody@example.com"); a != nil || err != nil {
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
			if a, err := svc.st.accountByKey(ctx, "username_key", "knownuser"); err != nil || a == nil {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("gorm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a Account
			if found, err := svc.st.first(ctx, &a, "username_key = ?", "knownuser"); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}
