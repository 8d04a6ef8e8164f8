package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/refundd/refundd/request"
)

// The values of the legal_floor section (contract section 6.4).
var (
	floorModes        = []string{"report", "refer", "enforce"}
	floorRights       = []string{"withdrawal", "conformity", "renewal_termination"}
	floorStatuses     = []string{"applies", "excluded", "outside_window", "needs_facts", "needs_human", "contested", "not_applicable"}
	floorComparisons  = []string{"below", "meets", "indeterminate", "not_applicable"}
	floorAmountKinds  = []string{"exact", "upper_bound", "at_least"}
	floorJurisdiction = []string{"FR", "BR"}
)

// checkFloor checks the decision's legal_floor section: known mode,
// jurisdiction, statuses, comparisons and codes with texts, and no grant
// or shortfall above what was paid (the claimed lines, or a subscription's
// last payment).
func checkFloor(raw any, req *request.Request) (map[string]any, error) {
	lf, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("legal_floor is not an object")
	}
	ceiling := max(req.Claimed, lastPayment(req))
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("legal_floor."+format, args...)) }
	oneOf := func(m map[string]any, in at, key string, allowed []string) {
		if s, _ := m[key].(string); !slices.Contains(allowed, s) {
			bad("%s %v is not one of %v", in.path(key), m[key], allowed)
		}
	}
	amount := func(m map[string]any, in at, key string) {
		n, ok := m[key].(json.Number)
		i, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil || i < 0 || i > ceiling {
			bad("%s %v is not an amount from 0 to the %d paid", in.path(key), m[key], ceiling)
		}
	}
	if v, _ := lf["version"].(string); v == "" {
		bad("version is missing")
	}
	oneOf(lf, top, "mode", floorModes)
	if j := lf["jurisdiction"]; j != nil {
		oneOf(lf, top, "jurisdiction", floorJurisdiction)
	}
	oneOf(lf, top, "comparison", floorComparisons)
	amount(lf, top, "shortfall")
	rights, ok := lf["rights"].([]any)
	if !ok {
		bad("rights is not a list")
	}
	for i, it := range rights {
		r, _ := it.(map[string]any)
		in := at{list: "rights", i: i}
		if r == nil {
			bad("rights[%d] is not an object", i)
			continue
		}
		oneOf(r, in, "right", floorRights)
		oneOf(r, in, "status", floorStatuses)
		oneOf(r, in, "comparison", floorComparisons)
		right, _ := r["right"].(string)
		status, _ := r["status"].(string)
		want := "floor_" + right
		if status != "applies" {
			want += "_" + status
		}
		if c, _ := r["code"].(string); c != want {
			bad("%s %q is not %q, the code of its right and status", in.path("code"), c, want)
		}
		if m, _ := r["message"].(string); m == "" {
			bad("%s is missing", in.path("message"))
		}
		if g, ok := r["grants"].(map[string]any); ok {
			in.sub = "grants."
			amount(g, in, "amount")
			oneOf(g, in, "amount_kind", floorAmountKinds)
		}
	}
	return lf, errors.Join(errs...)
}

// lastPayment is subscription.last_payment_amount, 0 when absent.
func lastPayment(req *request.Request) int64 {
	sub, _ := req.Input["subscription"].(map[string]any)
	n, ok := sub["last_payment_amount"].(json.Number)
	if !ok {
		return 0 // no error made (and dropped) for the claims without one
	}
	i, _ := strconv.ParseInt(string(n), 10, 64)
	return i
}

// localizeFloor puts texts' versions of the rights' messages in place.
func localizeFloor(lf map[string]any, texts map[string]string) {
	rights, _ := lf["rights"].([]any)
	for _, it := range rights {
		r, _ := it.(map[string]any)
		if code, _ := r["code"].(string); texts[code] != "" {
			r["message"] = texts[code]
		}
	}
}
