// Package ireval evaluates a query planned by OPA's planner (its IR, the
// plan that OPA compiles to Wasm) directly in Go: no per-evaluation rego
// context, no topdown unification.
//
// Compile turns the plan, once its copies and dead stores are removed
// (optimize.go), into Go closures, one per statement, specialised for the
// plan: operands resolved, constants made once, every function's
// frame laid out on a stack whose size is known before evaluation (Rego
// has no recursion), so that an evaluation allocates only the values the
// policy makes. Values are this package's own (value.go): integers as
// int64, objects and sets kept sorted in OPA's order, nothing hashed; the
// input is read from decoded JSON, and the result is handed to the
// caller's reader (EvalFunc, result.go) or written as decoded JSON (Eval).
// Builtins are computed natively where this package does so with OPA's
// results (native.go), and by OPA's own implementations otherwise.
//
// The semantics are the IR's as OPA's Wasm compiler gives them: every block
// is a break target; a statement that is undefined breaks out of the
// innermost one; a ScanStmt's block is a loop body (a break of 0 goes to
// the next element, 1 leaves the loop); functions of two parameters (rules
// without arguments) are memoized for one evaluation, and functions with
// arguments that call no nondeterministic builtin give a result once per
// evaluation and arguments. A plan that uses anything this package does
// not implement is refused by Compile, naming it, so that the caller keeps
// evaluating with topdown.
package ireval

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Program is a plan bound to its data, compiled, ready to evaluate. It is
// safe for concurrent use.
type Program struct {
	data    value
	strings map[string]value // the plan's strings, each made a value once
	main    []code           // the plan's blocks
	locals  int              // the plan's frame
	states  sync.Pool        // of states sized for the plan
}

// Error is an evaluation error: a conflict, or a builtin's error (refundd
// evaluates with strict builtin errors, as its topdown queries do).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Compile prepares the policy's single plan over data. It refuses a plan
// with unplanned rules, several plans, a statement it does not implement,
// a builtin OPA does not provide, or a call cycle.
func Compile(policy *ir.Policy, data ast.Value) (*Program, error) {
	return compile(policy, data, false)
}

// compile is Compile, with the plan's copies and dead stores removed
// (optimize.go) unless plain.
func compile(policy *ir.Policy, data ast.Value, plain bool) (*Program, error) {
	if len(policy.UnplannedRules) > 0 {
		return nil, fmt.Errorf("rule %s could not be planned", policy.UnplannedRules[0].Path)
	}
	if policy.Plans == nil || len(policy.Plans.Plans) != 1 {
		return nil, errors.New("want exactly one plan")
	}
	dv, ok := fromAST(data)
	if !ok {
		return nil, errors.New("data is not a document")
	}
	freeze(dv)
	p := &Program{data: dv, strings: map[string]value{}}
	c := &compiler{funcs: map[string]*function{}, builtins: map[string]*builtin{}, inserts: map[*ir.MakeObjectStmt]int{}, plain: plain}
	if policy.Static != nil {
		for _, s := range policy.Static.Strings {
			v, ok := p.strings[s.Value]
			if !ok {
				v = s.Value
				p.strings[s.Value] = v
			}
			c.strings = append(c.strings, v)
			c.numbers = append(c.numbers, numberValue(ast.Number(s.Value)))
		}
		for _, b := range policy.Static.BuiltinFuncs {
			bi, err := newBuiltin(b.Name)
			if err != nil {
				return nil, err
			}
			c.builtins[b.Name] = bi
		}
	}
	if policy.Funcs != nil {
		// Every function first, so that a call of one declared later is known.
		for i, f := range policy.Funcs.Funcs {
			c.funcs[f.Name] = &function{index: i, f: f, memo: len(f.Params) == 2}
		}
		if !plain {
			c.inline = newInliner(c.funcs, policy.Plans.Plans[0].Blocks)
		}
		for _, fn := range c.funcs {
			if err := c.function(fn); err != nil {
				return nil, fmt.Errorf("%s: %w", fn.f.Name, err)
			}
		}
	}
	p.locals = 2
	c.frame = &p.locals
	c.callees = nil
	plan := policy.Plans.Plans[0].Blocks
	if c.inline != nil {
		plan = c.inline.expand(plan, ir.Data+1)
	}
	for _, b := range c.optimize(plan, []ir.Local{ir.Input, ir.Data}, 2) {
		code, err := c.block(b)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		p.main = append(p.main, code)
	}
	depth, err := c.depth(c.callees)
	if err != nil {
		return nil, err
	}
	known := map[*function]bool{}
	for _, fn := range c.funcs {
		fn.recall = len(fn.params) > 2 && pure(fn, known)
	}
	stack, nfuncs, dots := p.locals+depth, len(c.funcs), c.dots
	p.states.New = func() any {
		s := &state{
			stack:   make([]value, stack),
			memo:    make([]value, nfuncs),
			memoSet: make([]bool, nfuncs),
			calls:   make([][]recalled, nfuncs),
			hints:   make([]int32, dots),
			bctx:    topdown.BuiltinContext{Metrics: noMetrics},
		}
		s.iter = func(t *ast.Term) error { s.out = t.Value; return nil }
		return s
	}
	return p, nil
}

