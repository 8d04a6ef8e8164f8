package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestNewMerchantStaysGreen: `refundd merchant new` in a copy of the tree
// gives a merchant whose Rego tests pass (with the tree's checks and
// coverage bar), that a server loads beside the others, and whose case
// files it decides as they say.
func TestNewMerchantStaysGreen(t *testing.T) {
	setup(t)
	root := t.TempDir()
	policies, cases := filepath.Join(root, "policies"), filepath.Join(root, "cases")
	if err := os.CopyFS(policies, os.DirFS(PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	out := run(t, binary, "merchant", "new", "acme_tools", "--policies", policies, "--cases", cases, "--currency", "USD", "--refund-days", "14")
	if !strings.Contains(out, "acme_tools_refund_window") {
		t.Errorf("merchant new printed:\n%s", out)
	}
	if out, err := exec.Command(binary, "merchant", "new", "acme_tools", "--policies", policies, "--cases", cases).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "exists already") {
		t.Errorf("a second merchant new of the same id: %v\n%s", err, out)
	}
	opa := opaBinary(t)
	run(t, opa, "fmt", "--list", "--fail", policies)
	run(t, opa, "check", "--strict", policies)
	run(t, opa, "test", "--coverage", "--threshold", "95", policies)

	base, _, logs := startServer(t, binary, "--policies", policies, "--decision-log", "off")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	if got := merchantsOf(t, base); !got["acme_tools"].Active || len(got) != len(MerchantIDs())+1 {
		t.Errorf("merchants served: %v", got)
	}
	files, _ := filepath.Glob(filepath.Join(cases, "acme_tools", "*.json"))
	if len(files) < 3 {
		t.Fatalf("case files: %v", files)
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var c Case
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		status, body := post(t, base+"/v1/merchants/acme_tools/decisions", string(c.Request))
		got, err := Summarize(body)
		if status != 200 || err != nil || !reflect.DeepEqual(got, c.Want) {
			t.Errorf("%s: %d %s\n want %+v", filepath.Base(f), status, body, c.Want)
		}
	}
}
