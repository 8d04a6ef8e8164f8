package ireval

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// code is a compiled statement or block run over a frame's locals. It
// returns a control code: ranToEnd, returned (a function returned, its
// value in state.ret), failed (an error, in state.err), or k >= 0: a break
// out of k enclosing targets (0: the innermost; an undefined statement
// breaks 0).
type code func(s *state, l []value) int

const (
	ranToEnd = -1
	returned = -2
	failed   = -3
)

// target is what the statement list around a block that is a break target
// does after it: a break of 0 ends the target, a deeper one goes on out.
func target(c int) int {
	switch {
	case c == 0:
		return ranToEnd
	case c > 0:
		return c - 1
	}
	return c
}

type function struct {
	index int
	f     *ir.Func
	memo  bool // a rule: its value is kept for the evaluation
	// recall: a function of arguments whose results are kept for the
	// evaluation, by arguments (it calls no nondeterministic builtin, even
	// through another function)
	recall  bool
	impure  bool // it calls a nondeterministic builtin itself
	params  []int
	ret     int
	locals  int
	body    []code
	callees []*function
	deep    int // the deepest chain of frames below this one; -1 while measured
	seen    bool
}

type compiler struct {
	strings  []value
	numbers  []value
	funcs    map[string]*function
	builtins map[string]*builtin
	inserts  map[*ir.MakeObjectStmt]int // the keys each object literal is given
	frame    *int                       // the locals of the frame being compiled
	impure   bool                       // it calls a nondeterministic builtin
	callees  []*function                // what it calls
	dots     int                        // lookups of constant keys, each with its hint (dot)
	plain    bool                       // the plan as planned, not optimized (tests)
	inline   *inliner                   // nil: calls stay calls
}

func (c *compiler) function(fn *function) error {
	fn.locals = int(fn.f.Return) + 1
	fn.ret = int(fn.f.Return)
	for _, p := range fn.f.Params {
		fn.params = append(fn.params, int(p))
		fn.locals = max(fn.locals, int(p)+1)
	}
	c.frame, c.callees, c.impure = &fn.locals, nil, false
	blocks := fn.f.Blocks
	if c.inline != nil {
		blocks = c.inline.blocks(fn)
	}
	for _, b := range c.optimize(blocks, append(slices.Clone(fn.f.Params), fn.f.Return), len(fn.f.Params), fn.f.Return) {
		code, err := c.block(b)
		if err != nil {
			return err
		}
		fn.body = append(fn.body, code)
	}
	fn.callees, fn.impure = c.callees, c.impure
	return nil
}

// pure tells whether fn, and every function it calls, calls only
// deterministic builtins (called once the call graph is known to be free
// of cycles); known records what is already known of each.
func pure(fn *function, known map[*function]bool) bool {
	if p, ok := known[fn]; ok {
		return p
	}
	p := !fn.impure
	for _, g := range fn.callees {
		p = p && pure(g, known)
	}
	known[fn] = p
	return p
}

// depth is the deepest chain of frames the functions called can lay on
// the stack. A cycle, which Rego forbids, is refused.
func (c *compiler) depth(callees []*function) (int, error) {
	deepest := 0
	for _, fn := range callees {
		if fn.seen && fn.deep < 0 {
			return 0, fmt.Errorf("%s calls itself", fn.f.Name)
		}
		if !fn.seen {
			fn.seen, fn.deep = true, -1
			d, err := c.depth(fn.callees)
			if err != nil {
				return 0, err
			}
			fn.deep = d
		}
		deepest = max(deepest, fn.locals+fn.deep)
	}
	return deepest, nil
}

func (c *compiler) local(l ir.Local) int {
	*c.frame = max(*c.frame, int(l)+1)
	return int(l)
}

// operand is a local of the frame, or a constant.
type operand struct {
	local int // -1: the constant
	value value
}

func (o operand) get(l []value) value {
	if o.local >= 0 {
		return l[o.local]
	}
	return o.value
}

func (c *compiler) operand(o ir.Operand) (operand, error) {
	switch v := o.Value.(type) {
	case ir.Local:
		return operand{local: c.local(v)}, nil
	case ir.Bool:
		return operand{local: -1, value: bool(v)}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(c.strings) {
			return operand{}, fmt.Errorf("string constant %d out of range", v)
		}
		return operand{local: -1, value: c.strings[v]}, nil
	}
	return operand{}, fmt.Errorf("operand %T is not implemented", o.Value)
}

