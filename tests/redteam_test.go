package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRedTeamProbes keeps the hostile caller's probes as tests, each
// through the real binary on loopback with tokens (the damaged log's probe
// is TestDamagedLogIsNeverSilent).
func TestRedTeamProbes(t *testing.T) {
	setup(t)
	file, tok := tokens(t, map[string][]string{
		"crm":   {"decide:crmjetty", "read:crmjetty"},
		"aomei": {"read:aomei"},
	})
	base, cmd, logs := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", t.TempDir(), "--tokens-file", file)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	c := &http.Client{Timeout: 60 * time.Second}
	claim := exampleClaim(t)
	order := func(lines int) string { // the example claim with n lines, claiming all of them
		parts := make([]string, lines)
		ids := make([]string, lines)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"id": "l%d", "sku": "s", "kind": "product", "product_type": "software_license", "amount": 100}`, i)
			ids[i] = fmt.Sprintf(`"l%d"`, i)
		}
		var v map[string]any
		_ = json.Unmarshal([]byte(claim), &v)
		b, _ := json.Marshal(v)
		s := string(b)
		s = replaceJSON(t, s, "order.lines", "["+strings.Join(parts, ",")+"]")
		return replaceJSON(t, s, "claim.line_ids", "["+strings.Join(ids, ",")+"]")
	}

	t.Run("the error list is bounded", func(t *testing.T) {
		body := `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` +
			strings.TrimSuffix(strings.Repeat("{},", 100000), ",") + `]}}`
		status, _, raw := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", []byte(body))
		if status != 400 || len(raw) > 64<<10 || !strings.Contains(string(raw), `"order.lines"`) {
			t.Fatalf("100,000 empty lines: %d, %d bytes: %.300s", status, len(raw), raw)
		}
		unknown := make([]string, 900)
		for i := range unknown {
			unknown[i] = fmt.Sprintf(`"x%d": 1`, i)
		}
		body = strings.Replace(claim, `"claim": {`, `"claim": {`+strings.Join(unknown, ",")+",", 1)
		status, _, raw = call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", []byte(body))
		var e struct {
			Errors  []json.RawMessage `json:"errors"`
			Omitted int               `json:"errors_omitted"`
		}
		if err := json.Unmarshal(raw, &e); status != 400 || err != nil || len(e.Errors) != 100 || e.Omitted != 800 {
			t.Fatalf("900 unknown fields: %d, %d listed, %d omitted", status, len(e.Errors), e.Omitted)
		}
	})

	t.Run("every request's work is bounded", func(t *testing.T) {
		// Each bomb, eight at once, twice: every answer a 4xx, the server small.
		bombs := map[string]struct{ path, body string }{
			"empty lines":   {"/v1/merchants/crmjetty/decisions", `{"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "other"}, "order": {"placed_at": "2026-03-01T09:58:00Z", "currency": "EUR", "lines": [` + strings.TrimSuffix(strings.Repeat("{},", 100000), ",") + `]}}`},
			"many lines":    {"/v1/merchants/crmjetty/decisions?explain=true", order(10000)},
			"many on try":   {"/v1/merchants/crmjetty/try", order(10000)},
			"many line_ids": {"/v1/merchants/crmjetty/decisions", replaceJSON(t, claim, "claim.line_ids", "["+strings.TrimSuffix(strings.Repeat(`"l1",`, 20000), ",")+"]")},
		}
		for round := range 2 {
			var wg sync.WaitGroup
			for name, b := range bombs {
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest("POST", base+b.path, strings.NewReader(b.body))
						req.Header.Set("Authorization", "Bearer "+tok["crm"])
						resp, err := c.Do(req)
						if err != nil {
							t.Errorf("%s: %v", name, err)
							return
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(string(raw), "max_items") && !strings.Contains(string(raw), "at most") {
							t.Errorf("%s (round %d): %d %.200s", name, round, resp.StatusCode, raw)
						}
					}()
				}
			}
			wg.Wait()
		}
		if rss, _ := proc(t, cmd.Process.Pid); rss > 300<<20 {
			t.Errorf("the server holds %d MiB after the bombs", rss>>20)
		}
		// The bound itself: at 1,000 lines, explained, a decision is made.
		status, _, raw := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions?explain=true", tok["crm"], "application/json", []byte(order(1000)))
		if status != 200 || !strings.Contains(string(raw), "explanation") {
			t.Errorf("1,000 lines explained: %d %.200s", status, raw)
		}
	})

	t.Run("a lone surrogate is refused, naming the field", func(t *testing.T) {
		body := replaceJSON(t, claim, "claim.line_ids", `["l\udfff"]`)
		body = strings.Replace(body, `"id":"l1"`, `"id":"l\ud800"`, 1)
		status, _, raw := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", []byte(body))
		if status != 400 || !strings.Contains(string(raw), `"claim.line_ids[0]"`) || !strings.Contains(string(raw), "surrogate") {
			t.Fatalf("%d %s", status, raw)
		}
	})

	t.Run("a misspelt query parameter is refused", func(t *testing.T) {
		for _, path := range []string{"/v1/merchants/crmjetty/decisions?explian=true", "/v1/data/refunds/merchants/crmjetty/decision?explian=true",
			"/v1/merchants/crmjetty/decisions?explain=yes"} {
			body := claim
			if strings.Contains(path, "/data/") {
				body = `{"input": ` + claim + `}`
			}
			status, _, raw := call(t, c, "POST", base+path, tok["crm"], "application/json", []byte(body))
			if status != 400 || !strings.Contains(string(raw), `"explian"`) && !strings.Contains(string(raw), `"explain"`) {
				t.Errorf("%s: %d %s", path, status, raw)
			}
		}
		for _, path := range []string{"/health?x=1", "/ready?x=1"} {
			if status, _, raw := call(t, c, "GET", base+path, "", "", nil); status != 400 || !strings.Contains(string(raw), `"x"`) {
				t.Errorf("%s: %d %s", path, status, raw)
			}
		}
	})

	t.Run("HEAD works wherever GET does", func(t *testing.T) {
		for path, token := range map[string]string{"/health": "", "/ready": "", "/v1/decisions": tok["crm"]} {
			req, _ := http.NewRequest("HEAD", base+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("HEAD %s: %d", path, resp.StatusCode)
			}
		}
	})

	t.Run("a foreign decision id answers as a missing one", func(t *testing.T) {
		status, _, raw := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", []byte(claim))
		var d struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal(raw, &d); status != 200 || err != nil {
			t.Fatalf("%d %s", status, raw)
		}
		foreign, _, fb := call(t, c, "GET", base+"/v1/decisions/"+d.DecisionID, tok["aomei"], "", nil)
		missing, _, mb := call(t, c, "GET", base+"/v1/decisions/01a23740-4019-7e1b-b028-88f67c6f1041", tok["aomei"], "", nil)
		if foreign != 404 || missing != 404 || !bytes.Equal(fb, mb) {
			t.Errorf("foreign %d %s, missing %d %s", foreign, fb, missing, mb)
		}
	})

	t.Run("the 408 reaches a plain-HTTP client", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/merchants/crmjetty/decisions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"claim\":", tok["crm"])
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, _ := io.ReadAll(conn)
		if !strings.HasPrefix(string(got), "HTTP/1.1 408") || !strings.Contains(string(got), "request_timeout") {
			t.Fatalf("after a stalled body: %q", got)
		}
	})
}

// replaceJSON sets the value at a dotted path of a JSON object document.
func replaceJSON(t *testing.T, doc, path, value string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(path, ".")
	m := v
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	m[keys[len(keys)-1]] = json.RawMessage(value)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
