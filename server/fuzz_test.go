package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/tests"
)

// FuzzListQuery: any query of GET /v1/decisions gives a bounded query or
// field errors, never a panic.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{"", "limit=10&merchant=aomei&outcome=deny", "limit=0", "limit=1001", "limit=1&limit=2",
		"since=2026-03-05t10:00:00z&until=2026-03-06T00:00:00%2B24:00", "lmit=5", "cursor=%ff", "%zz", "outcome=maybe&since=1677-01-01T00:00:00Z"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := server.ParseListQuery(raw)
		if err == nil {
			if q.Limit < 1 || q.Limit > 1000 {
				t.Fatalf("%q: limit %d accepted", raw, q.Limit)
			}
			return
		}
		var verr *request.ValidationError
		if !errors.As(err, &verr) || len(verr.Problems) == 0 {
			t.Fatalf("%q: %v is not a field error", raw, err)
		}
		for _, p := range verr.Problems {
			if p.Field == "" || p.Message("en") == p.Rule {
				t.Fatalf("%q: problem without field or message: %+v", raw, p)
			}
		}
	})
}

// FuzzHandler runs the decision routes themselves (content type, body limit,
// decoding, evaluation, error mapping) on any body: the answer is a decision
// or a client error with a JSON error body, never a 5xx.
func FuzzHandler(f *testing.F) {
	fx := newFixture(f, tests.PoliciesDir())
	f.Add(uint8(0), "application/json", []byte(claim))
	f.Add(uint8(1), "application/json", []byte(`{"input":`+claim+`}`))
	f.Add(uint8(0), "application/json; charset=utf-8", []byte(claim+"}"))
	f.Add(uint8(0), "text/plain", []byte(claim))
	f.Add(uint8(2), "", []byte(claim))
	f.Add(uint8(0), "application/json", []byte(strings.Replace(claim, `"reason"`, `"suport_unresolved":true,"reason"`, 1)))
	f.Add(uint8(0), "application/json", []byte(`{"pad":"`+strings.Repeat("x", 5000)+`"}`))
	// The statutory floor's worked examples: French and Brazilian consumers,
	// so that mutations reach every right of the floor.
	examples, err := tests.LoadFloorExamples()
	if err != nil {
		f.Fatal(err)
	}
	for i, ex := range examples {
		f.Add(uint8(3+i%5), "application/json", []byte(ex.Request))
	}
	paths := []string{"/v1/merchants/aomei/decisions", "/v1/data/refunds/merchants/aomei/decision", "/v1/merchants/nobody/decisions",
		"/v1/merchants/crmjetty/decisions", "/v1/merchants/machine_shop/decisions", "/v1/merchants/saas_codes/decisions",
		"/v1/merchants/social_services/decisions"}
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, paths[int(route)%len(paths)], strings.NewReader(string(body)))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		var out struct {
			Code   string `json:"code"`
			Errors []struct{ Field, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d: answer is not JSON: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if out.Code != "invalid_request" || len(out.Errors) == 0 {
				t.Fatalf("400 without field errors: %s", rec.Body.String())
			}
			for _, e := range out.Errors {
				if e.Field == "" || e.Message == "" {
					t.Fatalf("field error without field or message: %s", rec.Body.String())
				}
			}
		case http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			if out.Code == "" {
				t.Fatalf("%d without a code: %s", rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("status %d for %q (%q): %s", rec.Code, body, contentType, rec.Body.String())
		}
	})
}
