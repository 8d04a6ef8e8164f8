package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

func compiledEngine(t testing.TB) *engine.Engine {
	t.Helper()
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	if err := e.LoadTree(context.Background(), tree); err != nil {
		t.Fatal(err)
	}
	return e
}

// outcomeOf is what a decision says, without its id and timing: the whole
// document, or the error.
func outcomeOf(d *engine.Decision, err error) string {
	if err != nil {
		return "error"
	}
	d.DecisionID = ""
	b, _ := json.Marshal(d)
	return string(b)
}

// differ decides body both ways and reports a difference.
func differ(t *testing.T, e *engine.Engine, merchant, what string, body []byte) bool {
	t.Helper()
	req, err := request.Decode(body)
	if err != nil {
		return false // a variant the API would refuse
	}
	ctx := context.Background()
	compiled := outcomeOf(e.Decide(ctx, merchant, req, engine.DecideOptions{}))
	reference := outcomeOf(e.Decide(ctx, merchant, req, engine.DecideOptions{Topdown: true}))
	if compiled != reference {
		t.Errorf("%s/%s: the compiled evaluator decides\n%s\ntopdown decides\n%s\nrequest %s", merchant, what, compiled, reference, body)
		return true
	}
	return false
}

// TestCompiledServesEveryMerchant: every launch merchant's plan, statutory
// floor included, runs on the compiled evaluator.
func TestCompiledServesEveryMerchant(t *testing.T) {
	e := compiledEngine(t)
	for _, st := range e.Merchants() {
		if st.Evaluator != engine.EvaluatorCompiled {
			t.Errorf("%s is served by %q: %s", st.ID, st.Evaluator, st.EvaluatorFallback)
		}
	}
}

// TestDecisionsOutliveTheEvaluation: a decision stays as it was answered
// while later evaluations reuse the evaluator's memory (its arena), on one
// goroutine and on several at once.
func TestDecisionsOutliveTheEvaluation(t *testing.T) {
	e := compiledEngine(t)
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	type kept struct {
		d    *engine.Decision
		want string
	}
	var all []kept
	ctx := context.Background()
	for _, c := range cases {
		req, err := request.Decode(c.Request)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.Decide(ctx, c.Merchant, req, engine.DecideOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, _ := json.Marshal(d)
		all = append(all, kept{d, string(b)})
	}
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, c := range cases {
				req, _ := request.Decode(c.Request)
				_, _ = e.Decide(ctx, c.Merchant, req, engine.DecideOptions{})
			}
		}()
	}
	<-done
	<-done
	for i, k := range all {
		if b, _ := json.Marshal(k.d); string(b) != k.want {
			t.Errorf("%s: the decision changed after it was answered:\n%s\nwas\n%s", cases[i].Name, b, k.want)
		}
	}
}

// seed is a shared case or a worked example of the statutory floor.
type seed struct {
	merchant, name string
	body           []byte
}

// allSeeds is every shared case and every worked example of the floor.
func allSeeds(t testing.TB) []seed {
	t.Helper()
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := tests.LoadFloorExamples()
	if err != nil {
		t.Fatal(err)
	}
	var out []seed
	for _, c := range cases {
		out = append(out, seed{c.Merchant, c.Name, c.Request})
	}
	for _, ex := range examples {
		out = append(out, seed{ex.Merchant, ex.Name, ex.Request})
	}
	return out
}

// TestCompiledAgreesWithTopdown decides every shared case, every worked
// example of the statutory floor, and variants of each (times moved by a
// second, a day, a month; every reason; other countries and customer
// types; lines left out) with both evaluators, and compares the whole
// documents.
func TestCompiledAgreesWithTopdown(t *testing.T) {
	e := compiledEngine(t)
	seeds := allSeeds(t)
	rng := rand.New(rand.NewPCG(1, 2))
	n, failed := 0, 0
	for _, s := range seeds {
		if differ(t, e, s.merchant, s.name, s.body) {
			failed++
		}
		n++
		for i, v := range variants(t, s.body, rng) {
			if failed > 5 {
				t.Fatal("too many differences")
			}
			if differ(t, e, s.merchant, fmt.Sprintf("%s variant %d", s.name, i), v) {
				failed++
			}
			n++
		}
	}
	t.Logf("%d requests decided alike by both evaluators", n)
}

var reasons = []string{"defective", "not_working", "not_as_described", "dissatisfied", "change_of_mind",
	"evaluation", "bought_by_mistake", "no_longer_used", "not_delivered", "late_delivery", "damaged_in_transit",
	"wrong_item", "third_party_conflict", "fraud", "other"}

// variants of a request: the claim moved in time, its reason, the
// customer's country and type, its lines.
func variants(t *testing.T, body []byte, rng *rand.Rand) [][]byte {
	t.Helper()
	var out [][]byte
	edit := func(f func(m map[string]any)) {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	for _, d := range []time.Duration{-time.Second, time.Second, -24 * time.Hour, 24 * time.Hour, 29 * 24 * time.Hour, 400 * 24 * time.Hour} {
		edit(func(m map[string]any) {
			claim, _ := m["claim"].(map[string]any)
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(claim["submitted_at"])); err == nil {
				claim["submitted_at"] = at.Add(d).Format(time.RFC3339)
			}
		})
	}
	for range 3 {
		r := reasons[rng.IntN(len(reasons))]
		edit(func(m map[string]any) {
			if claim, ok := m["claim"].(map[string]any); ok {
				claim["reason"] = r
			}
		})
	}
	for _, country := range []string{"FR", "BR", "US"} {
		for _, kind := range []string{"consumer", "business"} {
			edit(func(m map[string]any) {
				cust, _ := m["customer"].(map[string]any)
				if cust == nil {
					cust = map[string]any{}
					m["customer"] = cust
				}
				cust["country"], cust["type"] = country, kind
			})
		}
	}
	edit(func(m map[string]any) {
		order, _ := m["order"].(map[string]any)
		if lines, ok := order["lines"].([]any); ok && len(lines) > 1 {
			order["lines"] = lines[:len(lines)-1]
		}
	})
	return out
}

