package ireval

import (
	"maps"
	"reflect"
	"slices"

	"github.com/open-policy-agent/opa/v1/ir"
)

// The planner copies freely: every branch of a rule or function copies
// the arguments into locals of its own, and most results are copied once
// more before they are used (a third of the statements a decision runs
// were such copies). Before a function or the plan is compiled, optimize
// removes them in two passes over its blocks:
//
//   - copy propagation: after `b = a` (a a local or a constant), a later
//     statement of the same block, or one nested in it, reads a where it
//     read b, up to the first statement that writes a or b (anywhere
//     within it);
//   - dead stores: a statement that only sets a local (a copy, a constant,
//     an empty collection, a reset) is dropped where no path on from it
//     reads that local before setting it again. Which locals are read
//     later is found by a backward analysis that follows the IR's
//     control: a statement that is undefined breaks out of the innermost
//     block, a break of k out of k+1 blocks, a not ends its enclosing block
//     when its own block runs to the end, a scan's body runs again.
//
// Both passes change only which local a value is read from and whether a
// value no one reads is stored; what each statement computes, in which
// order, is the plan's. The locals left are then numbered densely
// (compact). A plan with a statement these passes do not know is left as
// it is (Compile then refuses it, naming the statement).

// optimize rewrites blocks, whose exit locals are read after them (a
// function's return local); the locals of keep (parameters, the return
// local, input and data) keep their numbers, and the first defined of them
// are those set when the blocks start (the others are undefined then).
func optimize(blocks []*ir.Block, keep []ir.Local, defined int, exit ...ir.Local) []*ir.Block {
	known := true
	for _, b := range blocks {
		known = known && walkable(b)
	}
	if !known {
		return blocks
	}
	out := once(blocks, keep[:defined])
	for i, b := range out {
		out[i] = propagate(b)
	}
	n := 0
	for _, l := range exit {
		n = max(n, int(l)+1)
	}
	for _, b := range out {
		n = max(n, highest(b)+1)
	}
	lv := &liveness{n: n, after: map[ir.Stmt]locals{}}
	end := lv.none()
	for _, l := range exit {
		end.add(l)
	}
	lv.blocks(out, end, nil)
	for i, b := range out {
		out[i] = lv.sweep(b)
	}
	return compact(out, keep)
}

// compact numbers the locals blocks use densely: those of keep stay where
// they are, the others follow the highest of them in the order they first
// appear, so that a frame, cleared at every call, is no larger than the
// locals the optimized blocks still use.
func compact(blocks []*ir.Block, keep []ir.Local) []*ir.Block {
	var next ir.Local
	names := map[ir.Local]ir.Local{}
	for _, l := range keep {
		names[l], next = l, max(next, l+1)
	}
	return relabel(blocks, func(l ir.Local) ir.Local {
		n, ok := names[l]
		if !ok {
			n, next = next, next+1
			names[l] = n
		}
		return n
	})
}

// relabel is a copy of blocks whose every local l, read or set, is
// name(l), named in the order the locals appear.
func relabel(blocks []*ir.Block, name func(ir.Local) ir.Local) []*ir.Block {
	var block func(b *ir.Block) *ir.Block
	block = func(b *ir.Block) *ir.Block {
		stmts := make([]ir.Stmt, len(b.Stmts))
		for i, st := range b.Stmts {
			c := clone(st)
			ops, locs := fields(c)
			for _, o := range ops {
				if l, ok := o.Value.(ir.Local); ok {
					o.Value = name(l)
				}
			}
			for _, l := range locs {
				*l = name(*l)
			}
			if f := setField(c); f != nil {
				*f = name(*f)
			}
			if sc, ok := c.(*ir.ScanStmt); ok {
				sc.Key, sc.Value = name(sc.Key), name(sc.Value)
			}
			nested(c, block)
			stmts[i] = c
		}
		return &ir.Block{Stmts: stmts}
	}
	out := make([]*ir.Block, len(blocks))
	for i, b := range blocks {
		out[i] = block(b)
	}
	return out
}

// optimize is optimize unless the compiler is told not to (tests compare
// the two).
func (c *compiler) optimize(blocks []*ir.Block, keep []ir.Local, defined int, exit ...ir.Local) []*ir.Block {
	if c.plain {
		return blocks
	}
	return optimize(blocks, keep, defined, exit...)
}

