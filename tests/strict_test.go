package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// exampleClaim is the README's example request.
func exampleClaim(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Dir(), "..", "examples", "claim.json"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// TestStrictInputThroughTheServer sends each malformed request of contract
// section 2 ("Strictness") to the real server, through both endpoint
// shapes: each gets a 400 naming its field, nothing is logged, and no
// server error shows in the metrics or the log. The client faults (a short
// body, a stalled or slow upload) get 400 or 408, never a 5xx.
func TestStrictInputThroughTheServer(t *testing.T) {
	setup(t)
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--read-timeout", "1s")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	valid := exampleClaim(t)
	with := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("example claim lacks %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	lines := make([]string, 9300)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":"x%d","kind":"product","amount":1000000000000000}`, i)
	}
	for _, tc := range []struct {
		name, body, field string
	}{
		{"extra brace", valid + "}", "body"},
		{"garbage", valid + " garbage", "body"},
		{"extra bracket", valid + "]", "body"},
		{"extra comma", valid + " ,", "body"},
		{"NUL", valid + "\x00", "body"},
		{"unknown field", with(`"support_unresolved": true`, `"suport_unresolved": true`), "claim.suport_unresolved"},
		{"duplicate key", with(`"reason": "defective"`, `"reason": "defective", "reason": "other"`), "claim.reason"},
		{"offset +24:00", with("2026-03-20T10:00:00Z", "2026-03-20T10:00:00+24:00"), "claim.submitted_at"},
		{"offset -24:59", with("2026-03-20T10:00:00Z", "2026-03-20T10:00:00-24:59"), "claim.submitted_at"},
		{"offset +23:60", with("2026-03-20T10:00:00Z", "2026-03-20T10:00:00+23:60"), "claim.submitted_at"},
		{"year 1677", with(`"placed_at": "2026-03-01T09:58:00Z"`, `"placed_at": "1677-03-01T09:58:00Z"`), "order.placed_at"},
		{"year 2263", with("2026-03-20T10:00:00Z", "2263-03-20T10:00:00Z"), "claim.submitted_at"},
		{"sum overflows", with(`{"id": "l2", "sku": "vat", "kind": "tax", "product_type": "software_license", "amount": 3980}`, strings.Join(lines, ",")), "order.lines"},
		{"bad UTF-8", with(`"clm_81"`, "\"clm\xff81\""), "claim.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, shape := range []struct{ path, body, prefix string }{
				{"/v1/merchants/crmjetty/decisions", tc.body, ""},
				{"/v1/data/refunds/merchants/crmjetty/decision", `{"input": ` + tc.body + `}`, "input."},
			} {
				field := shape.prefix + tc.field
				if tc.field == "body" {
					field = "body"
				}
				status, body := post(t, base+shape.path, shape.body)
				var out struct {
					Code   string
					Errors []struct{ Field string }
				}
				_ = json.Unmarshal(body, &out)
				if status != 400 || out.Code != "invalid_request" ||
					!slices.ContainsFunc(out.Errors, func(e struct{ Field string }) bool { return e.Field == field }) {
					t.Errorf("%s: %d %s, want 400 invalid_request on %s", shape.path, status, body, field)
				}
			}
		})
	}
	// Lower-case t and z are valid RFC 3339: decided.
	if status, body := post(t, base+"/v1/merchants/crmjetty/decisions", with("2026-03-20T10:00:00Z", "2026-03-20t10:00:00z")); status != 200 {
		t.Errorf("lower-case t and z: %d %s", status, body)
	}

	addr := strings.TrimPrefix(base, "http://")
	head := func(length int, extra string) string {
		return fmt.Sprintf("POST /v1/merchants/crmjetty/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", length, extra)
	}
	// A body shorter than its Content-Length: the client says it is done.
	if status, body := rawExchange(t, addr, func(c *net.TCPConn) {
		_, _ = io.WriteString(c, head(len(valid)+100, "")+valid)
		_ = c.CloseWrite()
	}); status != 400 || !strings.Contains(body, `"field":"body"`) {
		t.Errorf("short body: %d %s, want 400 on body", status, body)
	}
	// A stalled 100-continue upload and a body that trickles in too slowly
	// are cut by the read timeout: 408.
	if status, body := rawExchange(t, addr, func(c *net.TCPConn) {
		_, _ = io.WriteString(c, head(len(valid), "Expect: 100-continue\r\n"))
	}); status != 408 || !strings.Contains(body, "request_timeout") {
		t.Errorf("stalled 100-continue: %d %s, want 408 request_timeout", status, body)
	}
	if status, body := rawExchange(t, addr, func(c *net.TCPConn) {
		_, _ = io.WriteString(c, head(len(valid), ""))
		for i := 0; i < 10; i++ {
			_, _ = io.WriteString(c, valid[i:i+1])
			time.Sleep(200 * time.Millisecond)
		}
	}); status != 408 {
		t.Errorf("slow body: %d %s, want 408", status, body)
	}
	// A client that hangs up mid-body: nobody to answer, and no server error.
	if c, err := net.Dial("tcp", addr); err == nil {
		_, _ = io.WriteString(c, head(len(valid), "")+valid[:20])
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}
	time.Sleep(300 * time.Millisecond)

	// Nothing refused was logged: the one decision is the lower-case one.
	resp, err := http.Get(base + "/v1/decisions?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Decisions []json.RawMessage }
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || len(page.Decisions) != 1 {
		t.Errorf("decision log holds %d records (%v), want 1", len(page.Decisions), err)
	}
	m := scrape(t, base)
	if regexp.MustCompile(`code="5\d\d"`).MatchString(m) || strings.Contains(m, `code="policy_error"`) || strings.Contains(m, `code="internal_error"`) {
		t.Errorf("a client's fault counted as a server error:\n%s", grepLines(m, "code="))
	}
	if v := metricValue(m, `refundd_decision_errors_total{code="request_timeout",merchant="crmjetty"}`); v != 2 {
		t.Errorf("request_timeout errors = %v, want 2", v)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client's fault was logged as an error")
	}
}

// rawExchange sends what send writes on a fresh connection and returns the
// final answer's status and body (a 100 Continue is skipped).
func rawExchange(t *testing.T, addr string, send func(*net.TCPConn)) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	send(conn.(*net.TCPConn))
	r := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusContinue {
			return resp.StatusCode, string(body)
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
