// Package bundles loads merchant policies for the engine. This file reads a
// policy source tree laid out as policies/ is:
//
//	lib/...                shared Rego helpers (package refunds.lib.*)
//	messages/data.json     the message catalog, {"en": {code: text}, "fr": {...}}
//	merchants/<id>/...     one merchant: package refunds.merchants.<id> and its data
//
// Test files (*_test.rego) are left out: they are for `opa test`, not for
// serving.
package bundles

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
)

// Module is one parsed Rego file.
type Module struct {
	Path   string
	Parsed *ast.Module
	Raw    []byte
}

// Merchant is the source of one merchant's policy: its modules and its data
// (the content of merchants/<id>/data.json, served at data.merchants.<id>).
type Merchant struct {
	ID      string
	Modules []Module
	Data    map[string]any
}

// Tree is a loaded policy source tree.
type Tree struct {
	Lib       []Module
	Messages  map[string]any
	Merchants map[string]*Merchant
	// Errors holds the merchants whose own files failed to load. The others
	// are in Merchants and can be served.
	Errors map[string]error
}

// MerchantIDPattern is the form of a merchant id: snake_case, so that the
// package name refunds.merchants.<id> never needs brackets.
var MerchantIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// LoadTree reads the policy source tree at dir. A problem with the shared
// lib or the message catalog fails the whole tree; a problem with one
// merchant's files is recorded in Tree.Errors and leaves the others loaded.
func LoadTree(dir string) (*Tree, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("policy tree: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("policy tree %s: not a directory", dir)
	}
	lib, _, err := load(filepath.Join(dir, "lib"))
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: lib: %w", dir, err)
	}
	if len(lib) == 0 {
		return nil, fmt.Errorf("policy tree %s: lib: no Rego modules", dir)
	}
	_, messages, err := load(filepath.Join(dir, "messages"))
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: messages: %w", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "merchants"))
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: %w", dir, err)
	}
	t := &Tree{Lib: lib, Messages: messages, Merchants: map[string]*Merchant{}, Errors: map[string]error{}}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		m, err := loadMerchant(filepath.Join(dir, "merchants", id), id)
		if err != nil {
			t.Errors[id] = err
			continue
		}
		t.Merchants[id] = m
	}
	if len(t.Merchants)+len(t.Errors) == 0 {
		return nil, fmt.Errorf("policy tree %s: no merchant under merchants/", dir)
	}
	return t, nil
}

func loadMerchant(dir, id string) (*Merchant, error) {
	if !MerchantIDPattern.MatchString(id) {
		return nil, fmt.Errorf("merchant id %q: must match %s", id, MerchantIDPattern)
	}
	modules, data, err := load(dir)
	if err != nil {
		return nil, err
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("merchant %s: no Rego modules in %s", id, dir)
	}
	return &Merchant{ID: id, Modules: modules, Data: data}, nil
}

// load reads the Rego modules and data files below dir with OPA's loader,
// leaving test files out. A missing dir loads nothing.
func load(dir string) ([]Module, map[string]any, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, map[string]any{}, nil
	}
	res, err := loader.NewFileLoader().
		WithProcessAnnotation(true).
		Filtered([]string{dir}, func(_ string, info fs.FileInfo, _ int) bool {
			return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
		})
	if err != nil {
		return nil, nil, err
	}
	modules := make([]Module, 0, len(res.Modules))
	for _, f := range res.Modules {
		modules = append(modules, Module{Path: f.Name, Parsed: f.Parsed, Raw: f.Raw})
	}
	sort.Slice(modules, func(i, j int) bool { return modules[i].Path < modules[j].Path })
	return modules, res.Documents, nil
}

// Revision names the content a merchant is served from: the shared lib, the
// catalog and the merchant's own modules and data. It changes whenever any
// of them does, and only then.
func (t *Tree) Revision(m *Merchant) string {
	h := sha256.New()
	for _, group := range [][]Module{t.Lib, m.Modules} {
		for _, mod := range group {
			fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(mod.Path), len(mod.Raw))
			h.Write(mod.Raw)
		}
	}
	for _, doc := range []map[string]any{t.Messages, m.Data} {
		b, _ := json.Marshal(doc) // map keys marshal sorted: stable
		h.Write(b)
	}
	return "policies@" + hex.EncodeToString(h.Sum(nil))[:7]
}
