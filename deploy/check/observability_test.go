package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// promtool finds Prometheus' promtool; without it the test is skipped,
// unless REFUNDD_REQUIRE_PROMTOOL is set (CI), where it fails.
func promtool(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("promtool"); err == nil {
		return path
	}
	if os.Getenv("REFUNDD_REQUIRE_PROMTOOL") != "" {
		t.Fatal("no promtool on PATH (REFUNDD_REQUIRE_PROMTOOL is set): apt-get install prometheus")
	}
	t.Skip("no promtool on PATH: apt-get install prometheus")
	return ""
}

// TestAlertRules: the rules load, and their unit tests pass.
func TestAlertRules(t *testing.T) {
	tool := promtool(t)
	dir := filepath.Join(root, "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert has a unit test.
	rules := readRules(t)
	tests, _ := os.ReadFile(filepath.Join(dir, "alerts_test.yaml"))
	for _, r := range rules {
		if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
			t.Errorf("alert %s has no test in alerts_test.yaml", r.Alert)
		}
	}
}

type rule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct{ Rules []rule } `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range file.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct{ Name, Type string } `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the Grafana dashboard is well formed, lays out without
// overlaps, uses only variables it defines, and every query is valid
// PromQL (promtool) over metrics that refundd exposes.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "refundd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	varRef := regexp.MustCompile(`\$\{?(\w+)`)
	ids := map[int]bool{}
	cells := map[[2]int]int{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panel %q overlaps panel %d", p.Title, other)
				}
				cells[[2]int{x, y}] = p.ID
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: %d targets, datasource %q", p.Title, len(p.Targets), p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			for _, m := range varRef.FindAllStringSubmatch(tg.Expr+" "+tg.Datasource.UID, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q uses $%s, which the dashboard does not define", p.Title, m[1])
				}
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	// Every query is valid PromQL: checked as recording rules by promtool,
	// with the dashboard's variables as Grafana would fill them in.
	tool := promtool(t)
	fill := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "30s",
		"$merchant", ".*", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(fill.Replace(e))
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	_ = os.WriteFile(file, []byte(rules.String()), 0o644)
	if out, err := exec.Command(tool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries: %v\n%s", err, out)
	}
	// The metrics the dashboard and the alerts read are refundd's, and the
	// dashboard covers what an operator watches.
	exposed := exposedMetrics(t)
	used := map[string]bool{}
	for _, r := range readRules(t) {
		for _, name := range metricNames(r.Expr) {
			if !exposed[name] {
				t.Errorf("alert %s reads %s, which refundd does not expose", r.Alert, name)
			}
		}
	}
	for _, e := range exprs {
		for _, name := range metricNames(e) {
			used[name] = true
			if !exposed[name] {
				t.Errorf("the dashboard reads %s, which refundd does not expose", name)
			}
		}
	}
	for _, want := range []string{"refundd_decisions_total", "refundd_refunded_minor_units_total", "refundd_decision_duration_seconds",
		"http_request_duration_seconds", "refundd_decision_errors_total", "refundd_bundle_activations_total",
		"refundd_bundle_last_success_timestamp_seconds", "refundd_merchant_active", "refundd_decision_log_queue_depth",
		"refundd_decision_log_commit_seconds", "refundd_decision_log_dropped_total", "refundd_floor_comparisons_total"} {
		if !used[want] {
			t.Errorf("no dashboard panel shows %s", want)
		}
	}
}

var metricName = regexp.MustCompile(`\b(refundd_[a-z0-9_]+|http_request_duration_seconds[a-z_]*)\b`)

// metricNames lists the metric families an expression reads (a histogram's
// _bucket, _sum and _count series as the histogram).
func metricNames(expr string) []string {
	var out []string
	for _, m := range metricName.FindAllString(expr, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suffix)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// exposedMetrics runs refundd, makes it decide a claim (one with a statutory
// floor section) and refuse another, and lists the metric families its
// /metrics then exposes.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--policies", filepath.Join(root, "policies"), "--data-dir", t.TempDir())
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var base string
	sc := bufio.NewScanner(stderr)
	for base == "" && sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
			base = "http://" + line.Addr
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if base == "" {
		t.Fatal("refundd did not start")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("refundd not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var c struct {
		Request json.RawMessage `json:"request"`
	}
	raw, _ := os.ReadFile(filepath.Join(root, "tests", "cases", "crmjetty", "03_monthly_renewal_in_five_business_days.json"))
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{string(c.Request), `{"claim":{}}`} {
		resp, err := http.Post(base+"/v1/merchants/crmjetty/decisions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exposed := map[string]bool{}
	sc = bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exposed[f[2]] = true
		}
	}
	return exposed
}
