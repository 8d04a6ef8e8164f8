// Package request decodes and validates a DecisionRequest (contract section
// 2). It reports every problem it finds, each with the path of its field,
// so a client can fix a request in one round trip.
package request

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MaxAmount bounds an amount in minor units (10^15: ten trillion in major
// units) so that sums of amounts never overflow.
const MaxAmount = 1_000_000_000_000_000

// Request is a validated DecisionRequest.
type Request struct {
	// Input is the request as decoded, numbers kept as json.Number; it is
	// what the policy sees as input.
	Input map[string]any
	// Currency is order.currency.
	Currency string
	// Claimed is the sum paid for the claimed lines: no refund may exceed it.
	Claimed int64
}

// FieldError is one problem with one field. Rule names the kind of problem
// and Args its details; Message renders it in a language.
type FieldError struct {
	Field string
	Rule  string
	Args  []string
}

// ValidationError lists the problems of a request: every one, up to the
// bound Limits.Errors, and the count of the rest.
type ValidationError struct {
	Problems []FieldError
	Omitted  int
}

// Limits bound what one request may hold, so that no request's work grows
// without bound: the lines of an order, the claim's line_ids, the strings
// of evidence and of other string arrays, and the problems listed.
type Limits struct {
	Lines, LineIDs, Strings, Errors int
}

// DefaultLimits are the limits unless SetLimits says otherwise.
var DefaultLimits = Limits{Lines: 1000, LineIDs: 1000, Strings: 100, Errors: 100}

var limits atomic.Pointer[Limits]

// SetLimits sets the limits (a zero field keeps its default).
func SetLimits(l Limits) {
	d := DefaultLimits
	l.Lines, l.LineIDs = cmp.Or(l.Lines, d.Lines), cmp.Or(l.LineIDs, d.LineIDs)
	l.Strings, l.Errors = cmp.Or(l.Strings, d.Strings), cmp.Or(l.Errors, d.Errors)
	limits.Store(&l)
}

// CurrentLimits are the limits in force.
func CurrentLimits() Limits {
	if l := limits.Load(); l != nil {
		return *l
	}
	return DefaultLimits
}

// omittedRule marks the entry that carries the count of problems past the
// bound, between the parser and decode.
const omittedRule = "omitted"

// bound caps problems at Limits.Errors, counting the rest.
func bound(problems []FieldError) *ValidationError {
	max := CurrentLimits().Errors
	e := &ValidationError{}
	for _, p := range problems {
		switch {
		case p.Rule == omittedRule:
			n, _ := strconv.Atoi(p.Args[0])
			e.Omitted += n
		case len(e.Problems) < max:
			e.Problems = append(e.Problems, p)
		default:
			e.Omitted++
		}
	}
	return e
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message("en")
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Enumerations of contract section 2.
var (
	Reasons = []string{"change_of_mind", "bought_by_mistake", "wrong_platform", "wrong_region",
		"evaluation", "no_longer_used", "not_delivered", "not_as_described", "defective",
		"not_working", "wrong_product", "dissatisfied", "cancel_subscription",
		"third_party_conflict", "lost_license", "other"}
	Remedies       = []string{"refund", "replacement", "repair", "exchange", "cancel_renewal", "cancel_order"}
	LineKinds      = []string{"product", "tax", "customization", "support", "extra_domain", "shipping"}
	ProductTypes   = []string{"saas_code", "software_license", "subscription", "digital_service", "physical_good"}
	PaymentMethods = []string{"card", "paypal", "bank_transfer", "other"}
	Billings       = []string{"monthly", "annual"}
	Conditions     = []string{"new_unused", "used"}
	CustomerTypes  = []string{"consumer", "business"}
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Decode parses body as a DecisionRequest and validates it. The body must
// be exactly one JSON object holding only the contract's fields, each key
// once, in valid UTF-8; every problem is reported at once.
func Decode(body []byte) (*Request, error) {
	return decode(body, requestShape, "")
}

// DecodeDataAPI parses body in the shape of OPA's Data API, {"input": ...},
// and validates the input; field paths start with "input.".
func DecodeDataAPI(body []byte) (*Request, error) {
	return decode(body, dataAPIShape, "input.")
}

func decode(body []byte, s *shape, prefix string) (*Request, error) {
	v, problems := parseStrict(body, s)
	if v == nil && len(problems) > 0 {
		return nil, bound(problems)
	}
	if prefix != "" {
		wrapper, ok := v.(map[string]any)
		if !ok {
			return nil, &ValidationError{Problems: append(problems, FieldError{Field: "body", Rule: "body_object"})}
		}
		v = wrapper["input"]
		if v == nil {
			return nil, &ValidationError{Problems: append(problems, FieldError{Field: "input", Rule: "required"})}
		}
	}
	req, err := Validate(v, prefix)
	var verr *ValidationError
	omitted := 0
	if errors.As(err, &verr) {
		problems = append(problems, verr.Problems...)
		omitted = verr.Omitted
	}
	if len(problems) > 0 {
		e := bound(problems)
		e.Omitted += omitted
		return nil, e
	}
	return req, err
}

// Validate checks a decoded DecisionRequest; prefix is put before every
// field path.
func Validate(v any, prefix string) (*Request, error) {
	c := &checker{prefix: prefix, limits: CurrentLimits()}
	root, ok := v.(map[string]any)
	if !ok {
		field := strings.TrimSuffix(prefix, ".")
		if field == "" {
			field = "body"
		}
		return nil, &ValidationError{Problems: []FieldError{{Field: field, Rule: "body_object"}}}
	}

	claim := c.object(root, "claim", "claim", true)
	order := c.object(root, "order", "order", true)
	sub := c.object(root, "subscription", "subscription", false)
	item := c.object(root, "item", "item", false)
	customer := c.object(root, "customer", "customer", false)

	var submitted, placed time.Time
	var lineIDs []string
	var lineIDsSet bool
	if claim != nil {
		c.str(claim, "id", "claim.id", false)
		submitted, _ = c.time(claim, "submitted_at", "claim.submitted_at", true)
		c.enum(claim, "reason", "claim.reason", true, Reasons)
		c.enum(claim, "remedy", "claim.remedy", false, Remedies)
		lineIDs, lineIDsSet = c.strings(claim, "line_ids", "claim.line_ids", c.limits.LineIDs)
		if lineIDsSet && len(lineIDs) == 0 {
			c.add("claim.line_ids", "nonempty")
		}
		c.strings(claim, "evidence", "claim.evidence", c.limits.Strings)
		c.time(claim, "issue_reported_at", "claim.issue_reported_at", false)
		c.boolean(claim, "support_unresolved", "claim.support_unresolved")
		c.boolean(claim, "withdrawal", "claim.withdrawal")
	}

	req := &Request{Input: root}
	if order != nil {
		c.str(order, "id", "order.id", false)
		placed, _ = c.time(order, "placed_at", "order.placed_at", true)
		c.time(order, "paid_at", "order.paid_at", false)
		c.time(order, "delivered_at", "order.delivered_at", false)
		if cur, ok := c.str(order, "currency", "order.currency", true); ok {
			if currencyPattern.MatchString(cur) {
				req.Currency = cur
			} else {
				c.add("order.currency", "currency")
			}
		}
		c.enum(order, "payment_method", "order.payment_method", false, PaymentMethods)
		c.boolean(order, "payment_dispute_open", "order.payment_dispute_open")
		req.Claimed = c.lines(order, lineIDs, lineIDsSet)
		// Contract section 6.2; for the times marked "null is not absent",
		// a null stays in the input as it came.
		c.time(order, "withdrawal_info_given_at", "order.withdrawal_info_given_at", false)
		if ip := c.object(order, "immediate_performance", "order.immediate_performance", false); ip != nil {
			c.time(ip, "consent_at", "order.immediate_performance.consent_at", false)
			c.boolean(ip, "loss_acknowledged", "order.immediate_performance.loss_acknowledged")
			c.time(ip, "confirmation_sent_at", "order.immediate_performance.confirmation_sent_at", false)
		}
		c.time(order, "performance_completed_at", "order.performance_completed_at", false)
		c.time(order, "digital_redeemed_at", "order.digital_redeemed_at", false)
	}
	if !submitted.IsZero() && !placed.IsZero() && submitted.Before(placed) {
		c.add("claim.submitted_at", "not_before", "order.placed_at")
	}
	if sub != nil {
		c.enum(sub, "billing", "subscription.billing", false, Billings)
		for _, k := range []string{"period_start", "period_end", "last_payment_at"} {
			c.time(sub, k, "subscription."+k, false)
		}
		c.integer(sub, "last_payment_amount", "subscription.last_payment_amount", false)
		c.boolean(sub, "auto_renewed", "subscription.auto_renewed")
		c.time(sub, "renewal_notice_sent_at", "subscription.renewal_notice_sent_at", false)
	}
	if item != nil {
		c.enum(item, "condition", "item.condition", false, Conditions)
		c.boolean(item, "repairable", "item.repairable")
		c.boolean(item, "misuse", "item.misuse")
		c.boolean(item, "second_hand", "item.second_hand")
	}
	if customer != nil {
		c.str(customer, "id", "customer.id", false)
		c.enum(customer, "type", "customer.type", false, CustomerTypes)
		c.str(customer, "country", "customer.country", false)
		c.strings(customer, "previously_refunded_skus", "customer.previously_refunded_skus", c.limits.Strings)
		c.boolean(customer, "copyright_violation", "customer.copyright_violation")
	}
	if len(c.errs) > 0 || c.omitted > 0 {
		return nil, &ValidationError{Problems: c.errs, Omitted: c.omitted}
	}
	return req, nil
}

// lines checks order.lines and the claim's line_ids against them, and
// returns the sum paid for the claimed lines.
func (c *checker) lines(order map[string]any, lineIDs []string, lineIDsSet bool) int64 {
	raw, present := order["lines"]
	if !present || raw == nil {
		c.add("order.lines", "required")
		return 0
	}
	lines, ok := raw.([]any)
	if !ok {
		c.add("order.lines", "type", "array")
		return 0
	}
	if len(lines) == 0 {
		c.add("order.lines", "nonempty")
		return 0
	}
	if len(lines) > c.limits.Lines {
		c.add("order.lines", "max_items", strconv.Itoa(c.limits.Lines))
		return 0
	}
	claimed := map[string]bool{}
	for _, id := range lineIDs {
		claimed[id] = true
	}
	amounts := map[string]int64{}
	var total, sum int64
	for i, l := range lines {
		path := fmt.Sprintf("order.lines[%d]", i)
		line, ok := l.(map[string]any)
		if !ok {
			c.add(path, "type", "object")
			continue
		}
		id, idOK := c.str(line, "id", path+".id", true)
		if idOK {
			if _, dup := amounts[id]; dup {
				c.add(path+".id", "duplicate")
				idOK = false
			}
		}
		c.str(line, "sku", path+".sku", false)
		c.enum(line, "kind", path+".kind", true, LineKinds)
		c.enum(line, "product_type", path+".product_type", false, ProductTypes)
		amount, amountOK := c.integer(line, "amount", path+".amount", true)
		if amountOK {
			sum += amount // each amount is at most MaxAmount: no overflow before the check below
			if sum > MaxAmount {
				sum = MaxAmount + 1
			}
		}
		if idOK {
			amounts[id] = amount
			if amountOK && (!lineIDsSet || claimed[id]) {
				total += amount
			}
		}
	}
	if sum > MaxAmount {
		c.add("order.lines", "sum_max", strconv.Itoa(MaxAmount))
		total = 0
	}
	for i, id := range lineIDs {
		if _, ok := amounts[id]; !ok {
			c.add(fmt.Sprintf("claim.line_ids[%d]", i), "unknown_line", id)
		}
	}
	return total
}

type checker struct {
	prefix  string
	limits  Limits
	errs    []FieldError
	omitted int // problems past limits.Errors
}

func (c *checker) add(field, rule string, args ...string) {
	if len(c.errs) >= c.limits.Errors {
		c.omitted++
		return
	}
	c.errs = append(c.errs, FieldError{Field: c.prefix + field, Rule: rule, Args: args})
}

// get returns m[key]; a null counts as absent.
func (c *checker) get(m map[string]any, key, path string, required bool) (any, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		if required {
			c.add(path, "required")
		}
		return nil, false
	}
	return v, true
}

func (c *checker) object(m map[string]any, key, path string, required bool) map[string]any {
	v, ok := c.get(m, key, path, required)
	if !ok {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.add(path, "type", "object")
		return nil
	}
	return o
}

func (c *checker) str(m map[string]any, key, path string, required bool) (string, bool) {
	v, ok := c.get(m, key, path, required)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.add(path, "type", "string")
		return "", false
	}
	if required && s == "" {
		c.add(path, "required")
		return "", false
	}
	return s, true
}

func (c *checker) enum(m map[string]any, key, path string, required bool, allowed []string) {
	s, ok := c.str(m, key, path, required)
	if !ok {
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.add(path, "enum", allowed...)
}

func (c *checker) time(m map[string]any, key, path string, required bool) (time.Time, bool) {
	s, ok := c.str(m, key, path, required)
	if !ok {
		return time.Time{}, false
	}
	t, canonical, rule := ParseTime(s)
	if rule != "" {
		c.add(path, rule)
		return time.Time{}, false
	}
	if canonical != s {
		m[key] = canonical // the policy reads times with OPA's parser, which wants T and Z
	}
	return t, true
}

func (c *checker) boolean(m map[string]any, key, path string) {
	if v, ok := c.get(m, key, path, false); ok {
		if _, ok := v.(bool); !ok {
			c.add(path, "type", "boolean")
		}
	}
}

func (c *checker) integer(m map[string]any, key, path string, required bool) (int64, bool) {
	v, ok := c.get(m, key, path, required)
	if !ok {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		c.add(path, "type", "integer")
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	switch {
	case err != nil && strings.ContainsAny(n.String(), ".eE"):
		c.add(path, "type", "integer")
	case err != nil || i > MaxAmount:
		c.add(path, "max", strconv.Itoa(MaxAmount))
	case i < 0:
		c.add(path, "min", "0")
	default:
		return i, true
	}
	return 0, false
}

// strings checks an optional array of strings; the bool tells whether it
// was present.
func (c *checker) strings(m map[string]any, key, path string, most int) ([]string, bool) {
	v, ok := c.get(m, key, path, false)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		c.add(path, "type", "array")
		return nil, false
	}
	if len(arr) > most {
		c.add(path, "max_items", strconv.Itoa(most))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			c.add(fmt.Sprintf("%s[%d]", path, i), "type", "string")
			continue
		}
		out = append(out, s)
	}
	return out, true
}
