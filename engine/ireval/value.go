package ireval

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// value is what the evaluator computes with: nil (undefined: never an
// element of a collection), null, bool, int64 (an integer whose decimal
// is its text: "7", never "07", "7.0" or "-0"), ast.Number (any other
// number, kept as its text, as OPA keeps it), string, *array, *object or
// *set. Objects keep their keys sorted and sets their elements, in OPA's
// order, which is the order Rego iterates them in; so that lookups are a
// binary search and nothing is hashed.
//
// Values are never changed once another can see them: the plan fills only
// the collections it has just made (MakeObjectStmt and the like).
type value = any

type null struct{}

// A collection marked constant is a literal made once for every
// evaluation (literal.go); a statement that adds to one adds to a copy.

type array struct {
	elems    []value
	constant bool
}

type object struct {
	keys, vals []value
	constant   bool
}

type set array // its elements, sorted

// order is OPA's order of types: null, booleans, numbers, strings,
// arrays, objects, sets; undefined (nil) before all, as ast.Compare has it.
func order(v value) int {
	switch v.(type) {
	case nil:
		return -1
	case null:
		return 0
	case bool:
		return 1
	case int64, ast.Number:
		return 2
	case string:
		return 3
	case *array:
		return 7
	case *object:
		return 8
	case *set:
		return 9
	}
	panic(fmt.Sprintf("ireval: %T is not a value", v))
}

// compare is ast.Compare over values: <0, 0 or >0.
func compare(a, b value) int {
	// The common cases first.
	switch a := a.(type) {
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b)
		}
	case int64:
		if b, ok := b.(int64); ok {
			return cmp.Compare(a, b)
		}
	}
	oa, ob := order(a), order(b)
	if oa != ob {
		return cmp.Compare(oa, ob)
	}
	switch a := a.(type) {
	case nil, null:
		return 0
	case bool:
		b := b.(bool)
		switch {
		case a == b:
			return 0
		case !a:
			return -1
		}
		return 1
	case int64, ast.Number:
		return ast.NumberCompare(number(a), number(b))
	case *array:
		return slices.CompareFunc(a.elems, b.(*array).elems, compare)
	case *object:
		b := b.(*object)
		for i := range min(len(a.keys), len(b.keys)) {
			if c := compare(a.keys[i], b.keys[i]); c != 0 {
				return c
			}
			if c := compare(a.vals[i], b.vals[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a.keys), len(b.keys))
	case *set:
		return slices.CompareFunc(a.elems, b.(*set).elems, compare)
	}
	panic("unreachable")
}

// same tells whether a and b are the same value written the same way: 1
// and 1.0 are equal (compare) but not the same, and a function may tell
// them apart (sprintf's %v does).
func same(a, b value) bool {
	if a == b {
		return true
	}
	switch a := a.(type) {
	case *array:
		b, ok := b.(*array)
		return ok && slices.EqualFunc(a.elems, b.elems, same)
	case *object:
		b, ok := b.(*object)
		return ok && slices.EqualFunc(a.keys, b.keys, same) && slices.EqualFunc(a.vals, b.vals, same)
	case *set:
		b, ok := b.(*set)
		return ok && slices.EqualFunc(a.elems, b.elems, same)
	}
	return false
}

// number is a number value as OPA writes it.
func number(v value) ast.Number {
	if i, ok := v.(int64); ok {
		return ast.Number(strconv.FormatInt(i, 10))
	}
	return v.(ast.Number)
}

// numberValue is the value of a number written n: an int64 when n is an
// integer's own decimal.
func numberValue(n ast.Number) value {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		var b [24]byte
		if string(strconv.AppendInt(b[:0], i, 10)) == string(n) { // not "07", "+7" or "-0"
			return integer(i)
		}
	}
	return n
}

// search is where key is, or would be, among sorted keys.
func search(keys []value, key value) (int, bool) {
	if k, ok := key.(string); ok { // most keys: no dynamic dispatch
		return searchString(keys, k)
	}
	return slices.BinarySearchFunc(keys, key, compare)
}

// searchString is search for a string key.
func searchString(keys []value, k string) (int, bool) {
	return slices.BinarySearchFunc(keys, k, func(e value, k string) int {
		if s, ok := e.(string); ok {
			return strings.Compare(s, k)
		}
		return compare(e, k)
	})
}

