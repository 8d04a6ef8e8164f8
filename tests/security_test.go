package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	_ "modernc.org/sqlite"

	"github.com/refundd/refundd/auth"
	"github.com/refundd/refundd/bundles"
)

// tokens writes a tokens file with one token per name, each with the
// given scopes, and returns the file and the tokens by name.
func tokens(t *testing.T, scopes map[string][]string) (string, map[string]string) {
	t.Helper()
	var lines []string
	out := map[string]string{}
	for name, s := range scopes {
		token, line, err := auth.New(name, s)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = token
		lines = append(lines, line)
	}
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, out
}

// call sends one request with a bearer token ("" for none).
func call(t *testing.T, client *http.Client, method, url, token, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(req.URL.Path, "/v2/") { // a path the API does not have, on purpose
		ValidateResponse(t, req, resp.StatusCode, resp.Header, raw)
	}
	return resp.StatusCode, resp.Header, raw
}

// TestAccessControl: every route but /health and /ready answers 401 with
// no token or an unknown one, 403 with a token scoped to another merchant
// or lacking the scope, and serves the right scope; records are listed only
// to tokens that may read their merchant, and hold no clear identifier or
// free text.
func TestAccessControl(t *testing.T) {
	setup(t)
	file, tok := tokens(t, map[string][]string{
		"crm":   {"decide:crmjetty", "read:crmjetty", "impact:crmjetty"},
		"aomei": {"decide:aomei", "read:aomei", "impact:aomei"},
		"ops":   {"status", "metrics", "read:*"},
	})
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", t.TempDir(), "--tokens-file", file)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	c := http.DefaultClient
	claim := []byte(exampleClaim(t))
	status, _, body := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", claim)
	var d struct {
		DecisionID string `json:"decision_id"`
	}
	if status != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("decision with the right scope: %d %s", status, body)
	}
	src := mustSource(t, "crmjetty")
	candidate := BundleBytes(t, src, "candidate", nil)
	routes := []struct {
		method, path, contentType string
		body                      []byte
		right, other              string // tokens with and without the scope
	}{
		{"POST", "/v1/merchants/crmjetty/decisions", "application/json", claim, "crm", "aomei"},
		{"POST", "/v1/data/refunds/merchants/crmjetty/decision", "application/json", []byte(`{"input":` + string(claim) + `}`), "crm", "aomei"},
		{"GET", "/v1/merchants", "", nil, "ops", "crm"},
		{"GET", "/v1/decisions?merchant=crmjetty", "", nil, "crm", "aomei"},
		{"GET", "/v1/decisions/" + d.DecisionID, "", nil, "crm", "aomei"},
		{"GET", "/v1/decisions/" + d.DecisionID + "?lang=fr", "", nil, "crm", "aomei"},
		{"POST", "/v1/merchants/crmjetty/try", "application/json", claim, "crm", "aomei"},
		{"POST", "/v1/merchants/crmjetty/impact", "application/gzip", candidate, "crm", "aomei"},
		{"GET", "/metrics", "", nil, "ops", "crm"},
		{"GET", "/v2/nothing", "", nil, "", ""},
	}
	for _, r := range routes {
		url := base + r.path
		for _, bad := range []string{"", "rfd_not-a-token"} {
			status, h, body := call(t, c, r.method, url, bad, r.contentType, r.body)
			if status != 401 || !strings.Contains(string(body), `"unauthenticated"`) || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with token %q: %d %s (WWW-Authenticate %q), want 401", r.method, r.path, bad, status, body, h.Get("WWW-Authenticate"))
			}
		}
		if r.right == "" {
			continue
		}
		// Another merchant's decision answers as a missing one (404): a
		// token never learns which ids exist beyond its merchants.
		wantStatus, wantCode := 403, `"forbidden"`
		if strings.HasPrefix(r.path, "/v1/decisions/") {
			wantStatus, wantCode = 404, `"unknown_decision"`
		}
		if status, _, body := call(t, c, r.method, url, tok[r.other], r.contentType, r.body); status != wantStatus || !strings.Contains(string(body), wantCode) {
			t.Errorf("%s %s with %s's token: %d %s, want %d", r.method, r.path, r.other, status, body, wantStatus)
		}
		if status, _, body := call(t, c, r.method, url, tok[r.right], r.contentType, r.body); status != 200 {
			t.Errorf("%s %s with %s's token: %d %s, want 200", r.method, r.path, r.right, status, body)
		}
	}
	for _, open := range []string{"/health", "/ready", "/ui/", "/ui/app.js"} {
		if status, _, body := call(t, c, "GET", base+open, "", "", nil); status != 200 {
			t.Errorf("%s without a token: %d %s", open, status, body)
		}
	}
	// The log lists only what the token may read.
	call(t, c, "POST", base+"/v1/merchants/aomei/decisions", tok["aomei"], "application/json", claim)
	listed := func(token string) map[string]int {
		status, _, body := call(t, c, "GET", base+"/v1/decisions?limit=1000", token, "", nil)
		var page struct {
			Decisions []struct {
				Merchant string
				Request  map[string]map[string]any
			}
		}
		if status != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("list: %d %s", status, body)
		}
		out := map[string]int{}
		for _, r := range page.Decisions {
			out[r.Merchant]++
			for _, f := range []string{"claim.id", "order.id"} {
				obj, key, _ := strings.Cut(f, ".")
				if v, _ := r.Request[obj][key].(string); !strings.HasPrefix(v, "hmac-sha256:") {
					t.Errorf("%s logged as %q, want an HMAC", f, v)
				}
			}
			if _, ok := r.Request["claim"]["evidence"]; ok {
				t.Error("free-text claim.evidence was logged")
			}
		}
		return out
	}
	if got := listed(tok["crm"]); got["aomei"] != 0 || got["crmjetty"] == 0 {
		t.Errorf("crmjetty's token lists %v", got)
	}
	if got := listed(tok["ops"]); got["aomei"] == 0 || got["crmjetty"] == 0 {
		t.Errorf("read:* lists %v", got)
	}
}

