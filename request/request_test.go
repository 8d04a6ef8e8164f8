package request_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/refundd/refundd/request"
)

const valid = `{
 "claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "defective", "line_ids": ["l1"]},
 "order": {"placed_at": "2026-03-01T09:58:00Z", "paid_at": null, "currency": "EUR",
  "lines": [{"id": "l1", "kind": "product", "amount": 19900}, {"id": "l2", "kind": "tax", "amount": 3980}]}
}`

func fields(err error) []string {
	var verr *request.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	out := []string{}
	for _, p := range verr.Problems {
		out = append(out, p.Field+" "+p.Rule)
	}
	sort.Strings(out)
	return out
}

func TestValid(t *testing.T) {
	req, err := request.Decode([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if req.Currency != "EUR" || req.Claimed != 19900 {
		t.Errorf("currency %q claimed %d, want EUR 19900 (only l1 is claimed)", req.Currency, req.Claimed)
	}
	all, err := request.Decode([]byte(strings.Replace(valid, `, "line_ids": ["l1"]`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if all.Claimed != 23880 {
		t.Errorf("claimed %d without line_ids, want every line: 23880", all.Claimed)
	}
}

func TestEveryProblemIsListed(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"not an object", `[1,2]`, []string{"body body_object"}},
		{"not JSON", `{"claim":`, []string{"body json"}},
		{"empty", ``, []string{"body json"}},
		{"trailing data", `{} {}`, []string{"body json"}},
		{"empty object", `{}`, []string{"claim required", "order required"}},
		{"many at once", `{
		  "claim": {"submitted_at": "yesterday", "reason": "bored", "remedy": "cash", "line_ids": ["l1", "zz"], "evidence": [1], "support_unresolved": "yes"},
		  "order": {"placed_at": "2026-03-01T09:58:00Z", "paid_at": "soon", "currency": "euro", "payment_method": "cash",
		    "lines": [{"id": "l1", "kind": "gift", "amount": -5}, {"id": "l1", "kind": "tax", "amount": 1.5}, {"kind": "tax"}, "x"]},
		  "subscription": {"billing": "weekly", "last_payment_amount": "10"},
		  "item": {"condition": "broken", "repairable": 1},
		  "customer": {"type": "robot", "previously_refunded_skus": "sku"}
		}`, []string{
			"claim.evidence[0] type",
			"claim.line_ids[1] unknown_line",
			"claim.reason enum",
			"claim.remedy enum",
			"claim.submitted_at time",
			"claim.support_unresolved type",
			"customer.previously_refunded_skus type",
			"customer.type enum",
			"item.condition enum",
			"item.repairable type",
			"order.currency currency",
			"order.lines[0].amount min",
			"order.lines[0].kind enum",
			"order.lines[1].amount type",
			"order.lines[1].id duplicate",
			"order.lines[2].amount required",
			"order.lines[2].id required",
			"order.lines[3] type",
			"order.paid_at time",
			"order.payment_method enum",
			"subscription.billing enum",
			"subscription.last_payment_amount type",
		}},
		{"submitted before placed", strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-02-28T00:00:00Z", 1), []string{"claim.submitted_at not_before"}},
		{"no lines", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": []}}`, []string{"order.lines nonempty"}},
		{"empty line_ids", strings.Replace(valid, `["l1"]`, `[]`, 1), []string{"claim.line_ids nonempty"}},
		{"amount too large", strings.Replace(valid, "19900", "10000000000000000000", 1), []string{"order.lines[0].amount max"}},
		{"wrong types", `{"claim": "x", "order": 3, "item": []}`, []string{"claim type", "item type", "order type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := request.Decode([]byte(tc.body))
			if got := fields(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

func TestDataAPIShapePrefixesFields(t *testing.T) {
	_, err := request.DecodeDataAPI([]byte(`{"input": {"claim": {"submitted_at": "2026-03-10T10:00:00Z"}}}`))
	want := []string{"input.claim.reason required", "input.order required"}
	if got := fields(err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = request.DecodeDataAPI([]byte(`{"claim": {}}`))
	if got := fields(err); !reflect.DeepEqual(got, []string{"input required"}) {
		t.Errorf("got %q, want input required", got)
	}
	if _, err := request.DecodeDataAPI([]byte(`{"input": ` + valid + `}`)); err != nil {
		t.Errorf("valid wrapped request: %v", err)
	}
}

func TestMessagesInBothLanguages(t *testing.T) {
	_, err := request.Decode([]byte(`{"claim": {"submitted_at": "x", "reason": "bored"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [{"id": "a", "kind": "product", "amount": 1}]}}`))
	var verr *request.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 2 {
		t.Fatalf("err %v", err)
	}
	for _, p := range verr.Problems {
		en, fr := p.Message("en"), p.Message("fr")
		if en == "" || fr == "" || en == fr || en == p.Rule {
			t.Errorf("%s: en %q fr %q", p.Field, en, fr)
		}
	}
	if !strings.Contains(verr.Problems[1].Message("en"), "change_of_mind") {
		t.Errorf("enum message %q does not list the allowed values", verr.Problems[1].Message("en"))
	}
}

// FuzzDecode: any bytes give either a valid request or a ValidationError
// that names a field, never a panic or another error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{"claim": {"line_ids": [null]}, "order": {"lines": [{"amount": 1e400}]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := request.Decode(body)
		if err == nil {
			if req.Claimed < 0 || !json.Valid(body) {
				t.Fatalf("accepted %q with claimed %d", body, req.Claimed)
			}
			return
		}
		var verr *request.ValidationError
		if !errors.As(err, &verr) || len(verr.Problems) == 0 {
			t.Fatalf("err %v is not a ValidationError with problems", err)
		}
		for _, p := range verr.Problems {
			if p.Field == "" || p.Message("en") == "" {
				t.Fatalf("problem without field or message: %+v", p)
			}
		}
	})
}
