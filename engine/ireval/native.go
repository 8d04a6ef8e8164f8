package ireval

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// builtin is a builtin function the plan calls: OPA's implementation, or
// this package's where it gives the same results without converting
// values to OPA's and back.
type builtin struct {
	name   string
	native native // nil: OPA's
	opa    topdown.BuiltinFunc
}

// native computes a builtin as OPA does for the arguments it handles; for
// any other (false) OPA's implementation is called, so that its results
// and its errors are OPA's.
type native func(ar *arena, args []value) (value, bool)

func newBuiltin(name string) (*builtin, error) {
	b := &builtin{name: name, native: natives[name], opa: topdown.GetBuiltin(name)}
	if b.opa == nil {
		return nil, fmt.Errorf("builtin %s is not available", name)
	}
	return b, nil
}

// call calls the builtin with args, which it does not keep; nil is
// undefined.
func (b *builtin) call(s *state, args []value) (value, error) {
	if b.native != nil {
		if v, ok := b.native(&s.ar, args); ok {
			return v, nil
		}
	}
	terms := make([]ast.Term, len(args))
	ptrs := s.ptrs[:len(args)]
	for i, a := range args {
		terms[i].Value = toAST(a)
		ptrs[i] = &terms[i]
	}
	s.out = nil
	if s.bctx.Cache == nil { // made for the evaluation's first call of an OPA builtin
		s.bctx.Cache = builtins.Cache{}
	}
	err := b.opa(s.bctx, ptrs, s.iter)
	out := s.out
	s.out = nil
	clear(ptrs)
	if err != nil || out == nil {
		return nil, err
	}
	v, ok := fromAST(out)
	if !ok {
		return nil, fmt.Errorf("%s: its result %v is not a value", b.name, out)
	}
	return v, nil
}

var natives = map[string]native{
	"internal.member_2": member,
	"object.get":        objectGet,
	"sort":              sorted,
	"object.union":      objectUnion,
	"object.keys":       objectKeys,
	"object.remove":     objectRemove,
	"numbers.range":     numbersRange,
	"sum":               sum,
	"array.concat":      arrayConcat,
	"count":             count,
	"sprintf":           sprintf,
	"is_string":         isType[string],
	"is_number":         isNumber,
	"is_boolean":        isType[bool],
	"is_null":           isType[null],
	"is_array":          isType[*array],
	"is_object":         isType[*object],
	"is_set":            isType[*set],
	"gt":                compared(func(c int) bool { return c > 0 }),
	"gte":               compared(func(c int) bool { return c >= 0 }),
	"lt":                compared(func(c int) bool { return c < 0 }),
	"lte":               compared(func(c int) bool { return c <= 0 }),
	"equal":             equal(true),
	"neq":               equal(false),
	"plus":              arith(plus),
	"minus":             arith(minus),
	"mul":               arith(times),
	"rem":               arith(remainder),
	"div":               arith(quotient),
	"floor":             integral,
	"ceil":              integral,
	"max":               extreme(1),
	"min":               extreme(-1),

	"time.parse_rfc3339_ns": parseRFC3339,
	"time.date":             date,
	"time.clock":            clock,
	"time.weekday":          weekday,
	"time.add_date":         addDate,
}

// The time builtins handle a time given as a number of nanoseconds (in
// UTC, as OPA reads a bare number) or a [ns, zone] pair; every error is
// OPA's.

func nanos(v value) (time.Time, bool) {
	loc := time.UTC
	if a, ok := v.(*array); ok {
		if len(a.elems) < 1 || len(a.elems) > 2 {
			return time.Time{}, false
		}
		v = a.elems[0]
		if len(a.elems) == 2 {
			if loc, ok = zone(a.elems[1]); !ok {
				return time.Time{}, false
			}
		}
	}
	i, ok := v.(int64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, i).In(loc), true
}