// once returns blocks, which start with only the defined locals set, with
// every once-only assignment to a local that no path can have set before
// it made a plain copy (the planner assigns a rule's value, and a
// function's result, once-only into a local just reset), which copy
// propagation then removes, and every reset of such a local dropped. Which locals may be set at a statement: those
// set before it in its block, unless reset since, and at the start of a
// block those that may be set there, with everything a preceding block
// of the same run (a BlockStmt's, a function's) sets, and for a loop's
// body everything the body sets.
func once(blocks []*ir.Block, defined []ir.Local) []*ir.Block {
	maybe := map[ir.Local]bool{}
	for _, l := range defined {
		maybe[l] = true
	}
	return onceRun(blocks, maybe)
}

// onceRun is once over a run of blocks, each a break target, that start
// with maybe set; maybe is then what may be set after them.
func onceRun(blocks []*ir.Block, maybe map[ir.Local]bool) []*ir.Block {
	out := make([]*ir.Block, len(blocks))
	for i, b := range blocks {
		out[i] = onceBlock(b, maps.Clone(maybe))
		setAnywhere(b.Stmts, maybe)
	}
	return out
}

func onceBlock(b *ir.Block, maybe map[ir.Local]bool) *ir.Block {
	stmts := make([]ir.Stmt, 0, len(b.Stmts))
	for _, st := range b.Stmts {
		switch s := st.(type) {
		case *ir.AssignVarOnceStmt:
			if !maybe[s.Target] {
				st = &ir.AssignVarStmt{Source: s.Source, Target: s.Target}
			}
		case *ir.ResetLocalStmt:
			if maybe[s.Target] { // else it is undefined already
				stmts = append(stmts, st)
				delete(maybe, s.Target)
			}
			continue
		case *ir.BlockStmt:
			c := clone(s).(*ir.BlockStmt)
			c.Blocks = onceRun(s.Blocks, maps.Clone(maybe))
			st = c
		case *ir.NotStmt:
			c := clone(s).(*ir.NotStmt)
			c.Block = onceBlock(s.Block, maps.Clone(maybe))
			st = c
		case *ir.ScanStmt:
			body := maps.Clone(maybe)
			setAnywhere([]ir.Stmt{s}, body) // what the body's last run set
			c := clone(s).(*ir.ScanStmt)
			c.Block = onceBlock(s.Block, body)
			st = c
		}
		stmts = append(stmts, st)
		setAnywhere([]ir.Stmt{st}, maybe)
	}
	return &ir.Block{Stmts: stmts}
}

// walkable tells whether every statement of b is one the passes know.
func walkable(b *ir.Block) bool {
	for _, st := range b.Stmts {
		switch st.(type) {
		case *ir.BlockStmt, *ir.NotStmt, *ir.ScanStmt:
			bs, _ := inner(st)
			for _, nb := range bs {
				if !walkable(nb) {
					return false
				}
			}
		case *ir.AssignVarStmt, *ir.AssignVarOnceStmt, *ir.CallStmt, *ir.DotStmt,
			*ir.ObjectInsertStmt, *ir.ObjectInsertOnceStmt, *ir.EqualStmt, *ir.NotEqualStmt,
			*ir.IsDefinedStmt, *ir.IsUndefinedStmt, *ir.ResetLocalStmt, *ir.ReturnLocalStmt,
			*ir.MakeArrayStmt, *ir.MakeObjectStmt, *ir.MakeSetStmt, *ir.ArrayAppendStmt,
			*ir.SetAddStmt, *ir.MakeNumberRefStmt, *ir.MakeNumberIntStmt, *ir.AssignIntStmt,
			*ir.MakeNullStmt, *ir.BreakStmt, *ir.LenStmt, *ir.IsArrayStmt, *ir.IsObjectStmt,
			*ir.IsSetStmt, *ir.ResultSetAddStmt, *ir.NopStmt:
		default:
			return false
		}
	}
	return true
}

// highest is the highest local b's statements name.
func highest(b *ir.Block) int {
	h := -1
	for _, st := range b.Stmts {
		for _, l := range reads(st) {
			h = max(h, int(l))
		}
		if l, ok := sets(st); ok {
			h = max(h, int(l))
		}
		if sc, ok := st.(*ir.ScanStmt); ok {
			h = max(h, int(sc.Key), int(sc.Value))
		}
		bs, _ := inner(st)
		for _, nb := range bs {
			h = max(h, highest(nb))
		}
	}
	return h
}

