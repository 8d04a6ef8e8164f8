package bundles_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
)

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func status(e *engine.Engine, id string) engine.Status {
	for _, st := range e.Merchants() {
		if st.ID == id {
			return st
		}
	}
	return engine.Status{}
}

// variant is aomei's source with another guarantee and revision.
func variant(t *testing.T, days int, revision string) *bundles.Source {
	t.Helper()
	src := *source(t, "aomei")
	src.Data = map[string]any{"params": map[string]any{"guarantee_days": days}}
	src.Revision = revision
	return &src
}

// broken is aomei's source with a policy that does not compile.
func broken(t *testing.T, revision string) *bundles.Source {
	t.Helper()
	src := *source(t, "aomei")
	bad := src.Modules[0]
	bad.Raw = append(append([]byte{}, bad.Raw...), []byte("\nbroken := undefined_function(1)\n")...)
	src.Modules = []bundles.Module{bad}
	src.Revision = revision
	return &src
}

func write(t *testing.T, path string, src *bundles.Source, signing *bundles.Signing) {
	t.Helper()
	if err := bundles.WriteFileAtomically(path, build(t, src, signing)); err != nil {
		t.Fatal(err)
	}
}

func TestDirSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	priv, pub := rsaKeys(t)
	signing := &bundles.Signing{Key: priv}
	write(t, filepath.Join(dir, "aomei.tar.gz"), variant(t, 90, "r1"), signing)
	write(t, filepath.Join(dir, "saas_codes.tar.gz"), source(t, "saas_codes"), signing)

	e := engine.New(engine.Options{})
	s := &bundles.DirSource{Dir: dir, Interval: 20 * time.Millisecond, Verification: &bundles.Verification{Key: pub}}
	if err := s.Load(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := e.Configured(); strings.Join(got, ",") != "aomei,saas_codes" {
		t.Fatalf("configured %v", got)
	}
	go s.Run(ctx, e)

	write(t, filepath.Join(dir, "aomei.tar.gz"), variant(t, 30, "r2"), signing)
	eventually(t, "r2 live", func() bool { return status(e, "aomei").Revision == "r2" })

	write(t, filepath.Join(dir, "aomei.tar.gz"), broken(t, "r3"), signing)
	eventually(t, "r3 refused", func() bool { return status(e, "aomei").FailedRevision == "r3" })
	if st := status(e, "aomei"); !st.Active || st.Revision != "r2" || !strings.Contains(st.LastError, "undefined_function") {
		t.Errorf("after a broken bundle: %+v", st)
	}

	write(t, filepath.Join(dir, "aomei.tar.gz"), variant(t, 45, "r4"), nil) // unsigned
	eventually(t, "unsigned refused", func() bool { return strings.Contains(status(e, "aomei").LastError, "signatures") })
	if st := status(e, "aomei"); st.Revision != "r2" {
		t.Errorf("unsigned bundle replaced r2: %+v", st)
	}

	write(t, filepath.Join(dir, "aomei.tar.gz"), variant(t, 45, "r5"), signing)
	eventually(t, "r5 live, error cleared", func() bool {
		st := status(e, "aomei")
		return st.Revision == "r5" && st.LastError == ""
	})

	if err := os.Remove(filepath.Join(dir, "saas_codes.tar.gz")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "saas_codes removed", func() bool { return len(e.Configured()) == 1 })
}

// bundleServer serves files from dir with strong ETags and conditional GETs,
// as a static file server or object store does; it counts requests.
type bundleServer struct {
	dir         string
	requests    atomic.Int64
	notModified atomic.Int64
	mu          sync.Mutex
	down        bool
	noETag      bool   // a plain static server
	token       string // a bearer token every request must carry
	httptestSrv *httptest.Server
}

