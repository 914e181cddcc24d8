package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgin/authgin"
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

// hashRate runs hash in inFlight goroutines for d and returns the completed
// hashes per second.
func hashRate(inFlight int, d time.Duration, hash func(g int)) float64 {
	var done atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for g := range inFlight {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				hash(g)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// xcryptoHash is one x/crypto argon2id hash at the default cost.
func xcryptoHash(g int) {
	argonHash([]byte("correct horse battery staple"), []byte(fmt.Sprintf("salt-%011d", g)))
}

// authginHashRate is hashRate through authgin's own hasher
// (Service.HashPassword at the default cost) with inFlight hashing slots:
// the kernel its logins run on.
func authginHashRate(tb testing.TB, inFlight int, d time.Duration) float64 {
	app := newAuthginApp(tb, authgin.Options{HashConcurrency: inFlight})
	defer app.auth.Close(context.Background()) // unmaps the slots' memory
	svc := app.auth.Service()
	return hashRate(inFlight, d, func(int) {
		if _, err := svc.HashPassword(context.Background(), loadPassword, authgin.PasswordInfo{}); err != nil {
			panic(err)
		}
	})
}

// hashRates holds argon2id throughput (hashes/s) at 1, 2 and 4 in flight,
// x/crypto's and authgin's.
type hashRates struct{ XCrypto, Authgin map[int]float64 }

// measureHashRates runs each implementation at 1, 2 and 4 in flight for d,
// in a fixed order, or in the reverse order when reverse is set.
//
// The load test measures before the load in order and after it in reverse,
// so each rate is taken as far before the load as after it, and the mean of
// the two cancels any steady drift of the machine's speed (a shared host's
// drifts by a tenth within a minute).
func measureHashRates(tb testing.TB, d time.Duration, reverse bool) hashRates {
	r := hashRates{XCrypto: map[int]float64{}, Authgin: map[int]float64{}}
	type step struct {
		authgin  bool
		inFlight int
	}
	var steps []step
	for _, n := range []int{1, 2, 4} {
		steps = append(steps, step{false, n}, step{true, n})
	}
	if reverse {
		slices.Reverse(steps)
	}
	for _, s := range steps {
		if s.authgin {
			r.Authgin[s.inFlight] = authginHashRate(tb, s.inFlight, d)
		} else {
			r.XCrypto[s.inFlight] = hashRate(s.inFlight, d, xcryptoHash)
		}
	}
	return r
}

// meanRates averages two measurements rate by rate.
func meanRates(a, b hashRates) hashRates {
	m := hashRates{XCrypto: map[int]float64{}, Authgin: map[int]float64{}}
	for n := range a.XCrypto {
		m.XCrypto[n] = (a.XCrypto[n] + b.XCrypto[n]) / 2
	}
	for n := range a.Authgin {
		m.Authgin[n] = (a.Authgin[n] + b.Authgin[n]) / 2
	}
	return m
}

// peak is the best rate of either: the machine's argon2id ceiling that
// logins are compared with.
func (r hashRates) peak() float64 { return max(r.xcryptoPeak(), maxRate(r.Authgin)) }

// xcryptoPeak is x/crypto's best rate.
func (r hashRates) xcryptoPeak() float64 { return maxRate(r.XCrypto) }

func maxRate(m map[int]float64) float64 {
	var best float64
	for _, v := range m {
		best = max(best, v)
	}
	return best
}

func (r hashRates) String() string {
	return fmt.Sprintf("x/crypto 1 in flight %.1f, 2: %.1f, 4: %.1f; authgin 1: %.1f, 2: %.1f, 4: %.1f",
		r.XCrypto[1], r.XCrypto[2], r.XCrypto[4], r.Authgin[1], r.Authgin[2], r.Authgin[4])
}

// BenchmarkArgon2id measures total argon2id throughput with N hashes in
// flight, in x/crypto and in authgin's hasher (Service.HashPassword with N
// hashing slots): ns/op is wall time per completed hash, hashes/s its
// inverse. Beyond the core count it falls (memory bandwidth, GC), which is
// why authgin bounds the hashes in flight.
func BenchmarkArgon2id(b *testing.B) {
	for _, impl := range []string{"xcrypto", "authgin"} {
		for _, n := range []int{1, 2, 4, 8, 32} {
			b.Run(fmt.Sprintf("%s/inflight=%d", impl, n), func(b *testing.B) {
				hash := xcryptoHash
				if impl == "authgin" {
					app := newAuthginApp(b, authgin.Options{HashConcurrency: n})
					defer app.auth.Close(context.Background())
					svc := app.auth.Service()
					hash = func(int) {
						if _, err := svc.HashPassword(context.Background(), loadPassword, authgin.PasswordInfo{}); err != nil {
							b.Fatal(err)
						}
					}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				for g := range n {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							hash(g)
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
			})
		}
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