// zone is the time zone a [ns, zone] pair names: UTC for "" and "UTC", a
// zone of the IANA database otherwise (loaded once). "Local", the server's
// own zone, and an unknown zone are OPA's to handle.
func zone(v value) (*time.Location, bool) {
	name, ok := v.(string)
	switch {
	case !ok || name == "Local":
		return nil, false
	case name == "" || name == "UTC":
		return time.UTC, true
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), true
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	zones.Store(name, loc)
	return loc, true
}

var zones sync.Map // zone name: *time.Location

// safeNanos is t in nanoseconds, when it is within int64's range.
func safeNanos(t time.Time) (value, bool) {
	if t.Before(minNanos) || t.After(maxNanos) {
		return nil, false
	}
	return t.UnixNano(), true
}

var minNanos, maxNanos = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

func parseRFC3339(_ *arena, args []value) (value, bool) {
	s, ok := args[0].(string)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, false
	}
	return safeNanos(t)
}

func triple(ar *arena, a, b, c int) value {
	t := ar.array(3)
	t.elems = append(t.elems, integer(int64(a)), integer(int64(b)), integer(int64(c)))
	return t
}

func date(ar *arena, args []value) (value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	y, m, d := t.Date()
	return triple(ar, y, int(m), d), true
}

func clock(ar *arena, args []value) (value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	h, m, sec := t.Clock()
	return triple(ar, h, m, sec), true
}

var weekdays = func() (w [7]value) {
	for d := range w {
		w[d] = time.Weekday(d).String()
	}
	return w
}()

func weekday(_ *arena, args []value) (value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	return weekdays[t.Weekday()], true
}

func addDate(_ *arena, args []value) (value, bool) {
	t, ok := nanos(args[0])
	if !ok {
		return nil, false
	}
	var n [3]int
	for i, a := range args[1:] {
		x, ok := a.(int64)
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, false
		}
		n[i] = int(x)
	}
	return safeNanos(t.AddDate(n[0], n[1], n[2]))
}

// member is x in collection: a set's member or the value of any element.
func member(_ *arena, args []value) (value, bool) {
	x := args[0]
	switch c := args[1].(type) {
	case *set:
		return c.has(x), true
	case *array:
		return contains(c.elems, x), true
	case *object:
		return contains(c.vals, x), true
	}
	return false, true
}

func contains(vs []value, x value) bool {
	for _, v := range vs {
		if compare(x, v) == 0 {
			return true
		}
	}
	return false
}

// objectGet is the value at a key, or along a path (an array of keys,
// each looked up as x[k] is), or the default.
func objectGet(_ *arena, args []value) (value, bool) {
	obj, ok := args[0].(*object)
	if !ok {
		return nil, false
	}
	var v value
	if path, ok := args[1].(*array); ok {
		v = obj
		for _, k := range path.elems {
			if v = lookup(v, k); v == nil {
				break
			}
		}
	} else {
		v = obj.get(args[1])
	}
	if v == nil {
		return args[2], true
	}
	return v, true
}

// sorted is an array's elements, or a set's, in order.
func sorted(ar *arena, args []value) (value, bool) {
	switch c := args[0].(type) {
	case *array:
		out := ar.arrayOf(c.elems, 0)
		slices.SortFunc(out.elems, compare) // as OPA sorts: equal elements (1, 1.0) land alike
		return out, true
	case *set:
		return ar.arrayOf(c.elems, 0), true
	}
	return nil, false
}

// objectUnion merges b into a: b's value wins, except where both are
// objects, which are merged in turn.
func objectUnion(ar *arena, args []value) (value, bool) {
	a, ok1 := args[0].(*object)
	b, ok2 := args[1].(*object)
	if !ok1 || !ok2 {
		return nil, false
	}
	return union(ar, a, b), true
}