func newBundleServer(t *testing.T, dir string) *bundleServer {
	bs := &bundleServer{dir: dir}
	bs.httptestSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs.requests.Add(1)
		bs.mu.Lock()
		down := bs.down
		bs.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if bs.token != "" && r.Header.Get("Authorization") != "Bearer "+bs.token {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		body, err := os.ReadFile(filepath.Join(dir, filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if bs.noETag {
			_, _ = w.Write(body)
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			bs.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(bs.httptestSrv.Close)
	return bs
}

func (bs *bundleServer) setDown(down bool) {
	bs.mu.Lock()
	bs.down = down
	bs.mu.Unlock()
}

func publish(t *testing.T, dir string, srcs ...*bundles.Source) {
	t.Helper()
	index := bundles.Index{}
	for _, src := range srcs {
		file := src.Merchant + ".tar.gz"
		write(t, filepath.Join(dir, file), src, nil)
		index.Bundles = append(index.Bundles, bundles.IndexEntry{Merchant: src.Merchant, File: file, Revision: src.Revision})
	}
	b, _ := json.Marshal(index)
	if err := bundles.WriteFileAtomically(filepath.Join(dir, bundles.IndexFile), b); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := t.TempDir()
	cache := t.TempDir()
	bs := newBundleServer(t, pub)
	publish(t, pub, variant(t, 90, "h1"), source(t, "saas_codes"))

	e := engine.New(engine.Options{})
	s := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/", Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, CacheDir: cache}
	if err := s.Load(ctx, e); err != nil {
		t.Fatal(err)
	}
	if st := status(e, "aomei"); st.Revision != "h1" {
		t.Fatalf("aomei %+v", st)
	}
	go s.Run(ctx, e)

	// Unchanged: every poll is a 304 on the index and nothing more.
	before := bs.requests.Load()
	eventually(t, "conditional polls", func() bool { return bs.notModified.Load() >= 3 })
	if polls := bs.requests.Load() - before; polls != bs.notModified.Load() {
		t.Errorf("%d requests while nothing changed, %d of them 304", polls, bs.notModified.Load())
	}

	publish(t, pub, variant(t, 30, "h2"), source(t, "saas_codes"))
	eventually(t, "h2 live", func() bool { return status(e, "aomei").Revision == "h2" })

	publish(t, pub, broken(t, "h3"), source(t, "saas_codes"))
	eventually(t, "h3 refused", func() bool { return status(e, "aomei").FailedRevision == "h3" })
	if st := status(e, "aomei"); st.Revision != "h2" {
		t.Fatalf("broken bundle replaced h2: %+v", st)
	}

	// The cache holds the last good bundle, not the broken one.
	cached, err := os.ReadFile(filepath.Join(cache, "aomei.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if src, err := bundles.Read(cached, "cache", nil); err != nil || src.Revision != "h2" {
		t.Fatalf("cache holds %v, %v; want h2", src, err)
	}

	// A restart while the bundle server is down serves the cached policies.
	cancel()
	bs.setDown(true)
	e2 := engine.New(engine.Options{})
	s2 := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/", CacheDir: cache}
	if err := s2.Load(context.Background(), e2); err != nil {
		t.Fatalf("restart with server down: %v", err)
	}
	if st := status(e2, "aomei"); st.Revision != "h2" || !e2.Ready() {
		t.Errorf("after restart: %+v ready %v", st, e2.Ready())
	}
}

// TestHTTPSourceOneMerchantRebuilt: a bundle replaced alone, its index
// untouched, goes live, from a server with ETags and from one without.
func TestHTTPSourceOneMerchantRebuilt(t *testing.T) {
	for _, noETag := range []bool{false, true} {
		t.Run(map[bool]string{false: "etags", true: "no etags"}[noETag], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pub := t.TempDir()
			bs := newBundleServer(t, pub)
			bs.noETag = noETag
			publish(t, pub, variant(t, 90, "r1"), source(t, "saas_codes"))
			e := engine.New(engine.Options{})
			s := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/", Interval: 20 * time.Millisecond}
			if err := s.Load(ctx, e); err != nil {
				t.Fatal(err)
			}
			go s.Run(ctx, e)
			index, _ := os.ReadFile(filepath.Join(pub, bundles.IndexFile))
			write(t, filepath.Join(pub, "aomei.tar.gz"), variant(t, 30, "r2"), nil)
			eventually(t, "r2 live", func() bool { return status(e, "aomei").Revision == "r2" })
			if now, _ := os.ReadFile(filepath.Join(pub, bundles.IndexFile)); !bytes.Equal(now, index) {
				t.Fatal("the index changed")
			}
			if st := status(e, "saas_codes"); !st.Active {
				t.Errorf("saas_codes %+v", st)
			}
		})
	}
}

// TestHTTPSourceCredentials: a bundle server that wants a bearer token gets
// it from the OPA service configuration.
func TestHTTPSourceCredentials(t *testing.T) {
	pub := t.TempDir()
	bs := newBundleServer(t, pub)
	bs.token = "s3cr3t"
	publish(t, pub, variant(t, 90, "c1"))
	e := engine.New(engine.Options{})
	anonymous := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/"}
	if err := anonymous.Load(context.Background(), e); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without credentials: %v", err)
	}
	s := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/", Service: []byte("credentials:\n  bearer:\n    token: s3cr3t\n")}
	if err := s.Load(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if st := status(e, "aomei"); st.Revision != "c1" {
		t.Errorf("aomei %+v", st)
	}
}

func TestHTTPSourceBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bs := newBundleServer(t, t.TempDir())
	bs.setDown(true)
	e := engine.New(engine.Options{})
	s := &bundles.HTTPSource{URL: bs.httptestSrv.URL + "/", Interval: 10 * time.Millisecond, MaxBackoff: time.Second}
	go s.Run(ctx, e)
	time.Sleep(600 * time.Millisecond)
	// Without backoff: about 60 polls. With it: 10, 20, 40, 80, 160, 320 ms.
	if n := bs.requests.Load(); n < 2 || n > 10 {
		t.Errorf("%d polls in 600ms against a failing server, want backoff (2 to 10)", n)
	}
}

func TestTreeSourceWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(policies())); err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	s := &bundles.TreeSource{Dir: dir, Watch: true, Interval: 20 * time.Millisecond}
	if err := s.Load(ctx, e); err != nil {
		t.Fatal(err)
	}
	go s.Run(ctx, e)
	rev := func(id string) string { return status(e, id).Revision }
	aomei, crm := rev("aomei"), rev("crmjetty")

	data := filepath.Join(dir, "merchants", "aomei", "data.json")
	raw, _ := os.ReadFile(data)
	if err := os.WriteFile(data, bytes.Replace(raw, []byte("90"), []byte("60"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "aomei reloaded on save", func() bool { return rev("aomei") != aomei })
	if rev("crmjetty") != crm {
		t.Error("crmjetty changed revision though its files did not change")
	}

	good := rev("aomei")
	policy := filepath.Join(dir, "merchants", "aomei", "policy.rego")
	if err := os.WriteFile(policy, []byte("package refunds.merchants.aomei\n\ndecision := {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "syntax error reported", func() bool { return status(e, "aomei").LastError != "" })
	if st := status(e, "aomei"); !st.Active || st.Revision != good {
		t.Errorf("after a syntax error: %+v, want %s still active", st, good)
	}
}