// noMetrics is handed to builtins: nothing reads what they would record.
var noMetrics = metrics.NoOp()

// Eval evaluates the plan with input, a decoded JSON document, and
// returns the value of its query (the first key of the result object) as
// ast.JSONWithOpt gives it with sorted sets, or nil when it is undefined.
func (p *Program) Eval(ctx context.Context, input any) (any, error) {
	var out any
	err := p.EvalFunc(ctx, input, func(r Result) error {
		if !r.Defined() {
			return nil
		}
		var err error
		out, err = r.JSON()
		return err
	})
	return out, err
}

// EvalFunc evaluates the plan with input, a decoded JSON document, and
// hands the value of its query (the first key of the result object;
// undefined when the query is) to read, whose error it returns. The
// Result is read in the evaluation's own memory, which the next
// evaluation reuses: read keeps nothing of it but the strings and numbers
// it reads and what JSON makes.
func (p *Program) EvalFunc(ctx context.Context, input any, read func(Result) error) error {
	s := p.states.Get().(*state)
	defer p.release(s)
	in, err := p.input(&s.ar, input)
	if err != nil {
		return err
	}
	s.ctx = ctx
	s.bctx.Context = ctx
	l := s.push(p.locals)
	l[ir.Input], l[ir.Data] = in, p.data
	for _, b := range p.main {
		if target(b(s, l)) == failed {
			return s.err
		}
	}
	if len(s.results) == 0 {
		return read(Result{})
	}
	obj, ok := s.results[0].(*object)
	if !ok || len(obj.keys) != 1 {
		return fmt.Errorf("plan result %v is not an object of one binding", toAST(s.results[0]))
	}
	return read(Result{obj.vals[0]})
}

// release clears what the evaluation left in the state (nothing it made
// stays reachable from the pool) and returns it to the pool.
func (p *Program) release(s *state) {
	clear(s.stack[:s.high])
	clear(s.memo)
	clear(s.memoSet)
	for i, c := range s.calls {
		clear(c)
		s.calls[i] = c[:0]
	}
	clear(s.kept)
	clear(s.results)
	s.ar.reset()
	*s = state{stack: s.stack, memo: s.memo, memoSet: s.memoSet, calls: s.calls, kept: s.kept[:0], iter: s.iter,
		results: s.results[:0], ar: s.ar, hints: s.hints, bctx: topdown.BuiltinContext{Metrics: noMetrics}}
	p.states.Put(s)
}

// state is one evaluation's: its frames, memos and results.
type state struct {
	ctx     context.Context
	err     error
	steps   uint32 // loop iterations and calls, for checking ctx now and then
	stack   []value
	sp      int
	high    int   // the highest sp reached: the stack above it is clear
	ret     value // what the innermost function returned
	memo    []value
	memoSet []bool
	calls   [][]recalled // by function: its calls with arguments so far
	kept    []value      // the arguments of those calls
	results []value
	ar      arena   // what the evaluation makes
	hints   []int32 // by constant-key lookup: where it last found its key (kept across evaluations)
	args    [8]value
	ptrs    [8]*ast.Term
	out     ast.Value // what an OPA builtin gave to iter
	iter    func(*ast.Term) error
	bctx    topdown.BuiltinContext
}

// push lays a frame of n locals on the stack, all undefined.
func (s *state) push(n int) []value {
	l := s.stack[s.sp : s.sp+n : s.sp+n]
	clear(l)
	s.sp += n
	s.high = max(s.high, s.sp)
	return l
}

func (s *state) fail(err error) int {
	s.err = err
	return failed
}

// tick counts a step and, every 1,024, stops the evaluation when its
// context is done (a time limit, a client gone), as topdown does.
func (s *state) tick() bool {
	s.steps++
	if s.steps&1023 == 0 {
		if err := s.ctx.Err(); err != nil {
			s.err = &Error{Msg: "evaluation cancelled: " + err.Error()}
			return false
		}
	}
	return true
}
