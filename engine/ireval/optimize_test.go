package ireval

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// TestOptimizeKeepsResults: random plans, made of every statement the
// optimizer rewrites or reasons about (copies, lookups that may be
// undefined, resets, collections filled in place, nested blocks, breaks
// out of several, nots, scans, a function that returns early and calls
// another, inlined where it is called from one place), give with
// the optimizer what they give without it, for several inputs: the same
// result (the locals of the result defined at the end, with their
// values) or the same
// error. The optimizer must also have removed copies from most of them.
func TestOptimizeKeepsResults(t *testing.T) {
	inputs := []any{
		map[string]any{"a": []any{"x", "y", map[string]any{"a": "z"}}, "b": map[string]any{"a": "x", "b": []any{"a"}}},
		map[string]any{"a": "x", "b": []any{}},
		map[string]any{"b": map[string]any{"b": map[string]any{"a": "y"}}},
		map[string]any{},
	}
	fewer, inlined, nested := 0, 0, 0
	const plans = 10000
	for seed := range uint64(plans) {
		g := &planGen{r: rand.New(rand.NewPCG(seed, 11))}
		p := g.policy()
		plain, err := compile(p, ast.NewObject(), true)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, dump(p))
		}
		opt, err := compile(p, ast.NewObject(), false)
		if err != nil {
			t.Fatalf("seed %d, optimized: %v\n%s", seed, err, dump(p))
		}
		if statements(optimize(p.Plans.Plans[0].Blocks, []ir.Local{ir.Input, ir.Data}, 2)) < statements(p.Plans.Plans[0].Blocks) {
			fewer++
		}
		funcs := map[string]*function{}
		for _, f := range p.Funcs.Funcs {
			funcs[f.Name] = &function{f: f}
		}
		if in := newInliner(funcs, p.Plans.Plans[0].Blocks); in.inlined(funcs["f"]) {
			inlined++
			if in.inlined(funcs["h"]) {
				nested++
			}
		}
		for i, in := range inputs {
			want, werr := plain.Eval(context.Background(), in)
			got, gerr := opt.Eval(context.Background(), in)
			if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(want, got) {
				t.Fatalf("seed %d, input %d: optimized %v, %v; plain %v, %v\n%s", seed, i, got, gerr, want, werr, dump(p))
			}
		}
	}
	if fewer < plans/4 || inlined < plans/10 || nested < plans/50 {
		t.Errorf("of %d plans, the optimizer shortened %d, inlined f in %d, and h in f in %d", plans, fewer, inlined, nested)
	}
}

// TestOptimizeRemovesCopies: a function's copies of its arguments, and
// the copies of results, are gone; what is read after a branch that may
// break stays; the locals left are numbered densely.
func TestOptimizeRemovesCopies(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	loc := func(l ir.Local) ir.Operand { return ir.Operand{Value: l} }
	blocks := []*ir.Block{block(
		&ir.AssignVarStmt{Source: loc(2), Target: 5},        // a copy of the argument
		&ir.DotStmt{Source: loc(5), Key: str(0), Target: 6}, // may be undefined
		&ir.AssignVarStmt{Source: loc(6), Target: 7},        // a copy of a result
		&ir.BlockStmt{Blocks: []*ir.Block{block(&ir.AssignVarStmt{Source: loc(7), Target: 8}, &ir.EqualStmt{A: loc(8), B: str(1)}, &ir.AssignVarStmt{Source: str(0), Target: 8})}},
		&ir.AssignVarStmt{Source: loc(8), Target: 3}, // read after the branch: 8 may be either
		&ir.ReturnLocalStmt{Source: 3},
	)}
	got := optimize(blocks, []ir.Local{0, 1, 2, 3}, 3, 3)
	// What is left, its locals numbered from 4 on (6 is 4, 8 is 5).
	want := block(
		&ir.DotStmt{Source: loc(2), Key: str(0), Target: 4},
		&ir.BlockStmt{Blocks: []*ir.Block{block(&ir.AssignVarStmt{Source: loc(4), Target: 5}, &ir.EqualStmt{A: loc(4), B: str(1)}, &ir.AssignVarStmt{Source: str(0), Target: 5})}},
		&ir.ReturnLocalStmt{Source: 5},
	)
	if dump(&ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Blocks: got}}}}) != dump(&ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Blocks: []*ir.Block{want}}}}}) {
		t.Errorf("optimized:\n%s\nwant:\n%s", dump(&ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Blocks: got}}}}),
			dump(&ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Blocks: []*ir.Block{want}}}}}))
	}
}

