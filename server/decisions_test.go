package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/replay"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/tests"
)

type logged struct {
	fixture
	store  *decisionlog.Store
	logger *decisionlog.Logger
}

func newLogged(t *testing.T) logged {
	t.Helper()
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{})
	if err := eng.LoadTree(context.Background(), tree); err != nil {
		t.Fatal(err)
	}
	store, err := decisionlog.OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lg, err := decisionlog.NewLogger(store, decisionlog.Options{Mode: decisionlog.Durable})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	srv := server.New(eng, server.Options{Metrics: m, Gatherer: reg, DecisionLog: lg, Records: store,
		Impact: func(ctx context.Context, merchant string, raw []byte, o replay.Options) (*replay.Report, error) {
			cand, rev, err := replay.CandidateBundle(ctx, raw, "upload", merchant, nil, bundles.DefaultLimits)
			if err != nil {
				return nil, server.BadBundle(err)
			}
			return replay.Run(ctx, store, cand, rev, o)
		}})
	return logged{fixture: fixture{handler: srv.Handler(), metrics: m}, store: store, logger: lg}
}

const identified = `{"claim":{"id":"clm_7","submitted_at":"2026-03-10T10:00:00Z","reason":"dissatisfied"},
 "order":{"id":"ord_7","placed_at":"2026-03-01T09:58:00Z","paid_at":"2026-03-01T10:00:00Z","currency":"USD",
  "lines":[{"id":"l1","kind":"product","amount":4995}]},
 "customer":{"id":"cus_secret","country":"US"}}`

func TestEveryDecisionIsLoggedMasked(t *testing.T) {
	f := newLogged(t)
	rec, answer := f.do(t, "POST", "/v1/merchants/aomei/decisions", identified)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	id := answer["decision_id"].(string)
	// Durable: the record is there as soon as the answer is.
	r, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Merchant != "aomei" || r.Outcome != "approve" || r.Refunded != 4995 || r.Currency != "USD" ||
		!strings.HasPrefix(r.Revision, "policies@") || r.EngineNanos <= 0 {
		t.Errorf("record %+v", r)
	}
	if !bytes.Equal(bytes.TrimSpace(r.Decision), bytes.TrimSpace(rec.Body.Bytes())) {
		t.Errorf("logged decision differs from the answer:\n%s\n%s", r.Decision, rec.Body)
	}
	req := string(r.Request)
	if strings.Contains(req, "cus_secret") || strings.Contains(req, "clm_7") || !strings.Contains(req, "sha256:") || !strings.Contains(req, `"country":"US"`) {
		t.Errorf("request not masked as the policy data says: %s", req)
	}

	// GET /v1/decisions/{id} and the listing.
	rec, got := f.do(t, "GET", "/v1/decisions/"+id, "")
	if rec.Code != 200 || got["decision_id"] != id || got["decision"].(map[string]any)["outcome"] != "approve" {
		t.Errorf("get: %d %s", rec.Code, rec.Body)
	}
	if rec, body := f.do(t, "GET", "/v1/decisions/nope", ""); rec.Code != 404 || body["code"] != "unknown_decision" {
		t.Errorf("unknown id: %d %s", rec.Code, rec.Body)
	}
	for range 3 {
		f.do(t, "POST", "/v1/data/refunds/merchants/saas_codes/decision", `{"input":`+identified+`}`)
	}
	rec, list := f.do(t, "GET", "/v1/decisions?merchant=saas_codes&limit=2", "")
	if rec.Code != 200 || len(list["decisions"].([]any)) != 2 || list["next_cursor"] == "" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	rec, next := f.do(t, "GET", "/v1/decisions?merchant=saas_codes&limit=2&cursor="+list["next_cursor"].(string), "")
	if rec.Code != 200 || len(next["decisions"].([]any)) != 1 || next["next_cursor"] != "" {
		t.Errorf("second page: %d %s", rec.Code, rec.Body)
	}
	rec, none := f.do(t, "GET", "/v1/decisions?outcome=refer", "")
	if rec.Code != 200 || len(none["decisions"].([]any)) != 0 {
		t.Errorf("filter: %d %s", rec.Code, rec.Body)
	}
	rec, bad := f.do(t, "GET", "/v1/decisions?since=monday&outcome=maybe&limit=5000", "")
	if rec.Code != 400 || len(bad["errors"].([]any)) != 3 {
		t.Errorf("bad query: %d %s", rec.Code, rec.Body)
	}
}