// newObject is an empty object with room for n keys and their values, in
// one allocation.
func newObject(n int) *object {
	if n == 0 {
		return &object{}
	}
	kv := make([]value, 2*n)
	return &object{keys: kv[:0:n], vals: kv[n : n : 2*n]}
}

// integer is i as a value: made once for the integers a policy counts and
// dates with (0 to 4095), where Go would allocate each time for those over
// 255.
func integer(i int64) value {
	if i >= 0 && i < int64(len(integers)) {
		return integers[i]
	}
	return i
}

var integers = func() (v [4096]value) {
	for i := range v {
		v[i] = int64(i)
	}
	return v
}()

// get is the value at key, nil when there is none.
func (o *object) get(key value) value {
	if i, ok := search(o.keys, key); ok {
		return o.vals[i]
	}
	return nil
}

// put sets key to v, growing the object in the arena.
func (o *object) put(ar *arena, key, v value) {
	i, ok := search(o.keys, key)
	if ok {
		o.vals[i] = v
		return
	}
	o.keys = ar.insert(o.keys, i, key)
	o.vals = ar.insert(o.vals, i, v)
}

// writable is o, or a copy of it when it is constant, to change.
func (o *object) writable(ar *arena) *object {
	if !o.constant {
		return o
	}
	c := ar.object(len(o.keys) + 1)
	c.keys, c.vals = append(c.keys, o.keys...), append(c.vals, o.vals...)
	return c
}

// writable is a, or a copy of it when it is constant, to change.
func (a *array) writable(ar *arena) *array {
	if !a.constant {
		return a
	}
	return ar.arrayOf(a.elems, 1)
}

// added is s with x: s itself or, when s is constant, a copy.
func (s *set) added(ar *arena, x value) *set {
	s = (*set)((*array)(s).writable(ar))
	s.add(ar, x)
	return s
}

// append is a with x appended: a itself or, when a is constant, a copy.
func (a *array) append(ar *arena, x value) *array {
	a = a.writable(ar)
	a.elems = append(ar.grow(a.elems), x)
	return a
}

func (s *set) has(x value) bool {
	_, ok := search(s.elems, x)
	return ok
}

func (s *set) add(ar *arena, x value) {
	if i, ok := search(s.elems, x); !ok {
		s.elems = ar.insert(s.elems, i, x)
	}
}

// fromAST is the value of an ast.Value; false for anything but data (a
// variable, a reference, a comprehension).
func fromAST(v ast.Value) (value, bool) {
	switch v := v.(type) {
	case ast.Null:
		return null{}, true
	case ast.Boolean:
		return bool(v), true
	case ast.Number:
		return numberValue(v), true
	case ast.String:
		return string(v), true
	case *ast.Array:
		a := &array{elems: make([]value, v.Len())}
		for i := range v.Len() {
			e, ok := fromAST(v.Elem(i).Value)
			if !ok {
				return nil, false
			}
			a.elems[i] = e
		}
		return a, true
	case ast.Object:
		o := newObject(v.Len())
		ok := !v.Until(func(k, x *ast.Term) bool { // in OPA's order of keys
			kv, ok1 := fromAST(k.Value)
			xv, ok2 := fromAST(x.Value)
			o.keys, o.vals = append(o.keys, kv), append(o.vals, xv)
			return !ok1 || !ok2
		})
		return o, ok
	case ast.Set:
		s := &set{elems: make([]value, 0, v.Len())}
		ok := !v.Until(func(x *ast.Term) bool {
			e, ok := fromAST(x.Value)
			s.elems = append(s.elems, e)
			return !ok
		})
		return s, ok
	}
	return nil, false
}

// toAST is v as an ast.Value, for OPA's builtins and for comparing with
// topdown.
func toAST(v value) ast.Value {
	switch v := v.(type) {
	case null:
		return ast.NullValue
	case bool:
		return ast.Boolean(v)
	case int64:
		if v >= -1 && v <= 512 {
			return ast.InternedTerm(int(v)).Value
		}
		return ast.Number(strconv.FormatInt(v, 10))
	case ast.Number:
		return v
	case string:
		return ast.String(v)
	case *array:
		return ast.NewArray(toTerms(v.elems)...)
	case *object:
		terms := make([]ast.Term, 2*len(v.keys))
		kvs := make([][2]*ast.Term, len(v.keys))
		for i := range v.keys {
			terms[2*i].Value, terms[2*i+1].Value = toAST(v.keys[i]), toAST(v.vals[i])
			kvs[i] = [2]*ast.Term{&terms[2*i], &terms[2*i+1]}
		}
		return ast.NewObject(kvs...)
	case *set:
		return ast.NewSet(toTerms(v.elems)...)
	}
	panic(fmt.Sprintf("ireval: %T is not a value", v))
}

