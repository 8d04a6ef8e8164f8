package ireval

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// builtin is a builtin function the plan calls: OPA's implementation, or
// this package's where it gives the same results without converting
// values to terms and back.
type builtin struct {
	native native // nil: OPA's
	opa    topdown.BuiltinFunc
}

// native computes a builtin as OPA does for the arguments it handles; for
// any other (false) OPA's implementation is called, so that its results
// and its errors are OPA's.
type native func(s *state, args []ast.Value) (ast.Value, bool)

func newBuiltin(name string) (*builtin, error) {
	b := &builtin{native: natives[name], opa: topdown.GetBuiltin(name)}
	if b.opa == nil {
		return nil, fmt.Errorf("builtin %s is not available", name)
	}
	return b, nil
}

// call calls the builtin with args, which it does not keep; nil is
// undefined.
func (b *builtin) call(s *state, args []ast.Value) (ast.Value, error) {
	if b.native != nil {
		if v, ok := b.native(s, args); ok {
			return v, nil
		}
	}
	// Fresh terms: an implementation may keep its operands in its result.
	terms := make([]ast.Term, len(args))
	ptrs := s.ptrs[:len(args)]
	for i, a := range args {
		terms[i].Value = a
		ptrs[i] = &terms[i]
	}
	s.out = nil
	err := b.opa(s.bctx, ptrs, s.iter)
	out := s.out
	s.out = nil
	clear(ptrs)
	return out, err
}

var natives = map[string]native{
	"internal.member_2": member,
	"object.get":        objectGet,
	"count":             count,
	"is_string":         isType[ast.String],
	"is_number":         isType[ast.Number],
	"is_boolean":        isType[ast.Boolean],
	"is_null":           isType[ast.Null],
	"is_array":          isType[*ast.Array],
	"is_object":         isType[ast.Object],
	"is_set":            isType[ast.Set],
	"gt":                compare(func(c int) bool { return c > 0 }),
	"gte":               compare(func(c int) bool { return c >= 0 }),
	"lt":                compare(func(c int) bool { return c < 0 }),
	"lte":               compare(func(c int) bool { return c <= 0 }),
	"equal":             equal(true),
	"neq":               equal(false),
	"plus":              arith(plus),
	"minus":             arith(minus),
	"mul":               arith(times),
	"rem":               arith(remainder),
	"div":               arith(quotient),

	"time.parse_rfc3339_ns": parseRFC3339,
	"time.date":             date,
	"time.clock":            clock,
	"time.weekday":          weekday,
	"time.add_date":         addDate,
}

// The time builtins handle a time given as a number of nanoseconds (in
// UTC, as OPA reads a bare number); a [ns, zone] pair, and every error,
// is OPA's.

func nanos(v ast.Value) (time.Time, bool) {
	loc := time.UTC
	if a, ok := v.(*ast.Array); ok {
		if a.Len() < 1 || a.Len() > 2 {
			return time.Time{}, false
		}
		v = a.Elem(0).Value
		if a.Len() == 2 {
			if loc, ok = zone(a.Elem(1).Value); !ok {
				return time.Time{}, false
			}
		}
	}
	n, ok := v.(ast.Number)
	if !ok {
		return time.Time{}, false
	}
	i, ok := n.Int64()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, i).In(loc), true
}

// zone is the time zone a [ns, zone] pair names: UTC for "" and "UTC", a
// zone of the IANA database otherwise (loaded once). "Local", the server's
// own zone, and an unknown zone are OPA's to handle.
func zone(v ast.Value) (*time.Location, bool) {
	name, ok := v.(ast.String)
	switch {
	case !ok || name == "Local":
		return nil, false
	case name == "" || name == "UTC":
		return time.UTC, true
	}
	if loc, ok := zones.Load(string(name)); ok {
		return loc.(*time.Location), true
	}
	loc, err := time.LoadLocation(string(name))
	if err != nil {
		return nil, false
	}
	zones.Store(string(name), loc)
	return loc, true
}

var zones sync.Map // zone name: *time.Location

// safeNanos is t in nanoseconds, when it is within int64's range.
func safeNanos(t time.Time) (ast.Value, bool) {
	if t.Before(minNanos) || t.After(maxNanos) {
		return nil, false
	}
	return ast.Number(strconv.FormatInt(t.UnixNano(), 10)), true
}

var minNanos, maxNanos = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

func parseRFC3339(_ *state, args []ast.Value) (ast.Value, bool) {
	s, ok := args[0].(ast.String)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339, string(s))
	if err != nil {
		return nil, false
	}
	return safeNanos(t)
}

