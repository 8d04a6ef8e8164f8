package bundles

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/download"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/rest"
	"github.com/open-policy-agent/opa/v1/util"
)

// Target is what sources feed policies to: the engine.
type Target interface {
	// Activate compiles src aside and swaps it in, or keeps the old policy
	// and records why not.
	Activate(ctx context.Context, src *Source) error
	// Fail records a policy that could not even be read.
	Fail(merchant string, err error)
	// Remove stops serving a merchant.
	Remove(merchant string)
	// LoadTree activates a whole source tree.
	LoadTree(ctx context.Context, tree *Tree) error
	// Configured lists the merchants configured.
	Configured() []string
}

// A Policies source loads policies once, then keeps them current until ctx
// is done.
type Policies interface {
	Load(ctx context.Context, t Target) error
	Run(ctx context.Context, t Target)
}

// TreeSource serves a policy source tree; with Watch it reloads the tree
// whenever a file under it changes.
type TreeSource struct {
	Dir      string
	Watch    bool
	Interval time.Duration // how often to look for changes; 500ms by default
	Log      *slog.Logger

	fingerprint [32]byte
}

// Load reads the tree and activates every merchant.
func (s *TreeSource) Load(ctx context.Context, t Target) error {
	s.fingerprint, _ = treeFingerprint(s.Dir)
	tree, err := LoadTree(s.Dir)
	if err != nil {
		return err
	}
	return t.LoadTree(ctx, tree)
}

// Run watches the tree when Watch is set.
func (s *TreeSource) Run(ctx context.Context, t Target) {
	if !s.Watch {
		return
	}
	every(ctx, or(s.Interval, 500*time.Millisecond), func() {
		fp, err := treeFingerprint(s.Dir)
		if err != nil || fp == s.fingerprint {
			return
		}
		s.fingerprint = fp
		tree, err := LoadTree(s.Dir)
		if err != nil {
			// The shared part is broken: every merchant keeps its policy.
			logger(s.Log).Error("policy tree not reloaded", "dir", s.Dir, "error", err.Error())
			for _, id := range t.Configured() {
				t.Fail(id, err)
			}
			return
		}
		_ = t.LoadTree(ctx, tree) // each failure is recorded by the target
	})
}

