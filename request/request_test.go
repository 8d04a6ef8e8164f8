package request_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

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
		{"trailing data", `{} {}`, []string{"body trailing", "claim required", "order required"}},
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
	if got := fields(err); !reflect.DeepEqual(got, []string{"claim unknown_field", "input required"}) {
		t.Errorf("got %q, want claim unknown_field, input required", got)
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

// FuzzDecode: any bytes give either a valid request within the contract's
// bounds or a ValidationError whose every problem names a field, never a
// panic or another error.
func FuzzDecode(f *testing.F) {
	for _, seed := range strictSeeds() {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := request.Decode(body)
		checkDecoded(t, body, req, err)
	})
}

// FuzzDecodeDataAPI: the same oracle for OPA's Data API shape.
func FuzzDecodeDataAPI(f *testing.F) {
	for _, seed := range strictSeeds() {
		f.Add([]byte(`{"input": ` + seed + `}`))
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := request.DecodeDataAPI(body)
		checkDecoded(t, body, req, err)
	})
}

// strictSeeds are the bodies contract section 2 ("Strictness") is about.
func strictSeeds() []string {
	return []string{valid, valid + "}", valid + " garbage", valid + "]", valid + " ,", valid + "\x00",
		strings.Replace(valid, `"reason"`, `"suport_unresolved": true, "reason"`, 1),
		strings.Replace(valid, `"reason": "defective"`, `"reason": "defective", "reason": "other"`, 1),
		strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-03-05t10:00:00z", 1),
		strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-03-05T10:00:00+24:00", 1),
		strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-03-05T10:00:00-24:59", 1),
		strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-03-05T10:00:00+23:60", 1),
		strings.Replace(valid, "2026-03-01T09:58:00Z", "1677-03-01T09:58:00Z", 1),
		strings.Replace(valid, "2026-03-10T10:00:00Z", "2263-03-10T10:00:00Z", 1),
		strings.Replace(valid, "19900", "1000000000000000", 1),
		strings.Replace(valid, `"kind": "tax"`, "\"kind\": \"ta\xffx\"", 1),
		`{"claim": {"line_ids": [null]}, "order": {"lines": [{"amount": 1e400}]}}`, `null`, ``, `[[[[[[`}
}

func checkDecoded(t *testing.T, body []byte, req *request.Request, err error) {
	t.Helper()
	if err == nil {
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("accepted %q, which is not valid JSON", body)
		}
		if req.Claimed < 0 || req.Claimed > request.MaxAmount {
			t.Fatalf("accepted %q with claimed %d", body, req.Claimed)
		}
		if _, err := json.Marshal(req.Input); err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		return
	}
	var verr *request.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) == 0 {
		t.Fatalf("err %v is not a ValidationError with problems", err)
	}
	for _, p := range verr.Problems {
		if p.Field == "" || p.Message("en") == "" || p.Message("en") == p.Rule || p.Message("fr") == p.Rule {
			t.Fatalf("problem without field or message: %+v", p)
		}
	}
}

