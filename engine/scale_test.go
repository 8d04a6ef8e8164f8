package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/tests"
)

// generateTree writes a policy tree with n merchants m0000...: each a copy
// of aomei under its own package, data and tests.
func generateTree(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	src := tests.PoliciesDir()
	for _, sub := range []string{"lib", "floor", "messages", "testing"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(src, sub))); err != nil {
			b.Fatal(err)
		}
	}
	files := map[string][]byte{}
	for _, f := range []string{"policy.rego", "data.json"} {
		raw, err := os.ReadFile(filepath.Join(src, "merchants", "aomei", f))
		if err != nil {
			b.Fatal(err)
		}
		files[f] = raw
	}
	for i := range n {
		id := fmt.Sprintf("m%04d", i)
		mdir := filepath.Join(dir, "merchants", id)
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f, raw := range files {
			raw = bytes.ReplaceAll(raw, []byte("aomei"), []byte(id))
			raw = bytes.Replace(raw, []byte(`"guarantee_days": 90`), []byte(`"guarantee_days": `+strconv.Itoa(30+i%90)), 1)
			if err := os.WriteFile(filepath.Join(mdir, f), raw, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return dir
}

func memory() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	return ms.HeapInuse, rss
}

// BenchmarkScale measures, with 1, 100 and 1,000 merchants: start-up (load
// the tree and compile every merchant), memory per merchant, and — the
// timed part — activating one more merchant's new revision while the others
// are loaded. Run: go test -run '^$' -bench Scale -benchtime 20x ./engine
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("merchants=%d", n), func(b *testing.B) {
			dir := generateTree(b, n+1)
			heap0, rss0 := memory()
			start := time.Now()
			tree, err := bundles.LoadTree(dir)
			if err != nil {
				b.Fatal(err)
			}
			extra := tree.Source(fmt.Sprintf("m%04d", n))
			delete(tree.Merchants, extra.Merchant)
			e := engine.New(engine.Options{})
			if err := e.LoadTree(context.Background(), tree); err != nil {
				b.Fatal(err)
			}
			startup := time.Since(start)
			tree = nil
			heap1, rss1 := memory()
			if got := len(e.Configured()); got != n {
				b.Fatalf("%d merchants loaded, want %d", got, n)
			}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				src := *extra
				src.Revision = fmt.Sprintf("r%d", i)
				if err := e.Activate(ctx, &src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(startup.Seconds(), "startup_s")
			b.ReportMetric(float64(heap1-heap0)/float64(n)/(1<<20), "heap_MiB/merchant")
			b.ReportMetric(float64(rss1-rss0)/float64(n)/(1<<20), "rss_MiB/merchant")
		})
	}
}
