package ireval

import (
	"cmp"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// valueSeeds are documents at the edges of the representation: numbers
// that are and are not an int64's own decimal, keys of every type, sets,
// nesting, strings that sort by bytes.
var valueSeeds = []string{
	`null`, `true`, `false`, `0`, `-0`, `7`, `-7`, `1.0`, `1e3`, `-0.0`, `9223372036854775807`,
	`9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`, `0.1`, `1.5`,
	`""`, `"a"`, `"B"`, `"é"`, `"a\u0000"`, `[]`, `[1, [2, "3"], {"a": null}]`, `{}`,
	`{"b": 1, "a": 2, "": {"x": [true]}}`, `{1: "one", "1": "text", null: 0, false: {}, [1]: 2, {"k": 1}: 3}`,
	`{1, "1", 1.5, null, [1], {"a": 1}, {2}}`, `set()`, `{1.0: "float", 2: "int"}`,
}

func FuzzValues(f *testing.F) {
	for _, a := range valueSeeds {
		for _, b := range valueSeeds[:8] {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		x, ok1 := parseDoc(a)
		y, ok2 := parseDoc(b)
		if !ok1 || !ok2 {
			return
		}
		checkValue(t, x)
		checkValue(t, y)
		vx, _ := fromAST(x)
		vy, _ := fromAST(y)
		if got, want := cmp.Compare(compare(vx, vy), 0), cmp.Compare(ast.Compare(x, y), 0); got != want {
			t.Fatalf("compare(%v, %v) = %d, OPA %d", x, y, got, want)
		}
		// The same value is an equal one, written alike; a document read
		// twice is the same.
		if same(vx, vy) && (compare(vx, vy) != 0 || toAST(vx).String() != toAST(vy).String()) {
			t.Fatalf("same(%v, %v), yet they differ", x, y)
		}
		if compare(nil, vx) >= 0 || compare(vx, nil) <= 0 || compare(nil, nil) != 0 {
			t.Fatalf("undefined is not before %v", x)
		}
		if again, _ := fromAST(x); !same(vx, again) {
			t.Fatalf("%v read twice is not the same", x)
		}
	})
}

// parseDoc parses a Rego term that is a document (no variables, calls or
// comprehensions).
func parseDoc(s string) (ast.Value, bool) {
	t, err := ast.ParseTerm(s)
	if err != nil || !t.IsGround() {
		return nil, false
	}
	_, ok := fromAST(t.Value)
	return t.Value, ok
}

// checkValue: a document read into a value and back is the same document,
// written the same way; as JSON, it is what OPA writes; and, when it is
// JSON, reading it as input gives the same value.
func checkValue(t *testing.T, x ast.Value) {
	t.Helper()
	v, ok := fromAST(x)
	if !ok {
		t.Fatalf("%v: not read", x)
	}
	back := toAST(v)
	if ast.Compare(back, x) != 0 || back.String() != x.String() {
		t.Fatalf("%v read and written back: %v", x, back)
	}
	got, gerr := toJSON(v)
	want, werr := ast.JSONWithOpt(x, ast.JSONOpt{SortSets: true})
	if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v as JSON: %#v (%v), OPA %#v (%v)", x, got, gerr, want, werr)
	}
	if werr != nil {
		return
	}
	raw, err := json.Marshal(want)
	if err != nil {
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	p := &Program{strings: map[string]value{"a": "a"}}
	in, err := p.input(nil, doc)
	opa, oerr := ast.InterfaceToValue(doc)
	if (err != nil) != (oerr != nil) {
		t.Fatalf("%s as input: %v, OPA %v", raw, err, oerr)
	}
	if err == nil && (ast.Compare(toAST(in), opa) != 0 || toAST(in).String() != opa.String()) {
		t.Fatalf("%s as input: %v, OPA %v", raw, toAST(in), opa)
	}
}

// TestObjectsAndSetsStaySorted: keys put in any order are found and
// iterated in OPA's order, a key put again replaces its value, and a set
// holds each element once.
func TestObjectsAndSetsStaySorted(t *testing.T) {
	for _, ar := range []*arena{nil, {}} {
		objectsAndSetsStaySorted(t, ar)
	}
}

func objectsAndSetsStaySorted(t *testing.T, ar *arena) {
	o := ar.object(1)
	keys := []value{"b", int64(2), "a", null{}, int64(10), "a", ast.Number("1.5"), true}
	for i, k := range keys {
		o.put(ar, k, int64(i))
	}
	want := []value{null{}, true, ast.Number("1.5"), int64(2), int64(10), "a", "b"}
	if !reflect.DeepEqual(o.keys, want) {
		t.Fatalf("keys %v, want %v", o.keys, want)
	}
	if v := o.get("a"); v != int64(5) {
		t.Errorf(`o["a"] = %v, want 5 (the later put)`, v)
	}
	if v := o.get(ast.Number("2.0")); v != int64(1) {
		t.Errorf(`o[2.0] = %v, want the value at 2`, v)
	}
	if v := o.get("c"); v != nil {
		t.Errorf(`o["c"] = %v, want none`, v)
	}
	s := ar.set(0)
	for _, k := range keys {
		s.add(ar, k)
	}
	if !reflect.DeepEqual(s.elems, want) {
		t.Fatalf("set %v, want %v", s.elems, want)
	}
	if !s.has(int64(10)) || s.has("c") {
		t.Error("set membership")
	}
	if ast.Compare(toAST(o), ast.MustParseTerm(`{null: 3, true: 7, 1.5: 6, 2: 1, 10: 4, "a": 5, "b": 0}`).Value) != 0 {
		t.Errorf("object as OPA's: %v", toAST(o))
	}
}

// TestArenaKeepsNeighbours: collections made side by side in an arena
// grow without overwriting one another, past the first chunk; reset
// clears everything, and the chunks serve the next evaluation.
func TestArenaKeepsNeighbours(t *testing.T) {
	ar := &arena{}
	for round := range 2 {
		var objs []*object
		var arrs []*array
		for i := range 3 * minChunk {
			objs, arrs = append(objs, ar.object(1)), append(arrs, ar.array(1))
			objs[i].put(ar, "a", integer(int64(i)))
			arrs[i].elems = append(ar.grow(arrs[i].elems), integer(int64(i)))
		}
		for i := range objs { // each grows past the room it was made with
			objs[i].put(ar, "b", integer(int64(i)))
			objs[i].put(ar, "0", integer(int64(i)))
			arrs[i].elems = append(ar.grow(arrs[i].elems), integer(int64(-i)))
		}
		for i := range objs {
			want := &object{keys: []value{"0", "a", "b"}, vals: []value{integer(int64(i)), integer(int64(i)), integer(int64(i))}}
			if !same(objs[i], want) {
				t.Fatalf("round %d: object %d is %v, want %v", round, i, toAST(objs[i]), toAST(want))
			}
			if !same(arrs[i], &array{elems: []value{integer(int64(i)), integer(int64(-i))}}) {
				t.Fatalf("round %d: array %d is %v", round, i, toAST(arrs[i]))
			}
		}
		ar.reset()
		if len(ar.objects) != 0 || len(ar.values) != 0 || cap(ar.objects) == 0 {
			t.Fatalf("round %d: reset left %d objects, %d values (chunk of %d kept)", round, len(ar.objects), len(ar.values), cap(ar.objects))
		}
		if slices.ContainsFunc(ar.values[:cap(ar.values)], func(v value) bool { return v != nil }) {
			t.Fatalf("round %d: reset left values behind", round)
		}
	}
}

func TestValueSeeds(t *testing.T) {
	for _, a := range valueSeeds {
		x, ok := parseDoc(a)
		if !ok {
			t.Fatalf("seed %s is not a document", a)
		}
		checkValue(t, x)
		for _, b := range valueSeeds {
			y, ok := parseDoc(b)
			if !ok {
				t.Fatalf("seed %s is not a document", b)
			}
			vx, _ := fromAST(x)
			vy, _ := fromAST(y)
			if got, want := cmp.Compare(compare(vx, vy), 0), cmp.Compare(ast.Compare(x, y), 0); got != want {
				t.Errorf("compare(%s, %s) = %d, OPA %d", a, b, got, want)
			}
		}
	}
}

// TestSame: equal values written differently are not the same.
func TestSame(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`1`, `1`, true}, {`1`, `1.0`, false}, {`[1, {"a": 2}]`, `[1, {"a": 2}]`, true},
		{`[1, {"a": 2}]`, `[1, {"a": 2.0}]`, false}, {`{1, 2}`, `{2, 1}`, true}, {`{"a": 1}`, `{"a": 1, "b": 2}`, false},
		{`"a"`, `["a"]`, false}, {`null`, `false`, false},
	} {
		x, _ := parseDoc(c.a)
		y, _ := parseDoc(c.b)
		vx, _ := fromAST(x)
		vy, _ := fromAST(y)
		if got := same(vx, vy); got != c.want {
			t.Errorf("same(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
