// Package bundles loads merchant policies for the engine. This file reads a
// policy source tree laid out as policies/ is:
//
//	lib/...                shared Rego helpers (package refunds.lib.*)
//	floor/...              the statutory floor (package refunds.floor.*) and its law data
//	messages/data.json     the message catalog, {"en": {code: text}, "fr": {...}}
//	merchants/<id>/...     one merchant: package refunds.merchants.<id> and its data
//	testing/...            helpers for the merchants' tests
//
// Test files (*_test.rego) are kept apart from the modules that serve: they
// travel in bundles and gate activation under --require-tests.
package bundles

import (
	"bytes"
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

// Module is one parsed Rego file. Path is relative to the tree or bundle
// root ("lib/dates/dates.rego"), the same in both.
type Module struct {
	Path   string
	Parsed *ast.Module
	Raw    []byte
}

// Merchant is one merchant's part of a tree: its modules, its tests and its
// data (the content of merchants/<id>/data.json, served at
// data.merchants.<id>).
type Merchant struct {
	ID      string
	Modules []Module
	Tests   []Module
	Data    map[string]any
}

// Tree is a loaded policy source tree.
type Tree struct {
	Dir       string
	Lib       []Module // the lib's modules and the floor's
	LibTests  []Module // their tests and the testing helpers
	Messages  map[string]any
	Floor     map[string]any // the floor's law data
	Merchants map[string]*Merchant
	// Cases are each merchant's case requests, by name, from CasesDir
	// (tests/cases beside the tree, when there is one).
	Cases    map[string]map[string]any
	CasesDir string
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
	lib, libTests, _, err := load(dir, "lib")
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: lib: %w", dir, err)
	}
	if len(lib) == 0 {
		return nil, fmt.Errorf("policy tree %s: lib: no Rego modules", dir)
	}
	floor, floorTests, floorData, err := load(dir, "floor")
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: floor: %w", dir, err)
	}
	lib = append(lib, floor...)
	libTests = append(libTests, floorTests...)
	sortModules(lib)
	_, helpers, _, err := load(dir, "testing")
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: testing: %w", dir, err)
	}
	_, _, messages, err := load(dir, "messages")
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: messages: %w", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "merchants"))
	if err != nil {
		return nil, fmt.Errorf("policy tree %s: %w", dir, err)
	}
	t := &Tree{Dir: dir, Lib: lib, LibTests: append(libTests, helpers...), Messages: messages, Floor: floorData,
		Merchants: map[string]*Merchant{}, Errors: map[string]error{}}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		m, err := loadMerchant(dir, id)
		if err != nil {
			t.Errors[id] = err
			continue
		}
		t.Merchants[id] = m
	}
	if len(t.Merchants)+len(t.Errors) == 0 {
		return nil, fmt.Errorf("policy tree %s: no merchant under merchants/", dir)
	}
	t.CasesDir = filepath.Join(dir, "..", "tests", "cases")
	if t.Cases, err = loadCases(t.CasesDir); err != nil {
		return nil, fmt.Errorf("policy tree %s: %w", dir, err)
	}
	return t, nil
}

// loadCases reads dir/<merchant>/*.json, each a case with a "request": the
// requests by merchant and case name. A missing dir has none.
func loadCases(dir string) (map[string]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c struct {
			Request map[string]any `json:"request"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&c); err != nil || c.Request == nil {
			return nil, fmt.Errorf("case %s: no request object (%v)", f, err)
		}
		merchant := filepath.Base(filepath.Dir(f))
		if out[merchant] == nil {
			out[merchant] = map[string]any{}
		}
		out[merchant][strings.TrimSuffix(filepath.Base(f), ".json")] = c.Request
	}
	return out, nil
}

func loadMerchant(root, id string) (*Merchant, error) {
	if !MerchantIDPattern.MatchString(id) {
		return nil, fmt.Errorf("merchant id %q: must match %s", id, MerchantIDPattern)
	}
	rel := filepath.Join("merchants", id)
	modules, tests, data, err := load(root, rel)
	if err != nil {
		return nil, err
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("merchant %s: no Rego modules in %s", id, filepath.Join(root, rel))
	}
	return &Merchant{ID: id, Modules: modules, Tests: tests, Data: data}, nil
}

// load reads the Rego modules, test modules and data files below root/rel
// with OPA's loader. A missing directory loads nothing.
func load(root, rel string) (modules, tests []Module, data map[string]any, err error) {
	dir := filepath.Join(root, rel)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, map[string]any{}, nil
	}
	res, err := loader.NewFileLoader().WithProcessAnnotation(true).All([]string{dir})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, f := range res.Modules {
		path, err := filepath.Rel(root, f.Name)
		if err != nil {
			return nil, nil, nil, err
		}
		m := Module{Path: filepath.ToSlash(path), Parsed: f.Parsed, Raw: f.Raw}
		if strings.HasSuffix(path, "_test.rego") {
			tests = append(tests, m)
		} else {
			modules = append(modules, m)
		}
	}
	sortModules(modules)
	sortModules(tests)
	return modules, tests, res.Documents, nil
}

func sortModules(ms []Module) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Path < ms[j].Path })
}

// Source returns everything merchant id is compiled from, nil if the tree
// has no such merchant.
func (t *Tree) Source(id string) *Source {
	m := t.Merchants[id]
	if m == nil {
		return nil
	}
	s := &Source{
		Merchant: id,
		Origin:   filepath.Join(t.Dir, "merchants", id),
		Lib:      t.Lib,
		Modules:  m.Modules,
		Tests:    append(append([]Module{}, t.LibTests...), m.Tests...),
		Data:     m.Data,
		Messages: t.Messages,
		Floor:    t.Floor,
		Cases:    t.Cases[id],
	}
	sortModules(s.Tests)
	s.Revision = "policies@" + s.ContentHash()
	return s
}

// ContentHash is a short hash of what the source serves: the shared lib, the
// catalog and the merchant's own modules and data (tests excluded). It
// changes whenever any of them does, and only then.
func (s *Source) ContentHash() string {
	h := sha256.New()
	for _, group := range [][]Module{s.Lib, s.Modules} {
		for _, mod := range group {
			fmt.Fprintf(h, "%s\x00%d\x00", mod.Path, len(mod.Raw))
			h.Write(mod.Raw)
		}
	}
	for _, doc := range []map[string]any{s.Messages, s.Data} {
		b, _ := json.Marshal(doc) // map keys marshal sorted: stable
		h.Write(b)
	}
	if len(s.Floor) > 0 {
		b, _ := json.Marshal(s.Floor)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:7]
}
