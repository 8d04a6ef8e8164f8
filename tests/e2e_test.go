package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the refundd binary TestMain builds for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "refundd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "refundd")
	cmd := exec.Command("go", "build", "-o", binary, "./cmd/refundd")
	cmd.Dir = filepath.Join(Dir(), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup skips under -short (the tests run the binary) and loads the cases.
func setup(t *testing.T) []Case {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the refundd binary")
	}
	cases, err := LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// startServer runs `refundd serve` on a free loopback port and returns its
// base URL; the server's log is kept for the failure report.
func startServer(t *testing.T, bin string, args ...string) (string, *exec.Cmd, *LogBuffer) {
	t.Helper()
	if len(args) == 0 {
		args = []string{"--policies", PoliciesDir()}
	}
	if !slices.ContainsFunc(args, func(a string) bool { return a == "--data-dir" || a == "--decision-log" }) {
		args = append(args, "--data-dir", t.TempDir())
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	logs := &LogBuffer{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				select {
				case addr <- line.Addr:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		scheme := "http://"
		if slices.Contains(args, "--tls-cert-file") {
			scheme = "https://"
		}
		return scheme + a, cmd, logs
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start:\n%s", logs)
	}
	return "", nil, nil
}

// post sends a JSON body to refundd; the answer must be one
// docs/openapi.yaml describes.
func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	return postTo(t, url, body, true)
}

// postTo sends a JSON body, to refundd (validated against the OpenAPI
// description) or to another server.
func postTo(t *testing.T, url, body string, refundd bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if refundd {
		ValidateResponse(t, req, resp.StatusCode, resp.Header, b)
	}
	return resp.StatusCode, b
}

func TestEndToEnd(t *testing.T) {
	cases := setup(t)
	base, cmd, logs := startServer(t, binary)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()

	type key struct{ merchant, outcome, remedy string }
	decisions := map[key]int{}
	refunded := map[string]int64{} // merchant/currency
	perMerchant := map[string]int{}
	for _, c := range cases {
		t.Run(c.Merchant+"/"+c.Name, func(t *testing.T) {
			status, native := post(t, base+"/v1/merchants/"+c.Merchant+"/decisions", string(c.Request))
			if status != http.StatusOK {
				t.Fatalf("native: %d %s", status, native)
			}
			status, wrapped := post(t, base+"/v1/data/refunds/merchants/"+c.Merchant+"/decision", `{"input":`+string(c.Request)+`}`)
			if status != http.StatusOK {
				t.Fatalf("data API: %d %s", status, wrapped)
			}
			var env struct {
				Result     json.RawMessage `json:"result"`
				DecisionID string          `json:"decision_id"`
			}
			if err := json.Unmarshal(wrapped, &env); err != nil || env.DecisionID == "" {
				t.Fatalf("data API answer %s: %v", wrapped, err)
			}
			for shape, body := range map[string][]byte{"native": native, "data API": env.Result} {
				got, err := Summarize(body)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.Want) {
					t.Errorf("%s: %s\n got  %+v\n want %+v", shape, c.Description, got, c.Want)
				}
			}
		})
		decisions[key{c.Merchant, c.Want.Outcome, c.Want.Remedy}] += 2
		refunded[c.Merchant+"/"+c.Want.Refund.Currency] += 2 * c.Want.Refund.Amount
		perMerchant[c.Merchant] += 2
	}

	// Errors through the real server.
	if status, body := post(t, base+"/v1/merchants/aomei/decisions", `{"claim":{"reason":"bored"}}`); status != 400 ||
		!strings.Contains(string(body), `"claim.submitted_at"`) || !strings.Contains(string(body), `"claim.reason"`) || !strings.Contains(string(body), `"order"`) {
		t.Errorf("invalid request: %d %s", status, body)
	}
	if status, body := post(t, base+"/v1/merchants/acme/decisions", string(cases[0].Request)); status != 404 || !strings.Contains(string(body), "unknown_merchant") {
		t.Errorf("unknown merchant: %d %s", status, body)
	}

	// The counters moved by exactly what was decided.
	m := scrape(t, base)
	for k, n := range decisions {
		series := fmt.Sprintf(`refundd_decisions_total{merchant=%q,outcome=%q,remedy=%q}`, k.merchant, k.outcome, k.remedy)
		if v := metricValue(m, series); v != float64(n) {
			t.Errorf("%s = %v, want %d", series, v, n)
		}
	}
	for mc, amount := range refunded {
		merchant, currency, _ := strings.Cut(mc, "/")
		series := fmt.Sprintf(`refundd_refunded_minor_units_total{currency=%q,merchant=%q}`, currency, merchant)
		if amount > 0 && metricValue(m, series) != float64(amount) {
			t.Errorf("%s = %v, want %d", series, metricValue(m, series), amount)
		}
	}
	for merchant, n := range perMerchant {
		series := fmt.Sprintf(`refundd_decision_duration_seconds_count{merchant=%q}`, merchant)
		if v := metricValue(m, series); v != float64(n) {
			t.Errorf("%s = %v, want %d", series, v, n)
		}
	}
	for _, series := range []string{
		`refundd_decision_errors_total{code="invalid_request",merchant="aomei"}`,
		`refundd_decision_errors_total{code="unknown_merchant",merchant="unknown"}`,
	} {
		if metricValue(m, series) != 1 {
			t.Errorf("%s = %v, want 1", series, metricValue(m, series))
		}
	}
	total := 0
	for _, n := range perMerchant {
		total += n / 2
	}
	for _, series := range []string{
		fmt.Sprintf(`http_request_duration_seconds_count{code="200",handler="/v1/merchants/:merchant/decisions",method="POST"} %d`, total),
		fmt.Sprintf(`http_request_duration_seconds_count{code="200",handler="/v1/data/refunds/merchants/:merchant/decision",method="POST"} %d`, total),
		`http_request_duration_seconds_count{code="404",handler="/v1/merchants/:merchant/decisions",method="POST"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(m, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	// SIGTERM: the server drains and exits cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("server still running 20s after SIGTERM")
	}
}

// LogBuffer keeps a server's log: written by the goroutine that reads the
// server's stderr, read by the test.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(s)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// scrape returns the server's /metrics exposition.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

var sampleLine = regexp.MustCompile(`(?m)^(\S+) (\S+)$`)

// metricValue returns the value of one exposition series, -1 if absent.
func metricValue(exposition, series string) float64 {
	for _, m := range sampleLine.FindAllStringSubmatch(exposition, -1) {
		if m[1] == series {
			v, err := strconv.ParseFloat(m[2], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func TestEvalCommand(t *testing.T) {
	cases := setup(t)
	bin := binary
	c := cases[len(cases)-1]
	file := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(file, c.Request, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "eval", "--merchant", c.Merchant, "--policies", PoliciesDir(), file).Output()
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	got, err := Summarize(out)
	if err != nil || !reflect.DeepEqual(got, c.Want) {
		t.Errorf("eval printed %s (%v), want %+v", out, err, c.Want)
	}
	cmd := exec.Command(bin, "eval", "--merchant", c.Merchant, "--policies", PoliciesDir(), "-")
	cmd.Stdin = strings.NewReader(`{"claim":{}}`)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "claim.submitted_at: is required") {
		t.Errorf("eval of an invalid request: %v\n%s", err, out)
	}
}
