package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// argon2id at authgin's defaults (OWASP): m=19 MiB, t=2, p=1, 32-byte key.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
)

func argonHash(password, salt []byte) []byte {
	return argon2.IDKey(password, salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
}

// hashRate runs argon2id hashes with inFlight goroutines for d and returns
// the completed hashes per second.
func hashRate(inFlight int, d time.Duration) float64 {
	var done atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for g := range inFlight {
		wg.Go(func() {
			salt := []byte(fmt.Sprintf("salt-%011d", g))
			for time.Now().Before(deadline) {
				argonHash([]byte("correct horse battery staple"), salt)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// peakHashRate is the best of hashRate at 1, 2 and 4 in flight, each run for
// d: the machine's login ceiling that the load test compares against.
func peakHashRate(d time.Duration) (best float64, rates map[int]float64) {
	rates = map[int]float64{}
	for _, n := range []int{1, 2, 4} {
		rates[n] = hashRate(n, d)
		best = max(best, rates[n])
	}
	return best, rates
}

// BenchmarkArgon2id measures total argon2id throughput with N hashes in
// flight: ns/op is wall time per completed hash, hashes/s its inverse.
// Beyond the core count it falls (memory bandwidth, GC), which is why
// authgin bounds the hashes in flight.
func BenchmarkArgon2id(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8, 32} {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for g := range n {
				wg.Go(func() {
					salt := []byte(fmt.Sprintf("salt-%011d", g))
					for next.Add(1) <= int64(b.N) {
						argonHash([]byte("correct horse battery staple"), salt)
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
		})
	}
}

// procStatusKiB reads a "Name:  123 kB" field of /proc/self/status.
func procStatusKiB(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/self/status", name)
}

// resetPeakRSS makes VmHWM restart from the current RSS (Linux: writing 5 to
// clear_refs), so the load test's peak excludes the calibration before it.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func TestProcStatus(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	hwm, err := procStatusKiB("VmHWM")
	if err != nil || hwm <= 0 {
		t.Fatalf("VmHWM = %d, %v", hwm, err)
	}
	if err := resetPeakRSS(); err != nil {
		t.Logf("cannot reset VmHWM (%v): the load test's peak will include its calibration", err)
	}
}
