package replay

import (
	"encoding/json"

	"github.com/refundd/refundd/engine"
)

// loggedDecision is what a replay compares of a logged decision document:
// its texts and its legal floor section are left unread.
type loggedDecision struct {
	Outcome     string        `json:"outcome"`
	Remedy      string        `json:"remedy"`
	Refund      engine.Refund `json:"refund"`
	Reasons     []codeOnly    `json:"reasons"`
	Obligations []codeOnly    `json:"obligations"`
}

type codeOnly struct {
	Code string `json:"code"`
}

func (l *loggedDecision) summary() engine.Summary {
	d := engine.Decision{Outcome: l.Outcome, Remedy: l.Remedy, Refund: l.Refund}
	for _, r := range l.Reasons {
		d.Reasons = append(d.Reasons, engine.Explained{Code: r.Code})
	}
	for _, o := range l.Obligations {
		d.Obligations = append(d.Obligations, engine.Explained{Code: o.Code})
	}
	return d.Summary()
}

// readLogged reads a logged decision document as json.Unmarshal would
// into a loggedDecision, decoding only the members it compares: the rest
// of the document (the legal floor section, the texts: most of its bytes)
// is stepped over, not decoded. A document whose shape it does not expect
// (a member name that is not plain lower-case ASCII, which encoding/json
// might match to a field case-insensitively; anything but one object) is
// read by json.Unmarshal itself. The document is refundd's own record; a
// member it steps over is not checked to be valid JSON.
func readLogged(doc []byte) (loggedDecision, error) {
	var l loggedDecision
	if !readMembers(doc, &l) {
		l = loggedDecision{}
		if err := json.Unmarshal(doc, &l); err != nil {
			return loggedDecision{}, err
		}
	}
	return l, nil
}

// readMembers reads the object's members into l; false when the document
// is not one it reads (l is then to be read again by json.Unmarshal).
func readMembers(doc []byte, l *loggedDecision) bool {
	i := space(doc, 0)
	if i == len(doc) || doc[i] != '{' {
		return false
	}
	i = space(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return space(doc, i+1) == len(doc)
	}
	for {
		if i == len(doc) || doc[i] != '"' {
			return false
		}
		end := i + 1
		for end < len(doc) && doc[end] != '"' {
			if c := doc[end]; c != '_' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
				return false // escapes, capitals, anything else: encoding/json's to match
			}
			end++
		}
		if end == len(doc) {
			return false
		}
		name := string(doc[i+1 : end])
		i = space(doc, end+1)
		if i == len(doc) || doc[i] != ':' {
			return false
		}
		start := space(doc, i+1)
		stop := skip(doc, start)
		if stop < 0 {
			return false
		}
		var field any
		switch name {
		case "outcome":
			field = &l.Outcome
		case "remedy":
			field = &l.Remedy
		case "refund":
			field = &l.Refund
		case "reasons":
			field = &l.Reasons
		case "obligations":
			field = &l.Obligations
		}
		if field != nil && json.Unmarshal(doc[start:stop], field) != nil {
			return false
		}
		i = space(doc, stop)
		if i == len(doc) {
			return false
		}
		switch doc[i] {
		case ',':
			i = space(doc, i+1)
		case '}':
			return space(doc, i+1) == len(doc)
		default:
			return false
		}
	}
}

func space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skip is the end of the JSON value at i (its extent only: what it holds
// is not checked), or -1 when it has none.
func skip(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i // a number, true, false or null
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// skipString is the end of the string that opens at i, or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}
