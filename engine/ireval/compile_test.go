package ireval

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// policy is a plan of blocks over functions (each named with its blocks),
// with the given builtins declared.
func policy(plan []*ir.Block, funcs map[string][]*ir.Block, builtins ...string) *ir.Policy {
	p := &ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: plan}}}, Funcs: &ir.Funcs{}, Static: &ir.Static{}}
	for name, blocks := range funcs {
		p.Funcs.Funcs = append(p.Funcs.Funcs, &ir.Func{Name: name, Params: []ir.Local{0, 1}, Return: 2, Blocks: blocks})
	}
	for _, b := range builtins {
		p.Static.BuiltinFuncs = append(p.Static.BuiltinFuncs, &ir.BuiltinFunc{Name: b})
	}
	return p
}

func block(stmts ...ir.Stmt) *ir.Block { return &ir.Block{Stmts: stmts} }

// answer is the statements that make the plan's result {key: [locals...]}
// (key the string constant at index key), in locals arr and obj.
func answer(key int, arr, obj ir.Local, locals ...ir.Local) []ir.Stmt {
	out := []ir.Stmt{&ir.MakeArrayStmt{Target: arr}}
	for _, l := range locals {
		out = append(out, &ir.ArrayAppendStmt{Value: ir.Operand{Value: l}, Array: arr})
	}
	return append(out, &ir.MakeObjectStmt{Target: obj},
		&ir.ObjectInsertStmt{Key: ir.Operand{Value: ir.StringIndex(key)}, Value: ir.Operand{Value: arr}, Object: obj},
		&ir.ResultSetAddStmt{Value: obj})
}

func call(f string, result ir.Local) *ir.CallStmt {
	return &ir.CallStmt{Func: f, Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}}, Result: result}
}

// TestCompileRefuses: what the evaluator cannot run is refused at
// compile time, naming it, so that topdown serves instead.
func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *ir.Policy
		want   string
	}{
		{"a call cycle", policy([]*ir.Block{block(call("f", 2))}, map[string][]*ir.Block{
			"f": {block(call("g", 3))}, "g": {block(call("f", 3))}}), "calls itself"},
		{"a with statement", policy([]*ir.Block{block(&ir.WithStmt{Local: 0, Block: block()})}, nil), "WithStmt is not implemented"},
		{"an unknown builtin", policy([]*ir.Block{block()}, nil, "no.such_builtin"), "builtin no.such_builtin is not available"},
		{"a call of nothing", policy([]*ir.Block{block(call("nothing", 2))}, nil), "neither a function of the plan nor a builtin"},
		{"a string out of range", policy([]*ir.Block{block(&ir.AssignVarStmt{Source: ir.Operand{Value: ir.StringIndex(3)}, Target: 2}, &ir.ResultSetAddStmt{Value: 2})}, nil), "out of range"},
	} {
		if _, err := Compile(tc.policy, ast.NewObject()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestFramesDoNotLeak: a function called twice, at the same place on the
// stack, finds its locals undefined each time, in every evaluation the
// pooled state serves.
func TestFramesDoNotLeak(t *testing.T) {
	// h(input, data, x): "leaked" if its local 5 is defined on entry, else
	// it sets 5 and gives "fresh". The plan calls it twice, with different
	// arguments, so that the second call is not one recalled.
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	h := []*ir.Block{
		block(&ir.IsDefinedStmt{Source: 5}, &ir.AssignVarStmt{Source: str(0), Target: 3}, &ir.ReturnLocalStmt{Source: 3}),
		block(&ir.AssignVarStmt{Source: ir.Operand{Value: ir.Bool(true)}, Target: 5},
			&ir.AssignVarStmt{Source: str(1), Target: 3}, &ir.ReturnLocalStmt{Source: 3}),
	}
	callH := func(result ir.Local, arg int) *ir.CallStmt {
		return &ir.CallStmt{Func: "h", Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}, str(arg)}, Result: result}
	}
	p := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "leaked"}, {Value: "fresh"}, {Value: "x"}, {Value: "y"}}},
		Funcs:  &ir.Funcs{Funcs: []*ir.Func{{Name: "h", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: h}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(
			append([]ir.Stmt{callH(2, 2), callH(3, 3)}, answer(2, 4, 6, 2, 3)...)...,
		)}}}},
	}
	prog, err := Compile(p, ast.NewObject())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the pool hands the same state back
		v, err := prog.Eval(context.Background(), map[string]any{})
		if err != nil || !reflect.DeepEqual(v, []any{"fresh", "fresh"}) {
			t.Fatalf("evaluation %d: %v, %v", i, v, err)
		}
	}
}

