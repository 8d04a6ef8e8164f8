package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine/ireval"
	"github.com/refundd/refundd/request"
)

// Decision is the decision document of contract section 3.
type Decision struct {
	DecisionID  string      `json:"decision_id"`
	Merchant    string      `json:"merchant"`
	Revision    string      `json:"revision"`
	Outcome     string      `json:"outcome"`
	Remedy      string      `json:"remedy"`
	Refund      Refund      `json:"refund"`
	Reasons     []Explained `json:"reasons"`
	Obligations []Explained `json:"obligations"`
	// LegalFloor is what consumer law grants for the claim beside the
	// merchant's decision (contract section 6.4); absent in floor mode off.
	LegalFloor *Floor `json:"legal_floor,omitempty"`
	// Explanation lists the policy rules that fired, when asked for.
	Explanation []Fired `json:"explanation,omitempty"`
	// Duration is the engine time the decision took.
	Duration time.Duration `json:"-"`
	// Evaluator is what decided: EvaluatorTopdown or EvaluatorCompiled.
	Evaluator string `json:"-"`
	// Mask is what the merchant's decision log leaves out of the request.
	Mask decisionlog.Mask `json:"-"`
}

// Fired is a policy rule that produced a value while deciding.
type Fired struct {
	Rule     string `json:"rule"`
	Location string `json:"location"`
}

// Summary is what a decision decides, without its id, revision and message
// texts: what replays and tests compare.
type Summary struct {
	Outcome     string   `json:"outcome"`
	Remedy      string   `json:"remedy"`
	Refund      Refund   `json:"refund"`
	Reasons     []string `json:"reasons"`
	Obligations []string `json:"obligations"`
}

// Record is the decision's decision-log record, made at time at: the
// request masked as the merchant's policy data says, and the decision
// document as answered (without any explanation). Hashed fields are keyed
// with hashKey.
func (d *Decision) Record(req *request.Request, at time.Time, hashKey []byte) (decisionlog.Record, error) {
	masked, err := d.Mask.Encode(req.Input, hashKey) // masked while encoded
	if err != nil {
		return decisionlog.Record{}, err
	}
	lean := *d
	lean.Explanation = nil
	doc := lean.AppendJSON(make([]byte, 0, 512+len(masked)))
	return decisionlog.Record{
		DecisionID: d.DecisionID, Time: at.UTC(), Merchant: d.Merchant, Revision: d.Revision,
		Outcome: d.Outcome, Remedy: d.Remedy, Currency: d.Refund.Currency, Refunded: d.Refund.Amount,
		EngineNanos: d.Duration.Nanoseconds(), Request: masked, Decision: doc,
	}, nil
}

// Summary returns the decision's Summary.
func (d *Decision) Summary() Summary {
	s := Summary{Outcome: d.Outcome, Remedy: d.Remedy, Refund: d.Refund, Reasons: []string{}, Obligations: []string{}}
	if s.Refund.Withheld == nil {
		s.Refund.Withheld = []Withheld{}
	}
	for _, r := range d.Reasons {
		s.Reasons = append(s.Reasons, r.Code)
	}
	for _, o := range d.Obligations {
		s.Obligations = append(s.Obligations, o.Code)
	}
	return s
}

// Refund is the money a decision sends back, and what it keeps.
type Refund struct {
	Amount   int64      `json:"amount"`
	Currency string     `json:"currency"`
	Withheld []Withheld `json:"withheld"`
}

// Withheld is a claimed line, or part of one, kept back.
type Withheld struct {
	LineID string `json:"line_id"`
	Amount int64  `json:"amount"`
	Code   string `json:"code"`
}

// Explained is a reason or an obligation.
type Explained struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Outcomes and Remedies of contract section 3.
var (
	Outcomes = []string{"approve", "partial", "deny", "refer"}
	Remedies = []string{"refund", "replacement", "repair", "paid_repair", "exchange",
		"cancel_renewal", "cancel_order", "redeliver", "support", "none"}
)

// parseDecision reads the policy's document, decoded JSON (topdown's), and
// checks it against the contract: known outcome and remedy, at least one
// reason, the request's currency, and no more money than was paid for the
// claimed lines. The legal_floor section is written as JSON, its rights'
// messages in texts' versions where texts has them (nil: as the policy
// wrote them).
func parseDecision(v any, req *request.Request, texts map[string]string) (*Decision, error) {
	return readDecision(jsonNode{v: v, ok: true}, req, texts)
}

// parseResult is parseDecision of the compiled evaluator's result, read
// from its values straight into the Decision, and its legal_floor section
// into its JSON.
func parseResult(r ireval.Result, req *request.Request, texts map[string]string) (*Decision, error) {
	return readDecision(r, req, texts)
}

