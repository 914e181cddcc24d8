package authgin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The settings must hold on every connection of the pool, not only on the
// first: read them back on all of them, held at once.
func TestOpenSQLiteSettings(t *testing.T) {
	db := openTestDB(t, "sqlite")
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var conns []*sql.Conn
	for range sqliteMaxConns {
		c, err := sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	want := map[string]string{
		"journal_mode":       "wal",
		"busy_timeout":       "10000",
		"synchronous":        "1", // NORMAL
		"foreign_keys":       "1",
		"journal_size_limit": fmt.Sprint(sqliteJournalSizeLimit),
		"cache_size":         fmt.Sprint(-sqliteCacheKiB),
	}
	for i, c := range conns {
		for pragma, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != w {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, w)
			}
		}
	}
}

// Transactions begin IMMEDIATE: an open transaction holds the write lock
// before its first statement, so a writer elsewhere is refused (here at
// once, with busy_timeout 0 on its connection) instead of the two
// deadlocking later when both upgrade from a read lock.
func TestOpenSQLiteImmediateTransactions(t *testing.T) {
	db := openTestDB(t, "sqlite")
	if err := db.Exec("CREATE TABLE t (x INTEGER)").Error; err != nil {
		t.Fatal(err)
	}
	tx := db.Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	defer tx.Rollback()

	sqlDB, _ := db.DB()
	ctx := context.Background()
	c, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	_, err = c.ExecContext(ctx, "INSERT INTO t (x) VALUES (1)")
	if code, ok := sqliteCode(err); !ok || code&0xff != sqliteBusy {
		t.Fatalf("write beside an open transaction: err = %v, want SQLITE_BUSY", err)
	}
	if !isUnavailable(err) {
		t.Errorf("isUnavailable(%v) = false", err)
	}
	c.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
}

// Regression: the WAL must stay bounded under sustained writes made of
// INSERT ... RETURNING statements read through GORM (Create with
// SkipDefaultTransaction, the throttle's upsert via Raw(...).Scan). Before
// the fix in sqliteConn, no checkpoint ever ran and the -wal file grew to
// about 110 MiB over these 5,000 rounds.
func TestSQLiteWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(db)
	migratedStore(t, db)
	ctx := context.Background()
	st, err := openStore(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	thr := newThrottler(st, time.Now)
	lots := Limit{Max: 1 << 40, Window: time.Hour}
	const rounds = 5000
	const bound = 6 << 20
	maxWAL := int64(0)
	for i := range rounds {
		now := time.Now()
		a := Account{
			Email: fmt.Sprintf("u%d@example.com", i), EmailKey: fmt.Sprintf("u%d@example.com", i),
			Username: fmt.Sprintf("u%d", i), UsernameKey: fmt.Sprintf("u%d", i),
			CreatedAt: now, UpdatedAt: now,
		}
		if err := db.WithContext(ctx).Create(&a).Error; err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 {
			t.Fatal("Create did not read back the id")
		}
		if _, err := thr.hit(ctx, fmt.Sprintf("login:ip:%d", i%50), lots); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			fi, err := os.Stat(path + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			maxWAL = max(maxWAL, fi.Size())
			if fi.Size() > bound {
				t.Fatalf("after %d rounds the WAL is %d KiB, want under %d KiB", i+1, fi.Size()>>10, bound>>10)
			}
		}
	}
	t.Logf("largest WAL seen: %d KiB", maxWAL>>10)
	var n int64
	if err := db.Model(&Account{}).Count(&n).Error; err != nil || n != rounds {
		t.Fatalf("count = %d, %v; want %d", n, err, rounds)
	}
}

// Exec and prepared statements with RETURNING report what they changed.
func TestSQLiteReturningThroughExec(t *testing.T) {
	db := openTestDB(t, "sqlite")
	if err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)").Error; err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	res, err := sqlDB.Exec("INSERT INTO t (x) VALUES (1), (2), (3) RETURNING id")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 3 {
		t.Errorf("RowsAffected = %d, want 3", n)
	}
	if id, _ := res.LastInsertId(); id != 3 {
		t.Errorf("LastInsertId = %d, want 3", id)
	}
	stmt, err := sqlDB.Prepare("UPDATE t SET x = x + 1 WHERE x >= ? RETURNING x")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	res, err = stmt.Exec(2)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("RowsAffected = %d, want 2", n)
	}
	var x int
	if err := stmt.QueryRow(100).Scan(&x); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("QueryRow on no rows: %v", err)
	}
	var sum int
	if err := db.Raw("SELECT sum(x) FROM t").Scan(&sum).Error; err != nil || sum != 1+3+4 {
		t.Errorf("sum = %d, %v; want 8", sum, err)
	}
}

func TestOpenSQLiteEmptyPath(t *testing.T) {
	if _, err := OpenSQLite(""); err == nil {
		t.Fatal("OpenSQLite(\"\") succeeded")
	}
}

func TestOpenSQLitePoolBounded(t *testing.T) {
	db := openTestDB(t, "sqlite")
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != sqliteMaxConns {
		t.Errorf("MaxOpenConnections = %d, want %d", got, sqliteMaxConns)
	}
}
