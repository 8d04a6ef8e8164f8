// Package ireval evaluates a query planned by OPA's planner (its IR, the
// plan that OPA compiles to Wasm) directly in Go: no per-evaluation rego
// context, no topdown unification; builtins are OPA's own implementations.
//
// The semantics are the IR's as OPA's Wasm compiler gives them: every block
// is a break target; a statement that is undefined breaks out of the
// innermost one; a ScanStmt's block is a loop body (a break of 0 goes to
// the next element, 1 leaves the loop); functions of two parameters (rules
// without arguments) are memoized for one evaluation. A plan that uses
// anything this package does not implement is refused by Compile, naming
// it, so that the caller keeps evaluating with topdown.
package ireval

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// Program is a plan bound to its data, ready to evaluate.
type Program struct {
	plan     *ir.Plan
	funcs    map[string]*function
	strings  []ast.Value
	data     ast.Value
	builtins map[string]topdown.BuiltinFunc
	locals   int // locals of the plan
	nfuncs   int
}

type function struct {
	index  int
	f      *ir.Func
	locals int
	memo   bool
}

// Compile prepares the policy's single plan over data. It refuses a plan
// with unplanned rules, several plans, a statement it does not implement,
// or a builtin OPA does not provide.
func Compile(policy *ir.Policy, data ast.Value) (*Program, error) {
	if len(policy.UnplannedRules) > 0 {
		return nil, fmt.Errorf("rule %s could not be planned", policy.UnplannedRules[0].Path)
	}
	if policy.Plans == nil || len(policy.Plans.Plans) != 1 {
		return nil, errors.New("want exactly one plan")
	}
	p := &Program{plan: policy.Plans.Plans[0], funcs: map[string]*function{}, data: data, builtins: map[string]topdown.BuiltinFunc{}}
	if policy.Static != nil {
		for _, s := range policy.Static.Strings {
			p.strings = append(p.strings, ast.String(s.Value))
		}
		for _, b := range policy.Static.BuiltinFuncs {
			fn := topdown.GetBuiltin(b.Name)
			if fn == nil {
				return nil, fmt.Errorf("builtin %s is not available", b.Name)
			}
			p.builtins[b.Name] = fn
		}
	}
	if policy.Funcs != nil {
		// Every function first, so that a call of one declared later is known.
		for i, f := range policy.Funcs.Funcs {
			fn := &function{index: i, f: f, memo: len(f.Params) == 2, locals: int(f.Return) + 1}
			for _, l := range f.Params {
				fn.locals = max(fn.locals, int(l)+1)
			}
			p.funcs[f.Name] = fn
		}
		for _, fn := range p.funcs {
			for _, b := range fn.f.Blocks {
				n, err := p.check(b)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", fn.f.Name, err)
				}
				fn.locals = max(fn.locals, n)
			}
		}
		p.nfuncs = len(policy.Funcs.Funcs)
	}
	p.locals = 2
	for _, b := range p.plan.Blocks {
		n, err := p.check(b)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		p.locals = max(p.locals, n)
	}
	return p, nil
}

