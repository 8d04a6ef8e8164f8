package decisionlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maskNode is one step of the mask's paths: what happens to the field that
// ends here, and the fields below it that are masked.
type maskNode struct {
	drop, hash bool
	children   map[string]*maskNode
}

// trie builds the mask's paths as a tree; ok is false when one masked path
// lies inside another (Encode then leaves the work to Apply, which applies
// them in order).
func (m Mask) trie() (root *maskNode, ok bool) {
	root = &maskNode{children: map[string]*maskNode{}}
	add := func(path string, drop bool) bool {
		n := root
		for _, seg := range strings.Split(path, ".") {
			if n.drop || n.hash {
				return false
			}
			next := n.children[seg]
			if next == nil {
				next = &maskNode{children: map[string]*maskNode{}}
				n.children[seg] = next
			}
			n = next
		}
		if len(n.children) > 0 {
			return false
		}
		if drop {
			n.drop = true
		} else if !n.drop {
			n.hash = true
		}
		return true
	}
	for _, p := range m.Drop {
		if !add(p, true) {
			return nil, false
		}
	}
	for _, p := range FreeText {
		if !slices.Contains(m.Keep, p) && !add(p, true) {
			return nil, false
		}
	}
	for _, p := range m.Hash {
		if !add(p, false) {
			return nil, false
		}
	}
	return root, true
}

// Encode is Apply in one pass: the request encoded as JSON with the mask
// applied while encoding, without copying it first. Its bytes are the
// same as Apply's.
func (m Mask) Encode(input map[string]any, key []byte) (json.RawMessage, error) {
	if len(key) == 0 {
		return nil, errors.New("decision log: no hash key")
	}
	root, ok := m.trie()
	if !ok {
		return m.Apply(input, key)
	}
	return appendObject(make([]byte, 0, 1024), input, root, key)
}

func appendObject(buf []byte, obj map[string]any, n *maskNode, key []byte) ([]byte, error) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	first := true
	for _, k := range keys {
		v := obj[k]
		var child *maskNode
		if n != nil {
			child = n.children[k]
		}
		if child != nil && child.drop {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = AppendString(buf, k)
		buf = append(buf, ':')
		var err error
		switch {
		case child != nil && child.hash:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			mac := hmac.New(sha256.New, key)
			mac.Write(b)
			buf = append(buf, `"hmac-sha256:`...)
			buf = hex.AppendEncode(buf, mac.Sum(nil))
			buf = append(buf, '"')
		default:
			if sub, isObj := v.(map[string]any); isObj && child != nil {
				buf, err = appendObject(buf, sub, child, key)
			} else {
				buf, err = appendValue(buf, v)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendValue encodes v as encoding/json does.
func appendValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		if v {
			return append(buf, "true"...), nil
		}
		return append(buf, "false"...), nil
	case string:
		return AppendString(buf, v), nil
	case json.Number:
		if v == "" {
			return append(buf, '0'), nil
		}
		return append(buf, v...), nil
	case map[string]any:
		return appendObject(buf, v, nil, nil)
	case []any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	b, err := json.Marshal(v)
	return append(buf, b...), err
}

const hexDigits = "0123456789abcdef"

// AppendString appends s quoted as encoding/json quotes a string: `"` and
// `\` escaped, \b \f \n \r \t by their short forms and the other control
// characters as \u00XX, the HTML characters < > & escaped, U+2028 and
// U+2029 escaped, and each byte of invalid UTF-8 written as \ufffd.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// AppendRecord encodes rec as json.Marshal does, in one pass, reusing its
// request and decision bytes as they are (they are JSON already, compact).
func AppendRecord(buf []byte, rec *Record) []byte {
	buf = append(buf, `{"decision_id":`...)
	buf = AppendString(buf, rec.DecisionID)
	buf = append(buf, `,"time":"`...)
	buf = rec.Time.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","merchant":`...)
	buf = AppendString(buf, rec.Merchant)
	buf = append(buf, `,"revision":`...)
	buf = AppendString(buf, rec.Revision)
	buf = append(buf, `,"outcome":`...)
	buf = AppendString(buf, rec.Outcome)
	buf = append(buf, `,"remedy":`...)
	buf = AppendString(buf, rec.Remedy)
	buf = append(buf, `,"currency":`...)
	buf = AppendString(buf, rec.Currency)
	buf = append(buf, `,"refunded":`...)
	buf = strconv.AppendInt(buf, rec.Refunded, 10)
	buf = append(buf, `,"engine_ns":`...)
	buf = strconv.AppendInt(buf, rec.EngineNanos, 10)
	buf = append(buf, `,"request":`...)
	buf = appendRaw(buf, rec.Request)
	buf = append(buf, `,"decision":`...)
	buf = appendRaw(buf, rec.Decision)
	return append(buf, '}')
}

func appendRaw(buf []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(buf, "null"...)
	}
	return append(buf, raw...)
}
