package ireval

import (
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Result is a value an evaluation gave, read through EvalFunc while the
// evaluation's memory is still its own: what it reads comes out as Go
// strings and integers, or as JSON, never as the evaluator's values.
// The zero Result is undefined.
type Result struct{ v value }

// Defined tells whether r holds a value (null is one).
func (r Result) Defined() bool { return r.v != nil }

// Get is an object's member named key; undefined when r is not an object
// or has no such member.
func (r Result) Get(key string) Result {
	if o, ok := r.v.(*object); ok {
		if i, found := searchString(o.keys, key); found {
			return Result{o.vals[i]}
		}
	}
	return Result{}
}

// IsNull tells whether r is null.
func (r Result) IsNull() bool {
	_, ok := r.v.(null)
	return ok
}

// Bool is r's value when r is a boolean.
func (r Result) Bool() (bool, bool) {
	b, ok := r.v.(bool)
	return b, ok
}

// Members is r's number of members when r is an object whose keys are
// all strings (Key and Value read them, in the order of their keys, their
// JSON's order); -1 for anything else (an object with other keys has
// them in another order in its JSON, which writes each as its text).
func (r Result) Members() (Result, int) {
	o, ok := r.v.(*object)
	if !ok {
		return r, -1
	}
	for _, k := range o.keys {
		if _, ok := k.(string); !ok {
			return r, -1
		}
	}
	return r, len(o.keys)
}

// Key is the key of r's i-th member (Members).
func (r Result) Key(i int) string { return r.v.(*object).keys[i].(string) }

// Value is r's i-th member (Members).
func (r Result) Value(i int) Result { return Result{r.v.(*object).vals[i]} }

// AppendNumber appends r's JSON text when r is a number.
func (r Result) AppendNumber(b []byte) ([]byte, bool) {
	switch n := r.v.(type) {
	case int64:
		return strconv.AppendInt(b, n, 10), true
	case ast.Number:
		return append(b, n...), true
	}
	return b, false
}

// IsObject tells whether r is an object.
func (r Result) IsObject() bool {
	_, ok := r.v.(*object)
	return ok
}

// String is r's text when r is a string.
func (r Result) String() (string, bool) {
	s, ok := r.v.(string)
	return s, ok
}

// Int is r as an int64 when r is a number whose JSON text parses as one
// (strconv.ParseInt, base 10): what reading r's JSON would give.
func (r Result) Int() (int64, bool) {
	switch n := r.v.(type) {
	case int64:
		return n, true
	case ast.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// Len is the number of elements of an array or a set (whose JSON is an
// array); -1 for anything else.
func (r Result) Len() int {
	switch c := r.v.(type) {
	case *array:
		return len(c.elems)
	case *set:
		return len(c.elems)
	}
	return -1
}

// Index is the i-th element of an array or a set, in the order of its
// JSON; undefined out of range or for anything else.
func (r Result) Index(i int) Result {
	var elems []value
	switch c := r.v.(type) {
	case *array:
		elems = c.elems
	case *set:
		elems = c.elems
	}
	if i < 0 || i >= len(elems) {
		return Result{}
	}
	return Result{elems[i]}
}

// JSON is r written as Eval writes the result (nil for undefined).
func (r Result) JSON() (any, error) {
	if r.v == nil {
		return nil, nil
	}
	return toJSON(r.v)
}