// TestOptimizeFollowsBreaks: a value stored before a statement that may
// break out of a nested block is read after that block; it must stay.
func TestOptimizeFollowsBreaks(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	loc := func(l ir.Local) ir.Operand { return ir.Operand{Value: l} }
	// {"x": L3} where L3 is "c" when input.a is "x", else "b".
	p := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "a"}, {Value: "b"}, {Value: "c"}, {Value: "x"}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(
			&ir.BlockStmt{Blocks: []*ir.Block{block(
				&ir.BlockStmt{Blocks: []*ir.Block{block(
					&ir.AssignVarStmt{Source: str(1), Target: 6},
					&ir.DotStmt{Source: loc(0), Key: str(0), Target: 7},
					&ir.EqualStmt{A: loc(7), B: str(3)},
					&ir.AssignVarStmt{Source: str(2), Target: 6},
				)}},
				&ir.AssignVarStmt{Source: loc(6), Target: 3},
			)}},
			&ir.MakeObjectStmt{Target: 8},
			&ir.ObjectInsertStmt{Key: str(3), Value: loc(3), Object: 8},
			&ir.ResultSetAddStmt{Value: 8},
		)}}}},
	}
	for _, plain := range []bool{true, false} {
		prog, err := compile(p, ast.NewObject(), plain)
		if err != nil {
			t.Fatal(err)
		}
		for in, want := range map[string]any{"x": "c", "y": "b"} {
			if got, err := prog.Eval(context.Background(), map[string]any{"a": in}); err != nil || got != want {
				t.Errorf("plain %v, input.a %q: %v, %v; want %q", plain, in, got, err, want)
			}
		}
	}
}

func statements(bs []*ir.Block) int {
	n := 0
	for _, b := range bs {
		for _, st := range b.Stmts {
			n++
			switch st := st.(type) {
			case *ir.BlockStmt:
				n += statements(st.Blocks)
			case *ir.NotStmt:
				n += statements([]*ir.Block{st.Block})
			case *ir.ScanStmt:
				n += statements([]*ir.Block{st.Block})
			}
		}
	}
	return n
}

// dump writes a plan's statements, one a line, for failures.
func dump(p *ir.Policy) string {
	var out string
	var blk func(b *ir.Block, indent string)
	blk = func(b *ir.Block, indent string) {
		for _, st := range b.Stmts {
			switch st := st.(type) {
			case *ir.BlockStmt:
				out += indent + "block\n"
				for _, nb := range st.Blocks {
					out += indent + " {\n"
					blk(nb, indent+"  ")
					out += indent + " }\n"
				}
			case *ir.NotStmt:
				out += indent + "not\n"
				blk(st.Block, indent+"  ")
			case *ir.ScanStmt:
				out += fmt.Sprintf("%sscan %d %d in %d\n", indent, st.Key, st.Value, st.Source)
				blk(st.Block, indent+"  ")
			default:
				out += fmt.Sprintf("%s%+v\n", indent, st)
			}
		}
	}
	if p.Funcs != nil {
		for _, f := range p.Funcs.Funcs {
			out += fmt.Sprintf("func %s %v -> %d\n", f.Name, f.Params, f.Return)
			for _, b := range f.Blocks {
				blk(b, "  ")
				out += "  --\n"
			}
		}
	}
	for _, b := range p.Plans.Plans[0].Blocks {
		blk(b, "")
		out += "--\n"
	}
	return out
}

// planGen makes random plans over locals 2 to 9 (0 input, 1 data), with
// the strings "a", "b", "x", "y" and a function f(input, data, x).
type planGen struct {
	r     *rand.Rand
	reads []ir.Stmt // guards of the locals the statement being made reads
	depth int       // blocks around the statement being made
	loops int
}

const genLocals = 8