func union(ar *arena, a, b *object) *object {
	switch {
	case len(a.keys) == 0:
		return b
	case len(b.keys) == 0:
		return a
	}
	out := ar.object(len(a.keys) + len(b.keys))
	i, j := 0, 0
	for i < len(a.keys) || j < len(b.keys) {
		c := 1
		switch {
		case i == len(a.keys):
		case j == len(b.keys):
			c = -1
		default:
			c = compare(a.keys[i], b.keys[j])
		}
		switch {
		case c < 0:
			out.keys, out.vals = append(out.keys, a.keys[i]), append(out.vals, a.vals[i])
			i++
		case c > 0:
			out.keys, out.vals = append(out.keys, b.keys[j]), append(out.vals, b.vals[j])
			j++
		default:
			v := b.vals[j]
			if x, ok := a.vals[i].(*object); ok {
				if y, ok := v.(*object); ok {
					v = union(ar, x, y)
				}
			}
			out.keys, out.vals = append(out.keys, a.keys[i]), append(out.vals, v)
			i, j = i+1, j+1
		}
	}
	return out
}

func objectKeys(ar *arena, args []value) (value, bool) {
	o, ok := args[0].(*object)
	if !ok {
		return nil, false
	}
	keys := ar.set(0)
	keys.elems = o.keys[:len(o.keys):len(o.keys)] // sorted, never changed
	return keys, true
}

// objectRemove is the object without the keys given as an array, a set
// or an object's keys.
func objectRemove(ar *arena, args []value) (value, bool) {
	o, ok := args[0].(*object)
	if !ok {
		return nil, false
	}
	var keys []value
	switch k := args[1].(type) {
	case *array:
		keys = k.elems
	case *set:
		keys = k.elems
	case *object:
		keys = k.keys
	default:
		return nil, false
	}
	out := ar.object(len(o.keys))
	for i, k := range o.keys {
		if !contains(keys, k) {
			out.keys, out.vals = append(out.keys, k), append(out.vals, o.vals[i])
		}
	}
	return out, true
}

// maxRange is the longest numbers.range computed natively; a longer one
// is OPA's, which checks for cancellation as it goes.
const maxRange = 10000

func numbersRange(ar *arena, args []value) (value, bool) {
	x, ok1 := args[0].(int64)
	y, ok2 := args[1].(int64)
	if !ok1 || !ok2 || x-y > maxRange || y-x > maxRange || x < -1<<62 || y < -1<<62 || x > 1<<62 || y > 1<<62 {
		return nil, false
	}
	step := int64(1)
	if x > y {
		step = -1
	}
	out := ar.array(int(max(x-y, y-x)) + 1)
	for i := x; ; i += step {
		out.elems = append(out.elems, integer(i))
		if i == y {
			break
		}
	}
	return out, true
}

// sum is the sum of an array's or a set's integers, when it fits in int64.
func sum(_ *arena, args []value) (value, bool) {
	elems, ok := elements(args[0])
	if !ok {
		return nil, false
	}
	var total int64
	for _, e := range elems {
		n, ok := e.(int64)
		if !ok {
			return nil, false
		}
		if total, ok = plus(total, n); !ok {
			return nil, false
		}
	}
	return total, true
}

func arrayConcat(ar *arena, args []value) (value, bool) {
	a, ok1 := args[0].(*array)
	b, ok2 := args[1].(*array)
	if !ok1 || !ok2 {
		return nil, false
	}
	switch {
	case len(a.elems) == 0:
		return b, true
	case len(b.elems) == 0:
		return a, true
	}
	out := ar.arrayOf(a.elems, len(b.elems))
	out.elems = append(out.elems, b.elems...)
	return out, true
}

// count is a collection's length, or a string's in characters, as the
// plan's LenStmt measures; any other type is OPA's error.
func count(_ *arena, args []value) (value, bool) {
	n, ok := length(args[0])
	if !ok {
		return nil, false
	}
	return integer(int64(n)), true
}

