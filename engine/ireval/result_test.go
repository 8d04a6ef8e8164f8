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
// object's members by name, a set's elements in the order of its JSON
// array, integers as ParseInt reads their JSON text, nothing out of range.
func TestResultReadsAsJSON(t *testing.T) {
	v, ok := fromAST(ast.MustParseTerm(`{"s": "x", "n": 7, "f": 1.5, "big": 100000000000000000000, "set": {"b", "a", "c"}, "arr": [3, {"k": "v"}], "obj": {"k": 1}, "null": null, "negzero": -0}`).Value)
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
		if text, ok := r.Get(key).Number(); ok != isJSONNumber(want) || text != fmt.Sprint(want) && ok {
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
