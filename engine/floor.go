package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/request"
)

// The values of the legal_floor section (contract section 6.4).
var (
	floorModes        = []string{"report", "refer", "enforce"}
	floorRights       = []string{"withdrawal", "conformity", "renewal_termination"}
	floorStatuses     = []string{"applies", "excluded", "outside_window", "needs_facts", "needs_human", "contested", "not_applicable"}
	floorComparisons  = []string{"below", "meets", "indeterminate", "not_applicable"}
	floorAmountKinds  = []string{"exact", "upper_bound", "at_least"}
	floorJurisdiction = []string{"FR", "BR"}
)

// Floor is a decision's legal_floor section (contract section 6.4). It is
// kept as the JSON it is answered and logged as, written once, in the
// decision's language, as it is read from the policy's result; Mode and
// Comparison are what the server counts decisions by.
type Floor struct {
	Mode, Comparison string
	doc              []byte
}

// MarshalJSON gives the section's JSON: compact, members sorted by key.
func (f *Floor) MarshalJSON() ([]byte, error) { return f.doc, nil }

// UnmarshalJSON keeps a section read back from a decision document.
func (f *Floor) UnmarshalJSON(b []byte) error {
	var top struct{ Mode, Comparison string }
	if err := json.Unmarshal(b, &top); err != nil {
		return err
	}
	var doc bytes.Buffer
	if err := json.Compact(&doc, b); err != nil {
		return err
	}
	f.Mode, f.Comparison, f.doc = top.Mode, top.Comparison, doc.Bytes()
	return nil
}

// Doc is the section decoded, its numbers as json.Number.
func (f *Floor) Doc() (map[string]any, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(f.doc))
	dec.UseNumber()
	return doc, dec.Decode(&doc)
}

// readFloor checks the decision's legal_floor section (known mode,
// jurisdiction, statuses, comparisons, codes with texts, and no grant or
// shortfall above what was paid: the claimed lines, or a subscription's
// last payment) and writes it, each right's message in texts' version
// where texts has one for its code.
func readFloor[N node[N]](lf N, req *request.Request, texts map[string]string) (*Floor, error) {
	if !lf.IsObject() {
		return nil, errors.New("legal_floor is not an object")
	}
	if !stringKeyed(lf) { // read as its JSON, which topdown gives
		doc, err := lf.JSON()
		if err != nil {
			return nil, err
		}
		return readFloor(jsonNode{v: doc, ok: true}, req, texts)
	}
	ceiling := max(req.Claimed, lastPayment(req))
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("legal_floor."+format, args...)) }
	oneOf := func(m N, in at, key string, allowed []string) string {
		s, _ := m.Get(key).String()
		if !slices.Contains(allowed, s) {
			bad("%s %v is not one of %v", in.path(key), shown(m.Get(key)), allowed)
		}
		return s
	}
	amount := func(m N, in at, key string) {
		if i, ok := m.Get(key).Int(); !ok || i < 0 || i > ceiling {
			bad("%s %v is not an amount from 0 to the %d paid", in.path(key), shown(m.Get(key)), ceiling)
		}
	}
	if v, _ := lf.Get("version").String(); v == "" {
		bad("version is missing")
	}
	f := &Floor{Mode: oneOf(lf, top, "mode", floorModes)}
	if j := lf.Get("jurisdiction"); j.Defined() && !j.IsNull() {
		oneOf(lf, top, "jurisdiction", floorJurisdiction)
	}
	f.Comparison = oneOf(lf, top, "comparison", floorComparisons)
	amount(lf, top, "shortfall")
	rights := lf.Get("rights")
	if rights.Len() < 0 {
		bad("rights is not a list")
	}
	for i := range rights.Len() {
		r, in := rights.Index(i), at{list: "rights", i: i}
		if !r.IsObject() {
			bad("rights[%d] is not an object", i)
			continue
		}
		right := oneOf(r, in, "right", floorRights)
		status := oneOf(r, in, "status", floorStatuses)
		oneOf(r, in, "comparison", floorComparisons)
		want := "floor_" + right
		if status != "applies" {
			want += "_" + status
		}
		if c, _ := r.Get("code").String(); c != want {
			bad("%s %q is not %q, the code of its right and status", in.path("code"), c, want)
		}
		if m, _ := r.Get("message").String(); m == "" {
			bad("%s is missing", in.path("message"))
		}
		if g := r.Get("grants"); g.IsObject() {
			in.sub = "grants."
			amount(g, in, "amount")
			oneOf(g, in, "amount_kind", floorAmountKinds)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	buf := floorBuffers.Get().(*[]byte)
	defer floorBuffers.Put(buf)
	doc, err := appendFloor((*buf)[:0], lf, texts)
	if err != nil {
		return nil, fmt.Errorf("legal_floor: %w", err)
	}
	*buf = doc
	f.doc = bytes.Clone(doc)
	return f, nil
}

// floorBuffers hold the sections being written, each then copied at its
// size.
var floorBuffers = sync.Pool{New: func() any { return new([]byte) }}

// appendFloor appends the legal_floor section lf as JSON, each right's
// message in texts' version where texts has one for its code.
func appendFloor[N node[N]](b []byte, lf N, texts map[string]string) ([]byte, error) {
	if len(texts) == 0 {
		return appendNode(b, lf, nil)
	}
	message := func(b []byte, right N, key string, _ N) ([]byte, bool, error) {
		if key != "message" {
			return b, false, nil
		}
		code, _ := right.Get("code").String()
		if t := texts[code]; t != "" {
			return decisionlog.AppendString(b, t), true, nil
		}
		return b, false, nil
	}
	rights := func(b []byte, _ N, key string, v N) ([]byte, bool, error) {
		if key != "rights" || v.Len() < 0 {
			return b, false, nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendNode(b, v.Index(i), message); err != nil {
				return b, true, err
			}
		}
		return append(b, ']'), true, nil
	}
	return appendNode(b, lf, rights)
}

// stringKeyed tells whether the objects texts are put in place in (the
// section, its rights) have only string keys, so that they are written
// member by member (appendNode writes any other object from its JSON).
func stringKeyed[N node[N]](lf N) bool {
	if _, n := lf.Members(); n < 0 {
		return false
	}
	rights := lf.Get("rights")
	for i := range rights.Len() {
		if r := rights.Index(i); r.IsObject() {
			if _, n := r.Members(); n < 0 {
				return false
			}
		}
	}
	return true
}

// shown is a member as an error message shows it: its JSON value.
func shown[N node[N]](v N) any {
	doc, _ := v.JSON()
	return doc
}

// lastPayment is subscription.last_payment_amount, 0 when absent.
func lastPayment(req *request.Request) int64 {
	sub, _ := req.Input["subscription"].(map[string]any)
	n, ok := sub["last_payment_amount"].(json.Number)
	if !ok {
		return 0 // no error made (and dropped) for the claims without one
	}
	i, _ := strconv.ParseInt(string(n), 10, 64)
	return i
}
