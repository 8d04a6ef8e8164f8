package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/tests"
)

// catalogText is a code's text in the policy tree's message catalog.
func catalogText(t *testing.T, lang, code string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(tests.PoliciesDir(), "messages", "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]map[string]string // language, code, text
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	text := data[lang][code]
	if text == "" {
		t.Fatalf("no %s text for %s", lang, code)
	}
	return text
}

func count(t *testing.T, f logged) int {
	t.Helper()
	n := 0
	if err := f.store.Each(context.Background(), decisionlog.Query{}, func(decisionlog.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTryIsNotLogged: a trial is decided by the live policy with the rules
// that fired, and leaves no record.
func TestTryIsNotLogged(t *testing.T) {
	f := newLogged(t)
	rec, body := f.do(t, "POST", "/v1/merchants/aomei/try", identified, "Accept-Language", "fr")
	if rec.Code != 200 || body["trial"] != true {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	d := body["decision"].(map[string]any)
	if d["outcome"] != "approve" || len(d["explanation"].([]any)) == 0 {
		t.Errorf("trial decision %s", rec.Body)
	}
	if n := count(t, f); n != 0 {
		t.Errorf("a trial left %d records", n)
	}
	for _, tc := range []struct{ path, body, code string }{
		{"/v1/merchants/aomei/try", `{"claim":{}}`, "invalid_request"},
		{"/v1/merchants/aomei/try?explain=true", identified, "invalid_request"},
		{"/v1/merchants/nobody/try", identified, "unknown_merchant"},
	} {
		if rec, body := f.do(t, "POST", tc.path, tc.body); body["code"] != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.path, rec.Code, rec.Body, tc.code)
		}
	}
}

// TestLoggedDecisionInEitherLanguage: a decision logged in English reads
// in French with ?lang=fr, and back; nothing else of the record changes.
func TestLoggedDecisionInEitherLanguage(t *testing.T) {
	f := newLogged(t)
	claim := `{"claim":{"submitted_at":"2026-06-10T10:00:00Z","reason":"dissatisfied"},
 "order":{"placed_at":"2026-03-01T09:58:00Z","paid_at":"2026-03-01T10:00:00Z","currency":"USD",
  "lines":[{"id":"l1","kind":"product","amount":4995}]}}`
	rec, answer := f.do(t, "POST", "/v1/merchants/aomei/decisions", claim)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	reason := answer["reasons"].([]any)[0].(map[string]any)
	code := reason["code"].(string)
	if reason["message"] != catalogText(t, "en", code) {
		t.Fatalf("logged in English: %v", reason)
	}
	id := answer["decision_id"].(string)
	asLogged, _ := f.do(t, "GET", "/v1/decisions/"+id, "")
	for lang, want := range map[string]string{"fr": catalogText(t, "fr", code), "en": catalogText(t, "en", code)} {
		rec, got := f.do(t, "GET", "/v1/decisions/"+id+"?lang="+lang, "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", lang, rec.Code, rec.Body)
		}
		d := got["decision"].(map[string]any)
		if msg := d["reasons"].([]any)[0].(map[string]any)["message"]; msg != want {
			t.Errorf("%s: reason %q, want %q", lang, msg, want)
		}
		if d["outcome"] != answer["outcome"] || d["decision_id"] != id || got["request"] == nil {
			t.Errorf("%s: the record changed: %s", lang, rec.Body)
		}
	}
	if rec, body := f.do(t, "GET", "/v1/decisions/"+id+"?lang=de", ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"lang"`) {
		t.Errorf("lang=de: %d %v", rec.Code, body)
	}
	if again, _ := f.do(t, "GET", "/v1/decisions/"+id, ""); again.Body.String() != asLogged.Body.String() {
		t.Error("the logged record changed")
	}
}

// TestExplorerFiles: the page is served from the binary, kept to its own
// origin by its headers.
func TestExplorerFiles(t *testing.T) {
	f := newLogged(t)
	for path, want := range map[string]string{"/ui/": "<script src=\"app.js\"", "/ui/app.js": "async function api(", "/ui/style.css": ".badge"} {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d", path, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/ui", nil))
	if rec.Code != 301 || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/nothing.js", nil))
	if rec.Code != 404 {
		t.Errorf("/ui/nothing.js: %d", rec.Code)
	}
}