// TestStrictness: each malformed body of contract section 2 ("Strictness")
// is refused with the field it names, never decided.
func TestStrictness(t *testing.T) {
	lines := func(n int, amount string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"id": "l%d", "kind": "product", "amount": %s}`, i, amount)
		}
		return strings.Join(parts, ",")
	}
	claimTime := func(ts string) string { return strings.Replace(valid, "2026-03-10T10:00:00Z", ts, 1) }
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"extra closing brace", valid + "}", []string{"body trailing"}},
		{"garbage after", valid + " garbage", []string{"body trailing"}},
		{"extra bracket", valid + "]", []string{"body trailing"}},
		{"extra comma", valid + " ,", []string{"body trailing"}},
		{"NUL after", valid + "\x00", []string{"body trailing"}},
		{"whitespace after is fine", valid + " \n\t\r ", []string{}},
		{"unknown field", strings.Replace(valid, `"reason"`, `"suport_unresolved": true, "reason"`, 1), []string{"claim.suport_unresolved unknown_field"}},
		{"unknown top-level field", strings.Replace(valid, `{`, `{"claims": {},`, 1), []string{"claims unknown_field"}},
		{"unknown line field", strings.Replace(valid, `"amount": 3980`, `"amount": 3980, "qty": 2`, 1), []string{"order.lines[1].qty unknown_field"}},
		{"duplicate key", strings.Replace(valid, `"reason": "defective"`, `"reason": "defective", "reason": "other"`, 1), []string{"claim.reason duplicate_key"}},
		{"bad UTF-8 in a value", strings.Replace(valid, `"kind": "tax"`, "\"kind\": \"ta\xffx\"", 1), []string{"order.lines[1].kind enum", "order.lines[1].kind utf8"}},
		{"bad UTF-8 in a key", strings.Replace(valid, `"currency"`, "\"curr\xc3ency\"", 1), []string{"order.currency required", "order.curr\uFFFDency unknown_field", "order.curr\uFFFDency utf8"}},
		{"lower-case t and z", claimTime("2026-03-05t10:00:00z"), []string{}},
		{"offset +24:00", claimTime("2026-03-05T10:00:00+24:00"), []string{"claim.submitted_at time"}},
		{"offset -24:59", claimTime("2026-03-05T10:00:00-24:59"), []string{"claim.submitted_at time"}},
		{"offset +23:60", claimTime("2026-03-05T10:00:00+23:60"), []string{"claim.submitted_at time"}},
		{"offset +23:59", claimTime("2026-03-05T10:00:00+23:59"), []string{}},
		{"comma fraction", claimTime("2026-03-05T10:00:00,5Z"), []string{"claim.submitted_at time"}},
		{"empty fraction", claimTime("2026-03-05T10:00:00.Z"), []string{"claim.submitted_at time"}},
		{"space separator", claimTime("2026-03-05 10:00:00Z"), []string{"claim.submitted_at time"}},
		{"leap second", claimTime("2026-12-31T23:59:60Z"), []string{"claim.submitted_at time"}},
		{"February 30", claimTime("2026-02-30T10:00:00Z"), []string{"claim.submitted_at time"}},
		{"year 1677", strings.Replace(valid, "2026-03-01T09:58:00Z", "1677-03-01T09:58:00Z", 1), []string{"order.placed_at time_range"}},
		{"before 1970", strings.Replace(valid, "2026-03-01T09:58:00Z", "1969-12-31T23:59:59Z", 1), []string{"order.placed_at time_range"}},
		{"1970 in a later offset", strings.Replace(valid, "2026-03-01T09:58:00Z", "1970-01-01T00:30:00+01:00", 1), []string{"order.placed_at time_range"}},
		{"year 2263", claimTime("2263-01-01T00:00:00Z"), []string{"claim.submitted_at time_range"}},
		{"last instant of 2200", claimTime("2200-12-31T23:59:59.999Z"), []string{}},
		{"first instant of 2201", claimTime("2201-01-01T00:00:00Z"), []string{"claim.submitted_at time_range"}},
		{"sum overflows", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` + lines(930, "1000000000000000") + `]}}`, []string{"order.lines sum_max"}},
		{"more lines than the bound", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` + lines(1001, "1") + `]}}`, []string{"order.lines max_items"}},
		{"lines at the bound", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` + lines(1000, "1") + `]}}`, []string{}},
		{"more evidence than the bound", strings.Replace(valid, `"line_ids"`, `"evidence": [`+strings.TrimSuffix(strings.Repeat(`"e",`, 101), ",")+`], "line_ids"`, 1), []string{"claim.evidence max_items"}},
		{"a lone low surrogate", strings.Replace(valid, `"line_ids": ["l1"]`, `"line_ids": ["l\udfff"]`, 1), []string{"claim.line_ids[0] surrogate", "claim.line_ids[0] unknown_line"}},
		{"a lone high surrogate", strings.Replace(valid, `"line_ids": ["l1"]`, `"line_ids": ["l\ud800x"]`, 1), []string{"claim.line_ids[0] surrogate", "claim.line_ids[0] unknown_line"}},
		{"a high surrogate before a non-surrogate", strings.Replace(valid, `"line_ids": ["l1"]`, `"line_ids": ["\ud800\u0041"]`, 1), []string{"claim.line_ids[0] surrogate", "claim.line_ids[0] unknown_line"}},
		{"a surrogate in a key", strings.Replace(valid, `"line_ids"`, `"\udc00": 1, "line_ids"`, 1), []string{"claim.\ufffd surrogate", "claim.\ufffd unknown_field"}},
		{"a surrogate pair", strings.Replace(valid, `"reason": "defective"`, `"reason": "defective", "evidence": ["\ud83d\ude00 \\udfff"]`, 1), []string{}},
		{"sum at the bound", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` + lines(10, "100000000000000") + `]}}`, []string{}},
		{"too deep", `{"claim": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, []string{"body json"}},
		{"statutory fields", strings.Replace(strings.Replace(valid, `"line_ids"`, `"withdrawal": true, "line_ids"`, 1), `"paid_at": null`,
			`"paid_at": null, "withdrawal_info_given_at": null, "digital_redeemed_at": "2026-03-02T00:00:00Z", "performance_completed_at": "2026-03-02T00:00:00Z",
			 "immediate_performance": {"consent_at": "2026-03-01T09:58:00Z", "loss_acknowledged": true, "confirmation_sent_at": "2026-03-01T10:00:00Z"}`, 1), []string{}},
		{"statutory fields checked", strings.Replace(valid, `"paid_at": null`,
			`"paid_at": null, "withdrawal_info_given_at": "never", "immediate_performance": {"consent_at": 1, "loss_acknowledged": "yes", "extra": 1}`, 1),
			[]string{"order.immediate_performance.consent_at type", "order.immediate_performance.extra unknown_field",
				"order.immediate_performance.loss_acknowledged type", "order.withdrawal_info_given_at time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := request.Decode([]byte(tc.body))
			got := fields(err)
			if got == nil {
				if err != nil {
					t.Fatalf("not a ValidationError: %v", err)
				}
				got = []string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems\n got  %q\n want %q", got, tc.want)
			}
			// The same body inside OPA's Data API shape gives the same
			// problems, each under "input.".
			_, err = request.DecodeDataAPI([]byte(`{"input": ` + tc.body + `}`))
			if len(tc.want) > 0 && strings.HasPrefix(tc.want[0], "body") {
				return // the wrapper changes where the body ends
			}
			wrapped := fields(err)
			if wrapped == nil {
				wrapped = []string{}
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = "input." + w
			}
			if !reflect.DeepEqual(wrapped, want) {
				t.Errorf("Data API problems\n got  %q\n want %q", wrapped, want)
			}
		})
	}
}