// check walks a block: every statement must be one this package runs, and
// every call must name a function of the plan or a builtin. It returns how
// many locals the block needs.
func (p *Program) check(b *ir.Block) (int, error) {
	n := 0
	use := func(ls ...ir.Local) {
		for _, l := range ls {
			n = max(n, int(l)+1)
		}
	}
	op := func(ops ...ir.Operand) {
		for _, o := range ops {
			if l, ok := o.Value.(ir.Local); ok {
				use(l)
			}
		}
	}
	for _, s := range b.Stmts {
		var nested []*ir.Block
		switch s := s.(type) {
		case *ir.CallStmt:
			if _, ok := p.funcs[s.Func]; !ok && p.builtins[s.Func] == nil {
				return 0, fmt.Errorf("call of %s: neither a function of the plan nor a builtin", s.Func)
			}
			op(s.Args...)
			use(s.Result)
		case *ir.BlockStmt:
			nested = s.Blocks
		case *ir.NotStmt:
			nested = []*ir.Block{s.Block}
		case *ir.ScanStmt:
			use(s.Source, s.Key, s.Value)
			nested = []*ir.Block{s.Block}
		case *ir.BreakStmt, *ir.NopStmt:
		case *ir.ReturnLocalStmt:
			use(s.Source)
		case *ir.AssignVarStmt:
			op(s.Source)
			use(s.Target)
		case *ir.AssignVarOnceStmt:
			op(s.Source)
			use(s.Target)
		case *ir.AssignIntStmt:
			use(s.Target)
		case *ir.DotStmt:
			op(s.Source, s.Key)
			use(s.Target)
		case *ir.LenStmt:
			op(s.Source)
			use(s.Target)
		case *ir.ResetLocalStmt:
			use(s.Target)
		case *ir.MakeNullStmt:
			use(s.Target)
		case *ir.MakeNumberIntStmt:
			use(s.Target)
		case *ir.MakeNumberRefStmt:
			if s.Index < 0 || s.Index >= len(p.strings) {
				return 0, fmt.Errorf("number constant %d out of range", s.Index)
			}
			use(s.Target)
		case *ir.MakeArrayStmt:
			use(s.Target)
		case *ir.MakeObjectStmt:
			use(s.Target)
		case *ir.MakeSetStmt:
			use(s.Target)
		case *ir.EqualStmt:
			op(s.A, s.B)
		case *ir.NotEqualStmt:
			op(s.A, s.B)
		case *ir.IsArrayStmt:
			op(s.Source)
		case *ir.IsObjectStmt:
			op(s.Source)
		case *ir.IsSetStmt:
			op(s.Source)
		case *ir.IsDefinedStmt:
			use(s.Source)
		case *ir.IsUndefinedStmt:
			use(s.Source)
		case *ir.ArrayAppendStmt:
			op(s.Value)
			use(s.Array)
		case *ir.ObjectInsertStmt:
			op(s.Key, s.Value)
			use(s.Object)
		case *ir.ObjectInsertOnceStmt:
			op(s.Key, s.Value)
			use(s.Object)
		case *ir.SetAddStmt:
			op(s.Value)
			use(s.Set)
		case *ir.ResultSetAddStmt:
			use(s.Value)
		default:
			return 0, fmt.Errorf("statement %T is not implemented", s)
		}
		for _, nb := range nested {
			m, err := p.check(nb)
			if err != nil {
				return 0, err
			}
			n = max(n, m)
		}
	}
	return n, nil
}

// Error is an evaluation error: a conflict, or a builtin's error (refundd
// evaluates with strict builtin errors, as its topdown queries do).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Eval evaluates the plan with input and returns the value of its query
// (the first key of the result object), or nil when it is undefined.
func (p *Program) Eval(ctx context.Context, input ast.Value) (ast.Value, error) {
	s := &state{ctx: ctx, p: p, memo: make([]ast.Value, p.nfuncs), memoSet: make([]bool, p.nfuncs)}
	s.bctx = topdown.BuiltinContext{Context: ctx, Metrics: noMetrics, Cache: builtins.Cache{}}
	f := &frame{locals: make([]ast.Value, p.locals)}
	f.locals[ir.Input], f.locals[ir.Data] = input, p.data
	for _, b := range p.plan.Blocks {
		if _, _, err := s.target(f, b); err != nil {
			return nil, err
		}
	}
	if len(s.results) == 0 {
		return nil, nil
	}
	obj, ok := s.results[0].(ast.Object)
	if !ok || obj.Len() != 1 {
		return nil, fmt.Errorf("plan result %v is not an object of one binding", s.results[0])
	}
	var out ast.Value
	obj.Foreach(func(_, v *ast.Term) { out = v.Value })
	return out, nil
}

// noMetrics is handed to builtins: nothing reads what they would record.
var noMetrics = metrics.NoOp()

type state struct {
	ctx     context.Context
	steps   uint32 // loop iterations and calls, for checking ctx now and then
	p       *Program
	bctx    topdown.BuiltinContext
	memo    []ast.Value
	memoSet []bool
	results []ast.Value
	depth   int
}

type frame struct {
	locals []ast.Value
	ret    ast.Value
}

// Control codes of a statement list: it ran to its end, a function
// returned, or a break out of k enclosing targets (0: the innermost).
const (
	ranToEnd = -1
	returned = -2
)

// target runs a block that is a break target: completed tells whether it
// ran to its end; the code is what the enclosing list must do.
func (s *state) target(f *frame, b *ir.Block) (code int, completed bool, err error) {
	c, err := s.run(f, b.Stmts)
	switch {
	case err != nil:
		return 0, false, err
	case c == ranToEnd:
		return ranToEnd, true, nil
	case c == returned:
		return returned, false, nil
	case c == 0:
		return ranToEnd, false, nil
	default:
		return c - 1, false, nil
	}
}

func (s *state) read(f *frame, o ir.Operand) ast.Value {
	switch v := o.Value.(type) {
	case ir.Local:
		return f.locals[v]
	case ir.Bool:
		return ast.Boolean(v)
	case ir.StringIndex:
		return s.p.strings[v]
	}
	return nil
}

