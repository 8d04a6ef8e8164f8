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

// FloorExample is a worked example of the statutory floor: a request to a
// launch merchant, the merchant's own decision, and the legal_floor the
// decision must carry (tests/floor_examples.json).
type FloorExample struct {
	Name     string          `json:"name"`
	Merchant string          `json:"merchant"`
	Request  json.RawMessage `json:"request"`
	Want     FloorSummary    `json:"want"`
}

// FloorSummary is what a floor example asserts.
type FloorSummary struct {
	MerchantOutcome string            `json:"merchant_outcome"`
	MerchantReason  string            `json:"merchant_reason,omitempty"`
	Comparison      string            `json:"comparison"`
	Shortfall       int64             `json:"shortfall"`
	Rights          map[string]string `json:"rights"` // right: status
}

// SummarizeFloor reads a decision document's outcome, first reason and
// legal_floor as a FloorSummary (MerchantReason only when want names one).
func SummarizeFloor(decision []byte, want FloorSummary) (FloorSummary, error) {
	var d struct {
		Outcome    string
		Reasons    []struct{ Code string }
		LegalFloor *struct {
			Comparison string
			Shortfall  int64
			Rights     []struct{ Right, Status string }
		} `json:"legal_floor"`
	}
	if err := json.Unmarshal(decision, &d); err != nil {
		return FloorSummary{}, err
	}
	if d.LegalFloor == nil {
		return FloorSummary{}, fmt.Errorf("no legal_floor in %s", decision)
	}
	got := FloorSummary{MerchantOutcome: d.Outcome, Comparison: d.LegalFloor.Comparison, Shortfall: d.LegalFloor.Shortfall, Rights: map[string]string{}}
	if want.MerchantReason != "" && len(d.Reasons) > 0 {
		got.MerchantReason = d.Reasons[0].Code
	}
	for _, r := range d.LegalFloor.Rights {
		got.Rights[r.Right] = r.Status
	}
	return got, nil
}

// LoadFloorExamples reads tests/floor_examples.json.
func LoadFloorExamples() ([]FloorExample, error) {
	raw, err := os.ReadFile(filepath.Join(Dir(), "floor_examples.json"))
	if err != nil {
		return nil, err
	}
	var out []FloorExample
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("floor_examples.json: %w", err)
	}
	return out, nil
}
