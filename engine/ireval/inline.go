package ireval

import "github.com/open-policy-agent/opa/v1/ir"

// Most functions of a plan are called from one place: a rule's helper
// from the rule, a branch's function from its branch. Each run of one
// costs a frame laid and cleared, its arguments copied and kept for
// recall, its result copied back, and the statements the planner puts
// around every function's result. Before a function (or the plan) is
// optimized, the inliner puts in place of a call the body of the function
// it calls when that function
//
//   - is called from that one place in the whole plan,
//   - takes arguments (a rule, memoized for the evaluation, stays a call),
//   - and the call is not within a loop (a scan's body), so that the
//     body, like a new frame, starts with its locals undefined: a block
//     runs at most once per run of the function around it.
//
// The body's locals are renumbered past the caller's, and runs as it
// would in its own frame:
//
//	p1 = arg1 ... pn = argn                 the parameters
//	block { body's blocks }                 each still a break target
//	is_defined(ret); result = ret           an undefined result breaks
//
// where the body's closing ReturnLocal is a copy into ret. A body that
// may return before its end is wrapped in a second block, and each of its
// returns is a copy into ret and a break out of both. A function whose
// breaks leave its own blocks (none that the planner makes) is not
// inlined. The copies this makes are removed by the optimizer's passes
// that follow.

// inliner knows which functions are inlined and keeps each function's
// blocks with its calls inlined.
type inliner struct {
	funcs    map[string]*function
	calls    map[string]int // by function: the calls of it in the plan
	looped   map[string]bool
	expanded map[*function][]*ir.Block
}

func newInliner(funcs map[string]*function, plan []*ir.Block) *inliner {
	in := &inliner{funcs: funcs, calls: map[string]int{}, looped: map[string]bool{}, expanded: map[*function][]*ir.Block{}}
	in.count(plan, false)
	for _, fn := range funcs {
		in.count(fn.f.Blocks, false)
	}
	return in
}

// count counts the calls in blocks, and which are within a loop.
func (in *inliner) count(blocks []*ir.Block, loop bool) {
	for _, b := range blocks {
		for _, st := range b.Stmts {
			if call, ok := st.(*ir.CallStmt); ok {
				in.calls[call.Func]++
				in.looped[call.Func] = in.looped[call.Func] || loop
			}
			_, isScan := st.(*ir.ScanStmt)
			bs, _ := inner(st)
			in.count(bs, loop || isScan)
		}
	}
}

// inlined tells whether calls of fn are replaced by its body.
func (in *inliner) inlined(fn *function) bool {
	name := fn.f.Name
	if fn.memo || in.calls[name] != 1 || in.looped[name] {
		return false
	}
	for _, b := range fn.f.Blocks {
		if !walkable(b) || !breaksStay(b.Stmts, 1) {
			return false
		}
	}
	return true
}

// breaksStay tells whether every break in stmts, depth break targets deep
// in a function, stays within the function.
func breaksStay(stmts []ir.Stmt, depth int) bool {
	for _, st := range stmts {
		if br, ok := st.(*ir.BreakStmt); ok && int(br.Index) >= depth {
			return false
		}
		bs, deeper := inner(st)
		for _, b := range bs {
			if !breaksStay(b.Stmts, depth+deeper) {
				return false
			}
		}
	}
	return true
}

// blocks is fn's blocks with its calls of inlined functions replaced by
// their bodies (and theirs, and so on).
func (in *inliner) blocks(fn *function) []*ir.Block {
	if bs, ok := in.expanded[fn]; ok {
		return bs
	}
	in.expanded[fn] = fn.f.Blocks // a call cycle, refused later, inlines nothing
	next := fn.f.Return + 1
	for _, p := range fn.f.Params {
		next = max(next, p+1)
	}
	bs := in.expand(fn.f.Blocks, next)
	in.expanded[fn] = bs
	return bs
}

// expand is blocks with their calls of inlined functions replaced by their
// bodies; locals from next on are free.
func (in *inliner) expand(blocks []*ir.Block, next ir.Local) []*ir.Block {
	for _, b := range blocks {
		next = max(next, ir.Local(highest(b)+1))
	}
	out := make([]*ir.Block, len(blocks))
	for i, b := range blocks {
		out[i] = in.block(b, &next)
	}
	return out
}