// node is a member of a policy's document as the parser reads it: decoded
// JSON (jsonNode), or the compiled evaluator's result read in place
// (ireval.Result). Get, Index and JSON give an undefined node, or nil,
// for what is not there.
type node[N any] interface {
	Defined() bool
	IsNull() bool
	IsObject() bool
	Get(key string) N
	// Members is an object's number of members, if its keys are all
	// strings, and the node Key and Value read the i-th of them from, in
	// the order of their keys; -1 for anything else.
	Members() (N, int)
	Key(i int) string
	Value(i int) N
	AppendNumber(b []byte) ([]byte, bool) // a number's JSON text, appended
	String() (string, bool)
	Bool() (bool, bool)
	Int() (int64, bool) // a number whose JSON text is an int64
	Len() int           // of a list; -1 for anything else
	Index(i int) N
	JSON() (any, error)
}

func readDecision[N node[N]](doc N, req *request.Request, texts map[string]string) (*Decision, error) {
	if !doc.IsObject() {
		v, _ := doc.JSON()
		return nil, fmt.Errorf("decision is %T, not an object", v)
	}
	p := &parser{}
	d := &Decision{
		Outcome:     oneOf(p, doc, "outcome", Outcomes),
		Remedy:      oneOf(p, doc, "remedy", Remedies),
		Reasons:     explained(p, doc, "reasons"),
		Obligations: explained(p, doc, "obligations"),
	}
	if refund := doc.Get("refund"); refund.IsObject() {
		d.Refund.Amount = amount(p, refund, at{list: "refund.", i: -1}, "amount")
		d.Refund.Currency = str(p, refund, at{list: "refund.", i: -1}, "currency")
		items := refund.Get("withheld")
		n := items.Len()
		if n < 0 {
			p.fail("refund.withheld is not a list")
		}
		d.Refund.Withheld = make([]Withheld, 0, max(n, 0))
		for i := range n {
			w, in := items.Index(i), at{list: "refund.withheld", i: i}
			d.Refund.Withheld = append(d.Refund.Withheld, Withheld{
				LineID: str(p, w, in, "line_id"),
				Amount: amount(p, w, in, "amount"),
				Code:   str(p, w, in, "code"),
			})
		}
	} else {
		p.fail("refund is missing")
	}
	if p.err != nil {
		return nil, p.err
	}
	if section := doc.Get("legal_floor"); section.Defined() {
		var err error
		if d.LegalFloor, err = readFloor(section, req, texts); err != nil {
			return nil, err
		}
	}
	switch {
	case len(d.Reasons) == 0:
		return nil, errors.New("decision gives no reason")
	case d.Refund.Currency != req.Currency:
		return nil, fmt.Errorf("refund currency %q is not the order's %q", d.Refund.Currency, req.Currency)
	case d.Refund.Amount > req.Claimed:
		return nil, fmt.Errorf("refund of %d exceeds the %d paid for the claimed lines", d.Refund.Amount, req.Claimed)
	}
	return d, nil
}

// jsonNode is a member of a decoded JSON document; ok: it is there. keys
// are an object's keys sorted, once Members has read them.
type jsonNode struct {
	v    any
	ok   bool
	keys []string
}

func (n jsonNode) Defined() bool { return n.ok }

func (n jsonNode) IsNull() bool { return n.ok && n.v == nil }

func (n jsonNode) Members() (jsonNode, int) {
	m, ok := n.v.(map[string]any)
	if !ok {
		return n, -1
	}
	n.keys = slices.Sorted(maps.Keys(m))
	return n, len(m)
}

func (n jsonNode) Key(i int) string { return n.keys[i] }

func (n jsonNode) Value(i int) jsonNode {
	return jsonNode{v: n.v.(map[string]any)[n.keys[i]], ok: true}
}

func (n jsonNode) AppendNumber(b []byte) ([]byte, bool) {
	num, ok := n.v.(json.Number)
	return append(b, num...), ok
}

func (n jsonNode) Bool() (bool, bool) {
	b, ok := n.v.(bool)
	return b, ok
}

func (n jsonNode) IsObject() bool {
	_, ok := n.v.(map[string]any)
	return ok
}

func (n jsonNode) Get(key string) jsonNode {
	v, ok := n.v.(map[string]any)[key]
	return jsonNode{v: v, ok: ok}
}

func (n jsonNode) String() (string, bool) {
	s, ok := n.v.(string)
	return s, ok
}

func (n jsonNode) Int() (int64, bool) {
	num, ok := n.v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(num), 10, 64)
	return i, err == nil
}

func (n jsonNode) Len() int {
	if l, ok := n.v.([]any); ok {
		return len(l)
	}
	return -1
}

func (n jsonNode) Index(i int) jsonNode {
	l, _ := n.v.([]any)
	if i < 0 || i >= len(l) {
		return jsonNode{}
	}
	return jsonNode{v: l[i], ok: true}
}

