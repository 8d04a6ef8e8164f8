package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

func loadEngine(t testing.TB, dir string) (*engine.Engine, error) {
	t.Helper()
	tree, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatalf("load tree: %v", err)
	}
	e := engine.New(engine.Options{Now: func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }})
	return e, e.LoadTree(context.Background(), tree)
}

func decode(t testing.TB, body string) *request.Request {
	t.Helper()
	req, err := request.Decode([]byte(body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return req
}

func TestCases(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatalf("load policies: %v", err)
	}
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	perMerchant := map[string]int{}
	for _, c := range cases {
		perMerchant[c.Merchant]++
		t.Run(c.Merchant+"/"+c.Name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), c.Merchant, decode(t, string(c.Request)), engine.DecideOptions{})
			if err != nil {
				t.Fatalf("decide: %v", err)
			}
			b, _ := json.Marshal(d)
			got, err := tests.Summarize(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.Want) {
				t.Errorf("%s\n got  %+v\n want %+v", c.Description, got, c.Want)
			}
			if d.Merchant != c.Merchant || !strings.HasPrefix(d.Revision, "policies@") || d.DecisionID == "" {
				t.Errorf("envelope: merchant %q revision %q id %q", d.Merchant, d.Revision, d.DecisionID)
			}
			for _, r := range append(d.Reasons, d.Obligations...) {
				if r.Message == "" {
					t.Errorf("%s has no message", r.Code)
				}
			}
		})
	}
	for _, m := range []string{"saas_codes", "crmjetty", "social_services", "machine_shop", "aomei"} {
		if perMerchant[m] < 8 {
			t.Errorf("merchant %s has %d cases, want at least 8", m, perMerchant[m])
		}
	}
}

const claim = `{"claim":{"submitted_at":"2026-03-10T10:00:00Z","reason":"dissatisfied"},
 "order":{"placed_at":"2026-03-01T09:58:00Z","paid_at":"2026-03-01T10:00:00Z","currency":"USD",
  "lines":[{"id":"l1","kind":"product","amount":4995},{"id":"l2","kind":"tax","amount":400}]}}`

