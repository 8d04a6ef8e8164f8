// Package tests holds refundd's end-to-end tests and the case set they share
// with the engine tests: tests/cases/<merchant>/*.json, each a request and
// the decision the merchant's policy must give.
package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/refundd/refundd/engine"
)

// Case is one request and its expected decision.
type Case struct {
	Merchant    string
	Name        string
	Description string          `json:"description"`
	Request     json.RawMessage `json:"request"`
	Want        Summary         `json:"want"`
}

// Summary is a decision without its id, revision and message texts: what a
// case asserts, whole.
type Summary = engine.Summary

// Summarize reads a decision document (contract section 3) as a Summary.
func Summarize(decision []byte) (Summary, error) {
	var d engine.Decision
	if err := json.Unmarshal(decision, &d); err != nil {
		return Summary{}, err
	}
	return d.Summary(), nil
}

// Dir returns the directory of this file, so callers find cases and
// policies wherever the test runs from.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// PoliciesDir is the project's policy tree.
func PoliciesDir() string { return filepath.Join(Dir(), "..", "policies") }

// MerchantIDs lists the merchants of the policy tree, sorted: tests count
// merchants with it, so that adding one keeps them green.
func MerchantIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(PoliciesDir(), "merchants"))
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// LoadCases reads every case, sorted by merchant and name.
func LoadCases() ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(Dir(), "cases", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no case under %s", filepath.Join(Dir(), "cases"))
	}
	sort.Strings(files)
	cases := make([]Case, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := Case{Merchant: filepath.Base(filepath.Dir(f)), Name: filepath.Base(f)}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(c.Request) == 0 || c.Want.Outcome == "" {
			return nil, fmt.Errorf("%s: a case needs a request and a want", f)
		}
		cases = append(cases, c)
	}
	return cases, nil
}
