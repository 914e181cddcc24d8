package sqlitedrv

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

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

// TestSQLiteKeepsStatements: a connection prepares a statement once and
// reuses it; a query run again while its rows are open gets a statement of
// its own; a failed run leaves the statement usable; Exec of a SELECT and
// several statements in one string are not kept; the cache is bounded and
// Close finalizes it.
func TestSQLiteKeepsStatements(t *testing.T) {
	sqlDB := sql.OpenDB(&Connector{Drv: &sqlite.Driver{},
		DSN: "file:" + filepath.Join(t.TempDir(), "stmts.db") + "?_txlock=immediate&_time_format=sqlite"})
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
	conn := testConn(t, sqlDB)
	kept := conn.stmts[insert]
	if kept == nil {
		t.Fatalf("%q not kept; kept: %v", insert, slices.Collect(maps.Keys(conn.stmts)))
	}
	mustExec(insert, 2, "b")
	if _, err := sqlDB.ExecContext(ctx, insert, 2, "dup"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
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

	for i := range 2 * StmtCacheSize {
		var n int
		if err := sqlDB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) + %d FROM t WHERE id > ?", i), 0).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n := len(conn.stmts); n > StmtCacheSize {
		t.Errorf("%d statements kept, bound %d", n, StmtCacheSize)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(conn.stmts); n != 0 {
		t.Errorf("%d statements left after Close", n)
	}
}

// testConn returns the driver connection of a pool of one.
func testConn(t *testing.T, db *sql.DB) *conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var cn *conn
	if err := c.Raw(func(dc any) error { cn = dc.(*conn); return nil }); err != nil {
		t.Fatal(err)
	}
	return cn
}
