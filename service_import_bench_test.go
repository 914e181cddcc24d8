package authgin

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// BenchmarkImportAuthx imports an export of 10^5 authx users into a fresh
// SQLite database, and a PostgreSQL one when AUTHGIN_TEST_POSTGRES_DSN is
// set, and reports users/s and the peak heap during the import:
//
//	go test -run '^$' -bench ImportAuthx -benchtime 1x .
//
// AUTHGIN_BENCH_IMPORT_USERS sets another number of users. Every record
// carries the same bcrypt hash: the import checks a hash's form, never
// computes one.
func BenchmarkImportAuthx(b *testing.B) {
	n := 100_000
	if s := os.Getenv("AUTHGIN_BENCH_IMPORT_USERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("AUTHGIN_BENCH_IMPORT_USERS=%q", s)
		}
	}
	path := writeBenchExport(b, n)
	b.Run("sqlite", func(b *testing.B) {
		benchImport(b, path, n, func(b *testing.B) *gorm.DB {
			db, err := OpenSQLite(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { closeDB(db) })
			return db
		})
	})
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(postgresDSNEnv) == "" {
			b.Skipf("set %s to run it", postgresDSNEnv)
		}
		benchImport(b, path, n, benchPostgres)
	})
}

// writeBenchExport writes an export of n users in canonical Extended JSON
// and returns its path.
func writeBenchExport(b *testing.B, n int) string {
	b.Helper()
	hash := bcryptHash(b, "bench password")
	path := filepath.Join(b.TempDir(), "users.json")
	f, err := os.Create(path) // #nosec G304 -- a path in the benchmark's own directory
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	created := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, `{"_id": {"$oid": "5cc98a4c2f8f8a%010x"}, "id": {"$numberLong": "%d"}, "email": "user%d@example.com", `+
			`"username": "user_%d", "password": "%s", "active": %t, "confirmed": %t, "permissions": [], `+
			`"created_at": {"$date": {"$numberLong": "%d"}}, "last_login": {"$date": "2024-01-02T03:04:05.678Z"}}`+"\n",
			i, i, i, i, hash, i%100 != 0, i%2 == 0, created+int64(i)*60_000)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchImport imports the export at path into a database from open, once
// per iteration, and reports users/s and the peak heap.
func benchImport(b *testing.B, path string, n int, open func(b *testing.B) *gorm.DB) {
	var peak uint64
	var elapsed time.Duration
	b.StopTimer()
	for range b.N {
		db := open(b)
		ctx := context.Background()
		im, err := NewImporter(ctx, ImportOptions{DB: db})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path) // #nosec G304 -- the benchmark's own export
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		stop := sampleHeap(&peak)
		b.StartTimer()
		start := time.Now()
		rep, err := im.ImportAuthx(ctx, bufio.NewReaderSize(f, 1<<16))
		elapsed += time.Since(start)
		b.StopTimer()
		stop()
		_ = f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Imported != int64(n) {
			b.Fatalf("imported %d of %d", rep.Imported, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "users/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// sampleHeap records the largest HeapAlloc into peak until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// benchPostgres opens a schema of its own on AUTHGIN_TEST_POSTGRES_DSN's
// database, dropped when the benchmark ends.
func benchPostgres(b *testing.B) *gorm.DB {
	b.Helper()
	base := os.Getenv(postgresDSNEnv)
	admin, err := OpenPostgres(base)
	if err != nil {
		b.Fatal(err)
	}
	defer closeDB(admin)
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	schema := "authgin_b_" + hex.EncodeToString(buf)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if db, err := OpenPostgres(base); err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			closeDB(db)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	db, err := OpenPostgres(base + sep + "search_path=" + schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeDB(db) })
	return db
}
