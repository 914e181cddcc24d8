package bench

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

var loadAB = flag.String("loadab", "", "run TestLoginLoadAB on these server variants: comma-separated, "+
	"each a space-separated list of environment settings for its server process (\"-\" for none); "+
	"BENCH_LOAD_PATH="+hashOnlyPath+" makes a variant's clients call the route that only hashes")

// TestLoginLoadAB compares server variants under the login load with less
// noise than TestLoginLoad. Each variant is a server process of its own; this
// process alternates abLoad of load against each with abCalibrate of
// authgin's hash rate at 2 in flight, abCycles times. A load's efficiency is
// its logins per second over the mean of the rates measured just before and
// just after it, so the machine's drift (±10 % within a minute) mostly
// cancels. It logs each variant's mean efficiency and, for two variants,
// their paired difference. It asserts nothing: it is a measuring tool.
//
//	go test -run 'TestLoginLoadAB$' -loadab "-,BENCH_LOAD_PATH=/bench/hash" -v
func TestLoginLoadAB(t *testing.T) {
	if *loadAB == "" {
		t.Skip("A/B load comparison: run with -loadab")
	}
	variants := strings.Split(*loadAB, ",")
	srvs := make([]loginServer, len(variants))
	paths := make([]string, len(variants))
	for i, v := range variants {
		env := strings.Fields(strings.TrimPrefix(strings.TrimSpace(v), "-"))
		srvs[i] = startLoadServer(t, env)
		paths[i] = loginPath
		for _, kv := range env {
			if p, ok := strings.CutPrefix(kv, "BENCH_LOAD_PATH="); ok {
				paths[i] = p
			}
		}
	}
	calibrate := func() float64 { return authginHashRate(t, 2, abCalibrate) }
	eff := make([][]float64, len(variants))
	before := calibrate()
	for c := range abCycles {
		for i, srv := range srvs {
			runtime.GOMAXPROCS(1) // as in TestLoginLoadClients
			res := driveLogins(srv, abLoad, paths[i])
			runtime.GOMAXPROCS(runtime.NumCPU())
			after := calibrate()
			rate := float64(res.ok.Load()) / abLoad.Seconds()
			eff[i] = append(eff[i], rate/((before+after)/2))
			t.Logf("cycle %d, %s: %.1f/s, hash rate %.1f then %.1f: %.3f", c, variants[i], rate, before, after, eff[i][c])
			before = after
		}
	}
	for i, v := range variants {
		m, se := meanStdErr(eff[i])
		t.Logf("%s: efficiency %.3f ± %.3f", v, m, se)
	}
	if len(variants) == 2 {
		diff := make([]float64, abCycles)
		for c := range diff {
			diff[c] = eff[1][c] - eff[0][c]
		}
		m, se := meanStdErr(diff)
		t.Logf("second - first, paired by cycle: %.3f ± %.3f", m, se)
	}
}

// TestLoginLoadAB's shape.
const (
	abCycles    = 8
	abLoad      = 4 * time.Second
	abCalibrate = 2 * time.Second
)

// abServeEnv starts TestLoginLoadServer in a child process.
const abServeEnv = "BENCH_LOAD_SERVE"

// TestLoginLoadServer is one of TestLoginLoadAB's server processes: it
// prints its loginServer and serves until its standard input closes.
func TestLoginLoadServer(t *testing.T) {
	if os.Getenv(abServeEnv) == "" {
		t.Skip("started by TestLoginLoadAB")
	}
	js, _ := json.Marshal(startLoginServer(t))
	fmt.Printf("LOADSERVER %s\n", js)
	io.Copy(io.Discard, os.Stdin)
}

// startLoadServer starts a TestLoginLoadServer process with env added to
// this one's environment; it stops with the test.
func startLoadServer(t *testing.T, env []string) loginServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoginLoadServer$", "-test.v", "-test.timeout=1h")
	cmd.Env = append(append(os.Environ(), abServeEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Its output is read to the end before Wait, which closes the pipe.
	read := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		<-read
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var srv loginServer
	var out strings.Builder // what it printed before serving, for a failure
	for sc.Scan() {
		if js, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "LOADSERVER "); ok {
			err = json.Unmarshal([]byte(js), &srv)
			break
		}
		out.WriteString(sc.Text() + "\n")
	}
	go func() {
		io.Copy(io.Discard, stdout) // the rest of its test output
		close(read)
	}()
	if err != nil || srv.URL == "" {
		t.Fatalf("server process %v: no server (%v); it printed:\n%s", env, err, out.String())
	}
	return srv
}

// meanStdErr returns the mean of x and its standard error.
func meanStdErr(x []float64) (mean, stderr float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}

func TestMeanStdErr(t *testing.T) {
	m, se := meanStdErr([]float64{1, 2, 3, 4})
	// sample variance 5/3, over 4 values
	if m != 2.5 || math.Abs(se-math.Sqrt(5.0/12)) > 1e-12 {
		t.Errorf("meanStdErr = %v, %v; want 2.5, %v", m, se, math.Sqrt(5.0/12))
	}
}