func (n jsonNode) JSON() (any, error) { return n.v, nil }

type parser struct{ err error }

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("malformed decision: "+format, args...)
	}
}

// at is where a member of the document is, so that its path is written
// only for an error: in an element of a list (list[i].sub), or, i < 0,
// under the prefix list.
type at struct {
	list string
	i    int
	sub  string
}

var top = at{i: -1}

func (a at) path(key string) string {
	if a.i < 0 {
		return a.list + key
	}
	return fmt.Sprintf("%s[%d].%s%s", a.list, a.i, a.sub, key)
}

func str[N node[N]](p *parser, m N, in at, key string) string {
	s, ok := m.Get(key).String()
	if !ok || s == "" {
		p.fail("%s is not a non-empty string", in.path(key))
	}
	return s
}

func oneOf[N node[N]](p *parser, m N, key string, allowed []string) string {
	s := str(p, m, top, key)
	if s != "" && !slices.Contains(allowed, s) {
		p.fail("%s %q is not one of %v", key, s, allowed)
	}
	return s
}

func amount[N node[N]](p *parser, m N, in at, key string) int64 {
	v := m.Get(key)
	if i, ok := v.Int(); ok && i >= 0 {
		return i
	}
	if n, ok := v.AppendNumber(nil); ok {
		p.fail("%s %s is not a whole, non-negative amount", in.path(key), n)
	} else {
		p.fail("%s is not a number", in.path(key))
	}
	return 0
}

func explained[N node[N]](p *parser, m N, key string) []Explained {
	items := m.Get(key)
	n := items.Len()
	if n < 0 {
		p.fail("%s is not a list", key)
		return nil
	}
	out := make([]Explained, 0, n)
	for i := range n {
		e, in := items.Index(i), at{list: key, i: i}
		out = append(out, Explained{Code: str(p, e, in, "code"), Message: str(p, e, in, "message")})
	}
	return out
}

// catalog holds message texts by language and code.
type catalog map[string]map[string]string

func newCatalog(doc map[string]any) (catalog, error) {
	c := catalog{}
	for lang, texts := range doc {
		m, ok := texts.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("messages.%s is not an object", lang)
		}
		c[lang] = make(map[string]string, len(m))
		for code, t := range m {
			s, ok := t.(string)
			if !ok {
				return nil, fmt.Errorf("messages.%s.%s is not a string", lang, code)
			}
			c[lang][code] = s
		}
	}
	return c, nil
}

// texts is the catalog's texts in lang, nil for English (the policy's
// own) or a language it does not have.
func (c catalog) texts(lang string) map[string]string {
	if lang == "en" {
		return nil
	}
	return c[lang]
}

// localize puts the texts of lang in place of the policy's English ones in
// the reasons and obligations, where the catalog has them (the legal_floor
// section is written in lang as it is read).
func (c catalog) localize(d *Decision, lang string) {
	texts := c.texts(lang)
	for _, list := range [][]Explained{d.Reasons, d.Obligations} {
		for i := range list {
			if t, ok := texts[list[i].Code]; ok {
				list[i].Message = t
			}
		}
	}
}

// Localize returns a logged decision document with its reasons',
// obligations' and statutory rights' messages in lang ("en" or "fr"), taken
// from the merchant's active catalog by their codes; every other field is
// kept as logged. A code the catalog no longer has keeps its logged text.
func (e *Engine) Localize(merchantID string, doc []byte, lang string) ([]byte, error) {
	m := e.active.Load().merchants[merchantID]
	if m == nil {
		return nil, ErrUnknownMerchant
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		return nil, fmt.Errorf("logged decision: %w", err)
	}
	texts := m.messages[lang]
	for _, key := range []string{"reasons", "obligations"} {
		raw, ok := fields[key]
		if !ok {
			continue
		}
		var list []Explained
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("logged decision %s: %w", key, err)
		}
		for i := range list {
			if t, ok := texts[list[i].Code]; ok {
				list[i].Message = t
			}
		}
		fields[key], _ = json.Marshal(list)
	}
	if raw, ok := fields["legal_floor"]; ok {
		var lf any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // amounts kept as written
		if err := dec.Decode(&lf); err != nil {
			return nil, fmt.Errorf("logged decision legal_floor: %w", err)
		}
		if _, ok := lf.(map[string]any); !ok {
			return nil, errors.New("logged decision legal_floor is not an object")
		}
		doc, err := appendFloor(nil, jsonNode{v: lf, ok: true}, texts)
		if err != nil {
			return nil, fmt.Errorf("logged decision legal_floor: %w", err)
		}
		fields["legal_floor"] = doc
	}
	return json.Marshal(fields)
}