func mustSource(t *testing.T, merchant string) *bundles.Source {
	t.Helper()
	tree, err := bundles.LoadTree(PoliciesDir())
	if err != nil {
		t.Fatal(err)
	}
	return tree.Source(merchant)
}

// TestRefusesOpenNonLoopback: no authentication beyond loopback unless
// told so.
func TestRefusesOpenNonLoopback(t *testing.T) {
	setup(t)
	out, err := exec.Command(binary, "serve", "--addr", "0.0.0.0:0", "--policies", PoliciesDir(), "--decision-log", "off").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tokens-file") || !strings.Contains(string(out), "--insecure-no-auth") {
		t.Errorf("serve on 0.0.0.0 without tokens: %v\n%s", err, out)
	}
}

// pki makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
type pki struct{ caFile, certFile, keyFile, clientCert, clientKey string }

func makePKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "refundd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := pki{caFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	writePEM(t, filepath.Join(dir, "ca-key.pem"), "EC PRIVATE KEY", caKeyDER)
	p.certFile, p.keyFile = leaf(t, dir, "server", ca, caKey, 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(t, dir, "client", ca, caKey, 3, x509.ExtKeyUsageClientAuth)
	return p
}

func leaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, usage x509.ExtKeyUsage) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return cert, keyFile
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// TestTLSAndMTLS: over TLS with client certificates, the same 401/403/200;
// a client without a certificate or below TLS 1.2 is refused; a rotated
// certificate is served without a restart.
func TestTLSAndMTLS(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	p := makePKI(t, dir)
	file, tok := tokens(t, map[string][]string{"crm": {"decide:crmjetty"}, "aomei": {"decide:aomei"}})
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--decision-log", "off", "--tokens-file", file,
		"--tls-cert-file", p.certFile, "--tls-key-file", p.keyFile, "--tls-client-ca-file", p.caFile,
		"--diagnostic-addr", "127.0.0.1:0")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	caPEM, _ := os.ReadFile(p.caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	clientCert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	client := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	mtls := client(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}})
	claim := []byte(exampleClaim(t))
	url := base + "/v1/merchants/crmjetty/decisions"
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {tok["aomei"], 403}, {tok["crm"], 200}} {
		if status, _, body := call(t, mtls, "POST", url, tc.token, "application/json", claim); status != tc.status {
			t.Errorf("mTLS with token %q: %d %s, want %d", tc.token, status, body, tc.status)
		}
	}
	data := base + "/v1/data/refunds/merchants/crmjetty/decision"
	if status, _, body := call(t, mtls, "POST", data, tok["aomei"], "application/json", []byte(`{"input":`+string(claim)+`}`)); status != 403 {
		t.Errorf("data API over mTLS with another merchant's token: %d %s", status, body)
	}
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": {RootCAs: roots},
		"TLS 1.1":               {RootCAs: roots, Certificates: []tls.Certificate{clientCert}, MaxVersion: tls.VersionTLS11},
	} {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(claim))
		req.Header.Set("Authorization", "Bearer "+tok["crm"])
		if resp, err := client(cfg).Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want a refused handshake", name, resp.StatusCode)
		}
	}
	if resp, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	// Rotation: a new certificate (serial 9) is served within a few seconds.
	ca, caKey := loadCA(t, dir)
	newCert, newKey := leaf(t, t.TempDir(), "server", ca, caKey, 9, x509.ExtKeyUsageServerAuth)
	for _, pair := range [][2]string{{newKey, p.keyFile}, {newCert, p.certFile}} {
		raw, _ := os.ReadFile(pair[0])
		if err := os.WriteFile(pair[1]+".tmp", raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(pair[1]+".tmp", pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	addr := strings.TrimPrefix(base, "https://")
	waitFor(t, "the rotated certificate", func() bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64() == 9
	})
	// Probes and scrapes on the diagnostic listener need no token.
	diag := diagnosticAddr(t, logs)
	for _, path := range []string{"/metrics", "/health", "/ready"} {
		if status, _, body := call(t, http.DefaultClient, "GET", "http://"+diag+path, "", "", nil); status != 200 {
			t.Errorf("diagnostic %s: %d %s", path, status, body)
		}
	}
}

func loadCA(t *testing.T, dir string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	raw, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	block, _ := pem.Decode(raw)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyRaw, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyRaw)
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func diagnosticAddr(t *testing.T, logs *LogBuffer) string {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving diagnostics" {
			return l.Addr
		}
	}
	t.Fatal("no diagnostic listener in the log")
	return ""
}

