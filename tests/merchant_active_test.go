package tests

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMerchantActiveGauge: a merchant whose policy does not compile at
// start-up is configured but not served, and refundd_merchant_active says
// so (what the RefunddMerchantNotActive alert reads); the others are 1.
func TestMerchantActiveGauge(t *testing.T) {
	setup(t)
	tree := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(tree, os.DirFS(PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(tree, "merchants", "aomei", "policy.rego")
	raw, _ := os.ReadFile(policy)
	if err := os.WriteFile(policy, append(raw, []byte("\nbroken := undefined_function(1)\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _, logs := startServer(t, binary, "--policies", tree, "--decision-log", "off")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	m := scrape(t, base)
	for _, id := range MerchantIDs() {
		want := 1.0
		if id == "aomei" {
			want = 0
		}
		if v := metricValue(m, `refundd_merchant_active{merchant="`+id+`"}`); v != want {
			t.Errorf("refundd_merchant_active{merchant=%q} = %v, want %v", id, v, want)
		}
	}
}