func TestFrenchMessages(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.Decide(context.Background(), "aomei", decode(t, claim), engine.DecideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fr, err := e.Decide(context.Background(), "aomei", decode(t, claim), engine.DecideOptions{Lang: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	if en.Reasons[0].Code != fr.Reasons[0].Code || en.Reasons[0].Message == fr.Reasons[0].Message {
		t.Errorf("en %+v, fr %+v: want the same code in two languages", en.Reasons[0], fr.Reasons[0])
	}
	if !strings.Contains(fr.Reasons[0].Message, "remboursement") {
		t.Errorf("fr message %q is not French", fr.Reasons[0].Message)
	}
}

func TestConcurrentDecisions(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cases)*8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cases {
				req, err := request.Decode(c.Request)
				if err != nil {
					errs <- err
					return
				}
				d, err := e.Decide(context.Background(), c.Merchant, req, engine.DecideOptions{})
				if err != nil {
					errs <- err
					return
				}
				if d.Outcome != c.Want.Outcome || d.Refund.Amount != c.Want.Refund.Amount {
					errs <- errors.New(c.Name + ": " + d.Outcome)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// writeTree writes a policy tree: the real lib and catalog, plus the
// merchants given as id -> file name -> content.
func writeTree(t *testing.T, merchants map[string]map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tests.PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "merchants")); err != nil {
		t.Fatal(err)
	}
	for id, files := range merchants {
		for name, content := range files {
			p := filepath.Join(dir, "merchants", id, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// policy is a minimal merchant that approves a refund of the claimed lines.
func policy(id, extra string) string {
	return `package refunds.merchants.` + id + `

import data.refunds.lib.claims
import data.refunds.lib.decisions

decision := decisions.assemble(decisions.refund("refund", ["money_back_guarantee"], []), claims.claimed_lines(input.order, input.claim), input.order.currency, {}, data.messages.en)
` + extra
}

func TestMerchantCannotReadAnotherMerchant(t *testing.T) {
	dir := writeTree(t, map[string]map[string]string{
		"alpha": {"policy.rego": policy("alpha", "")},
		"beta":  {"policy.rego": policy("beta", "peek := data.refunds.merchants.alpha.decision\n")},
		"gamma": {"policy.rego": policy("gamma", "import data.merchants.alpha\n\nsecret := alpha.params\n")},
	})
	e, err := loadEngine(t, dir)
	if err == nil {
		t.Fatal("LoadTree succeeded; want beta and gamma to fail to compile")
	}
	for _, want := range []string{"data.refunds.merchants.alpha.decision is outside merchant beta's scope", "data.merchants.alpha is outside merchant gamma's scope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// alpha is unaffected and serves; the others are not active.
	if _, err := e.Decide(context.Background(), "alpha", decode(t, claim), engine.DecideOptions{}); err != nil {
		t.Errorf("alpha: %v", err)
	}
	for _, id := range []string{"beta", "gamma"} {
		if _, err := e.Decide(context.Background(), id, decode(t, claim), engine.DecideOptions{}); !errors.Is(err, engine.ErrUnknownMerchant) {
			t.Errorf("%s: err %v, want ErrUnknownMerchant", id, err)
		}
	}
	if e.Ready() {
		t.Error("Ready with two merchants failing")
	}
}

func TestPolicyCannotReadTheClock(t *testing.T) {
	dir := writeTree(t, map[string]map[string]string{
		"alpha": {"policy.rego": policy("alpha", "late if time.now_ns() > 0\n")},
	})
	_, err := loadEngine(t, dir)
	if err == nil || !strings.Contains(err.Error(), "time.now_ns") {
		t.Fatalf("err %v, want time.now_ns rejected", err)
	}
}

func TestBadPolicyNeverReplacesAGoodOne(t *testing.T) {
	good := writeTree(t, map[string]map[string]string{"alpha": {"policy.rego": policy("alpha", "")}})
	e, err := loadEngine(t, good)
	if err != nil {
		t.Fatal(err)
	}
	before := e.Merchants()[0]
	bad := writeTree(t, map[string]map[string]string{"alpha": {"policy.rego": policy("alpha", "broken := undefined_function(1)\n")}})
	tree, err := bundles.LoadTree(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadTree(context.Background(), tree); err == nil {
		t.Fatal("broken policy activated")
	}
	after := e.Merchants()[0]
	if !after.Active || after.Revision != before.Revision || !strings.Contains(after.LastError, "undefined_function") {
		t.Errorf("after a failed activation: %+v, want revision %s still active with the error", after, before.Revision)
	}
	if _, err := e.Decide(context.Background(), "alpha", decode(t, claim), engine.DecideOptions{}); err != nil {
		t.Errorf("old policy no longer serves: %v", err)
	}
	if !e.Ready() {
		t.Error("not ready although the previous policy still serves")
	}
}

func TestFailedPolicyGivesNoDecision(t *testing.T) {
	for name, body := range map[string]string{
		"undefined decision": `package refunds.merchants.alpha

decision := {"outcome": "approve"} if input.claim.reason == "never"
`,
		"money made up": `package refunds.merchants.alpha

decision := {"outcome": "approve", "remedy": "refund", "refund": {"amount": 999999, "currency": "USD", "withheld": []}, "reasons": [{"code": "x", "message": "x"}], "obligations": []}
`,
		"unknown outcome": `package refunds.merchants.alpha

decision := {"outcome": "maybe", "remedy": "none", "refund": {"amount": 0, "currency": "USD", "withheld": []}, "reasons": [{"code": "x", "message": "x"}], "obligations": []}
`,
		"no reason": `package refunds.merchants.alpha

decision := {"outcome": "deny", "remedy": "none", "refund": {"amount": 0, "currency": "USD", "withheld": []}, "reasons": [], "obligations": []}
`,
		"runtime error": `package refunds.merchants.alpha

decision := {"outcome": "deny", "remedy": "none", "refund": {"amount": to_number("x"), "currency": "USD", "withheld": []}, "reasons": [], "obligations": []}
`,
	} {
		t.Run(name, func(t *testing.T) {
			e, err := loadEngine(t, writeTree(t, map[string]map[string]string{"alpha": {"policy.rego": body}}))
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), "alpha", decode(t, claim), engine.DecideOptions{})
			var perr *engine.PolicyError
			if !errors.As(err, &perr) || d != nil {
				t.Fatalf("got %+v, %v; want a PolicyError and no decision", d, err)
			}
		})
	}
}

func TestRevisionFollowsContent(t *testing.T) {
	dir := writeTree(t, map[string]map[string]string{
		"alpha": {"policy.rego": policy("alpha", ""), "data.json": `{"params": {"days": 30}}`},
		"beta":  {"policy.rego": policy("beta", "")},
	})
	tree, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta := tree.Source("alpha").Revision, tree.Source("beta").Revision
	if err := os.WriteFile(filepath.Join(dir, "merchants", "alpha", "data.json"), []byte(`{"params": {"days": 14}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tree2, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tree2.Source("alpha").Revision == alpha {
		t.Error("alpha's revision did not change with its data")
	}
	if tree2.Source("beta").Revision != beta {
		t.Error("beta's revision changed with alpha's data")
	}
}

func BenchmarkDecide(b *testing.B) {
	e, err := loadEngine(b, tests.PoliciesDir())
	if err != nil {
		b.Fatal(err)
	}
	cases, err := tests.LoadCases()
	if err != nil {
		b.Fatal(err)
	}
	byMerchant := map[string][]*request.Request{}
	for _, c := range cases {
		byMerchant[c.Merchant] = append(byMerchant[c.Merchant], decode(b, string(c.Request)))
	}
	for m, reqs := range byMerchant {
		b.Run(m, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				if _, err := e.Decide(ctx, m, reqs[i%len(reqs)], engine.DecideOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCodeWithoutTextIsNamed: a policy that can emit a code the catalog
// lacks is refused at activation, naming the merchant, the code and the
// language, instead of answering "undefined" at the first claim that
// reaches it.
func TestCodeWithoutTextIsNamed(t *testing.T) {
	dir := copyTree(t)
	replaceIn(t, dir, "merchants/saas_codes/policy.rego", `["code_resent"]`, `["code_resent_again"]`)
	catalog := filepath.Join(dir, "messages", "data.json")
	raw, _ := os.ReadFile(catalog)
	var msgs map[string]map[string]string
	_ = json.Unmarshal(raw, &msgs)
	delete(msgs["fr"], "resale_allowed")
	raw, _ = json.Marshal(msgs)
	_ = os.WriteFile(catalog, raw, 0o644)

	tree, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = engine.New(engine.Options{}).Activate(context.Background(), tree.Source("saas_codes"))
	for _, want := range []string{"activate saas_codes", `code "code_resent_again" has no English or French text`, `code "resale_allowed" has no French text`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("activation error %v lacks %q", err, want)
		}
	}
}

// TestEvaluationStopsAtItsDeadline: an evaluation whose context is done is
// stopped with ErrEvaluationAborted, on either evaluator and explained,
// never answered with a decision or taken for a policy error.
func TestEvaluationStopsAtItsDeadline(t *testing.T) {
	e, err := loadEngine(t, tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, opts := range []engine.DecideOptions{{}, {Topdown: true}, {Explain: true}} {
		d, err := e.Decide(ctx, cases[0].Merchant, decode(t, string(cases[0].Request)), opts)
		var perr *engine.PolicyError
		if d != nil || !errors.Is(err, engine.ErrEvaluationAborted) || errors.As(err, &perr) {
			t.Errorf("%+v with its context done: %v, %v", opts, d, err)
		}
	}
}