// run runs a statement list and returns its control code.
func (s *state) run(f *frame, stmts []ir.Stmt) (int, error) {
	for _, st := range stmts {
		switch st := st.(type) {
		case *ir.AssignVarStmt:
			f.locals[st.Target] = s.read(f, st.Source)
		case *ir.CallStmt:
			v, err := s.call(f, st)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			f.locals[st.Result] = v
		case *ir.AssignVarOnceStmt:
			v := s.read(f, st.Source)
			if cur := f.locals[st.Target]; cur != nil {
				if ast.Compare(cur, v) != 0 {
					return 0, &Error{Msg: "eval_conflict_error: complete rules must not produce multiple outputs"}
				}
				continue
			}
			f.locals[st.Target] = v
		case *ir.DotStmt:
			v := dot(s.read(f, st.Source), s.read(f, st.Key))
			if v == nil {
				return 0, nil
			}
			f.locals[st.Target] = v
		case *ir.ObjectInsertStmt:
			obj, ok := f.locals[st.Object].(ast.Object)
			if !ok {
				return 0, &Error{Msg: "object insert into a non-object"}
			}
			obj.Insert(ast.NewTerm(s.read(f, st.Key)), ast.NewTerm(s.read(f, st.Value)))
		case *ir.ObjectInsertOnceStmt:
			obj, ok := f.locals[st.Object].(ast.Object)
			if !ok {
				return 0, &Error{Msg: "object insert into a non-object"}
			}
			k, v := ast.NewTerm(s.read(f, st.Key)), s.read(f, st.Value)
			if cur := obj.Get(k); cur != nil {
				if ast.Compare(cur.Value, v) != 0 {
					return 0, &Error{Msg: "eval_conflict_error: object keys must be unique"}
				}
				continue
			}
			obj.Insert(k, ast.NewTerm(v))
		case *ir.NotEqualStmt:
			if ast.Compare(s.read(f, st.A), s.read(f, st.B)) == 0 {
				return 0, nil
			}
		case *ir.EqualStmt:
			if ast.Compare(s.read(f, st.A), s.read(f, st.B)) != 0 {
				return 0, nil
			}
		case *ir.IsDefinedStmt:
			if f.locals[st.Source] == nil {
				return 0, nil
			}
		case *ir.IsUndefinedStmt:
			if f.locals[st.Source] != nil {
				return 0, nil
			}
		case *ir.ResetLocalStmt:
			f.locals[st.Target] = nil
		case *ir.ReturnLocalStmt:
			f.ret = f.locals[st.Source]
			return returned, nil
		case *ir.MakeArrayStmt:
			f.locals[st.Target] = ast.NewArray()
		case *ir.MakeObjectStmt:
			f.locals[st.Target] = ast.NewObject()
		case *ir.MakeSetStmt:
			f.locals[st.Target] = ast.NewSet()
		case *ir.ArrayAppendStmt:
			arr, ok := f.locals[st.Array].(*ast.Array)
			if !ok {
				return 0, &Error{Msg: "array append to a non-array"}
			}
			f.locals[st.Array] = arr.Append(ast.NewTerm(s.read(f, st.Value)))
		case *ir.SetAddStmt:
			set, ok := f.locals[st.Set].(ast.Set)
			if !ok {
				return 0, &Error{Msg: "set add to a non-set"}
			}
			set.Add(ast.NewTerm(s.read(f, st.Value)))
		case *ir.MakeNumberRefStmt:
			f.locals[st.Target] = ast.Number(s.p.strings[st.Index].(ast.String))
		case *ir.MakeNumberIntStmt:
			f.locals[st.Target] = ast.InternedTerm(int(st.Value)).Value
		case *ir.AssignIntStmt:
			f.locals[st.Target] = ast.InternedTerm(int(st.Value)).Value
		case *ir.MakeNullStmt:
			f.locals[st.Target] = ast.NullValue
		case *ir.BlockStmt:
			for _, b := range st.Blocks {
				c, _, err := s.target(f, b)
				if err != nil {
					return 0, err
				}
				if c != ranToEnd {
					return c, nil
				}
			}
		case *ir.NotStmt:
			c, completed, err := s.target(f, st.Block)
			if err != nil {
				return 0, err
			}
			if c != ranToEnd {
				return c, nil
			}
			if completed {
				return 0, nil
			}
		case *ir.ScanStmt:
			c, err := s.scan(f, st)
			if err != nil {
				return 0, err
			}
			if c != ranToEnd {
				return c, nil
			}
		case *ir.BreakStmt:
			return int(st.Index), nil
		case *ir.LenStmt:
			n, ok := length(s.read(f, st.Source))
			if !ok {
				return 0, nil
			}
			f.locals[st.Target] = ast.InternedTerm(n).Value
		case *ir.IsArrayStmt:
			if _, ok := s.read(f, st.Source).(*ast.Array); !ok {
				return 0, nil
			}
		case *ir.IsObjectStmt:
			if _, ok := s.read(f, st.Source).(ast.Object); !ok {
				return 0, nil
			}
		case *ir.IsSetStmt:
			if _, ok := s.read(f, st.Source).(ast.Set); !ok {
				return 0, nil
			}
		case *ir.ResultSetAddStmt:
			s.results = append(s.results, f.locals[st.Value])
		case *ir.NopStmt:
		default:
			return 0, fmt.Errorf("statement %T is not implemented", st) // Compile refuses these
		}
	}
	return ranToEnd, nil
}

