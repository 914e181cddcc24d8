package authgin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
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
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
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
	if err := db.AutoMigrate(models()...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	thr := newThrottler(db, time.Now, 0)
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

// TestSQLiteKeepsStatements: a connection prepares a statement once and
// reuses it; a query run again while its rows are open gets a statement of
// its own; a failed run leaves the statement usable; Exec of a SELECT and
// several statements in one string are not kept; the cache is bounded and
// Close finalizes it.
func TestSQLiteKeepsStatements(t *testing.T) {
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "stmts.db"))
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	ctx := context.Background()
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := sqlDB.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(q, err)
		}
	}
	mustExec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	const insert = "INSERT INTO t (id, v) VALUES (?, ?)"
	mustExec(insert, 1, "a")
	conn := rawSQLiteConn(t, sqlDB)
	kept := conn.stmts[insert]
	if kept == nil {
		t.Fatalf("%q not kept; kept: %v", insert, slices.Collect(maps.Keys(conn.stmts)))
	}
	mustExec(insert, 2, "b")
	if _, err := sqlDB.ExecContext(ctx, insert, 2, "dup"); !isUniqueViolation(err) {
		t.Fatalf("duplicate insert: %v", err)
	}
	mustExec(insert, 3, "c")
	if conn.stmts[insert] != kept {
		t.Fatal("statement prepared again")
	}

	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const query = "SELECT v FROM t WHERE id > ? ORDER BY id"
	read := func(rows *sql.Rows, n int) string {
		t.Helper()
		var out string
		for i := 0; i != n && rows.Next(); i++ {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out += v
		}
		return out
	}
	outer, err := tx.QueryContext(ctx, query, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := read(outer, 1)
	inner, err := tx.QueryContext(ctx, query, 1)
	if err != nil {
		t.Fatal(err)
	}
	if in := read(inner, -1); in != "bc" {
		t.Errorf("query run again while open: %q, want bc", in)
	}
	inner.Close()
	if got += read(outer, -1); got != "abc" {
		t.Errorf("open rows after the same query ran again: %q, want abc", got)
	}
	outer.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	mustExec("SELECT count(*) FROM t")
	mustExec("UPDATE t SET v = 'x' WHERE id = ?; UPDATE t SET v = 'y' WHERE id = 2", 1)
	var v1, v2 string
	if err := sqlDB.QueryRowContext(ctx, "SELECT (SELECT v FROM t WHERE id = 1), (SELECT v FROM t WHERE id = 2)").Scan(&v1, &v2); err != nil || v1+v2 != "xy" {
		t.Errorf("both statements of one Exec: %q %q, %v", v1, v2, err)
	}
	for q := range conn.stmts {
		if strings.Contains(q, ";") || q == "SELECT count(*) FROM t" {
			t.Errorf("kept %q", q)
		}
	}

	for i := range 2 * sqliteStmtCacheSize {
		var n int
		if err := sqlDB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) + %d FROM t WHERE id > ?", i), 0).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n := len(conn.stmts); n > sqliteStmtCacheSize {
		t.Errorf("%d statements kept, bound %d", n, sqliteStmtCacheSize)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(conn.stmts); n != 0 {
		t.Errorf("%d statements left after Close", n)
	}
}

// rawSQLiteConn returns the driver connection of a pool of one.
func rawSQLiteConn(t *testing.T, db *sql.DB) *sqliteConn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var conn *sqliteConn
	if err := c.Raw(func(dc any) error { conn = dc.(*sqliteConn); return nil }); err != nil {
		t.Fatal(err)
	}
	return conn
}
