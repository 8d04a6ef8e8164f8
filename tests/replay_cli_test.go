package tests

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReplayCommand: decisions logged by a real server, replayed by the
// refundd replay command against the live tree (nothing changes) and against
// a tree where aomei's 90-day guarantee is one day (its refunds become denials).
func TestReplayCommand(t *testing.T) {
	cases := setup(t)
	dataDir := t.TempDir()
	base, cmd, _ := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", dataDir)
	refunds := 0
	for _, c := range cases {
		if c.Merchant != "aomei" {
			continue
		}
		if status, body := post(t, base+"/v1/merchants/aomei/decisions", string(c.Request)); status != http.StatusOK {
			t.Fatalf("%s: %d %s", c.Name, status, body)
		}
		if c.Want.Remedy == "refund" || c.Want.Remedy == "exchange" {
			refunds++
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_, _ = cmd.Process.Wait()

	replay := func(candidate string) map[string]any {
		out, err := exec.Command(binary, "replay", "--merchant", "aomei", "--candidate", candidate,
			"--data-dir", dataDir, "--format", "json").Output()
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		var rep map[string]any
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rep
	}
	if rep := replay(PoliciesDir()); rep["decisions"] != float64(8) || rep["changed"] != float64(0) {
		t.Errorf("same policy: %v", rep)
	}

	tree := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(tree, os.DirFS(PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tree, "merchants", "aomei", "data.json")
	raw, _ := os.ReadFile(data)
	if err := os.WriteFile(data, bytes.Replace(raw, []byte(`"guarantee_days": 90`), []byte(`"guarantee_days": 1`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := replay(tree)
	if rep["changed"] != float64(refunds) || refunds == 0 {
		t.Errorf("1-day guarantee: %v changed, want the %d money decisions", rep["changed"], refunds)
	}
}
