package request

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzScanClean: wherever the one-pass scanner takes a body, the token
// parser finds no problem in it and reads the same value; and the scanner
// takes every clean body of the seeds.
func FuzzScanClean(f *testing.F) {
	clean := []string{
		`{"claim": {"id": "c1", "reason": "defective", "line_ids": ["l1", "l2"]}, "order": {"lines": [{"id": "l1", "amount": 1200}, {"amount": -0.5e+3}]}}`,
		`{"claim": {"id": "caf\u00e9 \"q\" \\ \/ \ud83d\ude00 \b\f\n\r\t"}, "customer": {"id": "é€😀"}}`,
		`  {"order": {"id": "x", "lines": []}, "item": {}}  `, `null`, `[1, 2.5, true, false, null, {"a": [{}]}]`, `"s"`, `0`, `-0`, `1E9`,
	}
	for _, s := range clean {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"claim": {"id": "c1", "id": "c2"}}`, `{"claim": {"idd": 1}}`, `{"claim": 01}`, `{"a": "\ud800"}`,
		"{\"a\": \"\xff\"}", `{"a": 1,}`, `[1 2]`, `{"a" 1}`, `1 2`, ``, `-`, `1.`, `1e`, `"\u00zz"`, "\"a\tb\"", `tru`, strings.Repeat("[", 40) + strings.Repeat("]", 40)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, s := range []*shape{requestShape, dataAPIShape} {
			got, ok := scanClean(body, s)
			want, problems := parseTokens(body, s)
			if !ok {
				continue
			}
			if len(problems) > 0 {
				t.Fatalf("%q: scanned clean, but the token parser finds %+v", body, problems)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: scanned %#v, the token parser read %#v", body, got, want)
			}
		}
	})
}

// TestScanCleanTakesCleanBodies: the scanner is the path of every clean
// request, not only of trivial ones.
func TestScanCleanTakesCleanBodies(t *testing.T) {
	for _, body := range []string{
		`{"claim": {"id": "caf\u00e9", "submitted_at": "2026-03-10T10:00:00Z", "reason": "defective", "line_ids": ["l1"]}, "order": {"id": "o", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "amount": 19900}]}, "customer": {"id": "c", "country": "FR"}}`,
		`{"input": {"claim": {}, "order": {"lines": [{"amount": 1.5e2}]}}}`,
	} {
		s := requestShape
		if strings.HasPrefix(body, `{"input"`) {
			s = dataAPIShape
		}
		if _, ok := scanClean([]byte(body), s); !ok {
			t.Errorf("%s: not taken", body)
		}
	}
	for _, body := range []string{`{"claim": {"id": "a", "id": "b"}}`, `{"claim": {"reasn": "x"}}`, "{\"claim\": {\"id\": \"\xfe\"}}", `{"claim": {}} x`} {
		if _, ok := scanClean([]byte(body), requestShape); ok {
			t.Errorf("%q: taken, though the token parser has a problem to report", body)
		}
	}
}
