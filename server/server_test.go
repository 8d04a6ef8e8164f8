package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/tests"
)

type fixture struct {
	handler http.Handler
	metrics *metrics.Metrics
}

func newFixture(t testing.TB, policies string) fixture {
	t.Helper()
	tree, err := bundles.LoadTree(policies)
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{})
	_ = eng.LoadTree(context.Background(), tree) // failures show in /ready
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	srv := server.New(eng, server.Options{Metrics: m, Gatherer: reg, MaxBodyBytes: 4096})
	return fixture{handler: srv.Handler(), metrics: m}
}

func (f fixture) do(t *testing.T, method, path, body string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

const claim = `{"claim":{"submitted_at":"2026-03-10T10:00:00Z","reason":"dissatisfied"},
 "order":{"placed_at":"2026-03-01T09:58:00Z","paid_at":"2026-03-01T10:00:00Z","currency":"USD",
  "lines":[{"id":"l1","kind":"product","amount":4995}]}}`

func TestErrors(t *testing.T) {
	f := newFixture(t, tests.PoliciesDir())
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
		fields                   []string
	}{
		{"invalid lists every field", "POST", "/v1/merchants/aomei/decisions",
			`{"claim":{"reason":"bored"},"order":{"currency":"EUR","lines":[{"id":"a","kind":"product","amount":-1}]}}`, nil,
			400, "invalid_request", []string{"claim.submitted_at", "claim.reason", "order.placed_at", "order.lines[0].amount"}},
		{"data API fields under input", "POST", "/v1/data/refunds/merchants/aomei/decision", `{"input":{"order":{}}}`, nil,
			400, "invalid_request", []string{"input.claim", "input.order.placed_at", "input.order.currency", "input.order.lines"}},
		{"not an object", "POST", "/v1/merchants/aomei/decisions", `"refund please"`, nil, 400, "invalid_request", []string{"body"}},
		{"unknown merchant", "POST", "/v1/merchants/nobody/decisions", claim, nil, 404, "unknown_merchant", nil},
		{"unknown merchant, data API", "POST", "/v1/data/refunds/merchants/nobody/decision", `{"input":` + claim + `}`, nil, 404, "unknown_merchant", nil},
		{"too large", "POST", "/v1/merchants/aomei/decisions", `{"pad":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "request_too_large", nil},
		{"not JSON", "POST", "/v1/merchants/aomei/decisions", claim, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", nil},
		{"no route", "GET", "/v2/nothing", "", nil, 404, "not_found", nil},
		{"wrong method", "GET", "/v1/merchants/aomei/decisions", "", nil, 405, "method_not_allowed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, body := f.do(t, tc.method, tc.path, tc.body, tc.headers...)
			if rec.Code != tc.status || body["code"] != tc.code || body["message"] == "" {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.code)
			}
			var got []string
			errs, _ := body["errors"].([]any)
			for _, e := range errs {
				e := e.(map[string]any)
				if e["message"] == "" {
					t.Errorf("field %v has no message", e["field"])
				}
				got = append(got, e["field"].(string))
			}
			for _, want := range tc.fields {
				if !strings.Contains(strings.Join(got, " "), want) {
					t.Errorf("errors %v do not name %s", got, want)
				}
			}
			if len(got) != len(tc.fields) {
				t.Errorf("errors %v, want exactly %v", got, tc.fields)
			}
		})
	}
	if n := testutil.ToFloat64(f.metrics.DecisionErrors.WithLabelValues("aomei", "invalid_request")); n != 3 {
		t.Errorf("aomei invalid_request errors counted %v, want 3", n)
	}
	if n := testutil.ToFloat64(f.metrics.DecisionErrors.WithLabelValues("unknown", "unknown_merchant")); n != 2 {
		t.Errorf("unknown merchant errors counted %v, want 2 under merchant=unknown", n)
	}
}

func TestFrench(t *testing.T) {
	f := newFixture(t, tests.PoliciesDir())
	rec, body := f.do(t, "POST", "/v1/merchants/aomei/decisions", `{"claim":{}}`, "Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
	if rec.Code != 400 || !strings.Contains(body["message"].(string), "invalide") {
		t.Fatalf("got %d %s, want a French message", rec.Code, rec.Body)
	}
	first := body["errors"].([]any)[0].(map[string]any)
	if first["message"] != "est obligatoire" {
		t.Errorf("field message %q, want French", first["message"])
	}
	_, d := f.do(t, "POST", "/v1/merchants/aomei/decisions", claim, "Accept-Language", "en;q=0.3, fr")
	if msg := d["reasons"].([]any)[0].(map[string]any)["message"].(string); !strings.Contains(msg, "remboursement") {
		t.Errorf("decision reason %q, want French", msg)
	}
	_, d = f.do(t, "POST", "/v1/merchants/aomei/decisions", claim, "Accept-Language", "de, fr;q=0")
	if msg := d["reasons"].([]any)[0].(map[string]any)["message"].(string); strings.Contains(msg, "remboursement") {
		t.Errorf("decision reason %q, want English by default", msg)
	}
}

func TestBothShapesGiveTheSameDecision(t *testing.T) {
	f := newFixture(t, tests.PoliciesDir())
	rec, native := f.do(t, "POST", "/v1/merchants/aomei/decisions", claim)
	if rec.Code != 200 {
		t.Fatalf("native: %d %s", rec.Code, rec.Body)
	}
	rec, wrapped := f.do(t, "POST", "/v1/data/refunds/merchants/aomei/decision", `{"input":`+claim+`}`)
	if rec.Code != 200 {
		t.Fatalf("data API: %d %s", rec.Code, rec.Body)
	}
	result := wrapped["result"].(map[string]any)
	if wrapped["decision_id"] != result["decision_id"] || wrapped["decision_id"] == native["decision_id"] {
		t.Errorf("decision ids: wrapped %v, result %v, native %v", wrapped["decision_id"], result["decision_id"], native["decision_id"])
	}
	delete(result, "decision_id")
	delete(native, "decision_id")
	a, _ := json.Marshal(native)
	b, _ := json.Marshal(result)
	if string(a) != string(b) {
		t.Errorf("native %s\ndata API %s", a, b)
	}
}

func TestMerchantsAndReadiness(t *testing.T) {
	f := newFixture(t, tests.PoliciesDir())
	rec, body := f.do(t, "GET", "/v1/merchants", "")
	ms := body["merchants"].([]any)
	if rec.Code != 200 || len(ms) != len(tests.MerchantIDs()) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	for _, m := range ms {
		m := m.(map[string]any)
		if m["active"] != true || !strings.HasPrefix(m["revision"].(string), "policies@") || m["activated_at"] == nil {
			t.Errorf("merchant %v", m)
		}
	}
	if rec, _ := f.do(t, "GET", "/ready", ""); rec.Code != 200 {
		t.Errorf("ready: %d", rec.Code)
	}
	if rec, _ := f.do(t, "GET", "/health", ""); rec.Code != 200 {
		t.Errorf("health: %d", rec.Code)
	}
}

func TestBrokenPolicyIsNotReadyAndFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tests.PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	// A syntax error keeps aomei from loading at all.
	if err := os.WriteFile(filepath.Join(dir, "merchants", "aomei", "policy.rego"), []byte("package refunds.merchants.aomei\n\ndecision := {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A decision with an unknown outcome is a policy error, not a decision.
	if err := os.WriteFile(filepath.Join(dir, "merchants", "saas_codes", "policy.rego"), []byte(`package refunds.merchants.saas_codes

decision := {"outcome": "maybe", "remedy": "none", "refund": {"amount": 0, "currency": input.order.currency, "withheld": []}, "reasons": [{"code": "x", "message": "x"}], "obligations": []}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, dir)
	rec, body := f.do(t, "GET", "/ready", "")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "aomei") {
		t.Errorf("ready: %d %s, want 503 naming aomei", rec.Code, rec.Body)
	}
	_ = body
	if rec, body := f.do(t, "POST", "/v1/merchants/aomei/decisions", claim); rec.Code != 404 || body["code"] != "unknown_merchant" {
		t.Errorf("aomei: %d %s", rec.Code, rec.Body)
	}
	if rec, body := f.do(t, "POST", "/v1/merchants/saas_codes/decisions", claim); rec.Code != 500 || body["code"] != "policy_error" {
		t.Errorf("saas_codes: %d %s, want 500 policy_error", rec.Code, rec.Body)
	}
	if rec, _ := f.do(t, "POST", "/v1/merchants/crmjetty/decisions", claim); rec.Code != 200 {
		t.Errorf("crmjetty should be unaffected: %d %s", rec.Code, rec.Body)
	}
	if n := testutil.ToFloat64(f.metrics.DecisionErrors.WithLabelValues("saas_codes", "policy_error")); n != 1 {
		t.Errorf("policy errors counted %v, want 1", n)
	}
}