func (c *compiler) operands(os ...ir.Operand) ([]operand, error) {
	out := make([]operand, len(os))
	for i, o := range os {
		var err error
		if out[i], err = c.operand(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// block compiles a block's statements into one code.
func (c *compiler) block(b *ir.Block) (code, error) {
	c.countInserts(b)
	codes := make([]code, 0, len(b.Stmts))
	for i := 0; i < len(b.Stmts); i++ {
		cd, n, err := c.literal(b.Stmts[i:])
		if err != nil {
			return nil, err
		}
		if n > 0 {
			codes, i = append(codes, cd), i+n-1
			continue
		}
		if cd, err = c.stmt(b.Stmts[i]); err != nil {
			return nil, err
		}
		if cd != nil {
			codes = append(codes, cd)
		}
	}
	switch len(codes) {
	case 0:
		return func(*state, []value) int { return ranToEnd }, nil
	case 1:
		return codes[0], nil
	}
	return func(s *state, l []value) int {
		for _, cd := range codes {
			if r := cd(s, l); r != ranToEnd {
				return r
			}
		}
		return ranToEnd
	}, nil
}

// countInserts sizes the objects a block makes: an object literal is
// planned as a MakeObjectStmt followed, in the same block, by one insert
// per key (an object filled in a loop grows as it goes).
func (c *compiler) countInserts(b *ir.Block) {
	made := map[ir.Local]*ir.MakeObjectStmt{}
	for _, st := range b.Stmts {
		if mk, ok := st.(*ir.MakeObjectStmt); ok {
			made[mk.Target] = mk
		} else if obj, _, _, _, ok := insertion(st); ok && made[obj] != nil {
			c.inserts[made[obj]]++
		}
	}
}

var errConflict = &Error{Msg: "eval_conflict_error: complete rules must not produce multiple outputs"}
var errKeyConflict = &Error{Msg: "eval_conflict_error: object keys must be unique"}

// stmt compiles one statement; nil is a statement that does nothing.
func (c *compiler) stmt(st ir.Stmt) (code, error) {
	switch st := st.(type) {
	case *ir.AssignVarStmt:
		src, err := c.operand(st.Source)
		if err != nil {
			return nil, err
		}
		t := c.local(st.Target)
		if src.local >= 0 {
			from := src.local
			return func(_ *state, l []value) int { l[t] = l[from]; return ranToEnd }, nil
		}
		return func(_ *state, l []value) int { l[t] = src.value; return ranToEnd }, nil
	case *ir.AssignVarOnceStmt:
		src, err := c.operand(st.Source)
		if err != nil {
			return nil, err
		}
		t := c.local(st.Target)
		return func(s *state, l []value) int {
			v := src.get(l)
			if cur := l[t]; cur != nil {
				if compare(cur, v) != 0 {
					return s.fail(errConflict)
				}
				return ranToEnd
			}
			l[t] = v
			return ranToEnd
		}, nil
	case *ir.CallStmt:
		return c.call(st)
	case *ir.DotStmt:
		ops, err := c.operands(st.Source, st.Key)
		if err != nil {
			return nil, err
		}
		src, key, t := ops[0], ops[1], c.local(st.Target)
		if name, ok := key.value.(string); ok && key.local < 0 {
			return c.dot(src, name, key.value, t), nil
		}
		return func(s *state, l []value) int {
			v := lookup(src.get(l), key.get(l))
			if v == nil {
				return 0
			}
			l[t] = v
			return ranToEnd
		}, nil
	case *ir.ObjectInsertStmt, *ir.ObjectInsertOnceStmt:
		obj, key, val, once, _ := insertion(st)
		return c.insert(obj, key, val, once)
	case *ir.EqualStmt:
		return c.equal(st.A, st.B, true)
	case *ir.NotEqualStmt:
		return c.equal(st.A, st.B, false)
	case *ir.IsDefinedStmt:
		return c.defined(st.Source, true), nil
	case *ir.IsUndefinedStmt:
		return c.defined(st.Source, false), nil
	case *ir.ResetLocalStmt:
		t := c.local(st.Target)
		return func(_ *state, l []value) int { l[t] = nil; return ranToEnd }, nil
	case *ir.ReturnLocalStmt:
		src := c.local(st.Source)
		return func(s *state, l []value) int { s.ret = l[src]; return returned }, nil
	case *ir.MakeArrayStmt:
		t, n := c.local(st.Target), int(st.Capacity)
		return func(s *state, l []value) int { l[t] = s.ar.array(n); return ranToEnd }, nil
	case *ir.MakeObjectStmt:
		t, n := c.local(st.Target), c.inserts[st]
		return func(s *state, l []value) int { l[t] = s.ar.object(n); return ranToEnd }, nil
	case *ir.MakeSetStmt:
		t := c.local(st.Target)
		return func(s *state, l []value) int { l[t] = s.ar.set(0); return ranToEnd }, nil
	case *ir.ArrayAppendStmt:
		return add(c, st.Value, st.Array, "array append to a non-array", (*array).append)
	case *ir.SetAddStmt:
		return add(c, st.Value, st.Set, "set add to a non-set", (*set).added)
	case *ir.MakeNumberRefStmt:
		if st.Index < 0 || st.Index >= len(c.numbers) {
			return nil, fmt.Errorf("number constant %d out of range", st.Index)
		}
		return c.constant(st.Target, c.numbers[st.Index]), nil
	case *ir.MakeNumberIntStmt:
		return c.constant(st.Target, st.Value), nil
	case *ir.AssignIntStmt:
		return c.constant(st.Target, st.Value), nil
	case *ir.MakeNullStmt:
		return c.constant(st.Target, null{}), nil
	case *ir.BlockStmt:
		blocks := make([]code, len(st.Blocks))
		for i, b := range st.Blocks {
			var err error
			if blocks[i], err = c.block(b); err != nil {
				return nil, err
			}
		}
		return func(s *state, l []value) int {
			for _, b := range blocks {
				if r := target(b(s, l)); r != ranToEnd {
					return r
				}
			}
			return ranToEnd
		}, nil
	case *ir.NotStmt:
		b, err := c.block(st.Block)
		if err != nil {
			return nil, err
		}
		return func(s *state, l []value) int {
			if r := b(s, l); r != ranToEnd {
				return target(r) // the block is a break target
			}
			return 0 // the negated block holds: not is undefined
		}, nil
	case *ir.ScanStmt:
		body, err := c.block(st.Block)
		if err != nil {
			return nil, err
		}
		sc := &scan{source: c.local(st.Source), key: c.local(st.Key), value: c.local(st.Value), body: body}
		return sc.run, nil
	case *ir.BreakStmt:
		k := int(st.Index)
		return func(*state, []value) int { return k }, nil
	case *ir.LenStmt:
		src, err := c.operand(st.Source)
		if err != nil {
			return nil, err
		}
		t := c.local(st.Target)
		return func(_ *state, l []value) int {
			n, ok := length(src.get(l))
			if !ok {
				return 0
			}
			l[t] = integer(int64(n))
			return ranToEnd
		}, nil
	case *ir.IsArrayStmt:
		return isValue[*array](c, st.Source)
	case *ir.IsObjectStmt:
		return isValue[*object](c, st.Source)
	case *ir.IsSetStmt:
		return isValue[*set](c, st.Source)
	case *ir.ResultSetAddStmt:
		src := c.local(st.Value)
		return func(s *state, l []value) int { s.results = append(s.results, l[src]); return ranToEnd }, nil
	case *ir.NopStmt:
		return nil, nil
	}
	return nil, fmt.Errorf("statement %T is not implemented", st)
}

// insertion is what an ObjectInsertStmt or ObjectInsertOnceStmt inserts
// where; false for any other statement.
func insertion(st ir.Stmt) (obj ir.Local, key, val ir.Operand, once, ok bool) {
	switch st := st.(type) {
	case *ir.ObjectInsertStmt:
		return st.Object, st.Key, st.Value, false, true
	case *ir.ObjectInsertOnceStmt:
		return st.Object, st.Key, st.Value, true, true
	}
	return 0, ir.Operand{}, ir.Operand{}, false, false
}

// insert inserts key: value into the object; once, a key already there
// with another value is a conflict.
func (c *compiler) insert(target ir.Local, ok, ov ir.Operand, once bool) (code, error) {
	ops, err := c.operands(ok, ov)
	if err != nil {
		return nil, err
	}
	key, val, o := ops[0], ops[1], c.local(target)
	return func(s *state, l []value) int {
		obj, isObj := l[o].(*object)
		if !isObj {
			return s.fail(&Error{Msg: "object insert into a non-object"})
		}
		k, v := key.get(l), val.get(l)
		if once {
			if cur := obj.get(k); cur != nil {
				if compare(cur, v) != 0 {
					return s.fail(errKeyConflict)
				}
				return ranToEnd
			}
		}
		obj = obj.writable(&s.ar)
		obj.put(&s.ar, k, v)
		l[o] = obj
		return ranToEnd
	}, nil
}

// add adds the operand to the collection of type T in the local (one the
// plan made); a local that holds no T fails with msg.
func add[T *array | *set](c *compiler, o ir.Operand, local ir.Local, msg string, put func(T, *arena, value) T) (code, error) {
	val, err := c.operand(o)
	if err != nil {
		return nil, err
	}
	t := c.local(local)
	return func(s *state, l []value) int {
		coll, ok := l[t].(T)
		if !ok {
			return s.fail(&Error{Msg: msg})
		}
		l[t] = put(coll, &s.ar, val.get(l))
		return ranToEnd
	}, nil
}

// isValue holds when the operand is a T.
func isValue[T *array | *object | *set](c *compiler, o ir.Operand) (code, error) {
	src, err := c.operand(o)
	if err != nil {
		return nil, err
	}
	return func(_ *state, l []value) int {
		if _, ok := src.get(l).(T); !ok {
			return 0
		}
		return ranToEnd
	}, nil
}

// equal holds when a and b are equal (want) or differ (!want).
func (c *compiler) equal(oa, ob ir.Operand, want bool) (code, error) {
	ops, err := c.operands(oa, ob)
	if err != nil {
		return nil, err
	}
	a, b := ops[0], ops[1]
	return func(_ *state, l []value) int {
		if (compare(a.get(l), b.get(l)) == 0) != want {
			return 0
		}
		return ranToEnd
	}, nil
}

// defined holds when the local is defined (want) or undefined (!want).
func (c *compiler) defined(local ir.Local, want bool) code {
	src := c.local(local)
	return func(_ *state, l []value) int {
		if (l[src] != nil) != want {
			return 0
		}
		return ranToEnd
	}
}

func (c *compiler) constant(target ir.Local, v value) code {
	t := c.local(target)
	return func(_ *state, l []value) int { l[t] = v; return ranToEnd }
}

// call compiles a call of a function of the plan or of a builtin.
func (c *compiler) call(st *ir.CallStmt) (code, error) {
	args, err := c.operands(st.Args...)
	if err != nil {
		return nil, err
	}
	res := c.local(st.Result)
	if fn, ok := c.funcs[st.Func]; ok {
		if len(args) != len(fn.f.Params) {
			return nil, fmt.Errorf("call of %s with %d arguments, not %d", st.Func, len(args), len(fn.f.Params))
		}
		c.callees = append(c.callees, fn)
		return func(s *state, l []value) int {
			v, r := s.call(fn, args, l)
			if r != ranToEnd {
				return r
			}
			if v == nil {
				return 0
			}
			l[res] = v
			return ranToEnd
		}, nil
	}
	bi := c.builtins[st.Func]
	if bi == nil {
		return nil, fmt.Errorf("call of %s: neither a function of the plan nor a builtin", st.Func)
	}
	if decl := ast.BuiltinMap[st.Func]; decl == nil || decl.Nondeterministic {
		c.impure = true
	}
	if len(args) > len(state{}.args) {
		return nil, fmt.Errorf("call of %s with %d arguments", st.Func, len(args))
	}
	return func(s *state, l []value) int {
		in := s.args[:len(args)]
		for i, a := range args {
			v := a.get(l)
			if v == nil {
				return 0 // an undefined argument: the call is undefined
			}
			in[i] = v
		}
		v, err := bi.call(s, in)
		clear(in)
		if err != nil {
			return s.fail(&Error{Msg: err.Error()})
		}
		if v == nil {
			return 0
		}
		l[res] = v
		return ranToEnd
	}, nil
}

// call runs a function of the plan in a new frame; a function of two
// parameters (input and data: a rule) is memoized for the evaluation.
func (s *state) call(fn *function, args []operand, l []value) (value, int) {
	if fn.memo && s.memoSet[fn.index] {
		return s.memo[fn.index], ranToEnd
	}
	if fn.recall {
		if out, ok := s.recalled(fn, args, l); ok {
			return out, ranToEnd
		}
	}
	if !s.tick() {
		return nil, failed
	}
	g := s.push(fn.locals)
	for i, p := range fn.params {
		g[p] = args[i].get(l)
	}
	var kept []value
	if fn.recall && len(s.calls[fn.index]) < maxRecalled { // the arguments, before the body can reuse their locals
		kept = s.keep(g, fn.params)
	}
	var out value
	done := false
	for _, b := range fn.body {
		switch target(b(s, g)) {
		case failed:
			s.sp -= fn.locals
			return nil, failed
		case returned:
			out, done = s.ret, true
		}
		if done {
			break
		}
	}
	if !done {
		out = g[fn.ret]
	}
	s.sp -= fn.locals
	if fn.memo {
		s.memo[fn.index], s.memoSet[fn.index] = out, true
	}
	if fn.recall && len(s.calls[fn.index]) < maxRecalled {
		s.calls[fn.index] = append(s.calls[fn.index], recalled{args: kept, out: out})
	}
	return out, ranToEnd
}

// maxRecalled bounds the calls of one function kept for an evaluation,
// and so the search for one: a function called in a loop with as many
// arguments as a request has lines is run for those past the first ones,
// rather than searched for among thousands.
const maxRecalled = 16

// recalled is a call of a function with arguments, and what it gave.
type recalled struct {
	args []value
	out  value // nil: undefined
}

// recalled is what fn gave, earlier in the evaluation, for the same
// arguments.
func (s *state) recalled(fn *function, args []operand, l []value) (value, bool) {
next:
	for _, c := range s.calls[fn.index] {
		for i, a := range args {
			if !same(a.get(l), c.args[i]) {
				continue next
			}
		}
		return c.out, true
	}
	return nil, false
}

// keep copies a call's arguments into the evaluation's store of them.
func (s *state) keep(g []value, params []int) []value {
	start := len(s.kept)
	for _, p := range params {
		s.kept = append(s.kept, g[p])
	}
	return s.kept[start:len(s.kept):len(s.kept)]
}

// scan runs its body once per element of the source: a break of 0 goes on
// with the next element, of 1 leaves the loop.
type scan struct {
	source, key, value int
	body               code
}

func (sc *scan) run(s *state, l []value) int {
	switch src := l[sc.source].(type) {
	case *array:
		for i, e := range src.elems {
			if stop, r := sc.step(s, l, integer(int64(i)), e); stop {
				return r
			}
		}
	case *object:
		for i, k := range src.keys {
			if stop, r := sc.step(s, l, k, src.vals[i]); stop {
				return r
			}
		}
	case *set:
		for _, e := range src.elems {
			if stop, r := sc.step(s, l, e, e); stop {
				return r
			}
		}
	}
	return ranToEnd
}

func (sc *scan) step(s *state, l []value, k, v value) (bool, int) {
	if !s.tick() {
		return true, failed
	}
	l[sc.key], l[sc.value] = k, v
	switch r := sc.body(s, l); {
	case r == ranToEnd || r == 0:
		return false, ranToEnd
	case r == 1:
		return true, ranToEnd
	case r < 0:
		return true, r
	default:
		return true, r - 2
	}
}

// dot looks a constant string key up. Each such lookup remembers, in the
// evaluation's state, where it last found its key in an object: objects
// of one shape (a request's, a rule's) have it at the same place, and the
// plan's strings are the request's keys (Program.input), so that a
// lookup is mostly one string comparison of two equal pointers.
//
// The key is given as a string and as the value that holds it (for a
// source that is not an object), so that no lookup boxes it again.
func (c *compiler) dot(src operand, name string, key value, t int) code {
	site := c.dots
	c.dots++
	return func(s *state, l []value) int {
		v := src.get(l)
		if o, ok := v.(*object); ok {
			v = nil
			h := int(s.hints[site])
			if k, ok := at(o.keys, h).(string); ok && k == name {
				v = o.vals[h]
			} else if i, ok := searchString(o.keys, name); ok {
				v, s.hints[site] = o.vals[i], int32(i)
			}
		} else {
			v = lookup(v, key)
		}
		if v == nil {
			return 0
		}
		l[t] = v
		return ranToEnd
	}
}

// at is keys[i], nil past the end.
func at(keys []value, i int) value {
	if i < len(keys) {
		return keys[i]
	}
	return nil
}

// lookup looks key up in source: an object's value, an array's element, a
// set's member; nil when there is none.
func lookup(source, key value) value {
	switch src := source.(type) {
	case *object:
		return src.get(key)
	case *array:
		var i int64
		switch n := key.(type) {
		case int64:
			i = n
		case ast.Number:
			x, ok := n.Int()
			if !ok {
				return nil
			}
			i = int64(x)
		default:
			return nil
		}
		if i < 0 || i >= int64(len(src.elems)) {
			return nil
		}
		return src.elems[i]
	case *set:
		if src.has(key) {
			return key
		}
	}
	return nil
}

func length(v value) (int, bool) {
	switch v := v.(type) {
	case *array:
		return len(v.elems), true
	case *object:
		return len(v.keys), true
	case *set:
		return len(v.elems), true
	case string:
		return utf8.RuneCountInString(v), true
	}
	return 0, false
}