func date(_ *state, args []ast.Value) (ast.Value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	y, m, d := t.Date()
	return ast.NewArray(ast.InternedTerm(y), ast.InternedTerm(int(m)), ast.InternedTerm(d)), true
}

func clock(_ *state, args []ast.Value) (ast.Value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	h, m, sec := t.Clock()
	return ast.NewArray(ast.InternedTerm(h), ast.InternedTerm(m), ast.InternedTerm(sec)), true
}

func weekday(_ *state, args []ast.Value) (ast.Value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	return ast.InternedTerm(t.Weekday().String()).Value, true
}

func addDate(_ *state, args []ast.Value) (ast.Value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	var n [3]int
	for i, a := range args[1:] {
		x, ok := a.(ast.Number)
		if !ok {
			return nil, false
		}
		if n[i], ok = x.Int(); !ok {
			return nil, false
		}
	}
	return safeNanos(t.AddDate(n[0], n[1], n[2]))
}

// member is x in collection: a set's member or the value of any element.
func member(s *state, args []ast.Value) (ast.Value, bool) {
	x := args[0]
	switch c := args[1].(type) {
	case ast.Set:
		return ast.Boolean(s.contains(c, x)), true
	case *ast.Array:
		for i := range c.Len() {
			if ast.ValueEqual(x, c.Elem(i).Value) {
				return ast.Boolean(true), true
			}
		}
		return ast.Boolean(false), true
	case ast.Object:
		return ast.Boolean(c.Until(func(_, v *ast.Term) bool { return ast.ValueEqual(x, v.Value) })), true
	}
	return ast.Boolean(false), true
}

// objectGet handles a key that is not a path.
func objectGet(s *state, args []ast.Value) (ast.Value, bool) {
	obj, ok := args[0].(ast.Object)
	if !ok {
		return nil, false
	}
	if _, path := args[1].(*ast.Array); path {
		return nil, false
	}
	if v := s.get(obj, args[1]); v != nil {
		return v, true
	}
	return args[2], true
}

// count is a collection's length, or a string's in characters, as the
// plan's LenStmt measures; any other type is OPA's error.
func count(_ *state, args []ast.Value) (ast.Value, bool) {
	n, ok := length(args[0])
	if !ok {
		return nil, false
	}
	return ast.InternedTerm(n).Value, true
}

func isType[T ast.Value](_ *state, args []ast.Value) (ast.Value, bool) {
	_, ok := args[0].(T)
	return ast.Boolean(ok), true
}

func compare(holds func(int) bool) native {
	return func(_ *state, args []ast.Value) (ast.Value, bool) {
		return ast.Boolean(holds(ast.Compare(args[0], args[1]))), true
	}
}

func equal(want bool) native {
	return func(_ *state, args []ast.Value) (ast.Value, bool) {
		return ast.Boolean(ast.ValueEqual(args[0], args[1]) == want), true
	}
}

// arith computes on integers that fit in int64, where op says the result
// does too; the result is the integer's decimal, as OPA writes it (its
// int32 fast path and its big.Int path alike). Anything else (floats,
// bigger integers, an overflow, sets) is OPA's.
func arith(op func(x, y int64) (int64, bool)) native {
	return func(_ *state, args []ast.Value) (ast.Value, bool) {
		a, ok1 := args[0].(ast.Number)
		b, ok2 := args[1].(ast.Number)
		if !ok1 || !ok2 {
			return nil, false
		}
		x, ok1 := a.Int64()
		y, ok2 := b.Int64()
		if !ok1 || !ok2 {
			return nil, false
		}
		r, ok := op(x, y)
		if !ok {
			return nil, false
		}
		if r >= math.MinInt32 && r <= math.MaxInt32 {
			return ast.InternedTerm(int(r)).Value, true
		}
		return ast.Number(strconv.FormatInt(r, 10)), true
	}
}

func plus(x, y int64) (int64, bool) {
	r := x + y
	return r, (x^r)&(y^r) >= 0 // no overflow: the sign of r is one of theirs
}

func minus(x, y int64) (int64, bool) {
	r := x - y
	return r, (x^y)&(x^r) >= 0
}

func times(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	r := x * y
	return r, r/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64)
}

// quotient is an exact quotient; OPA writes any other (and 0, which may be
// -0) as a float.
func quotient(x, y int64) (int64, bool) {
	if x == 0 || y == 0 || x%y != 0 || (x == math.MinInt64 && y == -1) {
		return 0, false
	}
	return x / y, true
}

func remainder(x, y int64) (int64, bool) {
	if y == 0 {
		return 0, false // OPA's error
	}
	return x % y, true
}
