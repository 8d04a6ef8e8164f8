// Command bench measures refundd against OPA's own server on the same
// policies, on this machine, in one run:
//
//   - engine.Decide per merchant, in process, over that merchant's cases:
//     median and p99 latency, allocations;
//   - refundd serve and `opa run --server` (the OPA version go.mod pins),
//     both loaded with policies/, started on loopback one after the other and
//     driven by the same load generator with the same request mix (every case
//     of every merchant) at the same concurrency: requests/s, p50, p99,
//     errors, and each server's resident memory after its run. Before the
//     load, both servers must give every case the same decision.
//
// Both servers log errors only; refundd otherwise runs with its defaults
// (metrics on, every decision committed to its SQLite decision log before it
// is answered, --gc-percent 400), then again with its decision log async.
// OPA runs twice: with its defaults, and with refundd's garbage collector
// target (GOGC=400).
//
// Run from the repository root: go run ./bench [-duration 10s] [-concurrency 8]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/config"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "load duration per server")
	concurrency := flag.String("concurrency", "8,32", "concurrent clients: the HTTP table is run at each level")
	decisions := flag.Int("decisions", 20000, "in-process decisions per merchant")
	flag.Parse()
	var levels []int
	for _, f := range strings.Split(*concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -concurrency %q: want positive integers separated by commas\n", *concurrency)
			os.Exit(2)
		}
		levels = append(levels, n)
	}
	if err := run(*duration, levels, *decisions); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, levels []int, decisions int) error {
	cases, err := tests.LoadCases()
	if err != nil {
		return err
	}
	fmt.Printf("# refundd benchmark, %s, %d CPUs, %s\n\n", time.Now().UTC().Format(time.DateOnly), runtime.NumCPU(), runtime.Version())
	if err := engineTable(cases, decisions); err != nil {
		return err
	}
	for _, c := range levels {
		if err := httpTable(cases, duration, c); err != nil {
			return err
		}
	}
	return nil
}

// engineTable times engine.Decide per merchant over its cases.
func engineTable(cases []tests.Case, n int) error {
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		return err
	}
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	if err := e.LoadTree(context.Background(), tree); err != nil {
		return err
	}
	byMerchant := map[string][]*request.Request{}
	var merchants []string
	for _, c := range cases {
		req, err := request.Decode(c.Request)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if byMerchant[c.Merchant] == nil {
			merchants = append(merchants, c.Merchant)
		}
		byMerchant[c.Merchant] = append(byMerchant[c.Merchant], req)
	}
	// As the server runs: its garbage collector target.
	gc := config.Default().GCPercent
	defer debug.SetGCPercent(debug.SetGCPercent(gc))
	fmt.Printf("## engine.Decide, in process (%d decisions per merchant over its %s cases, after %d to warm up; garbage collector target %d, as refundd serve's default)\n\n", n, "tests/cases", n/10, gc)
	fmt.Println("| merchant | evaluator | cases | median | p99 | mean | B/op | allocs/op |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	ctx := context.Background()
	for _, m := range merchants {
		reqs := byMerchant[m]
		for _, ev := range []string{engine.EvaluatorTopdown, engine.EvaluatorCompiled} {
			opts := engine.DecideOptions{Topdown: ev == engine.EvaluatorTopdown}
			for i := range n / 10 {
				if _, err := e.Decide(ctx, m, reqs[i%len(reqs)], opts); err != nil {
					return err
				}
			}
			lat := make([]time.Duration, n)
			for i := range n {
				start := time.Now()
				if _, err := e.Decide(ctx, m, reqs[i%len(reqs)], opts); err != nil {
					return err
				}
				lat[i] = time.Since(start)
			}
			res := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					_, _ = e.Decide(ctx, m, reqs[i%len(reqs)], opts)
				}
			})
			slices.Sort(lat)
			fmt.Printf("| %s | %s | %d | %s | %s | %s | %d | %d |\n", m, ev, len(reqs), us(lat[n/2]), us(lat[n*99/100]),
				us(time.Duration(res.NsPerOp())), res.AllocedBytesPerOp(), res.AllocsPerOp())
		}
	}
	fmt.Println()
	return nil
}

type server struct {
	name string
	cmd  *exec.Cmd
	base string
	path func(merchant string) string
}

