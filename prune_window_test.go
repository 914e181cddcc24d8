package authgin

import (
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestPruneWindows: Prune walks a table in windows of pruneWindow keys and
// finds dead rows in every window, however sparse: here a few dead
// counters among more than two windows of live ones, one of them a key
// that ends a window and one in the last, partial window.
func TestPruneWindows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *gorm.DB) {
		e := newEnv(t, db, func(o *Options) { o.PruneInterval = -1 })
		now := e.clock.Now()
		dayAgo := now.Add(-25 * time.Hour).UnixMilli()
		const rows = 2*pruneWindow + 300
		dead := map[int]bool{0: true, pruneWindow - 1: true, pruneWindow + 17: true, rows - 1: true}
		counters := make([]throttleRow, 0, rows)
		for i := range rows {
			c := throttleRow{Key: fmt.Sprintf("test:%06d", i), WindowStart: now.UnixMilli(), Count: 1}
			if dead[i] {
				c.WindowStart = dayAgo
			}
			counters = append(counters, c)
		}
		if err := db.CreateInBatches(counters, 500).Error; err != nil {
			t.Fatal(err)
		}
		if r := mustPrune(t, e); r.Throttles != int64(len(dead)) {
			t.Fatalf("pruned %d counters, want %d", r.Throttles, len(dead))
		}
		if n := countRows(t, db, &throttleRow{}); n != rows-int64(len(dead)) {
			t.Fatalf("%d counters left, want %d", n, rows-len(dead))
		}
	})
}