// scan runs the loop body once per element of the source; a break of 0
// goes on with the next element, of 1 leaves the loop.
func (s *state) scan(f *frame, st *ir.ScanStmt) (int, error) {
	var code int
	var err error
	body := func(k, v ast.Value) bool {
		if err = s.tick(); err != nil {
			return true
		}
		f.locals[st.Key], f.locals[st.Value] = k, v
		var c int
		c, err = s.run(f, st.Block.Stmts)
		switch {
		case err != nil:
			return true
		case c == ranToEnd || c == 0:
			return false
		case c == 1:
			code = ranToEnd
			return true
		case c == returned:
			code = returned
			return true
		default:
			code = c - 2
			return true
		}
	}
	code = ranToEnd
	switch src := f.locals[st.Source].(type) {
	case *ast.Array:
		for i := 0; i < src.Len(); i++ {
			if body(ast.InternedTerm(i).Value, src.Elem(i).Value) {
				break
			}
		}
	case ast.Object:
		for _, k := range src.Keys() {
			if body(k.Value, src.Get(k).Value) {
				break
			}
		}
	case ast.Set:
		for _, e := range src.Slice() {
			if body(e.Value, e.Value) {
				break
			}
		}
	}
	return code, err
}

// tick counts a step and, every 1,024, stops the evaluation when its
// context is done (a time limit, a client gone), as topdown does.
func (s *state) tick() error {
	s.steps++
	if s.steps&1023 == 0 {
		if err := s.ctx.Err(); err != nil {
			return &Error{Msg: "evaluation cancelled: " + err.Error()}
		}
	}
	return nil
}

// call calls a function of the plan or a builtin; nil is undefined.
func (s *state) call(f *frame, st *ir.CallStmt) (ast.Value, error) {
	if fn, ok := s.p.funcs[st.Func]; ok {
		if fn.memo && s.memoSet[fn.index] {
			return s.memo[fn.index], nil
		}
		if err := s.tick(); err != nil {
			return nil, err
		}
		s.depth++
		if s.depth > 10000 {
			return nil, &Error{Msg: "call depth exceeded"}
		}
		g := &frame{locals: make([]ast.Value, fn.locals)}
		for i, p := range fn.f.Params {
			g.locals[p] = s.read(f, st.Args[i])
		}
		var out ast.Value
		done := false
		for _, b := range fn.f.Blocks {
			c, _, err := s.target(g, b)
			if err != nil {
				s.depth--
				return nil, err
			}
			if c == returned {
				out, done = g.ret, true
				break
			}
		}
		if !done {
			out = g.locals[fn.f.Return]
		}
		s.depth--
		if fn.memo {
			s.memo[fn.index], s.memoSet[fn.index] = out, true
		}
		return out, nil
	}
	bi := s.p.builtins[st.Func]
	if bi == nil {
		return nil, fmt.Errorf("call of %s: no such function", st.Func)
	}
	args := make([]*ast.Term, len(st.Args))
	for i, a := range st.Args {
		v := s.read(f, a)
		if v == nil {
			return nil, nil // an undefined argument: the call is undefined
		}
		args[i] = ast.NewTerm(v)
	}
	var out ast.Value
	err := bi(s.bctx, args, func(t *ast.Term) error {
		out = t.Value
		return nil
	})
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	return out, nil
}

// dot looks key up in source: an object's value, an array's element, a
// set's member; nil when there is none.
func dot(source, key ast.Value) ast.Value {
	switch src := source.(type) {
	case ast.Object:
		if t := src.Get(ast.NewTerm(key)); t != nil {
			return t.Value
		}
	case *ast.Array:
		n, ok := key.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= src.Len() {
			return nil
		}
		return src.Elem(i).Value
	case ast.Set:
		if src.Contains(ast.NewTerm(key)) {
			return key
		}
	}
	return nil
}

func length(v ast.Value) (int, bool) {
	switch v := v.(type) {
	case *ast.Array:
		return v.Len(), true
	case ast.Object:
		return v.Len(), true
	case ast.Set:
		return v.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(v)), true
	}
	return 0, false
}