// block is b with its calls of inlined functions replaced; next is the
// caller's first unused local.
func (in *inliner) block(b *ir.Block, next *ir.Local) *ir.Block {
	out := &ir.Block{Stmts: make([]ir.Stmt, 0, len(b.Stmts))}
	for _, st := range b.Stmts {
		if call, ok := st.(*ir.CallStmt); ok {
			if fn := in.funcs[call.Func]; fn != nil && len(call.Args) == len(fn.f.Params) && in.inlined(fn) {
				out.Stmts = append(out.Stmts, in.splice(fn, call, next)...)
				continue
			}
		}
		switch st.(type) {
		case *ir.BlockStmt, *ir.NotStmt, *ir.ScanStmt:
			c := clone(st)
			nested(c, func(b *ir.Block) *ir.Block { return in.block(b, next) })
			st = c
		}
		out.Stmts = append(out.Stmts, st)
	}
	return out
}

// splice is the statements that run fn's body in place of call.
func (in *inliner) splice(fn *function, call *ir.CallStmt, next *ir.Local) []ir.Stmt {
	base := *next
	body := relabel(in.blocks(fn), func(l ir.Local) ir.Local {
		*next = max(*next, base+l+1)
		return base + l
	})
	stmts := make([]ir.Stmt, 0, len(fn.f.Params)+3)
	for i, p := range fn.f.Params {
		stmts = append(stmts, &ir.AssignVarStmt{Source: call.Args[i], Target: base + p})
		*next = max(*next, base+p+1)
	}
	ret := base + fn.f.Return
	*next = max(*next, ret+1)
	// A body that returns only at its very end runs within one block;
	// one that may return earlier, within a second, which its returns
	// leave.
	early := returnsEarly(body)
	if len(body) == 0 {
		body = []*ir.Block{{}}
	}
	if last := body[len(body)-1]; len(last.Stmts) > 0 && !early {
		if r, ok := last.Stmts[len(last.Stmts)-1].(*ir.ReturnLocalStmt); ok {
			last.Stmts[len(last.Stmts)-1] = &ir.AssignVarStmt{Source: ir.Operand{Value: r.Source}, Target: ret}
		}
	}
	var run ir.Stmt = &ir.BlockStmt{Blocks: body}
	if early {
		for i, b := range body {
			body[i] = returns(b, ret, 1)
		}
		run = &ir.BlockStmt{Blocks: []*ir.Block{{Stmts: []ir.Stmt{run}}}}
	}
	return append(stmts, run,
		&ir.IsDefinedStmt{Source: ret},
		&ir.AssignVarStmt{Source: ir.Operand{Value: ret}, Target: call.Result},
	)
}

// returnsEarly tells whether blocks, a function's, have a ReturnLocal
// anywhere but as the last statement of the last block.
func returnsEarly(blocks []*ir.Block) bool {
	var within func(stmts []ir.Stmt) bool
	within = func(stmts []ir.Stmt) bool {
		for _, st := range stmts {
			if _, ok := st.(*ir.ReturnLocalStmt); ok {
				return true
			}
			bs, _ := inner(st)
			for _, b := range bs {
				if within(b.Stmts) {
					return true
				}
			}
		}
		return false
	}
	for i, b := range blocks {
		stmts := b.Stmts
		if i == len(blocks)-1 && len(stmts) > 0 {
			if _, ok := stmts[len(stmts)-1].(*ir.ReturnLocalStmt); ok {
				stmts = stmts[:len(stmts)-1]
			}
		}
		if within(stmts) {
			return true
		}
	}
	return false
}

// returns is b, depth break targets deep in an inlined body, with each
// ReturnLocal made a copy into ret and a break out of the body's two
// enclosing blocks.
func returns(b *ir.Block, ret ir.Local, depth int) *ir.Block {
	out := &ir.Block{Stmts: make([]ir.Stmt, 0, len(b.Stmts))}
	for _, st := range b.Stmts {
		if r, ok := st.(*ir.ReturnLocalStmt); ok {
			out.Stmts = append(out.Stmts,
				&ir.AssignVarStmt{Source: ir.Operand{Value: r.Source}, Target: ret},
				&ir.BreakStmt{Index: uint32(depth)})
			continue
		}
		if _, deeper := inner(st); deeper > 0 {
			c := clone(st)
			nested(c, func(b *ir.Block) *ir.Block { return returns(b, ret, depth+deeper) })
			st = c
		}
		out.Stmts = append(out.Stmts, st)
	}
	return out
}
