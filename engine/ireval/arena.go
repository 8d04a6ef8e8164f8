package ireval

// arena is where one evaluation makes its collections: objects, arrays,
// sets and the slices that hold their members are taken from chunks that
// the evaluation's state keeps from one evaluation to the next, instead of
// being allocated one by one. Nothing an evaluation makes outlives it: the
// result is read out (EvalFunc: strings, numbers and JSON) before the
// state is released, OPA's builtins get copies as ast.Values, and the
// state's memos are cleared on release, so the chunks are cleared and
// reused then.
//
// A chunk that is full is replaced by one twice its size (what was taken
// from the old one stays where it is, reachable for as long as the
// evaluation uses it); after a few evaluations the chunks fit the plan and
// an evaluation allocates only its strings and numbers. A nil arena
// allocates from the heap, for values made outside an evaluation.
type arena struct {
	objects []object
	arrays  []array // sets too: a set is held as an array of its sorted elements
	values  []value
}

// Chunks are made at least this large, and dropped on release when they
// have grown beyond the largest (a claim of thousands of lines makes no
// lasting state).
const (
	minChunk = 64
	maxChunk = 1 << 16
)

func (ar *arena) object(n int) *object {
	if ar == nil {
		return newObject(n)
	}
	o := take(&ar.objects)
	if n > 0 {
		kv := ar.slice(2 * n)
		o.keys, o.vals = kv[:0:n], kv[n:n:2*n]
	}
	return o
}

// array is an empty array with room for n elements.
func (ar *arena) array(n int) *array {
	if ar == nil {
		return &array{elems: make([]value, 0, n)}
	}
	a := take(&ar.arrays)
	a.elems = ar.slice(n)[:0]
	return a
}

// arrayOf is an array of a copy of elems, with room for extra more.
func (ar *arena) arrayOf(elems []value, extra int) *array {
	a := ar.array(len(elems) + extra)
	a.elems = append(a.elems, elems...)
	return a
}

// set is an empty set with room for n elements.
func (ar *arena) set(n int) *set { return (*set)(ar.array(n)) }

// take is a zeroed element of the chunk.
func take[T any](chunk *[]T) *T {
	c := *chunk
	if len(c) == cap(c) {
		c = make([]T, 0, max(minChunk, 2*cap(c)))
	}
	c = c[:len(c)+1]
	*chunk = c
	return &c[len(c)-1]
}

// slice is n zeroed values, with no room beyond them (an append past
// them reallocates rather than overwriting what follows).
func (ar *arena) slice(n int) []value {
	if n == 0 {
		return nil
	}
	if ar == nil {
		return make([]value, n)
	}
	c := ar.values
	if len(c)+n > cap(c) {
		c = make([]value, 0, max(minChunk, 2*cap(c), 2*n))
	}
	out := c[len(c) : len(c)+n : len(c)+n]
	ar.values = c[:len(c)+n]
	return out
}

// grow is s with room for at least one more element, moved into the
// arena when it has none.
func (ar *arena) grow(s []value) []value {
	if len(s) < cap(s) {
		return s
	}
	out := ar.slice(max(4, 2*len(s)))[:len(s)]
	copy(out, s)
	return out
}

// insert is s with v at i, grown in the arena when full.
func (ar *arena) insert(s []value, i int, v value) []value {
	s = ar.grow(s)
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// reset clears what the evaluation made, keeping the chunks for the next
// one unless they have grown too large.
func (ar *arena) reset() {
	resetChunk(&ar.objects)
	resetChunk(&ar.arrays)
	resetChunk(&ar.values)
}

func resetChunk[T any](chunk *[]T) {
	if cap(*chunk) > maxChunk {
		*chunk = nil
		return
	}
	clear(*chunk)
	*chunk = (*chunk)[:0]
}