func (g *planGen) policy() *ir.Policy {
	strs := []*ir.StringConst{{Value: "a"}, {Value: "b"}, {Value: "x"}, {Value: "y"}}
	for i := 2; i < genLocals; i++ {
		strs = append(strs, &ir.StringConst{Value: fmt.Sprintf("l%d", i)})
	}
	// f(input, data, x) in locals 0, 1, 2, returning 3: a random body
	// that returns early or sets 3, and may call h, a function of the
	// same form.
	g.depth = 1
	f := []*ir.Block{g.block(4, 1), g.block(3, 1), block(&ir.ReturnLocalStmt{Source: 3})}
	h := []*ir.Block{g.block(3, 2), block(&ir.ReturnLocalStmt{Source: 3})}
	// The plan: random blocks, each a break target, then the result.
	g.depth = 2
	var body []*ir.Block
	for range 1 + g.r.IntN(3) {
		body = append(body, g.block(6, 0))
	}
	stmts := []ir.Stmt{&ir.BlockStmt{Blocks: body}}
	// The result: an object of the locals 2 to 4 defined at the end (the
	// others are read only by the plan).
	res := ir.Local(genLocals)
	stmts = append(stmts, &ir.MakeObjectStmt{Target: res})
	for l := ir.Local(2); l < 5; l++ {
		stmts = append(stmts, &ir.BlockStmt{Blocks: []*ir.Block{block(
			&ir.IsDefinedStmt{Source: l},
			&ir.ObjectInsertStmt{Key: ir.Operand{Value: ir.StringIndex(2 + int(l))}, Value: ir.Operand{Value: l}, Object: res},
		)}})
	}
	stmts = append(stmts, &ir.MakeObjectStmt{Target: res + 1},
		&ir.ObjectInsertStmt{Key: ir.Operand{Value: ir.StringIndex(0)}, Value: ir.Operand{Value: res}, Object: res + 1},
		&ir.ResultSetAddStmt{Value: res + 1})
	return &ir.Policy{
		Static: &ir.Static{Strings: strs},
		Funcs: &ir.Funcs{Funcs: []*ir.Func{
			{Name: "f", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: f},
			{Name: "h", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: h},
		}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{block(stmts...)}}}},
	}
}

// member is a value put into a collection: a constant, never a local,
// which could hold the collection itself.
func (g *planGen) member() ir.Operand {
	if g.r.IntN(2) == 0 {
		return ir.Operand{Value: ir.Bool(true)}
	}
	return ir.Operand{Value: ir.StringIndex(g.r.IntN(4))}
}

func (g *planGen) local() ir.Local { return ir.Local(2 + g.r.IntN(genLocals-2)) }

func (g *planGen) operand() ir.Operand {
	switch g.r.IntN(5) {
	case 0:
		return ir.Operand{Value: ir.StringIndex(g.r.IntN(4))}
	case 1:
		return ir.Operand{Value: ir.Bool(g.r.IntN(2) == 0)}
	case 2:
		return ir.Operand{Value: ir.Local(g.r.IntN(2))} // input or data
	}
	l := g.local()
	g.reads = append(g.reads, &ir.IsDefinedStmt{Source: l}) // as the planner does, nothing undefined is read
	return ir.Operand{Value: l}
}

// block makes up to n statements; inFunc: a function's body (it may
// return).
func (g *planGen) block(n int, inFunc int) *ir.Block {
	var stmts []ir.Stmt
	for range 1 + g.r.IntN(n) {
		st := g.stmt(inFunc)
		stmts, g.reads = append(append(stmts, g.reads...), st...), nil
	}
	return block(stmts...)
}

