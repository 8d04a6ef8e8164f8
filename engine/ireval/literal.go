package ireval

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ir"
)

// Literals. The planner writes a collection literal as a statement that
// makes the collection followed by one statement per member: an object
// {"comparison": "below"} is a MakeObjectStmt and an ObjectInsertStmt, a
// set {"Saturday", "Sunday"} a MakeSetStmt and two SetAddStmts. Such a
// run is compiled into one code: a literal whose keys are constants gets
// its keys sorted once and shared (an object made from it copies them
// before it grows), and a literal whose members are all constants is
// made once, at compilation, and marked constant: a statement that adds
// to a constant collection adds to a copy of it (what the plan would have
// made itself), so that one evaluation's additions never reach another.

// literal compiles the literal that stmts begin with, if they begin with
// one, into one code; n is how many statements it takes (0: none).
func (c *compiler) literal(stmts []ir.Stmt) (cd code, n int, err error) {
	switch mk := stmts[0].(type) {
	case *ir.MakeObjectStmt:
		return c.objectLiteral(mk.Target, stmts)
	case *ir.MakeArrayStmt:
		return c.arrayLiteral(mk, stmts)
	case *ir.MakeSetStmt:
		return c.setLiteral(mk.Target, stmts)
	}
	return nil, 0, nil
}

// constants tells whether every member is a constant.
func constants(members []operand) bool {
	return !slices.ContainsFunc(members, func(o operand) bool { return o.local >= 0 })
}

func (c *compiler) objectLiteral(t ir.Local, stmts []ir.Stmt) (code, int, error) {
	type member struct {
		key value
		val operand
	}
	var ms []member
	for _, st := range stmts[1:] {
		obj, k, v, _, ok := insertion(st)
		if !ok || obj != t {
			break
		}
		ops, err := c.operands(k, v)
		if err != nil {
			return nil, 0, err
		}
		if ops[0].local >= 0 || slices.ContainsFunc(ms, func(m member) bool { return compare(m.key, ops[0].value) == 0 }) {
			break // a key known only when run, or given twice: inserted one by one
		}
		ms = append(ms, member{ops[0].value, ops[1]})
	}
	if len(ms) == 0 {
		return nil, 0, nil
	}
	slices.SortFunc(ms, func(a, b member) int { return compare(a.key, b.key) })
	n, local := len(ms), c.local(t)
	sorted, members := make([]value, n), make([]operand, n)
	for i, m := range ms {
		sorted[i], members[i] = m.key, m.val
	}
	if constants(members) {
		o := &object{keys: sorted, vals: make([]value, n), constant: true}
		for i, m := range members {
			o.vals[i] = m.value
		}
		return c.constant(t, o), 1 + n, nil
	}
	return func(s *state, l []value) int {
		o := take(&s.ar.objects)
		o.keys, o.vals = sorted, s.ar.slice(n) // shared keys, full: an insert copies them first
		for i, m := range members {
			o.vals[i] = m.get(l)
		}
		l[local] = o
		return ranToEnd
	}, 1 + n, nil
}

func (c *compiler) arrayLiteral(mk *ir.MakeArrayStmt, stmts []ir.Stmt) (code, int, error) {
	var members []operand
	for _, st := range stmts[1:] {
		app, ok := st.(*ir.ArrayAppendStmt)
		if !ok || app.Array != mk.Target {
			break
		}
		o, err := c.operand(app.Value)
		if err != nil {
			return nil, 0, err
		}
		members = append(members, o)
	}
	if len(members) == 0 {
		return nil, 0, nil
	}
	n, local, room := len(members), c.local(mk.Target), max(len(members), int(mk.Capacity))
	if constants(members) {
		a := &array{elems: make([]value, n), constant: true}
		for i, m := range members {
			a.elems[i] = m.value
		}
		return c.constant(mk.Target, a), 1 + n, nil
	}
	return func(s *state, l []value) int {
		a := s.ar.array(room)
		for _, m := range members {
			a.elems = append(a.elems, m.get(l))
		}
		l[local] = a
		return ranToEnd
	}, 1 + n, nil
}

// setLiteral makes a set of constants once; a set with members known only
// when run is made statement by statement.
func (c *compiler) setLiteral(t ir.Local, stmts []ir.Stmt) (code, int, error) {
	var members []operand
	for _, st := range stmts[1:] {
		add, ok := st.(*ir.SetAddStmt)
		if !ok || add.Set != t {
			break
		}
		o, err := c.operand(add.Value)
		if err != nil {
			return nil, 0, err
		}
		members = append(members, o)
	}
	if len(members) == 0 || !constants(members) {
		return nil, 0, nil
	}
	set := &set{}
	for _, m := range members {
		set.add(nil, m.value)
	}
	set.constant = true
	c.local(t)
	return c.constant(t, set), 1 + len(members), nil
}

// freeze marks v's collections, and those within them, constant: the
// merchant's data, shared by every evaluation, is added to only through
// copies, as literals are.
func freeze(v value) {
	switch v := v.(type) {
	case *array:
		v.constant = true
		for _, e := range v.elems {
			freeze(e)
		}
	case *object:
		v.constant = true
		for i := range v.keys {
			freeze(v.keys[i])
			freeze(v.vals[i])
		}
	case *set:
		v.constant = true
		for _, e := range v.elems {
			freeze(e)
		}
	}
}