func TestExplainIsOnRequest(t *testing.T) {
	f := newLogged(t)
	_, lean := f.do(t, "POST", "/v1/merchants/aomei/decisions", identified)
	if _, ok := lean["explanation"]; ok {
		t.Error("explanation without ?explain=true")
	}
	rec, d := f.do(t, "POST", "/v1/merchants/aomei/decisions?explain=true", identified)
	fired, _ := d["explanation"].([]any)
	if rec.Code != 200 || len(fired) == 0 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var found bool
	for _, f := range fired {
		f := f.(map[string]any)
		if f["rule"] == "data.refunds.merchants.aomei.in_guarantee" && strings.Contains(f["location"].(string), "merchants/aomei/policy.rego:") {
			found = true
		}
	}
	if !found {
		t.Errorf("explanation %v lacks aomei's in_guarantee rule with its file and line", fired)
	}
	r, _ := f.store.Get(context.Background(), d["decision_id"].(string))
	if strings.Contains(string(r.Decision), "explanation") {
		t.Error("the logged record carries the explanation")
	}
}

func TestImpactOfACandidateBundle(t *testing.T) {
	f := newLogged(t)
	for range 4 {
		f.do(t, "POST", "/v1/merchants/aomei/decisions", identified)
	}
	tree, _ := bundles.LoadTree(tests.PoliciesDir())
	src := tree.Source("aomei")
	src.Data = map[string]any{"params": map[string]any{"guarantee_days": 5}} // claims came on day 9
	b, _ := bundles.Build(src, "candidate-1", nil)
	var buf bytes.Buffer
	if err := bundles.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/merchants/aomei/impact", bytes.NewReader(buf.Bytes()))
	req.Header.Set("Content-Type", "application/gzip")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var rep replay.Report
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &rep) != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rep.Candidate != "candidate-1" || rep.Decisions != 4 || rep.Changed != 4 || rep.Transitions["approve"]["deny"] != 4 ||
		rep.Refunded["USD"].Change != -4*4995 || len(rep.Sample) != 4 {
		t.Errorf("report %+v", rep)
	}
	typo := httptest.NewRequest("POST", "/v1/merchants/aomei/impact?smaple=3", bytes.NewReader(buf.Bytes()))
	typo.Header.Set("Content-Type", "application/gzip")
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, typo)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"smaple"`) {
		t.Errorf("a mistyped parameter: %d %s", rec.Code, rec.Body)
	}
	bad := httptest.NewRequest("POST", "/v1/merchants/aomei/impact", strings.NewReader("not a bundle"))
	bad.Header.Set("Content-Type", "application/gzip")
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, bad)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid_bundle") {
		t.Errorf("bad bundle: %d %s", rec.Code, rec.Body)
	}
}

func TestNoAnswerWithoutARecord(t *testing.T) {
	f := newLogged(t)
	f.logger.Close() // the log can no longer take records
	rec, body := f.do(t, "POST", "/v1/merchants/aomei/decisions", identified)
	if rec.Code != 503 || body["code"] != "decision_log_unavailable" {
		t.Errorf("%d %s, want 503 decision_log_unavailable", rec.Code, rec.Body)
	}
}

func TestLogQueriesAreNotDecisionErrors(t *testing.T) {
	f := newLogged(t)
	f.do(t, "GET", "/v1/decisions?limit=0", "")
	f.do(t, "GET", "/v1/decisions/nope", "")
	if n := testutilCount(f.metrics); n != 0 {
		t.Errorf("%d decision errors counted for decision log queries", n)
	}
}

func testutilCount(m *metrics.Metrics) int {
	return testutil.CollectAndCount(m.DecisionErrors)
}

// TestShutdownStopsImpactRuns: SIGTERM is not held up by an impact run: the
// run is cancelled as shutdown begins, its client told to come back.
func TestShutdownStopsImpactRuns(t *testing.T) {
	tree, _ := bundles.LoadTree(tests.PoliciesDir())
	eng := engine.New(engine.Options{})
	_ = eng.LoadTree(context.Background(), tree)
	store, err := decisionlog.OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	started, cancelled := make(chan struct{}), make(chan struct{})
	srv := server.New(eng, server.Options{Records: store, ImpactTimeout: time.Hour,
		Impact: func(ctx context.Context, _ string, _ []byte, _ replay.Options) (*replay.Report, error) {
			close(started)
			<-ctx.Done() // a run that would take an hour
			close(cancelled)
			return nil, ctx.Err()
		}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(ctx, ln, server.Timeouts{ReadHeader: time.Second, Read: time.Second, Write: time.Hour, Idle: time.Second, Shutdown: 10 * time.Second})
	}()
	answer := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/merchants/aomei/impact", "application/gzip", strings.NewReader("x"))
		if err != nil {
			answer <- nil
			return
		}
		answer <- resp
	}()
	<-started
	begin := time.Now()
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown held up by an impact run")
	}
	<-cancelled
	if resp := <-answer; resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the run's client got %+v, want 429 with Retry-After", resp)
	}
	t.Logf("shutdown took %s with an impact run in progress", time.Since(begin).Round(time.Millisecond))
}