// proc reads a process's resident memory (bytes) and CPU time (ticks).
func proc(t *testing.T, pid int) (rss int64, cpu int64) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return rss, utime + stime
}

// TestBoundedWork: bomb bundles are refused before they are unpacked, a
// slow candidate is stopped at its time limit or when its client leaves, a
// second run gets 429, a flood of made-up methods adds no metric series,
// and through it all the server stays small and answers decisions.
func TestBoundedWork(t *testing.T) {
	setup(t)
	file, tok := tokens(t, map[string][]string{"crm": {"decide:crmjetty", "read:crmjetty", "impact:crmjetty", "metrics"}})
	base, cmd, logs := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", t.TempDir(), "--tokens-file", file,
		"--impact-timeout", "3s")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	pid := cmd.Process.Pid
	c := &http.Client{Timeout: 30 * time.Second}
	claim := []byte(exampleClaim(t))
	decide := func() int {
		status, _, _ := call(t, c, "POST", base+"/v1/merchants/crmjetty/decisions", tok["crm"], "application/json", claim)
		return status
	}
	for range 4 {
		if s := decide(); s != 200 {
			t.Fatalf("decision: %d", s)
		}
	}
	impact := func(raw []byte) (int, []byte, time.Duration) {
		start := time.Now()
		status, _, body := call(t, c, "POST", base+"/v1/merchants/crmjetty/impact", tok["crm"], "application/gzip", raw)
		return status, body, time.Since(start)
	}
	// Bombs: 16 files of 60 MiB of zeros; a little data.json of a huge array.
	var bomb []Entry
	for i := range 16 {
		bomb = append(bomb, ZeroEntry(fmt.Sprintf("/merchants/crmjetty/f%d.json", i), 60<<20))
	}
	array := "[" + strings.Repeat("0,", 2_000_000) + "0]"
	bombs := map[string][]byte{
		"zeros":      TarGz(t, bomb...),
		"huge array": TarGz(t, TextEntry("/merchants/crmjetty/data.json", array)),
	}
	for range 3 { // repeated: nothing accumulates
		for name, raw := range bombs {
			if status, body, _ := impact(raw); status != 400 || !strings.Contains(string(body), "limit") {
				t.Errorf("%s bomb (%d KiB): %d %s, want 400 naming the limit", name, len(raw)>>10, status, body)
			}
		}
	}
	// A slow candidate: 9M iterations per record.
	src := mustSource(t, "crmjetty")
	slow := "package refunds.merchants.crmjetty\n\ndecision := {\"outcome\": \"deny\"} if {\n\tevery a in numbers.range(1, 3000) {\n\t\tevery b in numbers.range(1, 3000) {\n\t\t\ta + b > 0\n\t\t}\n\t}\n}\n"
	mod, err := ast.ParseModuleWithOpts("merchants/crmjetty/policy.rego", slow, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	src.Modules = []bundles.Module{{Path: "merchants/crmjetty/policy.rego", Parsed: mod, Raw: []byte(slow)}}
	src.Tests = nil
	slowBundle := BundleBytes(t, src, "slow", nil)
	_, cpu0 := proc(t, pid)
	status, body, took := impact(slowBundle)
	if took > 6*time.Second {
		t.Errorf("slow candidate answered after %s, limit 3s: %d %s", took, status, body)
	}
	if status != 400 && status != 200 {
		t.Errorf("slow candidate: %d %s", status, body)
	}
	t.Logf("slow candidate answered %d after %s: %.200s", status, took.Round(time.Millisecond), body)
	// Two at once: one runs, the other gets 429 with Retry-After.
	var wg sync.WaitGroup
	results := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", base+"/v1/merchants/crmjetty/impact", bytes.NewReader(slowBundle))
			req.Header.Set("Authorization", "Bearer "+tok["crm"])
			req.Header.Set("Content-Type", "application/gzip")
			resp, err := c.Do(req)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			results <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(results)
	got429 := 0
	for s := range results {
		if s == 429 {
			got429++
		}
	}
	if got429 != 1 {
		t.Errorf("two impact runs at once: %d got 429, want 1", got429)
	}
	// A client that leaves: its run stops and frees the CPU.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/merchants/crmjetty/impact", bytes.NewReader(slowBundle))
	req.Header.Set("Authorization", "Bearer "+tok["crm"])
	req.Header.Set("Content-Type", "application/gzip")
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	cancel()
	time.Sleep(time.Second)
	_, cpuA := proc(t, pid)
	time.Sleep(2 * time.Second)
	_, cpuB := proc(t, pid)
	if cpuB-cpuA > 50 { // ticks of 10 ms: at most half a core-second in 2 s
		t.Errorf("after its client left, the server used %d ticks of CPU in 2 s (before: %d)", cpuB-cpuA, cpuA-cpu0)
	}
	// Made-up methods add no metric series.
	series := func() int {
		_, _, m := call(t, c, "GET", base+"/metrics", tok["crm"], "", nil)
		return strings.Count(string(m), "http_request_duration_seconds_count")
	}
	before := series()
	for i := range 2000 {
		req, _ := http.NewRequest(fmt.Sprintf("M%d", i), base+"/v1/merchants/crmjetty/decisions", nil)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	after := series()
	t.Logf("CPU after the client left: %d ticks in 2 s; metric series %d before the method flood, %d after", cpuB-cpuA, before, after)
	if after > before+2 {
		t.Errorf("2,000 made-up methods took the series from %d to %d", before, after)
	}
	if s := decide(); s != 200 {
		t.Errorf("a decision after the probes: %d", s)
	}
	// None of it was the server's fault: no 5xx counted, no error logged.
	_, _, m := call(t, c, "GET", base+"/metrics", tok["crm"], "", nil)
	if strings.Contains(string(m), `code="5`) {
		t.Errorf("a client's doing counted as a server error:\n%s", grepLines(string(m), `code="5`))
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a client's doing logged as an error:\n%s", grepLines(logs.String(), `"level":"ERROR"`))
	}
	rss, _ := proc(t, pid)
	t.Logf("server RSS after the probes: %d MiB", rss>>20)
	if rss > 200<<20 {
		t.Errorf("server RSS after the probes: %d MiB, want under 200", rss>>20)
	}
}

// TestReadinessFollowsTheLog: committing to the store directly, /ready is
// 503 naming the decision log while the store cannot commit records, a
// decision is refused (503), and both recover when it can. With the
// write-ahead log, decisions are still recorded (in the WAL): /ready stays
// 200, the decision is answered, readable by id, and reaches the store once
// the store takes records again. A damaged SQLite
// file is refused at start-up.
func TestReadinessFollowsTheLog(t *testing.T) {
	setup(t)
	for _, wal := range []string{"off", "on"} {
		t.Run("wal "+wal, func(t *testing.T) { readinessFollowsTheLog(t, wal) })
	}
	damagedLogRefused(t)
}

func readinessFollowsTheLog(t *testing.T, wal string) {
	dataDir := t.TempDir()
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", dataDir, "--log-wal", wal, "--log-index-interval", "10ms")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "decisions.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The database refuses every new record, as a full disk would.
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'no space left'); END`); err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		status, _, body := call(t, http.DefaultClient, "GET", base+"/ready", "", "", nil)
		return status, string(body)
	}
	if wal == "off" {
		waitFor(t, "/ready to report the log", func() bool {
			s, body := ready()
			return s == 503 && strings.Contains(body, "decision_log")
		})
	} else if s, body := ready(); s != 200 {
		// Decisions are recorded in the WAL: the service is ready.
		t.Errorf("/ready with the WAL while only the store refuses: %d %s", s, body)
	}
	status, _, body := call(t, http.DefaultClient, "POST", base+"/v1/merchants/crmjetty/decisions", "", "application/json", []byte(exampleClaim(t)))
	var d struct {
		DecisionID string `json:"decision_id"`
	}
	switch {
	case wal == "off" && status != 503:
		t.Errorf("decision while the store cannot commit: %d %s", status, body)
	case wal == "on" && (status != 200 || json.Unmarshal(body, &d) != nil):
		t.Errorf("decision while the store cannot commit, with the WAL: %d %s", status, body)
	case wal == "on":
		if s, _, b := call(t, http.DefaultClient, "GET", base+"/v1/decisions/"+d.DecisionID, "", "", nil); s != 200 {
			t.Errorf("the decision committed to the WAL, by id: %d %s", s, b)
		}
	}
	if _, err := db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/ready to recover", func() bool { s, _ := ready(); return s == 200 })
	if wal == "on" {
		waitFor(t, "the decision in the store", func() bool {
			var n int
			return db.QueryRow(`SELECT count(*) FROM decisions WHERE decision_id = ?`, d.DecisionID).Scan(&n) == nil && n == 1
		})
	}
}

func damagedLogRefused(t *testing.T) {
	// A damaged file: the server says so and does not start.
	damaged := t.TempDir()
	file := filepath.Join(damaged, "decisions.db")
	fresh, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Exec(`CREATE TABLE filler (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO filler SELECT printf('%0100d', i) FROM n`); err != nil {
		t.Fatal(err)
	}
	fresh.Close()
	bad, _ := os.ReadFile(file)
	for i := 8192; i < len(bad) && i < 8192*3; i++ {
		bad[i] = 0xA5
	}
	if err := os.WriteFile(file, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--policies", PoliciesDir(), "--data-dir", damaged).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "damaged") && !strings.Contains(string(out), "malformed") {
		t.Errorf("a damaged log: %v\n%s", err, out)
	}
}
