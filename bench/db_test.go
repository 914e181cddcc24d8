package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// backend is one database the database benchmarks run on: its gorm handle
// (no default transaction, as authgin configures it) and the pool under it,
// which the raw database/sql twins use, so both share one pool and one
// round-trip counter.
type backend struct {
	name string
	gorm *gorm.DB
	pool countingPool
	// placeholder renders the n-th (1-based) bind parameter.
	placeholder func(n int) string
}

// sqliteDSN is the configuration of authgin.OpenSQLite: WAL,
// synchronous=NORMAL, busy timeout, immediate write transactions.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// backends opens SQLite in a temporary directory and, when
// AUTHGIN_TEST_POSTGRES_DSN is set, PostgreSQL.
func backends(tb testing.TB) []backend {
	tb.Helper()
	// gorm.Open keeps and changes its config: one each.
	cfg := func() *gorm.Config { return &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true} }
	lite, err := gorm.Open(sqlite.Open(sqliteDSN(filepath.Join(tb.TempDir(), "bench.db"))), cfg())
	if err != nil {
		tb.Fatal(err)
	}
	out := []backend{newBackend(tb, "sqlite", lite, func(int) string { return "?" })}
	if dsn := os.Getenv("AUTHGIN_TEST_POSTGRES_DSN"); dsn != "" {
		pg, err := gorm.Open(postgres.Open(dsn), cfg())
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, newBackend(tb, "postgres", pg, func(n int) string { return "$" + strconv.Itoa(n) }))
	}
	return out
}

func newBackend(tb testing.TB, name string, db *gorm.DB, ph func(int) string) backend {
	pool := countRoundTrips(tb, db)
	tb.Cleanup(func() { pool.db.Close() })
	return backend{name: name, gorm: db, pool: pool, placeholder: ph}
}

// floorRow is a small row with a unique key, like a session or a user.
type floorRow struct {
	ID    int64  `gorm:"primaryKey"`
	Name  string `gorm:"uniqueIndex;size:64"`
	Value string `gorm:"size:255"`
}

// BenchmarkDBFloor measures the cost of single statements, raw and through
// GORM, serially: the floor under every database-bound request. gorm-insert-tx
// is GORM's default (a transaction around every write), which authgin turns
// off.
func BenchmarkDBFloor(b *testing.B) {
	for _, be := range backends(b) {
		db := be.gorm
		if err := db.Migrator().DropTable(&floorRow{}); err != nil {
			b.Fatal(err)
		}
		if err := db.AutoMigrate(&floorRow{}); err != nil {
			b.Fatal(err)
		}
		seed := floorRow{Name: "seed", Value: "v"}
		if err := db.Create(&seed).Error; err != nil {
			b.Fatal(err)
		}
		withTx, err := gorm.Open(dialectorOn(be), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			b.Fatal(err)
		}
		p1, p2 := be.placeholder(1), be.placeholder(2)
		insertSQL := fmt.Sprintf("INSERT INTO floor_rows (name, value) VALUES (%s, %s)", p1, p2)
		selectSQL := fmt.Sprintf("SELECT id, name, value FROM floor_rows WHERE id = %s", p1)
		n := 0
		key := func() string { n++; return be.name + "-" + strconv.Itoa(n) }
		ctx := context.Background()
		run := func(name string, op func() error) {
			b.Run(be.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				trips := be.pool.n.Load()
				for b.Loop() {
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(be.pool.n.Load()-trips)/float64(b.N), "roundtrips/op")
			})
		}
		run("select-1", func() error { var one int; return be.pool.QueryRowContext(ctx, "SELECT 1").Scan(&one) })
		run("raw-select-pk", func() error {
			var r floorRow
			return be.pool.QueryRowContext(ctx, selectSQL, seed.ID).Scan(&r.ID, &r.Name, &r.Value)
		})
		run("gorm-select-pk", func() error { var r floorRow; return db.Take(&r, seed.ID).Error })
		run("raw-insert", func() error { _, err := be.pool.ExecContext(ctx, insertSQL, key(), "v"); return err })
		run("gorm-insert", func() error { return db.Create(&floorRow{Name: key(), Value: "v"}).Error })
		run("gorm-exec-insert", func() error { return db.Exec(insertSQL, key(), "v").Error })
		updateSQL := fmt.Sprintf("UPDATE floor_rows SET value = %s WHERE id = %s", p1, p2)
		run("raw-update", func() error { _, err := be.pool.ExecContext(ctx, updateSQL, "w", seed.ID); return err })
		run("gorm-update-map", func() error {
			return db.Model(&floorRow{}).Where("id = ?", seed.ID).Updates(map[string]any{"value": "w"}).Error
		})
		run("gorm-exec-update", func() error { return db.Exec(updateSQL, "w", seed.ID).Error })
		run("gorm-insert-tx", func() error { return withTx.Create(&floorRow{Name: key(), Value: "v"}).Error })
	}
}

// dialectorOn opens a second gorm handle on be's connection pool.
func dialectorOn(be backend) gorm.Dialector {
	if be.name == "postgres" {
		return postgres.New(postgres.Config{Conn: be.pool})
	}
	return sqlite.New(sqlite.Config{Conn: be.pool})
}