// httpTable runs the load against refundd, then against OPA.
func httpTable(cases []tests.Case, duration time.Duration, concurrency int) error {
	work, err := os.MkdirTemp("", "refundd-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "refundd")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/refundd").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "-n", "opa").Output()
	if err != nil {
		return fmt.Errorf("go tool -n opa: %w", err)
	}
	opa := strings.TrimSpace(string(out))
	version, _ := exec.Command(opa, "version").Output()
	policies := tests.PoliciesDir()
	dataAPI := func(m string) string { return "/v1/data/refunds/merchants/" + m + "/decision" }

	// Both log errors only. refundd runs with its defaults otherwise
	// (metrics on, durable decision log through its write-ahead log into
	// SQLite, the compiled evaluator, --gc-percent 400), then with its
	// decision log async, off, and with the earlier defaults; OPA runs with
	// its defaults, then with the same garbage collector target as refundd
	// (GOGC=400).
	opaTuned := exec.Command(opa, "run", "--server", "--log-level", "error", policies)
	opaTuned.Env = append(os.Environ(), "GOGC=400")
	servers := []*server{
		{name: "refundd", path: dataAPI, cmd: exec.Command(bin, "serve", "--log-level", "error", "--policies", policies, "--data-dir", filepath.Join(work, "data"))},
		{name: "refundd --decision-log async", path: dataAPI, cmd: exec.Command(bin, "serve", "--log-level", "error", "--policies", policies, "--data-dir", filepath.Join(work, "data-async"), "--decision-log", "async")},
		{name: "opa run --server", path: dataAPI, cmd: exec.Command(opa, "run", "--server", "--log-level", "error", policies)},
		{name: "opa run --server, GOGC=400", path: dataAPI, cmd: opaTuned},
		{name: "refundd --decision-log off", path: dataAPI, cmd: exec.Command(bin, "serve", "--log-level", "error", "--policies", policies, "--decision-log", "off")},
		{name: "refundd --log-wal off --evaluator topdown (the earlier defaults)", path: dataAPI, cmd: exec.Command(bin, "serve", "--log-level", "error", "--policies", policies, "--data-dir", filepath.Join(work, "data-old"), "--log-wal", "off", "--evaluator", "topdown")},
	}
	for _, s := range servers {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		s.cmd.Args = append(s.cmd.Args[:2], append([]string{"--addr", addr}, s.cmd.Args[2:]...)...)
		s.base = "http://" + addr
		s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
		if err := s.cmd.Start(); err != nil {
			return err
		}
		defer func() { _ = s.cmd.Process.Kill(); _, _ = s.cmd.Process.Wait() }()
		if err := waitHealthy(s.base); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}

	bodies := make([][]byte, len(cases))
	for i, c := range cases {
		bodies[i] = []byte(`{"input":` + string(c.Request) + `}`)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}, Timeout: 10 * time.Second}

	// Both servers must decide every case alike, and as the case says.
	disagree := 0
	for i, c := range cases {
		var got []tests.Summary
		for _, s := range servers {
			sum, err := decide(client, s.base+s.path(c.Merchant), bodies[i])
			if err != nil {
				return fmt.Errorf("%s, %s/%s: %w", s.name, c.Merchant, c.Name, err)
			}
			got = append(got, sum)
		}
		same := true
		for _, g := range got[1:] {
			same = same && reflect.DeepEqual(got[0], g)
		}
		if !same || !reflect.DeepEqual(got[0], c.Want) {
			disagree++
			fmt.Fprintf(os.Stderr, "disagreement on %s/%s: %+v\n", c.Merchant, c.Name, got)
		}
	}

	fmt.Printf("## HTTP: the same %d-case mix over all five merchants, %d concurrent clients, %s per server\n\n", len(cases), concurrency, duration)
	fmt.Printf("OPA: %s. Every server answers the same OPA Data API request for each case; they agreed on %d of %d cases.\n\n",
		strings.ReplaceAll(strings.Split(string(version), "\n")[0], "Version: ", "v"), len(cases)-disagree, len(cases))
	fmt.Println("| server | requests/s | p50 | p99 | errors | RSS after |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	var rps []float64
	var p99s []time.Duration
	for _, s := range servers {
		r := load(client, s, cases, bodies, duration, concurrency)
		rps = append(rps, r.rps)
		p99s = append(p99s, r.p99)
		fmt.Printf("| %s | %.0f | %s | %s | %d | %s |\n", s.name, r.rps, us(r.p50), us(r.p99), r.errors, rss(s.cmd.Process.Pid))
	}
	fmt.Printf("\nrefundd / OPA: %.2f× the requests per second, p99 %s against %s (async decision log: %.2f×, p99 %s); against OPA with GOGC=400: %.2f× (async %.2f×).\n",
		rps[0]/rps[2], us(p99s[0]), us(p99s[2]), rps[1]/rps[2], us(p99s[1]), rps[0]/rps[3], rps[1]/rps[3])
	fmt.Printf("With the decision log off: %.2f× OPA, p99 %s. The earlier defaults (store committed directly, topdown): %.2f×, p99 %s.\n",
		rps[4]/rps[2], us(p99s[4]), rps[5]/rps[2], us(p99s[5]))
	if disagree > 0 {
		return fmt.Errorf("%d cases decided differently", disagree)
	}
	return nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

func load(client *http.Client, s *server, cases []tests.Case, bodies [][]byte, duration time.Duration, concurrency int) result {
	// Warm up: a second of the same load, not measured.
	run := func(d time.Duration) ([]time.Duration, int) {
		var (
			mu     sync.Mutex
			all    []time.Duration
			errors int
			wg     sync.WaitGroup
		)
		deadline := time.Now().Add(d)
		for w := range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				errs := 0
				for i := w * 7; time.Now().Before(deadline); i++ {
					k := i % len(cases)
					start := time.Now()
					resp, err := client.Post(s.base+s.path(cases[k].Merchant), "application/json", bytes.NewReader(bodies[k]))
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("%d", resp.StatusCode)
						}
					}
					lat = append(lat, time.Since(start))
					if err != nil {
						errs++
					}
				}
				mu.Lock()
				all = append(all, lat...)
				errors += errs
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all, errors
	}
	run(time.Second)
	start := time.Now()
	lat, errors := run(duration)
	elapsed := time.Since(start)
	slices.Sort(lat)
	return result{
		rps:    float64(len(lat)) / elapsed.Seconds(),
		p50:    lat[len(lat)/2],
		p99:    lat[len(lat)*99/100],
		errors: errors,
	}
}

func decide(client *http.Client, url string, body []byte) (tests.Summary, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return tests.Summary{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct{ Result json.RawMessage }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil || len(env.Result) == 0 {
		return tests.Summary{}, fmt.Errorf("answer %d %s", resp.StatusCode, raw)
	}
	return tests.Summarize(env.Result)
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy at %s after 60s", base)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func rss(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