// TestNullIsNotAbsent: the section 6.2 times that tell null from absent
// reach the policy as they came.
func TestNullIsNotAbsent(t *testing.T) {
	body := strings.Replace(valid, `"paid_at": null`, `"paid_at": null, "withdrawal_info_given_at": null`, 1)
	req, err := request.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	order := req.Input["order"].(map[string]any)
	if v, ok := order["withdrawal_info_given_at"]; !ok || v != nil {
		t.Errorf("withdrawal_info_given_at = %v (present %v), want a null", v, ok)
	}
	if _, ok := order["digital_redeemed_at"]; ok {
		t.Error("an absent digital_redeemed_at became present")
	}
}

// TestTimesReachThePolicyInCanonicalForm: lower-case t and z are valid RFC
// 3339; the policy gets them upper-case, which OPA's time functions read.
func TestTimesReachThePolicyInCanonicalForm(t *testing.T) {
	req, err := request.Decode([]byte(strings.Replace(valid, "2026-03-10T10:00:00Z", "2026-03-10t10:00:00.5z", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Input["claim"].(map[string]any)["submitted_at"]; got != "2026-03-10T10:00:00.5Z" {
		t.Errorf("submitted_at = %v", got)
	}
}

// TestProblemsAreBounded: a body with a problem in each of thousands of
// places gets the first Limits.Errors of them and the count of the rest.
func TestProblemsAreBounded(t *testing.T) {
	parts := make([]string, 900)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id": "l%d", "kind": "product", "amount": 1, "x": 1}`, i)
	}
	body := `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` +
		strings.Join(parts, ",") + `]}}`
	_, err := request.Decode([]byte(body))
	var verr *request.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 100 || verr.Omitted != 800 || verr.Problems[0].Field != "order.lines[0].x" {
		t.Fatalf("900 unknown fields: %d listed, %d omitted (%v)", len(verr.Problems), verr.Omitted, err)
	}
	// Empty lines: three problems each, but past the bound on lines, one.
	body = `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` +
		strings.TrimSuffix(strings.Repeat("{},", 100000), ",") + `]}}`
	_, err = request.Decode([]byte(body))
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Rule != "max_items" {
		t.Fatalf("100,000 empty lines: %v", err)
	}
	request.SetLimits(request.Limits{Lines: 200000, Errors: 5})
	defer request.SetLimits(request.Limits{})
	_, err = request.Decode([]byte(body))
	if !errors.As(err, &verr) || len(verr.Problems) != 5 || verr.Omitted != 300000-5 {
		t.Fatalf("100,000 empty lines with the bounds raised: %d listed, %d omitted", len(verr.Problems), verr.Omitted)
	}
}