// propagate returns b with its copies propagated (the copies themselves
// stay, for the dead-store pass to judge).
func propagate(b *ir.Block) *ir.Block {
	stmts := make([]ir.Stmt, len(b.Stmts))
	copy(stmts, b.Stmts)
	for i, st := range stmts {
		switch st := st.(type) {
		case *ir.AssignVarStmt:
			if src, ok := st.Source.Value.(ir.Local); ok && src == st.Target {
				continue
			}
			for j := i + 1; j < len(stmts); j++ {
				if writes(stmts[j], st.Target) || writesOperand(stmts[j], st.Source) {
					break
				}
				stmts[j] = rename(stmts[j], st.Target, st.Source)
			}
		case *ir.BlockStmt, *ir.NotStmt, *ir.ScanStmt:
			c := clone(st)
			nested(c, propagate)
			stmts[i] = c
		}
	}
	return &ir.Block{Stmts: stmts}
}

func writesOperand(st ir.Stmt, o ir.Operand) bool {
	l, ok := o.Value.(ir.Local)
	return ok && writes(st, l)
}

// writes tells whether st, or a statement within it, sets or changes l
// (a scan sets its key and value).
func writes(st ir.Stmt, l ir.Local) bool {
	if t, ok := sets(st); ok && t == l {
		return true
	}
	if sc, ok := st.(*ir.ScanStmt); ok && (sc.Key == l || sc.Value == l) {
		return true
	}
	bs, _ := inner(st)
	for _, b := range bs {
		for _, s := range b.Stmts {
			if writes(s, l) {
				return true
			}
		}
	}
	return false
}

// sets is the local a statement that is not a block sets or changes.
func sets(st ir.Stmt) (ir.Local, bool) {
	if f := setField(st); f != nil {
		return *f, true
	}
	return 0, false
}

// setField points at the local a statement that is not a block sets or
// changes; nil for one that sets none.
func setField(st ir.Stmt) *ir.Local {
	switch st := st.(type) {
	case *ir.AssignVarStmt:
		return &st.Target
	case *ir.AssignVarOnceStmt:
		return &st.Target
	case *ir.CallStmt:
		return &st.Result
	case *ir.DotStmt:
		return &st.Target
	case *ir.LenStmt:
		return &st.Target
	case *ir.ResetLocalStmt:
		return &st.Target
	case *ir.MakeArrayStmt:
		return &st.Target
	case *ir.MakeObjectStmt:
		return &st.Target
	case *ir.MakeSetStmt:
		return &st.Target
	case *ir.MakeNumberRefStmt:
		return &st.Target
	case *ir.MakeNumberIntStmt:
		return &st.Target
	case *ir.AssignIntStmt:
		return &st.Target
	case *ir.MakeNullStmt:
		return &st.Target
	case *ir.ObjectInsertStmt:
		return &st.Object
	case *ir.ObjectInsertOnceStmt:
		return &st.Object
	case *ir.ArrayAppendStmt:
		return &st.Array
	case *ir.SetAddStmt:
		return &st.Set
	}
	return nil
}

// store tells whether st only stores a value in its target: dropped when
// no one reads it.
func store(st ir.Stmt) bool {
	switch st.(type) {
	case *ir.AssignVarStmt, *ir.ResetLocalStmt, *ir.MakeArrayStmt, *ir.MakeObjectStmt,
		*ir.MakeSetStmt, *ir.MakeNumberRefStmt, *ir.MakeNumberIntStmt, *ir.AssignIntStmt,
		*ir.MakeNullStmt:
		return true
	}
	return false
}

// rename returns st reading to where it read from (st, and what it
// contains, writes neither). A read that takes a local only keeps from
// when to is a constant.
func rename(st ir.Stmt, from ir.Local, to ir.Operand) ir.Stmt {
	block := func(b *ir.Block) *ir.Block {
		stmts := make([]ir.Stmt, len(b.Stmts))
		for i, s := range b.Stmts {
			stmts[i] = rename(s, from, to)
		}
		return &ir.Block{Stmts: stmts}
	}
	c := clone(st)
	ops, locs := fields(c)
	for _, o := range ops {
		if l, ok := o.Value.(ir.Local); ok && l == from {
			*o = to
		}
	}
	for _, l := range locs {
		if t, ok := to.Value.(ir.Local); ok && *l == from {
			*l = t
		}
	}
	nested(c, block)
	return c
}

