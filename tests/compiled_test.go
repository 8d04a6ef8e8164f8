package tests

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestCompiledEvaluatorServes: with --evaluator compiled, the real server
// says every merchant is served by the compiled evaluator (in
// /v1/merchants and in /metrics), decides every shared case as the case
// wants, and still explains with topdown on ?explain=true.
func TestCompiledEvaluatorServes(t *testing.T) {
	cases := setup(t)
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--decision-log", "off", "--evaluator", "compiled", "--shadow-rate", "1")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	resp, err := http.Get(base + "/v1/merchants")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Merchants []struct{ ID, Evaluator, EvaluatorFallback string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if len(body.Merchants) != len(MerchantIDs()) {
		t.Fatalf("%d merchants", len(body.Merchants))
	}
	for _, m := range body.Merchants {
		if m.Evaluator != "compiled" {
			t.Errorf("%s: evaluator %q (%s)", m.ID, m.Evaluator, m.EvaluatorFallback)
		}
	}
	for _, c := range cases {
		status, raw := post(t, base+"/v1/merchants/"+c.Merchant+"/decisions", string(c.Request))
		got, err := Summarize(raw)
		if status != 200 || err != nil || !reflect.DeepEqual(got, c.Want) {
			t.Errorf("%s/%s: %d %+v, want %+v", c.Merchant, c.Name, status, got, c.Want)
		}
	}
	status, raw := post(t, base+"/v1/merchants/aomei/decisions?explain=true", string(cases[0].Request))
	if status != 200 || !strings.Contains(string(raw), `"explanation"`) {
		t.Errorf("explain with the compiled evaluator: %d %.300s", status, raw)
	}
	m := scrape(t, base)
	for _, id := range MerchantIDs() {
		if v := metricValue(m, `refundd_merchant_evaluator{evaluator="compiled",merchant="`+id+`"}`); v != 1 {
			t.Errorf("refundd_merchant_evaluator for %s: %v", id, v)
		}
	}
	// --shadow-rate 1: every compiled decision is decided again by
	// topdown (unless the shadow capacity was busy), and they all agree.
	perMerchant := map[string]int{}
	for _, c := range cases {
		perMerchant[c.Merchant]++
	}
	waitFor(t, "every decision shadowed", func() bool {
		m := scrape(t, base)
		for id, n := range perMerchant {
			agree := metricValue(m, `refundd_shadow_decisions_total{merchant="`+id+`",result="agree"}`)
			skipped := max(0, metricValue(m, `refundd_shadow_decisions_total{merchant="`+id+`",result="skipped"}`))
			if agree+skipped < float64(n) {
				return false
			}
		}
		return true
	})
	m = scrape(t, base)
	if metricValue(m, `refundd_shadow_decisions_total{merchant="crmjetty",result="agree"}`) < 1 {
		t.Error("no crmjetty decision was shadowed")
	}
	if strings.Contains(m, `result="disagree"`) {
		t.Errorf("shadow disagreements:\n%s", m)
	}
}