// treeFingerprint hashes the names, sizes and modification times under dir.
func treeFingerprint(dir string) ([32]byte, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", path, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// DirSource serves the bundles of a directory, one <merchant>.tar.gz each,
// and picks up new, changed and removed files.
type DirSource struct {
	Dir          string
	Interval     time.Duration // how often to look; 2s by default
	Verification *Verification
	Log          *slog.Logger

	seen map[string]fileStamp // by merchant
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// Load activates every bundle of the directory.
func (s *DirSource) Load(ctx context.Context, t Target) error {
	if _, err := os.Stat(s.Dir); err != nil {
		return fmt.Errorf("bundle directory: %w", err)
	}
	return s.scan(ctx, t)
}

// Run rescans the directory until ctx is done.
func (s *DirSource) Run(ctx context.Context, t Target) {
	every(ctx, or(s.Interval, 2*time.Second), func() { _ = s.scan(ctx, t) })
}

func (s *DirSource) scan(ctx context.Context, t Target) error {
	if s.seen == nil {
		s.seen = map[string]fileStamp{}
	}
	files, err := filepath.Glob(filepath.Join(s.Dir, "*.tar.gz"))
	if err != nil {
		return err
	}
	present := map[string]bool{}
	var errs []error
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".tar.gz")
		present[id] = true
		info, err := os.Stat(f)
		if err != nil {
			continue // removed since the glob
		}
		stamp := fileStamp{info.Size(), info.ModTime()}
		if old, ok := s.seen[id]; ok && old == stamp {
			continue
		}
		s.seen[id] = stamp
		raw, err := os.ReadFile(f)
		if err == nil {
			err = activateBundle(ctx, t, raw, f, id, s.Verification)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for id := range s.seen {
		if !present[id] {
			delete(s.seen, id)
			t.Remove(id)
		}
	}
	return errors.Join(errs...)
}

// activateBundle reads, verifies and activates one merchant's bundle,
// recording any failure against the merchant the bundle is expected to be.
func activateBundle(ctx context.Context, t Target, raw []byte, origin, merchant string, v *Verification) error {
	src, err := Read(raw, origin, v)
	if err == nil && src.Merchant != merchant {
		err = fmt.Errorf("bundle %s holds merchant %s's policy, not %s's", origin, src.Merchant, merchant)
	}
	if err != nil {
		t.Fail(merchant, err)
		return err
	}
	return t.Activate(ctx, src)
}

// HTTPSource polls a remote bundle source, either an HTTP bundle server or
// an OCI registry.
//
// An HTTP bundle server is any static file server or object store holding
// what `refundd bundle build` writes, an index.json and one
// <merchant>.tar.gz per merchant. The index says which merchants there are;
// each merchant's bundle has a downloader of its own (OPA's download
// package, over OPA's REST client), polled every time with its own ETag, so
// a bundle rebuilt alone goes live even when the index did not change, and a
// server that sends no ETag is simply read again.
//
// An OCI registry (URL oci://host[:port]/repository) holds one tag per
// merchant in one repository, as `refundd bundle push` writes them; the
// repository's tag list says which merchants there are (tags that are not
// merchant ids, such as "v1.2", are left alone), and each merchant's tag
// has an OPA OCI downloader of its own, which goes live when the bundle
// layer's digest changes.
//
// Failures back off exponentially. Every bundle that goes live is kept in
// CacheDir, so a restart while the source is down serves the last good
// policies.
type HTTPSource struct {
	URL          string        // base URL of the directory, or oci://host/repository
	Interval     time.Duration // between polls; 10s by default
	MaxBackoff   time.Duration // longest wait after failures; 5m by default
	CacheDir     string
	Verification *Verification
	// Service, if set, is an OPA service configuration (JSON or YAML) for
	// the bundle server: credentials (bearer token, OAuth2 client
	// credentials, client TLS certificate, AWS, GCP or Azure signing), TLS
	// settings and headers, as OPA's own bundle plugin takes them. Its url
	// defaults to URL.
	Service []byte
	Log     *slog.Logger

	client      *rest.Client
	oci         *ociRepository // set when URL is an oci:// reference
	indexETag   string
	downloaders map[string]*merchantDownload
}

// downloader is what refundd needs of OPA's two bundle downloaders.
type downloader interface {
	Trigger(ctx context.Context) error
	Stop(ctx context.Context)
}

// merchantDownload is one merchant's bundle downloader and what its last
// trigger brought.
type merchantDownload struct {
	file string // file name on an HTTP server, tag in an OCI repository
	d    downloader
	// updates carries what a trigger brought, from the downloader's
	// goroutine to the poll that triggered it.
	updates chan download.Update
}

// IndexFile is the name of the bundle index in a bundle directory.
const IndexFile = "index.json"

// Index lists the bundles of a directory.
type Index struct {
	Bundles []IndexEntry `json:"bundles"`
}

// IndexEntry is one merchant's bundle in an Index.
type IndexEntry struct {
	Merchant string `json:"merchant"`
	File     string `json:"file"`
	Revision string `json:"revision"`
}

// Load serves the cached bundles, then polls the server once. A server that
// cannot be reached is not an error when the cache had bundles.
func (s *HTTPSource) Load(ctx context.Context, t Target) error {
	if s.CacheDir != "" {
		if err := os.MkdirAll(s.CacheDir, 0o755); err != nil {
			return fmt.Errorf("bundle cache: %w", err)
		}
		cache := &DirSource{Dir: s.CacheDir, Verification: s.Verification, Log: s.Log}
		if err := cache.scan(ctx, t); err != nil {
			logger(s.Log).Warn("cached bundles", "error", err.Error())
		}
	}
	err := s.poll(ctx, t)
	if err != nil && len(t.Configured()) > 0 {
		logger(s.Log).Warn("bundle server unreachable; serving cached bundles", "url", s.URL, "error", err.Error())
		return nil
	}
	return err
}

// Run polls until ctx is done, backing off after failures.
func (s *HTTPSource) Run(ctx context.Context, t Target) {
	interval := or(s.Interval, 10*time.Second)
	maxBackoff := or(s.MaxBackoff, 5*time.Minute)
	failures := 0
	for {
		wait := interval
		if failures > 0 {
			wait = min(maxBackoff, interval<<min(failures, 16))
			wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
		}
		select {
		case <-ctx.Done():
			s.stop()
			return
		case <-time.After(wait):
		}
		if err := s.poll(ctx, t); err != nil {
			failures++
			logger(s.Log).Warn("bundle poll failed", "url", s.URL, "error", err.Error(), "failures", failures)
		} else {
			failures = 0
		}
	}
}

// stop stops every downloader (an OCI downloader removes its local store).
func (s *HTTPSource) stop() {
	for id, md := range s.downloaders {
		md.d.Stop(context.Background())
		delete(s.downloaders, id)
	}
}

// restClient is OPA's REST client for the bundle server, made once.
func (s *HTTPSource) restClient() (*rest.Client, error) {
	if s.client != nil {
		return s.client, nil
	}
	if strings.HasPrefix(s.URL, "oci://") {
		repo, err := parseOCIURL(s.URL)
		if err != nil {
			return nil, err
		}
		s.oci = repo
	}
	c, err := serviceClient(s.Service, s.URL, s.oci)
	if err != nil {
		return nil, err
	}
	s.client = c
	return s.client, nil
}

// serviceClient is OPA's REST client for a bundle service: the service
// configuration given (credentials, TLS, headers), its url defaulting to
// base, or to the registry of oci (whose type is then oci).
func serviceClient(service []byte, base string, oci *ociRepository) (*rest.Client, error) {
	conf := map[string]any{}
	if len(service) > 0 {
		if err := util.Unmarshal(service, &conf); err != nil {
			return nil, fmt.Errorf("bundle service configuration: %w", err)
		}
	}
	if oci != nil {
		conf["type"] = "oci"
		base = oci.registryURL()
	}
	if _, ok := conf["url"]; !ok {
		conf["url"] = base
	}
	if _, ok := conf["name"]; !ok {
		conf["name"] = "bundles"
	}
	raw, _ := json.Marshal(conf)
	// refundd logs what it does itself; OPA's client would log the same
	// failures again, in another format.
	c, err := rest.New(raw, nil, rest.Logger(logging.NewNoOpLogger()))
	if err != nil {
		return nil, fmt.Errorf("bundle service configuration: %w", err)
	}
	return &c, nil
}

// poll reads the index when it changed, then triggers every merchant's
// downloader. Its error is a failure to reach the server or to read what it
// serves, which Run backs off from; a refused bundle is recorded by the
// target instead.
func (s *HTTPSource) poll(ctx context.Context, t Target) error {
	client, err := s.restClient()
	if err != nil {
		return err
	}
	if s.downloaders == nil {
		s.downloaders = map[string]*merchantDownload{}
	}
	index, etag, err := s.index(ctx, client)
	if err != nil {
		return err
	}
	var errs []error
	if index != nil {
		errs = append(errs, s.reconcile(ctx, t, client, index)...)
	}
	for _, id := range slices.Sorted(maps.Keys(s.downloaders)) {
		md := s.downloaders[id]
		select {
		case <-md.updates: // a trigger abandoned when an earlier poll was cancelled
		default:
		}
		err := md.d.Trigger(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var u download.Update
		select {
		case u = <-md.updates:
		default:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", md.file, err))
			}
			continue
		}
		if err := s.take(ctx, t, id, md, u); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if index != nil {
		s.indexETag = etag // only once everything it lists was handled
	}
	return nil
}

// index fetches index.json if it changed (nil when it did not).
func (s *HTTPSource) index(ctx context.Context, client *rest.Client) (*Index, string, error) {
	if s.oci != nil {
		return s.ociIndex(ctx, client)
	}
	c := *client
	if s.indexETag != "" {
		c = c.WithHeader("If-None-Match", s.indexETag)
	}
	resp, err := c.Do(ctx, http.MethodGet, IndexFile)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", IndexFile, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, s.indexETag, nil
	case http.StatusOK:
	default:
		return nil, "", fmt.Errorf("GET %s: %s", IndexFile, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", IndexFile, err)
	}
	var index Index
	if err := json.Unmarshal(body, &index); err != nil {
		return nil, "", fmt.Errorf("%s: %w", IndexFile, err)
	}
	return &index, resp.Header.Get("ETag"), nil
}

// reconcile makes one downloader per merchant of the index, and stops
// serving the merchants it no longer lists.
func (s *HTTPSource) reconcile(ctx context.Context, t Target, client *rest.Client, index *Index) []error {
	var errs []error
	listed := map[string]bool{}
	vc, err := s.Verification.config()
	if err != nil {
		return []error{err}
	}
	for _, e := range index.Bundles {
		if !MerchantIDPattern.MatchString(e.Merchant) || e.File == "" {
			errs = append(errs, fmt.Errorf("%s: bad entry %+v", IndexFile, e))
			continue
		}
		listed[e.Merchant] = true
		if md, ok := s.downloaders[e.Merchant]; ok && md.file == e.File {
			continue
		}
		if md, ok := s.downloaders[e.Merchant]; ok {
			md.d.Stop(ctx)
		}
		md := &merchantDownload{file: e.File, updates: make(chan download.Update, 1)}
		manual := plugins.TriggerManual
		conf := download.Config{Trigger: &manual}
		if err := conf.ValidateAndInjectDefaults(); err != nil {
			errs = append(errs, err)
			continue
		}
		callback := func(_ context.Context, u download.Update) error {
			select {
			case md.updates <- u:
			default:
			}
			return nil
		}
		parser := ast.ParserOptions{RegoVersion: ast.RegoV1}
		if s.oci != nil {
			// The local store is a temporary directory, removed when the
			// downloader stops; the last good bundle is kept in CacheDir.
			md.d = download.NewOCI(conf, *client, s.oci.reference(e.File), "").
				WithBundleVerificationConfig(vc).
				WithSizeLimitBytes(MaxBundleBytes).
				WithBundlePersistence(true).
				WithBundleParserOpts(parser).
				WithCallback(callback)
		} else {
			md.d = download.New(conf, *client, e.File).
				WithBundleVerificationConfig(vc).
				WithSizeLimitBytes(MaxBundleBytes).
				WithBundlePersistence(true). // the raw bytes: read again by Read, and cached
				WithBundleParserOpts(parser).
				WithCallback(callback)
		}
		s.downloaders[e.Merchant] = md
	}
	for _, id := range t.Configured() {
		if !listed[id] {
			t.Remove(id)
			if md, ok := s.downloaders[id]; ok {
				md.d.Stop(ctx)
				delete(s.downloaders, id)
			}
			if s.CacheDir != "" {
				_ = os.Remove(filepath.Join(s.CacheDir, id+".tar.gz"))
			}
		}
	}
	return errs
}

// take activates what a downloader brought: nothing when the bundle did not
// change, the bundle when it did. A bundle the server could not serve is a
// poll error; one that was served but cannot be used is refused and
// recorded, and the next poll tries again.
func (s *HTTPSource) take(ctx context.Context, t Target, merchant string, md *merchantDownload, u download.Update) error {
	origin, _ := url.JoinPath(s.URL, md.file)
	if s.oci != nil {
		origin = "oci://" + s.oci.reference(md.file)
	}
	var httpErr download.HTTPError
	switch {
	case u.Error != nil && (errors.As(u.Error, &httpErr) || isNetError(u.Error) || s.oci != nil && !ociBundleError(u.Error)):
		return fmt.Errorf("GET %s: %w", origin, u.Error)
	case u.Error != nil:
		t.Fail(merchant, fmt.Errorf("bundle %s: %w", origin, u.Error))
		logger(s.Log).Warn("bundle refused", "merchant", merchant, "error", u.Error.Error())
		return nil
	case u.Bundle == nil || u.Raw == nil:
		return nil // not modified
	}
	raw, err := io.ReadAll(u.Raw)
	if err != nil {
		return fmt.Errorf("GET %s: %w", origin, err)
	}
	if err := activateBundle(ctx, t, raw, origin, merchant, s.Verification); err != nil {
		// Refused and recorded by the target; not a reason to back off:
		// the fix may be published at the next poll.
		logger(s.Log).Warn("bundle refused", "merchant", merchant, "error", err.Error())
		return nil
	}
	if s.CacheDir != "" {
		if err := WriteFileAtomically(filepath.Join(s.CacheDir, merchant+".tar.gz"), raw); err != nil {
			return fmt.Errorf("bundle cache: %w", err)
		}
	}
	return nil
}

// isNetError tells a failure to reach the server.
func isNetError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

// WriteFileAtomically writes data to path through a temporary file and a
// rename, so that no reader ever sees it half written.
func WriteFileAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func every(ctx context.Context, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
