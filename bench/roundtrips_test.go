package bench

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
)

// countingPool is a connection pool that counts database round trips:
// every statement, BEGIN, COMMIT and ROLLBACK. GORM runs on it through
// countRoundTrips; the raw twins call it directly.
type countingPool struct {
	db *sql.DB
	n  *atomic.Int64
}

func (p countingPool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	p.n.Add(1)
	return p.db.PrepareContext(ctx, q)
}

func (p countingPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	p.n.Add(1)
	return p.db.ExecContext(ctx, q, args...)
}

func (p countingPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.n.Add(1)
	return p.db.QueryContext(ctx, q, args...)
}

func (p countingPool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	p.n.Add(1)
	return p.db.QueryRowContext(ctx, q, args...)
}

// BeginTx makes countingPool a gorm.ConnPoolBeginner.
func (p countingPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.beginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// beginTx returns a pointer: GORM checks transactions with IsNil.
func (p countingPool) beginTx(ctx context.Context, opts *sql.TxOptions) (*countingTx, error) {
	p.n.Add(1)
	tx, err := p.db.BeginTx(ctx, opts)
	return &countingTx{tx: tx, n: p.n}, err
}

// GetDBConn lets gorm.DB.DB() see through the wrapper.
func (p countingPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// countingTx is a transaction of a countingPool.
type countingTx struct {
	tx *sql.Tx
	n  *atomic.Int64
}

func (t *countingTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	t.n.Add(1)
	return t.tx.PrepareContext(ctx, q)
}

func (t *countingTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.n.Add(1)
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *countingTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.n.Add(1)
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *countingTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	t.n.Add(1)
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *countingTx) StmtContext(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, s)
}

func (t *countingTx) Commit() error   { t.n.Add(1); return t.tx.Commit() }
func (t *countingTx) Rollback() error { t.n.Add(1); return t.tx.Rollback() }

// countRoundTrips routes db (and every handle derived from it later)
// through a countingPool and returns the pool.
func countRoundTrips(tb testing.TB, db *gorm.DB) countingPool {
	tb.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		tb.Fatal(err)
	}
	p := countingPool{db: sqlDB, n: new(atomic.Int64)}
	db.ConnPool = p
	db.Statement.ConnPool = p
	return p
}

func TestCountRoundTrips(t *testing.T) {
	be := backends(t)[0]
	pool := countRoundTrips(t, be.gorm)
	if err := be.gorm.AutoMigrate(&floorRow{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   func(db *gorm.DB) error
		want int64
	}{
		{"select", func(db *gorm.DB) error { var r []floorRow; return db.Find(&r).Error }, 1},
		{"insert", func(db *gorm.DB) error { return db.Create(&floorRow{Name: "a"}).Error }, 1},
		{"transaction", func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error {
				return tx.Create(&floorRow{Name: "b"}).Error
			})
		}, 3},
	} {
		before := pool.n.Load()
		if err := c.op(be.gorm.WithContext(context.Background())); err != nil {
			t.Fatal(c.name, err)
		}
		if got := pool.n.Load() - before; got != c.want {
			t.Errorf("%s: %d round trips, want %d", c.name, got, c.want)
		}
	}
}