func (g *planGen) stmt(inFunc int) []ir.Stmt {
	nested := g.depth < 4
	switch k := g.r.IntN(20); {
	case k < 5:
		return []ir.Stmt{&ir.AssignVarStmt{Source: g.operand(), Target: g.local()}}
	case k < 7:
		return []ir.Stmt{&ir.DotStmt{Source: g.operand(), Key: g.operand(), Target: g.local()}}
	case k == 7:
		return []ir.Stmt{&ir.EqualStmt{A: g.operand(), B: g.operand()}}
	case k == 8:
		return []ir.Stmt{&ir.NotEqualStmt{A: g.operand(), B: g.operand()}}
	case k == 9:
		if g.r.IntN(2) == 0 {
			return []ir.Stmt{&ir.IsDefinedStmt{Source: g.local()}}
		}
		return []ir.Stmt{&ir.IsUndefinedStmt{Source: g.local()}}
	case k == 10:
		return []ir.Stmt{&ir.ResetLocalStmt{Target: g.local()}}
	case k == 11:
		t := g.local()
		if g.r.IntN(2) == 0 {
			return []ir.Stmt{&ir.MakeArrayStmt{Target: t}, &ir.ArrayAppendStmt{Value: g.member(), Array: t}}
		}
		return []ir.Stmt{&ir.MakeObjectStmt{Target: t}, &ir.ObjectInsertStmt{Key: ir.Operand{Value: ir.StringIndex(g.r.IntN(4))}, Value: g.member(), Object: t}}
	case k == 12:
		// An append to whatever the local holds: an error unless an array.
		return []ir.Stmt{&ir.ArrayAppendStmt{Value: g.member(), Array: g.local()}}
	case k == 13:
		return []ir.Stmt{&ir.AssignVarOnceStmt{Source: g.operand(), Target: g.local()}}
	case k == 14 && inFunc == 0:
		return []ir.Stmt{&ir.CallStmt{Func: "f", Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}, g.operand()}, Result: g.local()}}
	case k == 14:
		return []ir.Stmt{&ir.ReturnLocalStmt{Source: g.local()}}
	case k == 19 && inFunc == 1:
		return []ir.Stmt{&ir.CallStmt{Func: "h", Args: []ir.Operand{{Value: ir.Local(0)}, {Value: ir.Local(1)}, g.operand()}, Result: g.local()}}
	case k == 15 && nested:
		g.depth++
		defer func() { g.depth-- }()
		var blocks []*ir.Block
		for range 1 + g.r.IntN(3) {
			blocks = append(blocks, g.block(4, inFunc))
		}
		return []ir.Stmt{&ir.BlockStmt{Blocks: blocks}}
	case k == 16 && nested:
		g.depth++
		defer func() { g.depth-- }()
		return []ir.Stmt{&ir.NotStmt{Block: g.block(3, inFunc)}}
	case k == 17 && nested && g.loops < 2:
		g.depth += 2 // a loop body is two targets deep
		g.loops++
		defer func() { g.depth -= 2; g.loops-- }()
		src := ir.Local(g.r.IntN(2))
		if g.r.IntN(2) == 0 {
			src = g.local()
		}
		key, val := g.local(), g.local()
		for val == key {
			val = g.local()
		}
		return []ir.Stmt{&ir.ScanStmt{Source: src, Key: key, Value: val, Block: g.block(4, inFunc)}}
	case k == 18:
		return []ir.Stmt{&ir.BreakStmt{Index: uint32(g.r.IntN(g.depth))}}
	}
	return []ir.Stmt{&ir.AssignVarStmt{Source: ir.Operand{Value: g.local()}, Target: g.local()}}
}

