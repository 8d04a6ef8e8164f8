// Package decisionlog keeps a durable record of every decision: when, for
// which merchant, under which policy revision, the (masked) request, the
// decision and the engine time. Records are written in batches (group
// commit) to SQLite, embedded, or to PostgreSQL, shared by several replicas.
package decisionlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Record is one logged decision.
type Record struct {
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	Merchant   string    `json:"merchant"`
	Revision   string    `json:"revision"`
	Outcome    string    `json:"outcome"`
	Remedy     string    `json:"remedy"`
	Currency   string    `json:"currency"`
	Refunded   int64     `json:"refunded"`
	// EngineNanos is the engine time of the decision.
	EngineNanos int64 `json:"engine_ns"`
	// Request is the DecisionRequest as masked by the merchant's policy data.
	Request json.RawMessage `json:"request"`
	// Decision is the decision document as answered.
	Decision json.RawMessage `json:"decision"`
}

// Mask says which request fields a merchant's records leave out (Drop) or
// keep only as a keyed hash (Hash): dotted paths into the request's
// objects, such as "customer.id". It comes from the merchant's policy data,
// under "decision_log". Free-text fields (FreeText) are left out too unless
// the merchant's data lists them under Keep. Replays evaluate the masked
// request, so a mask must not touch what the policy decides on.
type Mask struct {
	Drop []string `json:"drop,omitempty"`
	Hash []string `json:"hash,omitempty"`
	Keep []string `json:"keep,omitempty"`
}

// FreeText are the request's free-text fields: a customer may write
// anything there, so records leave them out unless a merchant keeps them.
var FreeText = []string{"claim.evidence"}

// ParseMask reads a mask from policy data (nil: no mask).
func ParseMask(v any) (Mask, error) {
	if v == nil {
		return Mask{}, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return Mask{}, err
	}
	var m Mask
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Mask{}, fmt.Errorf("decision_log: %w", err)
	}
	for _, p := range slices.Concat(m.Drop, m.Hash, m.Keep) {
		if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
			return Mask{}, fmt.Errorf("decision_log: bad field path %q", p)
		}
	}
	return m, nil
}

// Apply returns the request as JSON with the mask applied; hashed fields
// become "hmac-sha256:" and the HMAC-SHA-256 of their JSON under key, so
// that the same customer hashes alike across records yet nobody without the
// key can test a guess. The input is not modified: the objects on a masked
// path are copied.
func (m Mask) Apply(input map[string]any, key []byte) (json.RawMessage, error) {
	if len(key) == 0 {
		return nil, errors.New("decision log: no hash key")
	}
	out := input
	drop := func(map[string]any, string) (any, bool) { return nil, false }
	for _, p := range m.Drop {
		out = edit(out, strings.Split(p, "."), drop)
	}
	for _, p := range FreeText {
		if !slices.Contains(m.Keep, p) {
			out = edit(out, strings.Split(p, "."), drop)
		}
	}
	for _, p := range m.Hash {
		out = edit(out, strings.Split(p, "."), func(parent map[string]any, field string) (any, bool) {
			b, _ := json.Marshal(parent[field])
			mac := hmac.New(sha256.New, key)
			mac.Write(b)
			return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)), true
		})
	}
	return json.Marshal(out)
}

// edit copies obj along path and replaces (keep) or deletes the last key.
func edit(obj map[string]any, path []string, f func(parent map[string]any, key string) (any, bool)) map[string]any {
	v, ok := obj[path[0]]
	if !ok {
		return obj
	}
	cp := make(map[string]any, len(obj))
	for k, x := range obj {
		cp[k] = x
	}
	if len(path) == 1 {
		if nv, keep := f(obj, path[0]); keep {
			cp[path[0]] = nv
		} else {
			delete(cp, path[0])
		}
		return cp
	}
	child, isObj := v.(map[string]any)
	if !isObj {
		return obj
	}
	cp[path[0]] = edit(child, path[1:], f)
	return cp
}

// Query selects records, newest first.
type Query struct {
	Merchant string
	Outcome  string
	Since    time.Time // inclusive; zero: no bound
	Until    time.Time // exclusive; zero: no bound
	Limit    int
	// Merchants, if not nil, restricts the records to these merchants'
	// (an empty list selects nothing).
	Merchants []string
	// MaxBytes, if positive, bounds a page of List: records are added while
	// their requests and decisions together fit, the first one always.
	MaxBytes int
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string
}
