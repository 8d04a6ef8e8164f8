package ireval

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestResultReadsAsJSON: what a Result reads is what its JSON holds: an
// object's members by name, and in the order of their keys (an object
// with a key that is not a string is read only as JSON), a set's elements
// in the order of its JSON array, integers as ParseInt reads their JSON
// text, nothing out of range.
func TestResultReadsAsJSON(t *testing.T) {
	v, ok := fromAST(ast.MustParseTerm(`{"s": "x", "n": 7, "f": 1.5, "big": 100000000000000000000, "set": {"b", "a", "c"}, "arr": [3, {"k": "v"}], "obj": {"k": 1, "a": [true]}, "null": null, "negzero": -0, "t": true, "odd": {1: "one"}}`).Value)
	if !ok {
		t.Fatal("not a value")
	}
	r := Result{v}
	doc, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	m := doc.(map[string]any)
	for key, want := range m {
		got, err := r.Get(key).JSON()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v; want %v", key, got, err, want)
		}
		if text, ok := r.Get(key).AppendNumber(nil); ok != isJSONNumber(want) || string(text) != fmt.Sprint(want) && ok {
			t.Errorf("%s as a number: %q, %v", key, text, ok)
		}
		if _, isMap := want.(map[string]any); r.Get(key).IsObject() != isMap {
			t.Errorf("%s is an object: %v", key, !isMap)
		}
		if n, ok := want.(json.Number); ok {
			wi, werr := strconv.ParseInt(string(n), 10, 64)
			if gi, gok := r.Get(key).Int(); gok != (werr == nil) || gi != wi {
				t.Errorf("%s as an integer: %d, %v; want %d, %v", key, gi, gok, wi, werr)
			}
		} else if _, ok := r.Get(key).Int(); ok {
			t.Errorf("%s read as an integer", key)
		}
		if r.Get(key).IsNull() != (want == nil) {
			t.Errorf("%s is null: %v", key, want != nil)
		}
		if b, ok := r.Get(key).Bool(); ok != (want == true || want == false) || ok && b != want {
			t.Errorf("%s as a boolean: %v, %v", key, b, ok)
		}
		obj, n := r.Get(key).Members()
		if m, ok := want.(map[string]any); ok && key != "odd" {
			if n != len(m) {
				t.Errorf("%s: %d members, want %d", key, n, len(m))
			}
			for i := range n {
				got, _ := obj.Value(i).JSON()
				if i > 0 && obj.Key(i-1) >= obj.Key(i) || !reflect.DeepEqual(got, m[obj.Key(i)]) {
					t.Errorf("%s's member %d: %s: %v, want %v, in the order of the keys", key, i, obj.Key(i), got, m[obj.Key(i)])
				}
			}
		} else if n != -1 {
			t.Errorf("%s: %d members, want none (not an object of string keys)", key, n)
		}
		if s, ok := want.(string); ok {
			if got, ok := r.Get(key).String(); !ok || got != s {
				t.Errorf("%s as a string: %q, %v", key, got, ok)
			}
		}
		if list, ok := want.([]any); ok {
			rv := r.Get(key)
			if rv.Len() != len(list) || rv.Index(len(list)).Defined() || rv.Index(-1).Defined() {
				t.Errorf("%s: %d elements, want %d", key, rv.Len(), len(list))
			}
			for i, e := range list {
				if got, _ := rv.Index(i).JSON(); !reflect.DeepEqual(got, e) {
					t.Errorf("%s[%d]: %v, want %v", key, i, got, e)
				}
			}
		} else if r.Get(key).Len() != -1 {
			t.Errorf("%s has a length", key)
		}
	}
	if !r.IsObject() {
		t.Error("the document is not an object")
	}
	if !r.Get("null").Defined() || r.Get("missing").Defined() || r.Get("s").Get("x").Defined() || (Result{}).Defined() {
		t.Error("null is defined; a missing member, a member of a string and the zero Result are not")
	}
}

func isJSONNumber(v any) bool {
	_, ok := v.(json.Number)
	return ok
}
