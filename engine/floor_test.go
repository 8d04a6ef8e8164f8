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
	"github.com/refundd/refundd/tests"
)

// TestWorkedFloorExamples runs the statutory floor's worked examples
// through the launch merchants' own policies: each merchant decides as its
// terms say, and the decision carries the legal_floor the law gives.
func TestWorkedFloorExamples(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	const fr = `"customer": {"id": "cus_1", "type": "consumer", "country": "FR"}`
	const br = `"customer": {"id": "cus_1", "type": "consumer", "country": "BR"}`
	licence := `"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "currency": "EUR",
		"lines": [{"id": "l1", "sku": "crm", "kind": "product", "product_type": "software_license", "amount": 19900},
		          {"id": "l2", "sku": "vat", "kind": "tax", "product_type": "software_license", "amount": 3980}]`
	aomei := `"placed_at": "2026-02-01T10:00:00Z", "paid_at": "2026-02-01T10:00:00Z", "currency": "EUR",
		"lines": [{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 4999},
		          {"id": "l2", "kind": "tax", "product_type": "software_license", "amount": 1000}]`
	for _, tc := range []struct {
		name, merchant, body string
		outcome, reason      string // the merchant's decision
		comparison           string
		shortfall            int64
		rights               map[string]string // right: status
	}{
		{"1 withdrawal on the moved last day", "crmjetty",
			`{"claim": {"submitted_at": "2026-03-16T09:00:00Z", "reason": "change_of_mind"}, "order": {` + licence + `}, ` + fr + `}`,
			"deny", "reason_not_accepted", "below", 23880, map[string]string{"withdrawal": "applies"}},
		{"2 conformity refunds the tax", "crmjetty",
			`{"claim": {"submitted_at": "2026-03-20T10:00:00Z", "reason": "defective", "support_unresolved": true},
			  "order": {` + licence + `, "withdrawal_info_given_at": "2026-03-01T10:00:00Z"}, ` + fr + `}`,
			"partial", "within_refund_window", "below", 3980, map[string]string{"withdrawal": "outside_window", "conformity": "applies"}},
		{"3 renewal without timely notice", "crmjetty",
			`{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "cancel_subscription"},
			  "order": {"placed_at": "2026-01-15T00:00:00Z", "paid_at": "2026-01-15T00:00:00Z", "currency": "EUR",
			    "lines": [{"id": "l1", "kind": "product", "product_type": "subscription", "amount": 59900}]},
			  "subscription": {"billing": "annual", "period_start": "2026-01-15T00:00:00Z", "period_end": "2027-01-15T00:00:00Z",
			    "last_payment_at": "2026-01-15T00:00:00Z", "last_payment_amount": 59900, "auto_renewed": true,
			    "renewal_notice_sent_at": "2026-01-08T00:00:00Z"}, ` + fr + `}`,
			"deny", "refund_window_expired", "below", 51039, map[string]string{"withdrawal": "not_applicable", "renewal_termination": "applies"}},
		{"4 digital service without consent", "social_services",
			`{"claim": {"submitted_at": "2026-05-12T10:00:00Z", "reason": "change_of_mind"},
			  "order": {"placed_at": "2026-05-04T10:00:00Z", "paid_at": "2026-05-04T10:00:00Z", "currency": "EUR",
			    "lines": [{"id": "l1", "kind": "product", "product_type": "digital_service", "amount": 4900}]}, ` + fr + `}`,
			"deny", "intangible_goods_irrevocable", "below", 4900, map[string]string{"withdrawal": "applies"}},
		{"5 monthly subscription", "social_services",
			`{"claim": {"submitted_at": "2026-09-10T10:00:00Z", "reason": "cancel_subscription"},
			  "order": {"placed_at": "2026-09-01T10:00:00Z", "paid_at": "2026-09-01T10:00:00Z", "currency": "EUR",
			    "lines": [{"id": "l1", "kind": "product", "product_type": "subscription", "amount": 2900}]},
			  "subscription": {"billing": "monthly", "last_payment_at": "2026-09-01T10:00:00Z", "last_payment_amount": 2900, "auto_renewed": false}, ` + fr + `}`,
			"partial", "", "below", 2900, map[string]string{"withdrawal": "applies"}},
		{"6 machine withdrawn from delivery", "machine_shop",
			`{"claim": {"submitted_at": "2026-03-12T10:00:00Z", "reason": "change_of_mind"},
			  "order": {"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "delivered_at": "2026-03-03T10:00:00Z", "currency": "EUR",
			    "lines": [{"id": "l1", "kind": "product", "product_type": "physical_good", "amount": 89900}, {"id": "l2", "kind": "shipping", "amount": 1500}]}, ` + fr + `}`,
			"deny", "reason_not_covered", "below", 91400, map[string]string{"withdrawal": "applies"}},
		{"7 repair imposed on a consumer who chose replacement", "machine_shop",
			`{"claim": {"submitted_at": "2026-07-20T10:00:00Z", "reason": "defective", "remedy": "replacement"},
			  "order": {"placed_at": "2025-11-01T10:00:00Z", "paid_at": "2025-11-01T10:00:00Z", "delivered_at": "2025-11-10T10:00:00Z", "currency": "EUR",
			    "lines": [{"id": "l1", "kind": "product", "product_type": "physical_good", "amount": 89900}]},
			  "item": {"condition": "used", "repairable": true}, ` + fr + `}`,
			"approve", "", "below", 0, map[string]string{"withdrawal": "needs_facts", "conformity": "applies"}}, // the information is unknown and the claim falls in the extension
		{"8 unredeemed code in Brazil", "saas_codes",
			`{"claim": {"submitted_at": "2026-04-14T10:00:00Z", "reason": "change_of_mind"},
			  "order": {"placed_at": "2026-04-10T10:00:00Z", "paid_at": "2026-04-10T10:00:00Z", "delivered_at": "2026-04-10T10:00:00Z",
			    "digital_redeemed_at": null, "currency": "BRL", "lines": [{"id": "l1", "kind": "product", "product_type": "saas_code", "amount": 9990}]}, ` + br + `}`,
			"deny", "saas_code_non_refundable", "below", 0, map[string]string{"withdrawal": "applies"}},
		{"9 code in France", "saas_codes",
			`{"claim": {"submitted_at": "2026-09-20T10:00:00Z", "reason": "bought_by_mistake"},
			  "order": {"placed_at": "2026-09-14T10:00:00Z", "paid_at": "2026-09-14T10:00:00Z", "delivered_at": "2026-09-14T10:00:00Z",
			    "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "saas_code", "amount": 2490}]}, ` + fr + `}`,
			"deny", "saas_code_non_refundable", "below", 2490, map[string]string{"withdrawal": "applies"}},
		{"10 information not given", "aomei",
			`{"claim": {"submitted_at": "2026-06-01T10:00:00Z", "reason": "change_of_mind"}, "order": {` + aomei + `, "withdrawal_info_given_at": null}, ` + fr + `}`,
			"deny", "guarantee_expired", "below", 5999, map[string]string{"withdrawal": "applies"}},
		{"11 information unknown", "aomei",
			`{"claim": {"submitted_at": "2026-06-01T10:00:00Z", "reason": "change_of_mind"}, "order": {` + aomei + `}, ` + fr + `}`,
			"deny", "guarantee_expired", "indeterminate", 0, map[string]string{"withdrawal": "needs_facts"}},
		{"12 merchant refunds after the period", "aomei",
			`{"claim": {"submitted_at": "2026-07-20T10:00:00Z", "reason": "change_of_mind"},
			  "order": {` + strings.ReplaceAll(aomei, "2026-02-01", "2026-07-01") + `, "withdrawal_info_given_at": "2026-07-01T10:00:00Z"}, ` + fr + `}`,
			"approve", "money_back_guarantee", "not_applicable", 0, map[string]string{"withdrawal": "outside_window"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tc.merchant, decode(t, tc.body), engine.DecideOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != tc.outcome || (tc.reason != "" && d.Reasons[0].Code != tc.reason) {
				t.Errorf("merchant's decision %s %v, want %s %s", d.Outcome, d.Reasons, tc.outcome, tc.reason)
			}
			var lf struct {
				Comparison string
				Shortfall  int64
				Rights     []struct{ Right, Status string }
			}
			raw, _ := json.Marshal(d.LegalFloor)
			if err := json.Unmarshal(raw, &lf); err != nil {
				t.Fatal(err)
			}
			statuses := map[string]string{}
			for _, r := range lf.Rights {
				statuses[r.Right] = r.Status
			}
			if lf.Comparison != tc.comparison || lf.Shortfall != tc.shortfall || !reflect.DeepEqual(statuses, tc.rights) {
				t.Errorf("legal_floor %s, shortfall %d, rights %v; want %s, %d, %v\n%s", lf.Comparison, lf.Shortfall, statuses, tc.comparison, tc.shortfall, tc.rights, raw)
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
	right := d.LegalFloor["rights"].([]any)[0].(map[string]any)
	if msg, _ := right["message"].(string); !strings.Contains(msg, "rétractation") {
		t.Errorf("French message %q", msg)
	}
}

// TestFloorSectionIsChecked: a legal_floor section that breaks the contract
// (an unknown right or status, a grant above what was paid) is a policy
// error, never an answer.
func TestFloorSectionIsChecked(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tests.PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "merchants", "saas_codes", "policy.rego")
	raw, _ := os.ReadFile(policy)
	src := strings.Replace(string(raw), "# entrypoint: true\ndecision := floor.apply(", "# entrypoint: true\ndecision := object.union(merchant_decision, {\"legal_floor\": bad}) if true\n\nbad := {\"version\": \"v\", \"mode\": \"report\", \"jurisdiction\": \"XX\", \"comparison\": \"below\", \"shortfall\": 999999999,"+
		"\"rights\": [{\"right\": \"magic\", \"status\": \"applies\", \"comparison\": \"below\", \"code\": \"c\", \"message\": \"m\", \"grants\": {\"remedy\": \"refund\", \"amount\": 999999999, \"amount_kind\": \"exact\"}}]}\n\nunused := floor.apply(", 1)
	if src == string(raw) {
		t.Fatal("saas_codes' decision rule changed shape")
	}
	_ = os.WriteFile(policy, []byte(src), 0o644)
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
	for _, want := range []string{"legal_floor.jurisdiction", "legal_floor.shortfall", "rights[0].right", "rights[0].grants.amount"} {
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
