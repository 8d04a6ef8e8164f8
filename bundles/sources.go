package bundles

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"encoding/json"
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

// HTTPSource polls an HTTP bundle server: any static file server or object
// store holding what `refundd bundle build` writes, an index.json and one
// <merchant>.tar.gz per merchant. Requests are conditional (If-None-Match);
// failures back off exponentially. Every bundle that goes live is kept in
// CacheDir, so a restart while the server is down serves the last good
// policies.
type HTTPSource struct {
	URL          string        // base URL of the directory
	Interval     time.Duration // between polls; 10s by default
	MaxBackoff   time.Duration // longest wait after failures; 5m by default
	CacheDir     string
	Verification *Verification
	Client       *http.Client
	Log          *slog.Logger

	indexETag string
	etags     map[string]string // by merchant
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

// poll fetches what changed. Its error is a failure to reach the server or
// to read what it serves, which Run backs off from; a refused bundle is
// recorded by the target instead.
func (s *HTTPSource) poll(ctx context.Context, t Target) error {
	if s.etags == nil {
		s.etags = map[string]string{}
	}
	body, etag, err := s.get(ctx, IndexFile, s.indexETag)
	if err != nil || body == nil {
		return err // nil body: not modified
	}
	var index Index
	if err := json.Unmarshal(body, &index); err != nil {
		return fmt.Errorf("%s: %w", IndexFile, err)
	}
	listed := map[string]bool{}
	var errs []error
	for _, e := range index.Bundles {
		if !MerchantIDPattern.MatchString(e.Merchant) || e.File == "" {
			errs = append(errs, fmt.Errorf("%s: bad entry %+v", IndexFile, e))
			continue
		}
		listed[e.Merchant] = true
		raw, betag, err := s.get(ctx, e.File, s.etags[e.Merchant])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if raw == nil {
			continue // not modified
		}
		s.etags[e.Merchant] = betag
		if err := activateBundle(ctx, t, raw, s.URL+e.File, e.Merchant, s.Verification); err != nil {
			// Refused and recorded by the target; not a reason to back off:
			// the fix may be published at the next poll.
			logger(s.Log).Warn("bundle refused", "merchant", e.Merchant, "error", err.Error())
			continue
		}
		if s.CacheDir != "" {
			if err := WriteFileAtomically(filepath.Join(s.CacheDir, e.Merchant+".tar.gz"), raw); err != nil {
				errs = append(errs, fmt.Errorf("bundle cache: %w", err))
			}
		}
	}
	for _, id := range t.Configured() {
		if !listed[id] {
			t.Remove(id)
			delete(s.etags, id)
			if s.CacheDir != "" {
				_ = os.Remove(filepath.Join(s.CacheDir, id+".tar.gz"))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.indexETag = etag // only once everything it lists was handled
	return nil
}

// get fetches name under the base URL; a nil body means not modified.
func (s *HTTPSource) get(ctx context.Context, name, etag string) ([]byte, string, error) {
	u, err := url.JoinPath(s.URL, name)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBundleBytes+1))
		if err != nil {
			return nil, "", fmt.Errorf("GET %s: %w", u, err)
		}
		if len(body) > MaxBundleBytes {
			return nil, "", fmt.Errorf("GET %s: larger than %d bytes", u, MaxBundleBytes)
		}
		return body, resp.Header.Get("ETag"), nil
	}
	return nil, "", fmt.Errorf("GET %s: %s", u, resp.Status)
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
