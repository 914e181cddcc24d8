package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var loadTest = flag.Bool("load", false, "run the login load test (about 50 s, real argon2id cost)")

// Load test shape (issue 7 item 3).
const (
	loadClients     = 200
	loadDuration    = 10 * time.Second
	calibrateFor    = 3 * time.Second
	probeEvery      = 20 * time.Millisecond
	baseRSSBoundMiB = 64
	hashMiB         = 19
)

// loginServer is what the load test drives: an in-process server over
// loopback with registered accounts.
type loginServer struct {
	URL         string   // http://127.0.0.1:port
	Logins      []string // account names with password loadPassword
	HashBound   int      `json:"-"` // hashes the server runs at once
	AccessToken string   // a valid access cookie value for the probe
}

const loadPassword = "correct horse battery staple"

// loadClientsEnv carries the server (JSON) to the client process.
const loadClientsEnv = "BENCH_LOAD_SERVER"

// loadResult counts what the clients saw inside the measured window.
type loadResult struct {
	ok, overflow, noRetryAfter, otherStatus, clientErrors atomic.Int64
	probeFailures                                         atomic.Int64
	probeLatencies                                        []time.Duration

	mu     sync.Mutex
	failed map[string]int // answers other than 200 by "status code"
}

// tally counts a non-200 answer by its status and error code.
func (r *loadResult) tally(resp *http.Response, body []byte) {
	var e struct{ Code string }
	json.Unmarshal(body, &e)
	r.mu.Lock()
	r.failed[fmt.Sprintf("%d %s", resp.StatusCode, e.Code)]++
	r.mu.Unlock()
}

// loadReport is what the client process reports: the hash rates it
// measured around the load and the counts of the load.
type loadReport struct {
	Before, After                                         hashRates // measured before and after the load
	OK, Overflow, NoRetryAfter, OtherStatus, ClientErrors int64
	ProbeFailures                                         int64
	ProbeLatencies                                        []time.Duration
	Failed                                                map[string]int
	CPU                                                   time.Duration // the client process's, during the load
}

func (r *loadResult) report(before hashRates) loadReport {
	return loadReport{
		Before: before, OK: r.ok.Load(), Overflow: r.overflow.Load(), NoRetryAfter: r.noRetryAfter.Load(),
		OtherStatus: r.otherStatus.Load(), ClientErrors: r.clientErrors.Load(), ProbeFailures: r.probeFailures.Load(),
		ProbeLatencies: r.probeLatencies, Failed: r.failed,
	}
}

// TestLoginLoad: 200 clients log in for 10 s at default argon2id cost while
// one client keeps calling a protected route. Run with -load.
//
// The server runs in this process; the clients, and the hash rate
// calibration before them, run in a second process (this test binary,
// TestLoginLoadClients), so that the peak RSS measured is the server's own
// and not its load generator's. Both share the machine's cores.
func TestLoginLoad(t *testing.T) {
	if !*loadTest {
		t.Skip("load test: run with -load")
	}
	srv := startLoginServer(t)
	runtime.GC()
	debug.FreeOSMemory()
	if err := resetPeakRSS(); err != nil {
		t.Logf("VmHWM not reset (%v): the peak includes the set-up", err)
	}
	startRSS, _ := procStatusKiB("VmRSS")

	cpu0 := processCPU()
	res := runLoadClients(t, srv)
	serverCPU := processCPU() - cpu0
	hwm, err := procStatusKiB("VmHWM")
	if err != nil {
		t.Fatal(err)
	}

	// The machine drifts between runs and within one: the rates measured
	// symmetrically around the load (see measureHashRates), averaged,
	// estimate what it could hash during it.
	rates := meanRates(res.Before, res.After)
	peak := rates.peak()
	t.Logf("argon2id hashes/s before the load: %v", res.Before)
	t.Logf("argon2id hashes/s after the load:  %v", res.After)
	t.Logf("argon2id hashes/s, mean:           %v; peak %.1f", rates, peak)
	rate := float64(res.OK) / loadDuration.Seconds()
	p99 := percentile(res.ProbeLatencies, 0.99)
	rssBound := int64(baseRSSBoundMiB+srv.HashBound*hashMiB) * 1024
	t.Logf("logins: %d ok (%.1f/s = %.2fx peak, %.2fx the peak before the load, %.2fx x/crypto's peak), %d overflow 503, %d other status, %d client errors; failures by status and code: %v",
		res.OK, rate, rate/peak, rate/res.Before.peak(), rate/rates.xcryptoPeak(), res.Overflow, res.OtherStatus, res.ClientErrors, res.Failed)
	t.Logf("CPU during the load: server %.1f s, clients %.1f s, of %d cores x %v",
		serverCPU.Seconds(), res.CPU.Seconds(), runtime.NumCPU(), loadDuration)
	t.Logf("protected probe: %d requests, p50 %v, p99 %v, max %v, %d failures",
		len(res.ProbeLatencies), percentile(res.ProbeLatencies, 0.5), p99,
		percentile(res.ProbeLatencies, 1), res.ProbeFailures)
	t.Logf("server peak RSS (VmHWM) %.1f MiB (%.1f MiB before the load), bound %.1f MiB (64 + %d x 19)",
		float64(hwm)/1024, float64(startRSS)/1024, float64(rssBound)/1024, srv.HashBound)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mib := func(n uint64) float64 { return float64(n) / (1 << 20) }
	t.Logf("server Go memory now: sys %.1f MiB, heap sys %.1f, heap in use %.1f, released %.1f, stacks %.1f; %d GCs",
		mib(ms.Sys), mib(ms.HeapSys), mib(ms.HeapInuse), mib(ms.HeapReleased), mib(ms.StackSys), ms.NumGC)

	if rate < 0.9*peak {
		t.Errorf("login throughput %.1f/s < 0.9 x peak hash rate %.1f/s", rate, peak)
	}
	if hwm > rssBound {
		t.Errorf("peak RSS %d KiB > bound %d KiB", hwm, rssBound)
	}
	if p99 >= 25*time.Millisecond {
		t.Errorf("protected request p99 %v >= 25ms", p99)
	}
	if res.NoRetryAfter > 0 {
		t.Errorf("%d overflow responses without Retry-After", res.NoRetryAfter)
	}
	if n := res.OtherStatus + res.ClientErrors + res.ProbeFailures; n > 0 {
		t.Errorf("%d requests neither succeeded nor got 503 (timeouts, errors, other statuses)", n)
	}
}

