package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// opaBinary is the OPA command pinned in go.mod, the one the engine embeds.
// It is run directly, not through `go tool`, so that killing it stops it.
func opaBinary(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", "opa")
	cmd.Dir = filepath.Join(Dir(), "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n opa: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBundlesRunInOPA: the signed bundles `refundd bundle build` writes are
// accepted by the plain opa command (inspect, and run --server with the same
// verification key), and OPA's server gives every case the same decision.
func TestBundlesRunInOPA(t *testing.T) {
	cases := setup(t)
	opa := opaBinary(t)
	floorExamples, err := LoadFloorExamples()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	private, public := writeKeys(t, work)
	out := filepath.Join(work, "bundles")
	run(t, binary, "bundle", "build", "--policies", PoliciesDir(), "--out", out, "--signing-key", private)

	byMerchant := map[string][]Case{}
	for _, c := range cases {
		byMerchant[c.Merchant] = append(byMerchant[c.Merchant], c)
	}
	for merchant, mcases := range byMerchant {
		t.Run(merchant, func(t *testing.T) {
			file := filepath.Join(out, merchant+".tar.gz")
			if b, err := exec.Command(opa, "inspect", file).CombinedOutput(); err != nil || !strings.Contains(string(b), "refunds/merchants/"+merchant) {
				t.Fatalf("opa inspect: %v\n%s", err, b)
			}
			addr := freePort(t)
			srv := exec.Command(opa, "run", "--server", "--addr", addr, "--log-level", "error",
				"--verification-key", public, "--verification-key-id", "refundd", "--signing-alg", "RS256", "-b", file)
			var logs bytes.Buffer
			srv.Stderr, srv.Stdout = &logs, &logs
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
			base := "http://" + addr
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, err := http.Get(base + "/health?bundles")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("opa did not become healthy:\n%s", logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, c := range mcases {
				status, body := postTo(t, fmt.Sprintf("%s/v1/data/refunds/merchants/%s/decision", base, merchant), `{"input":`+string(c.Request)+`}`, false)
				var env struct{ Result json.RawMessage }
				if status != http.StatusOK || json.Unmarshal(body, &env) != nil || len(env.Result) == 0 {
					t.Fatalf("%s: opa answered %d %s", c.Name, status, body)
				}
				got, err := Summarize(env.Result)
				if err != nil || !reflect.DeepEqual(got, c.Want) {
					t.Errorf("%s: opa decided %+v (%v), want %+v", c.Name, got, err, c.Want)
				}
				// The statutory floor travels with the bundle: OPA states it too.
				var floor struct {
					LegalFloor *struct{ Version, Comparison string } `json:"legal_floor"`
				}
				_ = json.Unmarshal(env.Result, &floor)
				if floor.LegalFloor == nil || floor.LegalFloor.Version == "" || floor.LegalFloor.Comparison == "" {
					t.Errorf("%s: opa's decision lacks legal_floor: %s", c.Name, env.Result)
				}
			}
			// The worked examples of the floor: OPA gives the same section.
			for _, ex := range floorExamples {
				if ex.Merchant != merchant {
					continue
				}
				status, body := postTo(t, fmt.Sprintf("%s/v1/data/refunds/merchants/%s/decision", base, merchant), `{"input":`+string(ex.Request)+`}`, false)
				var env struct{ Result json.RawMessage }
				if status != http.StatusOK || json.Unmarshal(body, &env) != nil {
					t.Fatalf("%s: opa answered %d %s", ex.Name, status, body)
				}
				if got, err := SummarizeFloor(env.Result, ex.Want); err != nil || !reflect.DeepEqual(got, ex.Want) {
					t.Errorf("%s: opa's floor %+v (%v), want %+v", ex.Name, got, err, ex.Want)
				}
			}
		})
	}
}
