package tests

import (
	"bytes"
	"encoding/json"
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

// TestDurableLogSurvivesSIGKILL kills the server with SIGKILL while clients
// post decisions, restarts it on the same data directory, and finds every
// decision that had been answered 200 in the log with its full record: with
// the store committed directly, and with the write-ahead log killed between
// its fdatasync and any indexing (an indexer told to wait an hour).
func TestDurableLogSurvivesSIGKILL(t *testing.T) {
	cases := setup(t)
	for _, variant := range []struct {
		name          string
		before, after []string
	}{
		{"store", []string{"--log-wal", "off"}, []string{"--log-wal", "off"}},
		{"wal killed before indexing", []string{"--log-wal", "on", "--log-index-interval", "1h"}, []string{"--log-wal", "on"}},
	} {
		t.Run(variant.name, func(t *testing.T) { survivesSIGKILL(t, cases, variant.before, variant.after) })
	}
}

func survivesSIGKILL(t *testing.T, cases []Case, before, after []string) {
	dataDir := t.TempDir()
	base, cmd, logs := startServer(t, binary, append([]string{"--policies", PoliciesDir(), "--data-dir", dataDir}, before...)...)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()

	type answered struct{ id, outcome string }
	var (
		mu   sync.Mutex
		oks  []answered
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; !stop.Load(); i++ {
				c := cases[i%len(cases)]
				resp, err := client.Post(base+"/v1/merchants/"+c.Merchant+"/decisions", "application/json", bytes.NewReader(c.Request))
				if err != nil {
					continue // the server is gone
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var d struct {
					DecisionID string `json:"decision_id"`
					Outcome    string `json:"outcome"`
				}
				if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &d) == nil && d.DecisionID != "" {
					mu.Lock()
					oks = append(oks, answered{d.DecisionID, d.Outcome})
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
	stop.Store(true)
	wg.Wait()
	if len(oks) < 50 {
		t.Fatalf("only %d decisions answered before the kill", len(oks))
	}

	base, _, logs = startServer(t, binary, append([]string{"--policies", PoliciesDir(), "--data-dir", dataDir}, after...)...)
	missing := 0
	for _, a := range oks {
		resp, err := http.Get(base + "/v1/decisions/" + a.id)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			DecisionID string          `json:"decision_id"`
			Outcome    string          `json:"outcome"`
			Request    json.RawMessage `json:"request"`
			Decision   struct {
				DecisionID string `json:"decision_id"`
				Outcome    string `json:"outcome"`
			} `json:"decision"`
		}
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || rec.Outcome != a.outcome || rec.Decision.DecisionID != a.id ||
			rec.Decision.Outcome != a.outcome || len(rec.Request) < 50 {
			missing++
			if missing <= 3 {
				t.Errorf("decision %s (answered %s): status %d, record %+v", a.id, a.outcome, resp.StatusCode, rec)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d answered decisions missing or incomplete after SIGKILL", missing, len(oks))
	}
	// And they reach the store itself, which the listing reads.
	want := min(len(oks), 1000)
	waitFor(t, "the answered decisions in the store", func() bool {
		resp, err := http.Get(base + "/v1/decisions?limit=1000")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var page struct{ Decisions []json.RawMessage }
		return json.NewDecoder(resp.Body).Decode(&page) == nil && len(page.Decisions) >= want
	})
	t.Logf("%d decisions answered before SIGKILL, all in the log after restart", len(oks))
}

// TestDamagedLogIsNeverSilent is the red-team probe of a flipped byte in the
// middle of the write-ahead log's last segment (nothing indexed yet): the
// restarted server refuses to start, naming the segment and offset, and
// changes no byte; told to quarantine, it serves every decision it can
// still read, and /ready and the metrics report the damage.
func TestDamagedLogIsNeverSilent(t *testing.T) {
	cases := setup(t)
	dataDir := t.TempDir()
	args := []string{"--policies", PoliciesDir(), "--data-dir", dataDir, "--log-wal", "on"}
	base, cmd, _ := startServer(t, binary, append(args, "--log-index-interval", "1h")...)
	var ids []string
	for i := range 300 {
		c := cases[i%len(cases)]
		resp, err := http.Post(base+"/v1/merchants/"+c.Merchant+"/decisions", "application/json", bytes.NewReader(c.Request))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			DecisionID string `json:"decision_id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ids = append(ids, d.DecisionID)
		}
	}
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
	segs, _ := filepath.Glob(filepath.Join(dataDir, "wal", "*.wal"))
	if len(segs) == 0 || len(ids) < 250 {
		t.Fatalf("%d segments, %d decisions", len(segs), len(ids))
	}
	last := segs[len(segs)-1]
	seg, _ := os.ReadFile(last)
	end := len(seg)
	for end > 0 && seg[end-1] == 0 {
		end--
	}
	seg[end/2] ^= 0x20
	if err := os.WriteFile(last, seg, 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := run.CombinedOutput()
	if err == nil || !strings.Contains(string(out), last) || !strings.Contains(string(out), "offset") {
		t.Fatalf("a damaged log: exit %v, said:\n%s", err, out)
	}
	if after, _ := os.ReadFile(last); !bytes.Equal(after, seg) {
		t.Fatal("the refused start changed the damaged segment")
	}
	base, _, _ = startServer(t, binary, append(args, "--log-damaged", "quarantine")...)
	resp, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "decision_log_damage") {
		t.Errorf("/ready with a quarantine: %d %s", resp.StatusCode, body)
	}
	found := 0
	for _, id := range ids {
		resp, err := http.Get(base + "/v1/decisions/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			found++
		}
	}
	if found < len(ids)-2 {
		t.Errorf("with the damage set aside, %d of %d decisions readable", found, len(ids))
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `refundd_decision_log_damaged{what="segments"} 1`) {
		t.Errorf("no damage metric:\n%s", metrics)
	}
}