// FuzzCompiledAgrees: any request the API accepts is decided alike by both
// evaluators, for every merchant.
func FuzzCompiledAgrees(f *testing.F) {
	cases, err := tests.LoadCases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.Merchant, []byte(c.Request))
	}
	e := compiledEngine(f)
	f.Fuzz(func(t *testing.T, merchant string, body []byte) {
		if !e.Known(merchant) {
			return
		}
		differ(t, e, merchant, "fuzz", body)
		// The variants of a valid request too: the fuzzer rarely makes
		// valid times on its own.
		if _, err := request.Decode(body); err == nil && len(body) < 1<<14 {
			for i, v := range variants(t, body, rand.New(rand.NewPCG(uint64(len(body)), 7))) {
				differ(t, e, merchant, fmt.Sprintf("fuzz variant %d", i), v)
			}
		}
	})
}

// BenchmarkEvaluators decides every shared case of each merchant with
// topdown and with the compiled evaluator.
func BenchmarkEvaluators(b *testing.B) {
	e := compiledEngine(b)
	cases, err := tests.LoadCases()
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range tests.MerchantIDs() {
		var reqs []*request.Request
		for _, c := range cases {
			if c.Merchant == id {
				req, err := request.Decode(c.Request)
				if err != nil {
					b.Fatal(err)
				}
				reqs = append(reqs, req)
			}
		}
		for _, ev := range []string{engine.EvaluatorTopdown, engine.EvaluatorCompiled} {
			b.Run(id+"/"+ev, func(b *testing.B) {
				opts := engine.DecideOptions{Topdown: ev == engine.EvaluatorTopdown}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := e.Decide(context.Background(), id, reqs[i%len(reqs)], opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestCompiledFallsBack: a plan the compiled evaluator cannot run (here a
// `with` modifier), or one that decides a shipped case otherwise than
// topdown, leaves the merchant on topdown, and Status says why.
func TestCompiledFallsBack(t *testing.T) {
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	ctx := context.Background()

	src := *tree.Source("aomei")
	mod := src.Modules[0]
	// decision is guarded by a rule that uses `with`: the same decisions.
	raw := strings.Replace(string(mod.Raw), "data.messages.en)\n", "data.messages.en) if {\n\twith_helper\n}\n", 1)
	mod.Raw = []byte(raw + "\nwith_helper if {\n\tcount(input) >= 0 with input as {}\n}\n")
	parsed, err := ast.ParseModuleWithOpts(mod.Path, string(mod.Raw), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	mod.Parsed = parsed
	src.Modules = []bundles.Module{mod}
	src.Revision = "with"
	if err := e.Activate(ctx, &src); err != nil {
		t.Fatal(err)
	}
	st := statusOf(e, "aomei")
	if st.Evaluator != engine.EvaluatorTopdown || !strings.Contains(st.EvaluatorFallback, "WithStmt") {
		t.Errorf("a plan with `with`: %+v", st)
	}
	// Still decides, with topdown.
	cases, _ := tests.LoadCases()
	for _, c := range cases {
		if c.Merchant == "aomei" {
			if _, err := e.Decide(ctx, "aomei", decode(t, string(c.Request)), engine.DecideOptions{}); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
}

func statusOf(e *engine.Engine, id string) engine.Status {
	for _, st := range e.Merchants() {
		if st.ID == id {
			return st
		}
	}
	return engine.Status{}
}

// TestCompiledStopsWhenCancelled: an evaluation is stopped by its context,
// as topdown's is: a slow policy never outlives a time limit.
func TestCompiledStopsWhenCancelled(t *testing.T) {
	tree, err := bundles.LoadTree(tests.PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	src := *tree.Source("aomei")
	slow := "package refunds.merchants.aomei\n\ndecision := {\"outcome\": \"deny\"} if {\n\tevery a in numbers.range(1, 3000) {\n\t\tevery b in numbers.range(1, 3000) {\n\t\t\ta + b > 0\n\t\t}\n\t}\n}\n"
	mod, err := ast.ParseModuleWithOpts("merchants/aomei/policy.rego", slow, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	src.Modules = []bundles.Module{{Path: "merchants/aomei/policy.rego", Parsed: mod, Raw: []byte(slow)}}
	src.Tests, src.Cases, src.Revision = nil, nil, "slow"
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	if err := e.Activate(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(e, "aomei"); st.Evaluator != engine.EvaluatorCompiled {
		t.Fatalf("the slow policy is not on the compiled evaluator: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases, _ := tests.LoadCases()
	_, err = e.Decide(ctx, "aomei", decode(t, string(cases[0].Request)), engine.DecideOptions{})
	if err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Errorf("a cancelled evaluation: %v", err)
	}
}