// toTerms is vs as terms, made in one allocation.
func toTerms(vs []value) []*ast.Term {
	terms := make([]ast.Term, len(vs))
	ptrs := make([]*ast.Term, len(vs))
	for i, e := range vs {
		terms[i].Value = toAST(e)
		ptrs[i] = &terms[i]
	}
	return ptrs
}

// input is the value of a decoded JSON document (objects, arrays,
// strings, json.Number, booleans, null), as ast.InterfaceToValue reads it.
// Strings the plan names are the plan's own (a lookup of a constant key
// compares two equal pointers); other strings and booleans are kept as
// the document holds them, not boxed again.
func (p *Program) input(ar *arena, doc any) (value, error) {
	switch x := doc.(type) {
	case map[string]any:
		var buf [16]field // most objects of a request: no allocation
		members := buf[:0]
		for k, v := range x {
			members = append(members, field{k, v})
		}
		slices.SortFunc(members, func(a, b field) int { return strings.Compare(a.name, b.name) })
		o := ar.object(len(x))
		for _, m := range members {
			v, err := p.input(ar, m.value)
			if err != nil {
				return nil, err
			}
			key, ok := p.strings[m.name]
			if !ok {
				key = m.name
			}
			o.keys, o.vals = append(o.keys, key), append(o.vals, v)
		}
		return o, nil
	case []any:
		a := ar.array(len(x))
		a.elems = a.elems[:len(x)]
		for i, e := range x {
			v, err := p.input(ar, e)
			if err != nil {
				return nil, err
			}
			a.elems[i] = v
		}
		return a, nil
	case string:
		if v, ok := p.strings[x]; ok {
			return v, nil
		}
		return doc, nil // as it is held: not boxed again
	case json.Number:
		n, err := ast.NumberChecked(string(x))
		if err != nil {
			return nil, err
		}
		return numberValue(n), nil
	case bool:
		return doc, nil
	case nil:
		return null{}, nil
	}
	return nil, fmt.Errorf("input: a %T is not a decoded JSON value", doc)
}

// field is a member of a decoded JSON object.
type field struct {
	name  string
	value any
}

// toJSON is v as ast.JSONWithOpt(v, ast.JSONOpt{SortSets: true}) gives it.
// Strings and booleans are returned as they are held (not boxed again),
// and the integers made once (integer) have their JSON made once too.
func toJSON(v value) (any, error) {
	switch x := v.(type) {
	case null:
		return nil, nil
	case bool, string:
		return v, nil
	case int64:
		if x >= 0 && x < int64(len(jsonIntegers)) {
			return jsonIntegers[x], nil
		}
		return json.Number(strconv.FormatInt(x, 10)), nil
	case ast.Number:
		return json.Number(x), nil
	case *array:
		return toJSONs(x.elems)
	case *set:
		return toJSONs(x.elems)
	case *object:
		m := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			s, ok := k.(string)
			if !ok {
				return jsonKey(x)
			}
			j, err := toJSON(x.vals[i])
			if err != nil {
				return nil, err
			}
			m[s] = j
		}
		return m, nil
	}
	return nil, fmt.Errorf("ireval: %T is not a value", v)
}

// jsonIntegers are the JSON of the integers made once.
var jsonIntegers = func() (v [len(integers)]any) {
	for i := range v {
		v[i] = json.Number(strconv.Itoa(i))
	}
	return v
}()

func toJSONs(vs []value) (any, error) {
	out := make([]any, len(vs))
	for i, e := range vs {
		x, err := toJSON(e)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// jsonKey is an object with keys that are not strings, as OPA writes it
// (each such key as its JSON text).
func jsonKey(o *object) (any, error) {
	return ast.JSONWithOpt(toAST(o), ast.JSONOpt{SortSets: true})
}
