package bundles_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/tests"
)

func TestCheckArchive(t *testing.T) {
	limits := bundles.Limits{Bytes: 1 << 20, Files: 50, DataValues: 5000}
	many := make([]tests.Entry, 51)
	for i := range many {
		many[i] = tests.TextEntry(fmt.Sprintf("/merchants/x/f%d.rego", i), "package x")
	}
	bigArray := "[" + strings.Repeat("0,", 5000) + "0]"
	for _, tc := range []struct {
		name    string
		raw     []byte
		limited bool
	}{
		{"the launch bundle", build(t, source(t, "crmjetty"), nil), false},
		{"zeros bomb", tests.TarGz(t, tests.ZeroEntry("/merchants/x/data.json", 60<<20)), true},
		{"many files", tests.TarGz(t, many...), true},
		{"unpacked total", tests.TarGz(t, tests.ZeroEntry("/a.rego", 600<<10), tests.ZeroEntry("/b.rego", 600<<10)), true},
		{"huge array in little data", tests.TarGz(t, tests.TextEntry("/merchants/x/data.json", bigArray)), true},
		{"data at the bound", tests.TarGz(t, tests.TextEntry("/merchants/x/data.json", "["+strings.Repeat("0,", 4998)+"0]")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := bundles.CheckArchive(tc.raw, limits)
			if got := errors.Is(err, bundles.ErrLimit); got != tc.limited {
				t.Errorf("CheckArchive: %v; limited %v, want %v", err, got, tc.limited)
			}
		})
	}
	if err := bundles.CheckArchive([]byte("not gzip"), limits); err == nil || errors.Is(err, bundles.ErrLimit) {
		t.Errorf("garbage: %v, want a read error", err)
	}
}

// FuzzRead: the impact upload's reader, limits first, then OPA's bundle
// reader. Any bytes give a source or an error, never a panic; a bundle that
// exceeds a limit is never read further.
func FuzzRead(f *testing.F) {
	tree, err := bundles.LoadTree(policies())
	if err != nil {
		f.Fatal(err)
	}
	b, err := bundles.Build(tree.Source("aomei"), "", nil)
	if err != nil {
		f.Fatal(err)
	}
	var launch bytes.Buffer
	if err := bundles.Write(&launch, b); err != nil {
		f.Fatal(err)
	}
	f.Add(launch.Bytes())
	f.Add(tests.TarGz(f, tests.ZeroEntry("/merchants/x/data.json", 1<<20)))
	f.Add(tests.TarGz(f, tests.TextEntry("/merchants/x/data.json", `{"a": [1, 2, {"b": null}]}`), tests.TextEntry("/lib/l.rego", "package refunds.lib.l\nx := 1")))
	f.Add([]byte("\x1f\x8b"))
	limits := bundles.Limits{Bytes: 256 << 10, Files: 50, DataValues: 5000}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := bundles.CheckArchive(raw, limits); err != nil {
			return
		}
		src, err := bundles.Read(raw, "fuzz", nil)
		if err != nil {
			return
		}
		if !bundles.MerchantIDPattern.MatchString(src.Merchant) && src.Merchant != "" {
			// A merchant id the engine refuses is fine: it never compiles.
			return
		}
		if len(src.Lib) == 0 {
			t.Fatalf("accepted a bundle with no lib modules")
		}
	})
}

// TestBundlesCarryTheFloor: every merchant's bundle holds the floor's
// modules and law data, and its revision changes when the floor does.
func TestBundlesCarryTheFloor(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(policies())); err != nil {
		t.Fatal(err)
	}
	tree, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := tree.Source("aomei")
	got, err := bundles.Read(build(t, before, nil), "aomei.tar.gz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Floor["version"] == nil || !slices.ContainsFunc(got.Lib, func(m bundles.Module) bool { return m.Path == "floor/fr/fr.rego" }) ||
		!slices.ContainsFunc(got.Tests, func(m bundles.Module) bool { return m.Path == "floor/fr/fr_test.rego" }) {
		t.Errorf("bundle lacks the floor: data %v, lib %v", got.Floor["version"], paths(got.Lib))
	}
	law := filepath.Join(dir, "floor", "data.json")
	raw, _ := os.ReadFile(law)
	_ = os.WriteFile(law, bytes.Replace(raw, []byte(`"withdrawal_days": 14`), []byte(`"withdrawal_days": 15`), 1), 0o644)
	tree, err = bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after := tree.Source("aomei"); after.Revision == before.Revision {
		t.Errorf("revision %s did not change with the floor's data", after.Revision)
	}
}
