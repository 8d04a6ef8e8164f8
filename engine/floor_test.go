package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

// TestWorkedFloorExamples runs the statutory floor's worked examples
// (tests/floor_examples.json) through the launch merchants' own policies:
// each merchant decides as its terms say, and the decision carries the
// legal_floor the law gives.
func TestWorkedFloorExamples(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	examples, err := tests.LoadFloorExamples()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		t.Run(ex.Name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), ex.Merchant, decode(t, string(ex.Request)), engine.DecideOptions{})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(d)
			got, err := tests.SummarizeFloor(raw, ex.Want)
			if err != nil || !reflect.DeepEqual(got, ex.Want) {
				t.Errorf("got %+v (%v)\nwant %+v\n%s", got, err, ex.Want, raw)
			}
		})
	}
}

// TestFloorModes: with floor.mode set in a copy of a merchant's data, refer
// and enforce change a below-floor decision as the modes say, keeping the
// merchant's own decision; off drops the section.
func TestFloorModes(t *testing.T) {
	examples, err := tests.LoadFloorExamples()
	if err != nil {
		t.Fatal(err)
	}
	first := examples[0] // crmjetty denies a withdrawal on its last day
	var req map[string]map[string]any
	if err := json.Unmarshal(first.Request, &req); err != nil {
		t.Fatal(err)
	}
	req["claim"]["withdrawal"] = true // the customer says so
	withdrawn, _ := json.Marshal(req)
	invoked := string(withdrawn)
	for _, tc := range []struct {
		mode, body         string
		outcome, firstCode string
		amount             int64
		kept               bool
	}{
		{"off", string(first.Request), "deny", "reason_not_accepted", 0, false},
		{"refer", string(first.Request), "refer", "statutory_floor_review", 0, true},
		{"enforce", invoked, "approve", "statutory_floor_applied", 23880, true},
		{"enforce", string(first.Request), "refer", "statutory_floor_review", 0, true}, // not invoked: referred
	} {
		t.Run(tc.mode, func(t *testing.T) {
			dir := copyTree(t)
			replaceIn(t, dir, "merchants/crmjetty/data.json", `"mode": "report"`, `"mode": "`+tc.mode+`"`)
			e, err := loadEngine(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), "crmjetty", decode(t, tc.body), engine.DecideOptions{Lang: "fr"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != tc.outcome || d.Reasons[0].Code != tc.firstCode || d.Refund.Amount != tc.amount {
				t.Errorf("%s: %s %s %d", tc.mode, d.Outcome, d.Reasons[0].Code, d.Refund.Amount)
			}
			if tc.mode == "off" && d.LegalFloor != nil {
				t.Error("mode off: a legal_floor section")
			}
			var kept map[string]any
			if d.LegalFloor != nil {
				doc, err := d.LegalFloor.Doc()
				if err != nil {
					t.Fatal(err)
				}
				kept, _ = doc["merchant_decision"].(map[string]any)
			}
			if (kept != nil) != tc.kept || (kept != nil && kept["outcome"] != "deny") {
				t.Errorf("merchant_decision %v, want kept %v", kept, tc.kept)
			}
		})
	}
}

// TestFloorInFrench: the floor's texts follow the decision's language.
func TestFloorInFrench(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"claim": {"submitted_at": "2026-03-05T09:00:00Z", "reason": "change_of_mind"},
	  "order": {"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "currency": "EUR",
	    "lines": [{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 100}]},
	  "customer": {"type": "consumer", "country": "FR"}}`
	d, err := e.Decide(context.Background(), "crmjetty", decode(t, body), engine.DecideOptions{Lang: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := d.LegalFloor.Doc()
	if err != nil {
		t.Fatal(err)
	}
	right := doc["rights"].([]any)[0].(map[string]any)
	if msg, _ := right["message"].(string); !strings.Contains(msg, "rétractation") {
		t.Errorf("French message %q", msg)
	}
}

// TestFloorSectionIsChecked: a legal_floor section that breaks the contract
// (an unknown right or status, a grant above what was paid) is a policy
// error, never an answer.
func TestFloorSectionIsChecked(t *testing.T) {
	dir := copyTree(t)
	replaceIn(t, dir, "merchants/saas_codes/policy.rego", "# entrypoint: true\ndecision := floor.apply(", "# entrypoint: true\ndecision := object.union(merchant_decision, {\"legal_floor\": bad}) if true\n\nbad := {\"version\": \"v\", \"mode\": \"report\", \"jurisdiction\": \"XX\", \"comparison\": \"below\", \"shortfall\": 999999999,"+
		"\"rights\": [{\"right\": \"magic\", \"status\": \"applies\", \"comparison\": \"below\", \"code\": \"c\", \"message\": \"m\", \"grants\": {\"remedy\": \"refund\", \"amount\": 999999999, \"amount_kind\": \"exact\"}}]}\n\nunused := floor.apply(")
	e, err := loadEngine(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Decide(context.Background(), "saas_codes", decode(t, `{"claim": {"submitted_at": "2026-03-05T09:00:00Z", "reason": "other"},
	  "order": {"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "currency": "BRL", "lines": [{"id": "l1", "kind": "product", "amount": 100}]}}`), engine.DecideOptions{})
	var perr *engine.PolicyError
	if !errors.As(err, &perr) {
		t.Fatalf("err %v, want a policy error", err)
	}
	for _, want := range []string{"legal_floor.jurisdiction", "legal_floor.shortfall", "rights[0].right", "rights[0].code", "rights[0].grants.amount"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}

// TestRegoTestsPassUnderStrictBuiltins: every merchant activates with its
// bundled Rego tests required, run as the engine evaluates (a builtin given
// a wrong type is an error, not an undefined value), so no rule of the lib
// or the floor fails on a null or absent field only in production.
func TestRegoTestsPassUnderStrictBuiltins(t *testing.T) {
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{RequireTests: true})
	for _, id := range tests.MerchantIDs() {
		if err := e.Activate(context.Background(), tree.Source(id)); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// BenchmarkFloorCost measures what the statutory floor adds to a decision:
// every merchant's cases and the floor's worked examples, with the floor in
// report mode and off (the mode set in a copy of the tree).
func BenchmarkFloorCost(b *testing.B) {
	cases, err := tests.LoadCases()
	if err != nil {
		b.Fatal(err)
	}
	examples, err := tests.LoadFloorExamples()
	if err != nil {
		b.Fatal(err)
	}
	type claim struct {
		merchant string
		req      *request.Request
	}
	var claims []claim
	for _, c := range cases {
		claims = append(claims, claim{c.Merchant, decode(b, string(c.Request))})
	}
	for _, ex := range examples {
		claims = append(claims, claim{ex.Merchant, decode(b, string(ex.Request))})
	}
	for _, mode := range []string{"off", "report"} {
		dir := copyTree(b)
		for _, id := range tests.MerchantIDs() {
			if mode != "report" {
				replaceIn(b, dir, "merchants/"+id+"/data.json", `"mode": "report"`, `"mode": "`+mode+`"`)
			}
		}
		e, err := loadEngine(b, dir)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				c := claims[i%len(claims)]
				if _, err := e.Decide(ctx, c.merchant, c.req, engine.DecideOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// copyTree copies the policy tree into a temporary directory.
func copyTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tests.PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	return dir
}

// replaceIn replaces old by new, once, in the file rel of the tree at dir;
// the file must hold old.
func replaceIn(t testing.TB, dir, rel, old, new string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), old, new, 1)
	if edited == string(raw) {
		t.Fatalf("%s does not hold %q", rel, old)
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
}
