package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// shape is what the decoder knows of an object: its fields, each with the
// shape of its value (nil: a value whose contents are not objects of the
// contract, such as a string or a list of strings). elem is the shape of
// the elements of an array of objects.
type shape struct {
	fields map[string]*shape
	elem   *shape
}

func object(fields map[string]*shape) *shape { return &shape{fields: fields} }

// leaves is an object whose fields all hold plain values.
func leaves(names ...string) *shape {
	m := make(map[string]*shape, len(names))
	for _, n := range names {
		m[n] = nil
	}
	return object(m)
}

// requestShape is every field a DecisionRequest may have (contract
// sections 2 and 6.2): any other field is refused, so that a typo can never
// silently change a decision.
var requestShape = object(map[string]*shape{
	"claim": leaves("id", "submitted_at", "reason", "remedy", "line_ids", "evidence",
		"issue_reported_at", "support_unresolved", "withdrawal"),
	"order": object(map[string]*shape{
		"id": nil, "placed_at": nil, "paid_at": nil, "delivered_at": nil, "currency": nil,
		"payment_method": nil, "payment_dispute_open": nil,
		"lines":                    {elem: leaves("id", "sku", "kind", "product_type", "amount")},
		"withdrawal_info_given_at": nil,
		"immediate_performance":    leaves("consent_at", "loss_acknowledged", "confirmation_sent_at"),
		"performance_completed_at": nil,
		"digital_redeemed_at":      nil,
	}),
	"subscription": leaves("billing", "period_start", "period_end", "last_payment_at",
		"last_payment_amount", "auto_renewed", "renewal_notice_sent_at"),
	"item":     leaves("condition", "repairable", "misuse", "second_hand"),
	"customer": leaves("id", "type", "country", "previously_refunded_skus", "copyright_violation"),
})

// dataAPIShape is OPA's Data API body around a request.
var dataAPIShape = object(map[string]*shape{"input": requestShape})

// maxDepth bounds how deeply a body may nest arrays and objects: the
// contract needs four levels.
const maxDepth = 32

// parseStrict reads body as exactly one JSON value, checked against s:
// unknown fields, duplicate keys and invalid UTF-8 are reported with their
// path (every one of them), as is anything after the value but whitespace.
// Numbers are kept as json.Number. A body that is not JSON at all gives a
// single problem on "body".
func parseStrict(body []byte, s *shape) (any, []FieldError) {
	if v, ok := scanClean(body, s); ok {
		return v, nil
	}
	return parseTokens(body, s)
}

// parseTokens is parseStrict token by token, finding every problem.
func parseTokens(body []byte, s *shape) (any, []FieldError) {
	p := &parser{dec: json.NewDecoder(bytes.NewReader(body)), body: body, checkUTF8: !utf8.Valid(body)}
	p.dec.UseNumber()
	v, err := p.value(s, "", 0)
	if err != nil {
		return nil, []FieldError{{Field: "body", Rule: "json", Args: []string{jsonProblem(err)}}}
	}
	end := p.dec.InputOffset()
	if rest := bytes.TrimLeft(body[end:], " \t\r\n"); len(rest) > 0 {
		offset := len(body) - len(rest)
		p.add("body", "trailing", strconv.Itoa(offset))
	}
	if p.omitted > 0 { // the count of the rest rides on the list, as its last entry
		p.errs = append(p.errs, FieldError{Field: "", Rule: omittedRule, Args: []string{strconv.Itoa(p.omitted)}})
	}
	return v, p.errs
}

type parser struct {
	dec       *json.Decoder
	body      []byte
	checkUTF8 bool // the body holds invalid UTF-8: find where
	errs      []FieldError
	omitted   int // problems past the bound of the list
}

var errTooDeep = errors.New("nested too deeply")

func (p *parser) add(path, rule string, args ...string) {
	if path == "" {
		path = "body"
	}
	if len(p.errs) >= CurrentLimits().Errors {
		p.omitted++
		return
	}
	p.errs = append(p.errs, FieldError{Field: path, Rule: rule, Args: args})
}

// token reads the next token and, for a string whose raw bytes encoding/json
// would silently change, the rule it breaks: utf8 (invalid UTF-8) or
// surrogate (a lone surrogate escape).
func (p *parser) token() (json.Token, string, error) {
	start := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, "", err
	}
	_, isString := tok.(string)
	if !isString {
		return tok, "", nil
	}
	raw := p.body[start:p.dec.InputOffset()]
	switch {
	case loneSurrogate(raw):
		return tok, "surrogate", nil
	case p.checkUTF8 && !utf8.Valid(raw):
		return tok, "utf8", nil
	}
	return tok, "", nil
}

// loneSurrogate tells whether a string token's raw bytes escape a UTF-16
// surrogate (\ud800 to \udfff) that is not half of a pair: encoding/json
// would silently replace it with U+FFFD, so that an id the client did not
// send could decide.
func loneSurrogate(raw []byte) bool {
	for i := bytes.IndexByte(raw, '\\'); i >= 0 && i+1 < len(raw); {
		if raw[i+1] != 'u' {
			i += 2
		} else {
			r := hex4(raw, i+2)
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return true
			case r >= 0xd800 && r <= 0xdbff:
				if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
					return true
				}
				if lo := hex4(raw, i+8); lo < 0xdc00 || lo > 0xdfff {
					return true
				}
				i += 12
			default:
				i += 6
			}
		}
		if i >= len(raw) {
			break
		}
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			break
		}
		i += j
	}
	return false
}

// hex4 reads four hex digits at raw[i:], or -1.
func hex4(raw []byte, i int) int {
	if i+4 > len(raw) {
		return -1
	}
	n := 0
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}

func (p *parser) value(s *shape, path string, depth int) (any, error) {
	tok, bad, err := p.token()
	if err != nil {
		return nil, err
	}
	if bad != "" {
		p.add(path, bad)
	}
	return p.rest(tok, s, path, depth)
}

// rest finishes the value that tok opens.
func (p *parser) rest(tok json.Token, s *shape, path string, depth int) (any, error) {
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	switch d {
	case '{':
		obj := map[string]any{}
		for p.dec.More() {
			kt, bad, err := p.token()
			if err != nil {
				return nil, err
			}
			key, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key is %v", kt)
			}
			child := join(path, key)
			if bad != "" {
				p.add(child, bad)
			}
			if _, dup := obj[key]; dup {
				p.add(child, "duplicate_key")
			}
			var cs *shape
			if s != nil && s.fields != nil {
				var known bool
				if cs, known = s.fields[key]; !known {
					p.add(child, "unknown_field")
				}
			}
			v, err := p.value(cs, child, depth+1)
			if err != nil {
				return nil, err
			}
			obj[key] = v
		}
		if _, err := p.dec.Token(); err != nil { // '}'
			return nil, err
		}
		return obj, nil
	default: // '['
		arr := []any{}
		var es *shape
		if s != nil {
			es = s.elem
		}
		for i := 0; p.dec.More(); i++ {
			v, err := p.value(es, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := p.dec.Token(); err != nil { // ']'
			return nil, err
		}
		return arr, nil
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of the body"
	}
	return err.Error()
}