// TestInlineRunsBodiesInPlace: f, called once and outside any loop, is
// inlined, and h, called once from f, within it; f returns early from a
// nested block, before a block that would change its result, or is
// undefined. g, called once but within a loop, stays a call: its body
// requires its locals undefined when it starts. Each gives what it gives
// as a call.
func TestInlineRunsBodiesInPlace(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	loc := func(l ir.Local) ir.Operand { return ir.Operand{Value: l} }
	args := func(x ir.Operand) []ir.Operand { return []ir.Operand{loc(0), loc(1), x} }
	// Strings: 0 "a", 1 "b", 2 "x", 3 "f", 4 "g", 5 "h", 6 "late".
	static := &ir.Static{Strings: []*ir.StringConst{{Value: "a"}, {Value: "b"}, {Value: "x"}, {Value: "f"}, {Value: "g"}, {Value: "h"}, {Value: "late"}}}
	// h(x) = x.a, undefined without it.
	h := &ir.Func{Name: "h", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: []*ir.Block{
		block(&ir.DotStmt{Source: loc(2), Key: str(0), Target: 4}, &ir.AssignVarOnceStmt{Source: loc(4), Target: 3}),
		block(&ir.ReturnLocalStmt{Source: 3}),
	}}
	// f(x) = "x" when x.b is "x" (returned from within a nested block),
	// else h(x) when defined, else "late" (a later block).
	f := &ir.Func{Name: "f", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: []*ir.Block{
		block(&ir.BlockStmt{Blocks: []*ir.Block{block(
			&ir.DotStmt{Source: loc(2), Key: str(1), Target: 4},
			&ir.EqualStmt{A: loc(4), B: str(2)},
			&ir.AssignVarStmt{Source: str(2), Target: 3},
			&ir.ReturnLocalStmt{Source: 3},
		)}}),
		block(&ir.CallStmt{Func: "h", Args: args(loc(2)), Result: 5}, &ir.AssignVarOnceStmt{Source: loc(5), Target: 3}),
		block(&ir.IsUndefinedStmt{Source: 3}, &ir.AssignVarStmt{Source: str(6), Target: 3}),
		block(&ir.ReturnLocalStmt{Source: 3}),
	}}
	// g(x) = x, when its local 4 is undefined as it starts (it is set
	// after): called in a loop, each run must start afresh.
	g := &ir.Func{Name: "g", Params: []ir.Local{0, 1, 2}, Return: 3, Blocks: []*ir.Block{
		block(&ir.IsUndefinedStmt{Source: 4}, &ir.AssignVarStmt{Source: loc(2), Target: 4}, &ir.AssignVarStmt{Source: loc(4), Target: 3}),
		block(&ir.ReturnLocalStmt{Source: 3}),
	}}
	// {"f": f(input), "g": [g(e) | e in input.a]}
	plan := block(
		&ir.MakeObjectStmt{Target: 9},
		&ir.BlockStmt{Blocks: []*ir.Block{block(
			&ir.CallStmt{Func: "f", Args: args(loc(0)), Result: 6},
			&ir.ObjectInsertStmt{Key: str(3), Value: loc(6), Object: 9},
		)}},
		&ir.MakeArrayStmt{Target: 7},
		&ir.BlockStmt{Blocks: []*ir.Block{block(
			&ir.DotStmt{Source: loc(0), Key: str(0), Target: 8},
			&ir.ScanStmt{Source: 8, Key: 10, Value: 11, Block: block(
				&ir.CallStmt{Func: "g", Args: args(loc(11)), Result: 12},
				&ir.ArrayAppendStmt{Value: loc(12), Array: 7},
			)},
		)}},
		&ir.ObjectInsertStmt{Key: str(4), Value: loc(7), Object: 9},
		&ir.MakeObjectStmt{Target: 13},
		&ir.ObjectInsertStmt{Key: str(0), Value: loc(9), Object: 13},
		&ir.ResultSetAddStmt{Value: 13},
	)
	p := &ir.Policy{Static: static, Funcs: &ir.Funcs{Funcs: []*ir.Func{f, g, h}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "q", Blocks: []*ir.Block{plan}}}}}

	funcs := map[string]*function{}
	for _, fn := range p.Funcs.Funcs {
		funcs[fn.Name] = &function{f: fn}
	}
	in := newInliner(funcs, p.Plans.Plans[0].Blocks)
	if !in.inlined(funcs["f"]) || !in.inlined(funcs["h"]) || in.inlined(funcs["g"]) {
		t.Fatalf("inlined: f %v, h %v, g %v; want f and h, not g", in.inlined(funcs["f"]), in.inlined(funcs["h"]), in.inlined(funcs["g"]))
	}
	for input, want := range map[string]string{
		`{"b": "x", "a": ["p", "q"]}`: `{"f":"x","g":["p","q"]}`, // returned early
		`{"b": "y", "a": ["p"]}`:      `{"f":["p"],"g":["p"]}`,   // h
		`{"b": "y"}`:                  `{"f":"late","g":[]}`,     // the later block
		`{"a": "s"}`:                  `{"f":"s","g":[]}`,        // h; a string is no loop
	} {
		var doc any
		if err := json.Unmarshal([]byte(input), &doc); err != nil {
			t.Fatal(err)
		}
		for _, plain := range []bool{true, false} {
			prog, err := compile(p, ast.NewObject(), plain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prog.Eval(context.Background(), doc)
			if b, _ := json.Marshal(got); err != nil || string(b) != want {
				t.Errorf("plain %v, input %s: %s, %v; want %s", plain, input, b, err, want)
			}
		}
	}
}