// TestRecall: a function of arguments that calls only deterministic
// builtins gives, for arguments it was called with before in the
// evaluation, what it gave then, and for others, what it computes.
func TestRecall(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	// f(input, data, x) gives x.
	callF := func(result ir.Local, arg int) *ir.CallStmt {
		return &ir.CallStmt{Func: "f", Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}, str(arg)}, Result: result}
	}
	p := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "a"}, {Value: "b"}, {Value: "x"}}},
		Funcs: &ir.Funcs{Funcs: []*ir.Func{{Name: "f", Params: []ir.Local{0, 1, 2}, Return: 3,
			Blocks: []*ir.Block{block(&ir.AssignVarStmt{Source: ir.Operand{Value: ir.Local(2)}, Target: 3})}}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(
			append([]ir.Stmt{callF(2, 0), callF(3, 1), callF(4, 0), callF(5, 1)}, answer(2, 6, 7, 2, 3, 4, 5)...)...,
		)}}}},
	}
	prog, err := Compile(p, ast.NewObject())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		v, err := prog.Eval(context.Background(), map[string]any{})
		if err != nil || !reflect.DeepEqual(v, []any{"a", "b", "a", "b"}) {
			t.Fatalf("evaluation %d: %v, %v", i, v, err)
		}
	}

	// Equal arguments written differently (1, then 1.0) are not the same
	// call: f gives each back as it was written.
	num := func(i int, target ir.Local) *ir.MakeNumberRefStmt {
		return &ir.MakeNumberRefStmt{Index: i, Target: target}
	}
	callN := func(result, arg ir.Local) *ir.CallStmt {
		return &ir.CallStmt{Func: "f", Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}, {Value: arg}}, Result: result}
	}
	p.Static.Strings = append(p.Static.Strings, &ir.StringConst{Value: "1"}, &ir.StringConst{Value: "1.0"})
	p.Plans.Plans[0].Blocks = []*ir.Block{block(
		append([]ir.Stmt{num(3, 8), num(4, 9), callN(2, 8), callN(3, 9)}, answer(2, 6, 7, 2, 3)...)...,
	)}
	if prog, err = Compile(p, ast.NewObject()); err != nil {
		t.Fatal(err)
	}
	v, err := prog.Eval(context.Background(), map[string]any{})
	if err != nil || !reflect.DeepEqual(v, []any{json.Number("1"), json.Number("1.0")}) {
		t.Fatalf("f(1), f(1.0): %v, %v", v, err)
	}

	// Past maxRecalled different arguments, calls are run, not kept: the
	// results stay right.
	p.Static.Strings = []*ir.StringConst{{Value: "x"}}
	var stmts []ir.Stmt
	var results []ir.Local
	var want []any
	for i := range 2 * (maxRecalled + 4) {
		arg := (i * 7) % (maxRecalled + 4) // every argument twice, in another order
		p.Static.Strings = append(p.Static.Strings, &ir.StringConst{Value: fmt.Sprint("a", arg)})
		res := ir.Local(10 + i)
		stmts = append(stmts, callF(res, len(p.Static.Strings)-1))
		results = append(results, res)
		want = append(want, fmt.Sprint("a", arg))
	}
	p.Plans.Plans[0].Blocks = []*ir.Block{block(append(stmts, answer(0, 6, 7, results...)...)...)}
	if prog, err = Compile(p, ast.NewObject()); err != nil {
		t.Fatal(err)
	}
	if v, err := prog.Eval(context.Background(), map[string]any{}); err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("many arguments: %v, %v", v, err)
	}

	// Only pure functions are recalled: one that calls a nondeterministic
	// builtin, or calls one that does, is called again.
	now := &function{impure: true}
	caller := &function{callees: []*function{now}}
	clean := &function{callees: []*function{{}}}
	known := map[*function]bool{}
	if pure(now, known) || pure(caller, known) || !pure(clean, known) {
		t.Errorf("pure: %v %v %v", known[now], known[caller], known[clean])
	}
	if !ast.BuiltinMap["time.now_ns"].Nondeterministic || ast.BuiltinMap["time.add_date"].Nondeterministic {
		t.Error("OPA's builtins no longer say which are nondeterministic")
	}
}

