package engine

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/refundd/refundd/decisionlog"
)

// The decision document is written by hand, in one pass into one buffer,
// byte for byte as encoding/json writes the Decision struct (its fields in
// order, strings escaped as it escapes them: decisionlog.AppendString);
// TestAppendJSONIsEncodingJSON holds it to that. The legal_floor section,
// the largest part of a decision for a claim with statutory rights, is
// written once, as it is read from the policy's result (floor.go), and
// copied as is.

// AppendJSON appends the decision document, as json.Marshal writes d.
func (d *Decision) AppendJSON(b []byte) []byte {
	b = append(b, `{"decision_id":`...)
	b = decisionlog.AppendString(b, d.DecisionID)
	b = append(b, `,"merchant":`...)
	b = decisionlog.AppendString(b, d.Merchant)
	b = append(b, `,"revision":`...)
	b = decisionlog.AppendString(b, d.Revision)
	b = append(b, `,"outcome":`...)
	b = decisionlog.AppendString(b, d.Outcome)
	b = append(b, `,"remedy":`...)
	b = decisionlog.AppendString(b, d.Remedy)
	b = append(b, `,"refund":{"amount":`...)
	b = strconv.AppendInt(b, d.Refund.Amount, 10)
	b = append(b, `,"currency":`...)
	b = decisionlog.AppendString(b, d.Refund.Currency)
	b = append(b, `,"withheld":`...)
	b = appendList(b, d.Refund.Withheld, func(b []byte, w Withheld) []byte {
		b = append(b, `{"line_id":`...)
		b = decisionlog.AppendString(b, w.LineID)
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, w.Amount, 10)
		b = append(b, `,"code":`...)
		b = decisionlog.AppendString(b, w.Code)
		return append(b, '}')
	})
	b = append(b, `},"reasons":`...)
	b = appendList(b, d.Reasons, appendExplained)
	b = append(b, `,"obligations":`...)
	b = appendList(b, d.Obligations, appendExplained)
	if d.LegalFloor != nil {
		b = append(b, `,"legal_floor":`...)
		b = append(b, d.LegalFloor.doc...)
	}
	if len(d.Explanation) > 0 {
		b = append(b, `,"explanation":`...)
		b = appendList(b, d.Explanation, func(b []byte, f Fired) []byte {
			b = append(b, `{"rule":`...)
			b = decisionlog.AppendString(b, f.Rule)
			b = append(b, `,"location":`...)
			b = decisionlog.AppendString(b, f.Location)
			return append(b, '}')
		})
	}
	return append(b, '}')
}

func appendExplained(b []byte, e Explained) []byte {
	b = append(b, `{"code":`...)
	b = decisionlog.AppendString(b, e.Code)
	b = append(b, `,"message":`...)
	b = decisionlog.AppendString(b, e.Message)
	return append(b, '}')
}

// appendList appends a list as encoding/json writes a slice: null when
// nil.
func appendList[T any](b []byte, list []T, each func([]byte, T) []byte) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(b, e)
	}
	return append(b, ']')
}

// memberWriter writes the value of obj's member key, v, when it does
// (done), else leaves it to appendNode.
type memberWriter[N any] func(b []byte, obj N, key string, v N) (out []byte, done bool, err error)

// appendNode appends v as JSON: objects with their members sorted by key,
// as encoding/json writes a map (an object whose keys are not all strings
// from its JSON, each such key written as its text, as OPA writes it).
// member, when not nil, may write one of v's own members' value itself
// (done true): the legal_floor section's rights, their messages localised.
func appendNode[N node[N]](b []byte, v N, member memberWriter[N]) ([]byte, error) {
	switch {
	case !v.Defined():
		return b, errors.New("a value is undefined")
	case v.IsNull():
		return append(b, "null"...), nil
	case v.IsObject():
		obj, n := v.Members()
		if n < 0 {
			doc, err := v.JSON()
			if err != nil {
				return b, err
			}
			return appendNode(b, jsonNode{v: doc, ok: true}, nil)
		}
		b = append(b, '{')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			key := obj.Key(i)
			b = append(decisionlog.AppendString(b, key), ':')
			var done bool
			var err error
			if member != nil {
				b, done, err = member(b, v, key, obj.Value(i))
			}
			if !done && err == nil {
				b, err = appendNode(b, obj.Value(i), nil)
			}
			if err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	if s, ok := v.String(); ok {
		return decisionlog.AppendString(b, s), nil
	}
	if out, ok := v.AppendNumber(b); ok { // its text, as encoding/json writes a json.Number
		return out, nil
	}
	if t, ok := v.Bool(); ok {
		return strconv.AppendBool(b, t), nil
	}
	if n := v.Len(); n >= 0 {
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendNode(b, v.Index(i), nil); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	doc, _ := v.JSON()
	return b, fmt.Errorf("a %T has no JSON", doc)
}
