package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine: what a policy author types, each with its answer.
func TestCommandLine(t *testing.T) {
	cases := setup(t)
	c := cases[0]
	caseFile := filepath.Join(Dir(), "cases", c.Merchant, c.Name)
	if _, err := os.Stat(caseFile); err != nil {
		t.Fatalf("case %s/%s: %v", c.Merchant, c.Name, err)
	}
	// A case file is evaluated and checked against its want.
	if out, err := exec.Command(binary, "eval", "--merchant", c.Merchant, "--policies", PoliciesDir(), caseFile).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "matches the case's want") {
		t.Errorf("eval of a case file: %v\n%s", err, out)
	}
	var wrong map[string]any
	raw, _ := os.ReadFile(caseFile)
	_ = json.Unmarshal(raw, &wrong)
	wrong["want"].(map[string]any)["outcome"] = "refer-never"
	edited := filepath.Join(t.TempDir(), "case.json")
	b, _ := json.Marshal(wrong)
	_ = os.WriteFile(edited, b, 0o644)
	if out, err := exec.Command(binary, "eval", "--merchant", c.Merchant, "--policies", PoliciesDir(), edited).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "differs from the case's want") {
		t.Errorf("eval of a case whose want is wrong: %v\n%s", err, out)
	}
	// Rebuilding one merchant rewrites the index with its new revision and
	// keeps the others, so a server polling the index picks it up.
	out := t.TempDir()
	run(t, binary, "bundle", "build", "--policies", PoliciesDir(), "--out", out)
	run(t, binary, "bundle", "build", "--policies", PoliciesDir(), "--out", out, "--merchant", "crmjetty", "--revision", "crm-2")
	var index struct {
		Bundles []struct{ Merchant, Revision string }
	}
	raw, _ = os.ReadFile(filepath.Join(out, "index.json"))
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	revisions := map[string]string{}
	for _, e := range index.Bundles {
		revisions[e.Merchant] = e.Revision
	}
	if revisions["crmjetty"] != "crm-2" || len(revisions) != len(MerchantIDs()) {
		t.Errorf("index after rebuilding crmjetty: %v", revisions)
	}
	for _, tc := range []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"version"}, true, "OPA v1."},
		{[]string{"bundle", "inspect", "-h"}, true, "Usage: refundd bundle inspect FILE"},
		{[]string{"bundle", "push", "-h"}, true, "Usage: refundd bundle push [flags] oci://HOST[:PORT]/REPOSITORY"},
		{[]string{"bundle", "push", "--from", out, "https://example.com/x"}, false, "want oci://host[:port]/repository"},
		{[]string{"bundle", "push", "--from", t.TempDir(), "oci://127.0.0.1:1/x"}, false, "run refundd bundle build first"},
		{[]string{"serve", "--bundle-url", "oci://"}, false, "want oci://host[:port]/repository"},
		{[]string{"token", "new", "--name", "ci", "--scope", "decide:*"}, true, "line for the tokens file:\nci sha256:"},
		{[]string{"token", "new", "--name", "ci", "--scope", "admin"}, false, `scope "admin": unknown`},
		{[]string{"replay", "--merchant", "crmjetty", "--candidate", PoliciesDir(), "--data-dir", filepath.Join(t.TempDir(), "typo")}, false, "no decision log at"},
		{[]string{"replay", "--merchant", "crmjetty", "--candidate", PoliciesDir(), "--gc-percent", "10"}, false, "--gc-percent 10: must be at least 25"},
	} {
		out, err := exec.Command(binary, tc.args...).CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
			t.Errorf("refundd %s: %v\n%s\nwant %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}