// TestLiterals: literals made once (constants) or with their keys sorted
// once give what the plan's statements would, and a statement that adds
// to one later adds to a copy: the next evaluation, which adds nothing,
// finds the literals as written.
func TestLiterals(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	loc := func(l ir.Local) ir.Operand { return ir.Operand{Value: l} }
	// Strings: 0 result key, then a b c x y z k add v.
	var strs []*ir.StringConst
	for _, s := range []string{"r", "a", "b", "c", "x", "y", "z", "k", "add", "v"} {
		strs = append(strs, &ir.StringConst{Value: s})
	}
	stmts := []ir.Stmt{
		&ir.MakeObjectStmt{Target: 2}, // {"b": "y", "a": "x"}
		&ir.ObjectInsertStmt{Key: str(2), Value: str(5), Object: 2},
		&ir.ObjectInsertOnceStmt{Key: str(1), Value: str(4), Object: 2},
		&ir.MakeArrayStmt{Target: 3, Capacity: 1}, // ["x"]
		&ir.ArrayAppendStmt{Value: str(4), Array: 3},
		&ir.MakeSetStmt{Target: 4}, // {"y", "x"}
		&ir.SetAddStmt{Value: str(5), Set: 4},
		&ir.SetAddStmt{Value: str(4), Set: 4},
		&ir.DotStmt{Source: loc(0), Key: str(9), Target: 8},
		&ir.MakeObjectStmt{Target: 5}, // {"k": input.v}
		&ir.ObjectInsertStmt{Key: str(7), Value: loc(8), Object: 5},
		&ir.BlockStmt{Blocks: []*ir.Block{block( // when input.add: add to each
			&ir.DotStmt{Source: loc(0), Key: str(8), Target: 9},
			&ir.EqualStmt{A: loc(9), B: ir.Operand{Value: ir.Bool(true)}},
			&ir.ObjectInsertStmt{Key: str(3), Value: str(6), Object: 2},
			&ir.ArrayAppendStmt{Value: str(5), Array: 3},
			&ir.SetAddStmt{Value: str(6), Set: 4},
			&ir.ObjectInsertStmt{Key: str(1), Value: str(4), Object: 5},
		)}},
	}
	p := &ir.Policy{
		Static: &ir.Static{Strings: strs},
		Plans:  &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(append(stmts, answer(0, 6, 7, 2, 3, 4, 5)...)...)}}}},
	}
	prog, err := Compile(p, ast.NewObject())
	if err != nil {
		t.Fatal(err)
	}
	plain := `[{"a":"x","b":"y"},["x"],["x","y"],{"k":"1"}]`
	added := `[{"a":"x","b":"y","c":"z"},["x","y"],["x","y","z"],{"a":"x","k":"2"}]`
	for i, tc := range []struct {
		input map[string]any
		want  string
	}{
		{map[string]any{"v": "1"}, plain},
		{map[string]any{"v": "2", "add": true}, added},
		{map[string]any{"v": "1"}, plain},
		{map[string]any{"v": "2", "add": true}, added},
		{map[string]any{"v": "1", "add": false}, plain},
	} {
		v, err := prog.Eval(context.Background(), tc.input)
		got, _ := json.Marshal(v)
		if err != nil || string(got) != tc.want {
			t.Fatalf("evaluation %d: %s, %v; want %s", i, got, err, tc.want)
		}
	}
}

// TestDataIsNotChanged: a plan that adds to a collection of the merchant's
// data adds to a copy; every evaluation sees the data as bound.
func TestDataIsNotChanged(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	p := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "r"}, {Value: "list"}, {Value: "z"}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(append([]ir.Stmt{
			&ir.DotStmt{Source: ir.Operand{Value: ir.Local(1)}, Key: str(1), Target: 2},
			&ir.ArrayAppendStmt{Value: str(2), Array: 2},
		}, answer(0, 6, 7, 2)...)...)}}}},
	}
	prog, err := Compile(p, ast.MustParseTerm(`{"list": ["a"]}`).Value)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		v, err := prog.Eval(context.Background(), map[string]any{})
		if got, _ := json.Marshal(v); err != nil || string(got) != `[["a","z"]]` {
			t.Fatalf("evaluation %d: %s, %v", i, got, err)
		}
	}
}