// sprintf handles formats of %s with strings, %d with integers (with a
// width, padded with spaces or zeros), and %%, each verb with its
// argument; anything else is OPA's (fmt.Sprintf's).
func sprintf(_ *arena, args []value) (value, bool) {
	format, ok1 := args[0].(string)
	list, ok2 := args[1].(*array)
	if !ok1 || !ok2 {
		return nil, false
	}
	var buf [64]byte // the dates and codes a policy formats: no allocation but the string
	out := buf[:0]
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(format) {
			return nil, false
		}
		if format[i] == '%' {
			out = append(out, '%')
			continue
		}
		zero := format[i] == '0'
		if zero {
			i++
		}
		width := 0
		for i < len(format) && format[i] >= '0' && format[i] <= '9' && width < 100 {
			width = width*10 + int(format[i]-'0')
			i++
		}
		if i == len(format) || next == len(list.elems) {
			return nil, false
		}
		arg := list.elems[next]
		next++
		switch format[i] {
		case 's':
			s, ok := arg.(string)
			if !ok || width != 0 || zero {
				return nil, false
			}
			out = append(out, s...)
		case 'd':
			n, ok := arg.(int64)
			if !ok || n == math.MinInt64 {
				return nil, false
			}
			var digits [20]byte
			d := strconv.AppendInt(digits[:0], max(n, -n), 10)
			pad := width - len(d)
			if n < 0 {
				pad--
			}
			if !zero {
				for ; pad > 0; pad-- {
					out = append(out, ' ')
				}
			}
			if n < 0 {
				out = append(out, '-')
			}
			for ; pad > 0; pad-- {
				out = append(out, '0')
			}
			out = append(out, d...)
		default:
			return nil, false
		}
	}
	if next != len(list.elems) || !utf8.Valid(out) {
		return nil, false
	}
	return string(out), true
}

func isType[T string | bool | null | *array | *object | *set](_ *arena, args []value) (value, bool) {
	_, ok := args[0].(T)
	return ok, true
}

func isNumber(_ *arena, args []value) (value, bool) {
	switch args[0].(type) {
	case int64, ast.Number:
		return true, true
	}
	return false, true
}

func compared(holds func(int) bool) native {
	return func(_ *arena, args []value) (value, bool) {
		return holds(compare(args[0], args[1])), true
	}
}

func equal(want bool) native {
	return func(_ *arena, args []value) (value, bool) {
		return (compare(args[0], args[1]) == 0) == want, true
	}
}

// arith computes on integers that fit in int64, where op says the result
// does too; anything else (floats, bigger integers, an overflow, sets) is
// OPA's.
func arith(op func(x, y int64) (int64, bool)) native {
	return func(_ *arena, args []value) (value, bool) {
		x, ok1 := args[0].(int64)
		y, ok2 := args[1].(int64)
		if !ok1 || !ok2 {
			return nil, false
		}
		r, ok := op(x, y)
		if !ok {
			return nil, false
		}
		return integer(r), true
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

// integral is floor or ceil of an integer: itself.
func integral(_ *arena, args []value) (value, bool) {
	n, ok := args[0].(int64)
	return n, ok
}

// extreme is max (sign 1) or min (-1) of an array's or a set's elements,
// undefined when there are none.
func extreme(sign int) native {
	return func(_ *arena, args []value) (value, bool) {
		elems, ok := elements(args[0])
		if !ok {
			return nil, false
		}
		if len(elems) == 0 {
			return nil, false // OPA's: undefined
		}
		best := elems[0]
		for _, e := range elems[1:] {
			if compare(e, best)*sign >= 0 { // as OPA: the last of equal ones (1, 1.0)
				best = e
			}
		}
		return best, true
	}
}

// elements are an array's or a set's elements.
func elements(v value) ([]value, bool) {
	switch c := v.(type) {
	case *array:
		return c.elems, true
	case *set:
		return c.elems, true
	}
	return nil, false
}
