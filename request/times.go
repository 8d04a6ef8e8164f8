package request

import "time"

// The times a request may carry: windows are measured between them, and
// OPA's time functions work from 1678 to 2262 only.
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC) // exclusive: 2200-12-31 is the last day
)

// ParseTime parses an RFC 3339 date-time (section 5.6): "T" or "t" between
// date and time, "Z", "z" or a numeric offset whose hours are 00 to 23 and
// minutes 00 to 59, an optional fraction of at least one digit. It returns
// the time, the same text with "T" and "Z" in upper case (the form OPA's
// time functions read), and the rule broken if any: "time" when s is not
// such a time, "time_range" when it falls outside MinTime..MaxTime. Leap
// seconds (:60) are refused: neither Go nor OPA can represent them.
func ParseTime(s string) (time.Time, string, string) {
	b := []byte(s)
	// YYYY-MM-DDThh:mm:ss
	if len(b) < 20 || !digits(b, 0, 4) || b[4] != '-' || !digits(b, 5, 7) || b[7] != '-' ||
		!digits(b, 8, 10) || !digits(b, 11, 13) || b[13] != ':' || !digits(b, 14, 16) ||
		b[16] != ':' || !digits(b, 17, 19) {
		return time.Time{}, "", "time"
	}
	switch b[10] {
	case 'T', 't':
		b[10] = 'T'
	default:
		return time.Time{}, "", "time"
	}
	i := 19
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i+1 {
			return time.Time{}, "", "time"
		}
		i = j
	}
	switch rest := b[i:]; {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		b[i] = 'Z'
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest, 1, 3) && rest[3] == ':' && digits(rest, 4, 6):
		if num(rest, 1, 3) > 23 || num(rest, 4, 6) > 59 {
			return time.Time{}, "", "time"
		}
	default:
		return time.Time{}, "", "time"
	}
	canonical := string(b)
	t, err := time.Parse(time.RFC3339Nano, canonical) // checks month, day, hour, minute, second
	if err != nil {
		return time.Time{}, "", "time"
	}
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return time.Time{}, "", "time_range"
	}
	return t, canonical, ""
}

func digits(b []byte, from, to int) bool {
	for _, c := range b[from:to] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func num(b []byte, from, to int) int {
	n := 0
	for _, c := range b[from:to] {
		n = n*10 + int(c-'0')
	}
	return n
}
