package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refundd/refundd/request"
)

// TestParseDecisionNamesTheField: a policy's document that breaks the
// contract is refused, the error naming the field by its path.
func TestParseDecisionNamesTheField(t *testing.T) {
	req := &request.Request{Currency: "EUR", Claimed: 1000}
	good := func() map[string]any {
		return map[string]any{
			"outcome": "partial", "remedy": "refund",
			"refund": map[string]any{"amount": json.Number("500"), "currency": "EUR", "withheld": []any{
				map[string]any{"line_id": "l1", "amount": json.Number("500"), "code": "used"},
			}},
			"reasons":     []any{map[string]any{"code": "a", "message": "A"}, map[string]any{"code": "b", "message": "B"}},
			"obligations": []any{},
		}
	}
	if d, err := parseDecision(good(), req); err != nil || d.Refund.Withheld[0].LineID != "l1" || d.Reasons[1].Message != "B" {
		t.Fatalf("a good document: %+v, %v", d, err)
	}
	for _, tc := range []struct {
		breakIt func(map[string]any)
		want    string
	}{
		{func(d map[string]any) { d["outcome"] = "maybe" }, `outcome "maybe" is not one of`},
		{func(d map[string]any) { d["reasons"].([]any)[1].(map[string]any)["code"] = "" }, "reasons[1].code is not a non-empty string"},
		{func(d map[string]any) { delete(d["reasons"].([]any)[0].(map[string]any), "message") }, "reasons[0].message is not"},
		{func(d map[string]any) { delete(d["refund"].(map[string]any), "currency") }, "refund.currency is not"},
		{func(d map[string]any) { d["refund"].(map[string]any)["amount"] = json.Number("1.5") }, "refund.amount 1.5 is not a whole"},
		{func(d map[string]any) {
			d["refund"].(map[string]any)["withheld"].([]any)[0].(map[string]any)["amount"] = "500"
		}, "refund.withheld[0].amount is not a number"},
		{func(d map[string]any) { d["obligations"] = nil }, "obligations is not a list"},
	} {
		doc := good()
		tc.breakIt(doc)
		if _, err := parseDecision(doc, req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want an error with %q", err, tc.want)
		}
	}
}
