package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeKeys(t *testing.T, dir string) (private, public string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	private, public = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		t.Fatal(err)
	}
	return private, public
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type merchantStatus struct {
	ID             string `json:"id"`
	Active         bool   `json:"active"`
	Revision       string `json:"revision"`
	LastError      string `json:"last_error"`
	FailedRevision string `json:"failed_revision"`
}

func merchantsOf(t *testing.T, base string) map[string]merchantStatus {
	t.Helper()
	resp, err := http.Get(base + "/v1/merchants")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Merchants []merchantStatus }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]merchantStatus{}
	for _, m := range body.Merchants {
		out[m.ID] = m
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHotReloadUnderLoad replaces aomei's bundle many times, alternating good
// and broken ones, while clients keep asking for decisions: not one request
// may fail, each good bundle goes live, each broken one is refused and
// reported.
func TestHotReloadUnderLoad(t *testing.T) {
	cases := setup(t)
	work := t.TempDir()
	private, public := writeKeys(t, work)
	tree := filepath.Join(work, "policies")
	if err := os.CopyFS(tree, os.DirFS(PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(work, "live")
	run(t, binary, "bundle", "build", "--policies", tree, "--out", live, "--signing-key", private, "--revision", "good-0")

	base, _, logs := startServer(t, binary, "--bundles", live, "--poll-interval", "20ms",
		"--verification-key", public, "--require-tests")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	waitFor(t, "every merchant", func() bool { return len(merchantsOf(t, base)) == len(MerchantIDs()) })

	// Clients: every case, over and over, until the loop is done.
	var (
		stop     atomic.Bool
		requests atomic.Int64
		failures []string
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; !stop.Load(); i++ {
				c := cases[i%len(cases)]
				resp, err := client.Post(base+"/v1/merchants/"+c.Merchant+"/decisions", "application/json", bytes.NewReader(c.Request))
				requests.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %s", c.Name, resp.StatusCode, body))
					mu.Unlock()
				}
			}
		}(g)
	}

	aomeiPolicy := filepath.Join(tree, "merchants", "aomei", "policy.rego")
	aomeiTest := filepath.Join(tree, "merchants", "aomei", "policy_test.rego")
	goodPolicy, _ := os.ReadFile(aomeiPolicy)
	goodTest, _ := os.ReadFile(aomeiTest)
	const rounds = 8
	for i := 1; i <= rounds; i++ {
		// A broken bundle: a compile error, or a failing test (refused under --require-tests).
		bad := fmt.Sprintf("broken-%d", i)
		if i%2 == 1 {
			os.WriteFile(aomeiPolicy, append(append([]byte{}, goodPolicy...), "\nbroken := undefined_function(1)\n"...), 0o644)
		} else {
			os.WriteFile(aomeiTest, append(append([]byte{}, goodTest...), "\ntest_that_fails if 1 == 2\n"...), 0o644)
		}
		run(t, binary, "bundle", "build", "--policies", tree, "--out", live, "--signing-key", private, "--merchant", "aomei", "--revision", bad)
		waitFor(t, bad+" refused", func() bool { return merchantsOf(t, base)["aomei"].FailedRevision == bad })
		st := merchantsOf(t, base)["aomei"]
		want := "undefined_function"
		if i%2 == 0 {
			want = "test_that_fails"
		}
		if !st.Active || st.Revision != fmt.Sprintf("good-%d", i-1) || !strings.Contains(st.LastError, want) {
			t.Fatalf("after %s: %+v", bad, st)
		}

		// A good bundle goes live.
		os.WriteFile(aomeiPolicy, goodPolicy, 0o644)
		os.WriteFile(aomeiTest, goodTest, 0o644)
		good := fmt.Sprintf("good-%d", i)
		run(t, binary, "bundle", "build", "--policies", tree, "--out", live, "--signing-key", private, "--merchant", "aomei", "--revision", good)
		waitFor(t, good+" live", func() bool {
			st := merchantsOf(t, base)["aomei"]
			return st.Revision == good && st.LastError == ""
		})
	}
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during reloads, first: %s", len(failures), requests.Load(), failures[0])
	}
	if requests.Load() < 100 {
		t.Errorf("only %d requests ran during the reloads", requests.Load())
	}
	m := scrape(t, base)
	// 1 at start-up + one per good round; one failure per broken round.
	if v := metricValue(m, `refundd_bundle_activations_total{merchant="aomei",result="success"}`); v != rounds+1 {
		t.Errorf("aomei successes %v, want %d", v, rounds+1)
	}
	if v := metricValue(m, `refundd_bundle_activations_total{merchant="aomei",result="failure"}`); v != rounds {
		t.Errorf("aomei failures %v, want %d", v, rounds)
	}
	if v := metricValue(m, `refundd_bundle_last_success_timestamp_seconds{merchant="aomei"}`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp %v", v)
	}
	if v := metricValue(m, `refundd_bundle_activations_total{merchant="crmjetty",result="success"}`); v != 1 {
		t.Errorf("crmjetty activated %v times, want 1: other merchants are not recompiled", v)
	}
	t.Logf("%d requests, none failed, across %d good and %d broken bundles", requests.Load(), rounds, rounds)
}
