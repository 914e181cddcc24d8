package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flowPairs = flag.Int("pairs", 0, "TestFlowsPaired: run BenchmarkFlows' cases as this many alternating raw/authgin slices")
	flowSlice = flag.Duration("slice", 500*time.Millisecond, "TestFlowsPaired: the length of one slice")
)

// TestFlowsPaired runs BenchmarkFlows' cases (the same backends, flows,
// clients and raw twins) as -pairs pairs of short slices, raw and authgin
// in turn (ABBA), in one process. A machine shared with other jobs moves
// a whole run by tens of percent within seconds; slices next to each other
// see nearly the same machine, so their ratio holds much better. Each
// slice prints a line in benchmark format (impl=raw or impl=authgin), for
// benchstat -col /impl; the test logs the median of the per-pair ratios.
func TestFlowsPaired(t *testing.T) {
	if *flowPairs <= 0 {
		t.Skip("paired flows: run with -pairs N")
	}
	for _, fb := range flowBackends(t) {
		for _, flow := range []string{"refresh", "register"} {
			for _, clients := range []int{1, 8} {
				name := fmt.Sprintf("BenchmarkFlowsPaired/%s/%s/clients=%d", fb.name, flow, clients)
				ops := map[string][]func(context.Context) error{
					"raw": fb.clients(t, flow, "raw", clients), "authgin": fb.clients(t, flow, "authgin", clients),
				}
				for _, impl := range []string{"raw", "authgin"} { // warm up
					runSlice(t, ops[impl], fb.app.pool.n, *flowSlice/2)
				}
				var ratios []float64
				for i := range *flowPairs {
					order := []string{"raw", "authgin"}
					if i%2 == 1 {
						order = []string{"authgin", "raw"}
					}
					rate := map[string]float64{}
					for _, impl := range order {
						s := runSlice(t, ops[impl], fb.app.pool.n, *flowSlice)
						rate[impl] = s.rate()
						fmt.Printf("%s/impl=%s\t%d\t%.0f ns/op\t%.0f cpu-ns/op\t%.1f ops/s\t%.3f roundtrips/op\n", name, impl, s.n,
							float64(s.elapsed.Nanoseconds())/float64(s.n), float64(s.cpu.Nanoseconds())/float64(s.n),
							s.rate(), float64(s.trips)/float64(s.n))
					}
					ratios = append(ratios, rate["authgin"]/rate["raw"])
				}
				slices.Sort(ratios)
				t.Logf("%s: x-raw median %.2f (pairs %.2f-%.2f, n=%d)", name, median(ratios), ratios[0], ratios[len(ratios)-1], len(ratios))
			}
		}
	}
}

// slice is what one runSlice did.
type slice struct {
	n, trips     int64
	elapsed, cpu time.Duration
}

func (s slice) rate() float64 { return float64(s.n) / s.elapsed.Seconds() }

// runSlice runs the clients' operations (one goroutine each) until d has
// passed.
func runSlice(t *testing.T, ops []func(context.Context) error, trips *atomic.Int64, d time.Duration) slice {
	ctx := context.Background()
	var n atomic.Int64
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	trips0, cpu0, start := trips.Load(), processCPU(), time.Now()
	deadline := start.Add(d)
	for i, op := range ops {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(ctx); err != nil {
					errs[i] = err
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	s := slice{n: n.Load(), trips: trips.Load() - trips0, elapsed: time.Since(start), cpu: processCPU() - cpu0}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return s
}

func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}
