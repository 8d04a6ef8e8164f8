package request

import (
	"encoding/json"
	"unicode/utf8"
)

// scanClean reads body as parseStrict does, for a body that has no problem
// at all, in one pass over the bytes (no tokens, no paths built). At the
// first thing it does not take as it comes (any syntax error, unknown
// field, duplicate key, invalid UTF-8, depth) it gives up (false), and
// parseStrict reads the body instead, to report every problem with its
// path. What it returns is what parseStrict returns for the same body.
func scanClean(body []byte, s *shape) (any, bool) {
	sc := scanner{b: body}
	sc.space()
	v, ok := sc.value(s, 0)
	if !ok {
		return nil, false
	}
	sc.space()
	return v, sc.i == len(sc.b)
}

type scanner struct {
	b []byte
	i int
}

func (sc *scanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

func (sc *scanner) value(s *shape, depth int) (any, bool) {
	if sc.i >= len(sc.b) {
		return nil, false
	}
	switch c := sc.b[sc.i]; {
	case (c == '{' || c == '[') && depth >= maxDepth:
		return nil, false
	case c == '{':
		return sc.object(s, depth)
	case c == '[':
		return sc.array(s, depth)
	case c == '"':
		return sc.str()
	case c == '-' || c >= '0' && c <= '9':
		return sc.number()
	case c == 't':
		return true, sc.literal("true")
	case c == 'f':
		return false, sc.literal("false")
	case c == 'n':
		return nil, sc.literal("null")
	}
	return nil, false
}

func (sc *scanner) literal(word string) bool {
	if len(sc.b)-sc.i < len(word) || string(sc.b[sc.i:sc.i+len(word)]) != word {
		return false
	}
	sc.i += len(word)
	return true
}

// open steps over an opening delimiter, and over the closing one when it
// follows at once (empty).
func (sc *scanner) open(closing byte) (empty bool) {
	sc.i++
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == closing {
		sc.i++
		return true
	}
	return false
}

func (sc *scanner) object(s *shape, depth int) (any, bool) {
	obj := map[string]any{}
	if sc.open('}') {
		return obj, true
	}
	for {
		sc.space()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return nil, false
		}
		k, ok := sc.str()
		if !ok {
			return nil, false
		}
		key := k.(string)
		if _, dup := obj[key]; dup {
			return nil, false
		}
		var cs *shape
		if s != nil && s.fields != nil {
			var known bool
			if cs, known = s.fields[key]; !known {
				return nil, false
			}
		}
		sc.space()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return nil, false
		}
		sc.i++
		sc.space()
		v, ok := sc.value(cs, depth+1)
		if !ok {
			return nil, false
		}
		obj[key] = v
		if end, ok := sc.next('}'); !ok || end {
			return obj, ok
		}
	}
}

func (sc *scanner) array(s *shape, depth int) (any, bool) {
	arr := []any{}
	var es *shape
	if s != nil {
		es = s.elem
	}
	if sc.open(']') {
		return arr, true
	}
	for {
		sc.space()
		v, ok := sc.value(es, depth+1)
		if !ok {
			return nil, false
		}
		arr = append(arr, v)
		if end, ok := sc.next(']'); !ok || end {
			return arr, ok
		}
	}
}

// next reads what follows an element: a comma (another element comes),
// or the closing delimiter (end).
func (sc *scanner) next(closing byte) (end, ok bool) {
	sc.space()
	if sc.i >= len(sc.b) {
		return false, false
	}
	switch sc.b[sc.i] {
	case ',':
		sc.i++
		return false, true
	case closing:
		sc.i++
		return true, true
	}
	return false, false
}

// str reads a string: plain ASCII and valid UTF-8 as they are; one with an
// escape is unquoted by encoding/json, as parseStrict's decoder does.
func (sc *scanner) str() (any, bool) {
	start := sc.i
	sc.i++ // "
	escaped, ascii := false, true
	for sc.i < len(sc.b) {
		switch c := sc.b[sc.i]; {
		case c == '"':
			sc.i++
			raw := sc.b[start:sc.i]
			if !ascii && !utf8.Valid(raw) {
				return nil, false
			}
			if !escaped {
				return string(raw[1 : len(raw)-1]), true
			}
			if loneSurrogate(raw) {
				return nil, false // the strict parser names it
			}
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				return nil, false
			}
			return out, true
		case c == '\\':
			escaped = true
			sc.i += 2
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
			sc.i++
		default:
			sc.i++
		}
	}
	return nil, false
}

// number reads a number as JSON writes it, kept as its text.
func (sc *scanner) number() (any, bool) {
	start := sc.i
	if sc.b[sc.i] == '-' {
		sc.i++
	}
	switch {
	case sc.i < len(sc.b) && sc.b[sc.i] == '0':
		sc.i++
	case sc.digits() == 0:
		return nil, false
	}
	if sc.i < len(sc.b) && sc.b[sc.i] == '.' {
		sc.i++
		if sc.digits() == 0 {
			return nil, false
		}
	}
	if sc.i < len(sc.b) && (sc.b[sc.i] == 'e' || sc.b[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.b) && (sc.b[sc.i] == '+' || sc.b[sc.i] == '-') {
			sc.i++
		}
		if sc.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(sc.b[start:sc.i]), true
}

func (sc *scanner) digits() int {
	n := 0
	for sc.i < len(sc.b) && sc.b[sc.i] >= '0' && sc.b[sc.i] <= '9' {
		sc.i++
		n++
	}
	return n
}
