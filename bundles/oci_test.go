package bundles_test

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
)

// ociRegistry is an OCI distribution registry on loopback (a real registry
// implementation, in memory), optionally behind a bearer token and a switch
// that takes it down.
type ociRegistry struct {
	srv   *httptest.Server
	token string
	down  atomic.Bool
}

func newOCIRegistry(t *testing.T, token string) *ociRegistry {
	r := &ociRegistry{token: token}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		// OPA's OCI client sends a bearer token base64-encoded.
		if r.token != "" && req.Header.Get("Authorization") != "Bearer "+base64.StdEncoding.EncodeToString([]byte(r.token)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// repo is the oci:// URL of a repository of the registry.
func (r *ociRegistry) repo(name string) string {
	return "oci://" + strings.TrimPrefix(r.srv.URL, "http://") + "/" + name
}

func push(t *testing.T, target string, service []byte, srcs ...*bundles.Source) {
	t.Helper()
	built := map[string][]byte{}
	for _, src := range srcs {
		built[src.Merchant] = build(t, src, nil)
	}
	digests, err := bundles.Push(context.Background(), target, service, built)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		if !strings.HasPrefix(digests[src.Merchant], "sha256:") {
			t.Fatalf("push %s: digest %q", src.Merchant, digests[src.Merchant])
		}
	}
}

func TestOCISource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := newOCIRegistry(t, "")
	url := reg.repo("acme/refundd-bundles")
	push(t, url, nil, variant(t, 90, "o1"), source(t, "saas_codes"))
	// A tag that is not a merchant id is left alone.
	built := map[string][]byte{"crmjetty": build(t, source(t, "crmjetty"), nil)}
	if _, err := bundles.Push(ctx, url, nil, map[string][]byte{"v1.0": built["crmjetty"]}); err == nil {
		t.Fatal("push accepted a tag that is not a merchant id")
	}

	cache := t.TempDir()
	e := engine.New(engine.Options{})
	s := &bundles.HTTPSource{URL: url, Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, CacheDir: cache}
	if err := s.Load(ctx, e); err != nil {
		t.Fatal(err)
	}
	if st := status(e, "aomei"); st.Revision != "o1" || !st.Active {
		t.Fatalf("aomei %+v", st)
	}
	if st := status(e, "saas_codes"); !st.Active {
		t.Fatalf("saas_codes %+v", st)
	}
	go s.Run(ctx, e)

	// One merchant pushed alone goes live; the other is untouched.
	saas := status(e, "saas_codes").Revision
	push(t, url, nil, variant(t, 30, "o2"))
	eventually(t, "o2 live", func() bool { return status(e, "aomei").Revision == "o2" })
	if st := status(e, "saas_codes"); st.Revision != saas || !st.Active {
		t.Errorf("saas_codes %+v", st)
	}

	// A new tag is a new merchant.
	push(t, url, nil, source(t, "crmjetty"))
	eventually(t, "crmjetty served", func() bool { return status(e, "crmjetty").Active })

	// A broken bundle is refused, and the last good one kept and cached.
	push(t, url, nil, broken(t, "o3"))
	eventually(t, "o3 refused", func() bool { return status(e, "aomei").FailedRevision == "o3" })
	if st := status(e, "aomei"); st.Revision != "o2" || !st.Active {
		t.Fatalf("broken bundle replaced o2: %+v", st)
	}
	cached, err := os.ReadFile(filepath.Join(cache, "aomei.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if src, err := bundles.Read(cached, "cache", nil); err != nil || src.Revision != "o2" {
		t.Fatalf("cache holds %v, %v; want o2", src, err)
	}

	// A restart while the registry is down serves the cached policies.
	cancel()
	reg.down.Store(true)
	e2 := engine.New(engine.Options{})
	s2 := &bundles.HTTPSource{URL: url, CacheDir: cache}
	if err := s2.Load(context.Background(), e2); err != nil {
		t.Fatalf("restart with the registry down: %v", err)
	}
	if st := status(e2, "aomei"); st.Revision != "o2" || !e2.Ready() {
		t.Errorf("after restart: %+v ready %v", st, e2.Ready())
	}
	// Without a cache, a registry that is down is an error, not an empty
	// policy set.
	if err := (&bundles.HTTPSource{URL: url}).Load(context.Background(), engine.New(engine.Options{})); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("registry down, no cache: %v", err)
	}
}

// TestOCISourceVerifies: bundles from a registry are verified like any
// other; an unsigned one is refused when a key is configured.
func TestOCISourceVerifies(t *testing.T) {
	reg := newOCIRegistry(t, "")
	url := reg.repo("signed")
	signing := &bundles.Signing{Key: "secret", Algorithm: "HS256"}
	if _, err := bundles.Push(context.Background(), url, nil, map[string][]byte{
		"aomei":      build(t, variant(t, 90, "s1"), signing),
		"saas_codes": build(t, source(t, "saas_codes"), nil),
	}); err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	s := &bundles.HTTPSource{URL: url, Verification: &bundles.Verification{Key: "secret", Algorithm: "HS256"}}
	_ = s.Load(context.Background(), e)
	if st := status(e, "aomei"); st.Revision != "s1" || !st.Active {
		t.Errorf("signed aomei %+v", st)
	}
	if st := status(e, "saas_codes"); st.Active || st.LastError == "" {
		t.Errorf("unsigned saas_codes served: %+v", st)
	}
}

// TestOCISourceCredentials: a registry that wants a token gets it from the
// OPA service configuration, for pull and push alike.
func TestOCISourceCredentials(t *testing.T) {
	reg := newOCIRegistry(t, "s3cr3t")
	url := reg.repo("private")
	service := []byte("credentials:\n  bearer:\n    token: s3cr3t\n")
	if _, err := bundles.Push(context.Background(), url, nil, map[string][]byte{"aomei": build(t, variant(t, 90, "c1"), nil)}); err == nil || !strings.Contains(err.Error(), "wants credentials") {
		t.Errorf("push without credentials: %v", err)
	}
	push(t, url, service, variant(t, 90, "c1"))
	e := engine.New(engine.Options{})
	if err := (&bundles.HTTPSource{URL: url}).Load(context.Background(), e); err == nil || !strings.Contains(err.Error(), "wants credentials") {
		t.Errorf("without credentials: %v", err)
	}
	if err := (&bundles.HTTPSource{URL: url, Service: service}).Load(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if st := status(e, "aomei"); st.Revision != "c1" {
		t.Errorf("aomei %+v", st)
	}
}
