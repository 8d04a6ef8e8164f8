package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	LegalFloor map[string]any `json:"legal_floor,omitempty"`
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
	doc, err := json.Marshal(&lean)
	if err != nil {
		return decisionlog.Record{}, err
	}
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

// parseDecision reads the policy's document and checks it against the
// contract: known outcome and remedy, at least one reason, the request's
// currency, and no more money than was paid for the claimed lines.
func parseDecision(v any, req *request.Request) (*Decision, error) {
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decision is %T, not an object", v)
	}
	p := &parser{}
	d := &Decision{
		Outcome:     p.oneOf(doc, "outcome", Outcomes),
		Remedy:      p.oneOf(doc, "remedy", Remedies),
		Reasons:     p.explained(doc, "reasons"),
		Obligations: p.explained(doc, "obligations"),
	}
	if refund, ok := doc["refund"].(map[string]any); ok {
		d.Refund.Amount = p.amount(refund, at{list: "refund.", i: -1}, "amount")
		d.Refund.Currency = p.str(refund, at{list: "refund.", i: -1}, "currency")
		items, ok := refund["withheld"].([]any)
		if !ok {
			p.fail("refund.withheld is not a list")
		}
		d.Refund.Withheld = make([]Withheld, 0, len(items))
		for i, it := range items {
			w, _ := it.(map[string]any)
			in := at{list: "refund.withheld", i: i}
			d.Refund.Withheld = append(d.Refund.Withheld, Withheld{
				LineID: p.str(w, in, "line_id"),
				Amount: p.amount(w, in, "amount"),
				Code:   p.str(w, in, "code"),
			})
		}
	} else {
		p.fail("refund is missing")
	}
	if p.err != nil {
		return nil, p.err
	}
	lf, has := doc["legal_floor"]
	return finish(d, lf, has, req)
}

// finish checks a decision read from the policy's document: its
// legal_floor section lf, when it has one (has), and its reasons, currency
// and amount against the request.
func finish(d *Decision, lf any, has bool, req *request.Request) (*Decision, error) {
	if has {
		section, err := checkFloor(lf, req)
		if err != nil {
			return nil, err
		}
		d.LegalFloor = section
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

// parseResult is parseDecision of the compiled evaluator's result, read
// from its values straight into the Decision (only the legal_floor
// section is written as JSON, the form its checks and localisation read).
// A result that is not a well-formed decision is written as JSON whole and
// read by parseDecision, so that it is refused with the same error.
func parseResult(r ireval.Result, req *request.Request) (*Decision, error) {
	d, ok := readResult(r)
	if !ok {
		v, err := r.JSON()
		if err != nil {
			return nil, err
		}
		return parseDecision(v, req)
	}
	section := r.Get("legal_floor")
	var lf any
	if section.Defined() {
		var err error
		if lf, err = section.JSON(); err != nil {
			return nil, err
		}
	}
	return finish(d, lf, section.Defined(), req)
}

// readResult reads a well-formed decision (what parseDecision accepts
// before its checks against the request); false for anything else.
func readResult(r ireval.Result) (*Decision, bool) {
	outcome, ok1 := r.Get("outcome").String()
	remedy, ok2 := r.Get("remedy").String()
	reasons, ok3 := readExplained(r.Get("reasons"))
	obligations, ok4 := readExplained(r.Get("obligations"))
	refund := r.Get("refund")
	amount, ok5 := refund.Get("amount").Int()
	currency, ok6 := refund.Get("currency").String()
	withheld := refund.Get("withheld")
	n := withheld.Len()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !slices.Contains(Outcomes, outcome) ||
		!slices.Contains(Remedies, remedy) || amount < 0 || currency == "" || n < 0 {
		return nil, false
	}
	d := &Decision{Outcome: outcome, Remedy: remedy, Reasons: reasons, Obligations: obligations,
		Refund: Refund{Amount: amount, Currency: currency, Withheld: make([]Withheld, 0, n)}}
	for i := range n {
		w := withheld.Index(i)
		line, ok1 := w.Get("line_id").String()
		amount, ok2 := w.Get("amount").Int()
		code, ok3 := w.Get("code").String()
		if !ok1 || !ok2 || !ok3 || line == "" || amount < 0 || code == "" {
			return nil, false
		}
		d.Refund.Withheld = append(d.Refund.Withheld, Withheld{LineID: line, Amount: amount, Code: code})
	}
	return d, true
}

// readExplained reads a list of reasons or obligations, each with a code
// and a message.
func readExplained(r ireval.Result) ([]Explained, bool) {
	n := r.Len()
	if n < 0 {
		return nil, false
	}
	out := make([]Explained, 0, n)
	for i := range n {
		e := r.Index(i)
		code, ok1 := e.Get("code").String()
		message, ok2 := e.Get("message").String()
		if !ok1 || !ok2 || code == "" || message == "" {
			return nil, false
		}
		out = append(out, Explained{Code: code, Message: message})
	}
	return out, true
}

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

func (p *parser) str(m map[string]any, in at, key string) string {
	s, ok := m[key].(string)
	if !ok || s == "" {
		p.fail("%s is not a non-empty string", in.path(key))
	}
	return s
}

func (p *parser) oneOf(m map[string]any, key string, allowed []string) string {
	s := p.str(m, top, key)
	if s != "" && !slices.Contains(allowed, s) {
		p.fail("%s %q is not one of %v", key, s, allowed)
	}
	return s
}

func (p *parser) amount(m map[string]any, in at, key string) int64 {
	n, ok := m[key].(json.Number)
	if !ok {
		p.fail("%s is not a number", in.path(key))
		return 0
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || i < 0 {
		p.fail("%s %s is not a whole, non-negative amount", in.path(key), n)
	}
	return i
}

func (p *parser) explained(m map[string]any, key string) []Explained {
	items, ok := m[key].([]any)
	if !ok {
		p.fail("%s is not a list", key)
		return nil
	}
	out := make([]Explained, 0, len(items))
	for i, it := range items {
		e, _ := it.(map[string]any)
		in := at{list: key, i: i}
		out = append(out, Explained{Code: p.str(e, in, "code"), Message: p.str(e, in, "message")})
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

// localize puts the texts of lang in place of the policy's English ones,
// where the catalog has them.
func (c catalog) localize(d *Decision, lang string) {
	texts := c[lang]
	if lang == "en" || texts == nil {
		return
	}
	for _, list := range [][]Explained{d.Reasons, d.Obligations} {
		for i := range list {
			if t, ok := texts[list[i].Code]; ok {
				list[i].Message = t
			}
		}
	}
	if d.LegalFloor != nil {
		localizeFloor(d.LegalFloor, texts)
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
		var lf map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // amounts kept as written
		if err := dec.Decode(&lf); err != nil {
			return nil, fmt.Errorf("logged decision legal_floor: %w", err)
		}
		localizeFloor(lf, texts)
		fields["legal_floor"], _ = json.Marshal(lf)
	}
	return json.Marshal(fields)
}