// nested replaces the blocks within st, a copy, by what f makes of them.
func nested(st ir.Stmt, f func(*ir.Block) *ir.Block) {
	switch st := st.(type) {
	case *ir.BlockStmt:
		st.Blocks = slices.Clone(st.Blocks)
		for i, b := range st.Blocks {
			st.Blocks[i] = f(b)
		}
	case *ir.NotStmt:
		st.Block = f(st.Block)
	case *ir.ScanStmt:
		st.Block = f(st.Block)
	}
}

// inner is the blocks nested in st (a BlockStmt's, a not's, a scan's
// body), and how many break targets deeper than st each one's statements
// are: a scan's body is two (a break of 0 goes on with the next element,
// 1 leaves the loop).
func inner(st ir.Stmt) ([]*ir.Block, int) {
	switch st := st.(type) {
	case *ir.BlockStmt:
		return st.Blocks, 1
	case *ir.NotStmt:
		return []*ir.Block{st.Block}, 1
	case *ir.ScanStmt:
		return []*ir.Block{st.Block}, 2
	}
	return nil, 0
}

// setAnywhere adds to set the locals stmts, or a statement within them,
// set or change (a scan sets its key and value).
func setAnywhere(stmts []ir.Stmt, set map[ir.Local]bool) {
	for _, st := range stmts {
		if t, ok := sets(st); ok {
			set[t] = true
		}
		if sc, ok := st.(*ir.ScanStmt); ok {
			set[sc.Key], set[sc.Value] = true, true
		}
		bs, _ := inner(st)
		for _, b := range bs {
			setAnywhere(b.Stmts, set)
		}
	}
}

// clone is a copy of st (its arguments too, for a call).
func clone(st ir.Stmt) ir.Stmt {
	v := reflect.ValueOf(st).Elem()
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	out := c.Interface().(ir.Stmt)
	if call, ok := out.(*ir.CallStmt); ok {
		call.Args = slices.Clone(call.Args)
	}
	return out
}

// fields points at the operands and the locals st reads and does not
// change (not those of the statements within it).
func fields(st ir.Stmt) (ops []*ir.Operand, locs []*ir.Local) {
	switch st := st.(type) {
	case *ir.AssignVarStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.AssignVarOnceStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.CallStmt:
		for i := range st.Args {
			ops = append(ops, &st.Args[i])
		}
		return ops, nil
	case *ir.DotStmt:
		return []*ir.Operand{&st.Source, &st.Key}, nil
	case *ir.LenStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.EqualStmt:
		return []*ir.Operand{&st.A, &st.B}, nil
	case *ir.NotEqualStmt:
		return []*ir.Operand{&st.A, &st.B}, nil
	case *ir.IsArrayStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.IsObjectStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.IsSetStmt:
		return []*ir.Operand{&st.Source}, nil
	case *ir.ObjectInsertStmt:
		return []*ir.Operand{&st.Key, &st.Value}, nil
	case *ir.ObjectInsertOnceStmt:
		return []*ir.Operand{&st.Key, &st.Value}, nil
	case *ir.ArrayAppendStmt:
		return []*ir.Operand{&st.Value}, nil
	case *ir.SetAddStmt:
		return []*ir.Operand{&st.Value}, nil
	case *ir.IsDefinedStmt:
		return nil, []*ir.Local{&st.Source}
	case *ir.IsUndefinedStmt:
		return nil, []*ir.Local{&st.Source}
	case *ir.ReturnLocalStmt:
		return nil, []*ir.Local{&st.Source}
	case *ir.ResultSetAddStmt:
		return nil, []*ir.Local{&st.Value}
	case *ir.ScanStmt:
		return nil, []*ir.Local{&st.Source}
	}
	return nil, nil
}

// reads lists the locals st reads itself (not those read by the
// statements within it): those of fields, and the one it changes when
// it changes what is there (an insert, an append, a once-only assignment,
// which compares).
func reads(st ir.Stmt) []ir.Local {
	var out []ir.Local
	ops, locs := fields(st)
	for _, o := range ops {
		if l, ok := o.Value.(ir.Local); ok {
			out = append(out, l)
		}
	}
	for _, l := range locs {
		out = append(out, *l)
	}
	switch st.(type) {
	case *ir.AssignVarOnceStmt, *ir.ObjectInsertStmt, *ir.ObjectInsertOnceStmt, *ir.ArrayAppendStmt, *ir.SetAddStmt:
		t, _ := sets(st)
		out = append(out, t)
	}
	return out
}