// runLoadClients runs TestLoginLoadClients in a child process against srv
// and returns its report.
func runLoadClients(t *testing.T, srv loginServer) loadReport {
	cfg, _ := json.Marshal(srv)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoginLoadClients$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), loadClientsEnv+"="+string(cfg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep loadReport
	for line := range strings.Lines(string(out)) {
		if js, ok := strings.CutPrefix(strings.TrimSpace(line), "LOADREPORT "); ok {
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatalf("client report: %v", err)
			}
			return rep
		}
	}
	t.Fatalf("client process: %v\n%s\n%s", err, out, stderr.Bytes())
	return rep
}

// TestLoginLoadClients is TestLoginLoad's client process: it measures the
// hash rates, drives the load and prints its report. It runs only when
// started by TestLoginLoad.
func TestLoginLoadClients(t *testing.T) {
	cfg := os.Getenv(loadClientsEnv)
	if cfg == "" {
		t.Skip("started by TestLoginLoad")
	}
	var srv loginServer
	if err := json.Unmarshal([]byte(cfg), &srv); err != nil {
		t.Fatal(err)
	}
	rates := measureHashRates(t, calibrateFor, false)
	runtime.GC()
	// One P is plenty for 200 clients that mostly wait, and wakes fewer
	// threads: the load generator takes less of the server's cores.
	runtime.GOMAXPROCS(1)
	cpu0 := processCPU()
	rep := driveLogins(srv, loadDuration, loginPath).report(rates)
	rep.CPU = processCPU() - cpu0
	runtime.GOMAXPROCS(runtime.NumCPU())
	rep.After = measureHashRates(t, calibrateFor, true)
	js, _ := json.Marshal(rep)
	fmt.Printf("LOADREPORT %s\n", js)
}

// driveLogins runs the clients and the probe for d, the clients posting to
// path; responses that complete after the window are not counted, and it
// returns when every client has its last answer.
//
// Each client keeps one HTTP/1.1 connection and writes its request and
// reads the answer itself: the load generator shares the server's cores,
// and net/http's Transport (two goroutines a connection, a pool, channel
// hand-offs) cost twice the CPU a login.
func driveLogins(srv loginServer, d time.Duration, path string) *loadResult {
	res := &loadResult{failed: map[string]int{}}
	addr := strings.TrimPrefix(srv.URL, "http://")
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range loadClients {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"login": srv.Logins[i%len(srv.Logins)], "password": loadPassword})
			req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, addr, len(body), body)
			var c *loginConn
			for time.Now().Before(end) {
				if c == nil {
					var err error
					if c, err = dialLogin(addr); err != nil {
						res.clientErrors.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				resp, msg, err := c.roundTrip(req)
				late := time.Now().After(end)
				if err != nil {
					c.close()
					c = nil
					if !late {
						res.clientErrors.Add(1)
					}
					continue
				}
				if late {
					break
				}
				if resp.StatusCode != http.StatusOK {
					res.tally(resp, msg)
				}
				switch resp.StatusCode {
				case http.StatusOK:
					res.ok.Add(1)
				case http.StatusServiceUnavailable:
					res.overflow.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						res.noRetryAfter.Add(1)
					}
				default:
					res.otherStatus.Add(1)
				}
				if c.done {
					c.close()
					c = nil
				}
			}
			if c != nil {
				c.close()
			}
		})
	}
	wg.Go(func() { res.probeLatencies = probe(srv, end, &res.probeFailures) })
	wg.Wait()
	return res
}

// loginConn is one client's keep-alive connection.
type loginConn struct {
	conn net.Conn
	r    *bufio.Reader
	done bool // the server closes the connection after this answer
}

func dialLogin(addr string) (*loginConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &loginConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

// roundTrip sends req (a whole HTTP/1.1 request) and reads the answer. A
// minute without one is a failure: far beyond any sane answer.
func (c *loginConn) roundTrip(req []byte) (*http.Response, []byte, error) {
	c.conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.conn.Write(req); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, nil, err
	}
	msg, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.done = resp.Close // the server closes it: dial again
	return resp, msg, err
}

func (c *loginConn) close() { c.conn.Close() }

// probe calls the protected route every probeEvery until end and returns
// the latencies of the calls.
func probe(srv loginServer, end time.Time, failures *atomic.Int64) []time.Duration {
	client := &http.Client{Timeout: time.Minute}
	var lat []time.Duration
	for time.Now().Before(end) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+protected, nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: srv.AccessToken})
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			failures.Add(1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != http.StatusOK {
			failures.Add(1)
		}
		time.Sleep(probeEvery)
	}
	return lat
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile returns the q-quantile (0..1) of d by nearest rank.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := percentile(d, q); got != want {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want)
		}
	}
}