// undefinable tells whether st can be undefined, breaking out of the
// innermost block.
func undefinable(st ir.Stmt) bool {
	switch st.(type) {
	case *ir.CallStmt, *ir.DotStmt, *ir.LenStmt, *ir.EqualStmt, *ir.NotEqualStmt,
		*ir.IsDefinedStmt, *ir.IsUndefinedStmt, *ir.IsArrayStmt, *ir.IsObjectStmt, *ir.IsSetStmt:
		return true
	}
	return false
}

// locals is a set of locals.
type locals []uint64

func (s locals) add(l ir.Local)      { s[l/64] |= 1 << (l % 64) }
func (s locals) drop(l ir.Local)     { s[l/64] &^= 1 << (l % 64) }
func (s locals) has(l ir.Local) bool { return s[l/64]&(1<<(l%64)) != 0 }

func (s locals) union(t locals) locals {
	u := make(locals, len(s))
	for i := range s {
		u[i] = s[i] | t[i]
	}
	return u
}

func (s locals) equal(t locals) bool {
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// liveness finds, for every statement, the locals read after it before
// they are set again.
type liveness struct {
	n     int
	after map[ir.Stmt]locals
}

func (lv *liveness) none() locals { return make(locals, (lv.n+63)/64) }

func (lv *liveness) all() locals {
	s := lv.none()
	for i := range s {
		s[i] = ^uint64(0)
	}
	return s
}

// blocks is what is read before a run of blocks each a break target
// (a function's, a BlockStmt's), given what is read after them (out) and
// at the targets around them.
func (lv *liveness) blocks(bs []*ir.Block, out locals, targets []locals) locals {
	after := out
	for i := len(bs) - 1; i >= 0; i-- {
		after = lv.stmts(bs[i].Stmts, after, append([]locals{after}, targets...))
	}
	return after
}

// stmts is what is read before stmts run, given what is read after them
// and at their break targets (targets[0] the innermost).
func (lv *liveness) stmts(stmts []ir.Stmt, out locals, targets []locals) locals {
	live := out
	for i := len(stmts) - 1; i >= 0; i-- {
		lv.after[stmts[i]] = live
		live = lv.stmt(stmts[i], live, targets)
	}
	return live
}

func (lv *liveness) at(targets []locals, k int) locals {
	if k < len(targets) {
		return targets[k]
	}
	return lv.all()
}

func (lv *liveness) stmt(st ir.Stmt, live locals, targets []locals) locals {
	switch st := st.(type) {
	case *ir.BlockStmt:
		return lv.blocks(st.Blocks, live, targets)
	case *ir.NotStmt:
		// The block run to its end makes the not undefined; a break of
		// 0 out of it goes on after the not.
		return lv.stmts(st.Block.Stmts, lv.at(targets, 0), append([]locals{live}, targets...))
	case *ir.ScanStmt:
		// At the head of the loop: leave it, or set key and value and run
		// the body, whose end and break of 0 come back to the head and
		// whose break of 1 leaves.
		head := live
		for {
			body := lv.stmts(st.Block.Stmts, head, append([]locals{head, live}, targets...))
			body = body.union(lv.none())
			body.drop(st.Key)
			body.drop(st.Value)
			next := live.union(body)
			if next.equal(head) {
				break
			}
			head = next
		}
		in := head.union(lv.none())
		in.add(st.Source)
		return in
	case *ir.BreakStmt:
		return lv.at(targets, int(st.Index))
	case *ir.ReturnLocalStmt:
		in := lv.none()
		in.add(st.Source)
		return in
	}
	in := live.union(lv.none())
	if t, ok := sets(st); ok {
		in.drop(t)
	}
	for _, l := range reads(st) {
		in.add(l)
	}
	if undefinable(st) {
		in = in.union(lv.at(targets, 0))
	}
	return in
}

// sweep returns b without the stores no one reads.
func (lv *liveness) sweep(b *ir.Block) *ir.Block {
	stmts := make([]ir.Stmt, 0, len(b.Stmts))
	for _, st := range b.Stmts {
		if t, ok := sets(st); ok && store(st) && !lv.after[st].has(t) {
			continue
		}
		switch st.(type) {
		case *ir.BlockStmt, *ir.NotStmt, *ir.ScanStmt:
			c := clone(st)
			nested(c, lv.sweep)
			st = c
		}
		stmts = append(stmts, st)
	}
	return &ir.Block{Stmts: stmts}
}
