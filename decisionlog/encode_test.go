package decisionlog_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

var encodeKey = []byte("0123456789abcdef0123456789abcdef")

// masks: the launch merchants' kind, free text kept, and paths inside
// other paths (which Encode leaves to Apply).
var masks = []decisionlog.Mask{
	{Hash: []string{"customer.id", "claim.id", "order.id"}},
	{Drop: []string{"customer"}, Hash: []string{"claim.id", "nothing.here"}},
	{Hash: []string{"order.lines"}, Keep: []string{"claim.evidence"}},
	{Drop: []string{"customer.id"}, Hash: []string{"customer"}},
	{},
}

func sameEncoding(t *testing.T, what string, input map[string]any) {
	t.Helper()
	for i, m := range masks {
		want, err := m.Apply(input, encodeKey)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Encode(input, encodeKey)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s, mask %d: Encode\n%s\nApply\n%s", what, i, got, want)
		}
	}
}

// TestEncodeIsApply: the one-pass encoding gives Apply's bytes, for every
// shared case and for strings encoding/json escapes.
func TestEncodeIsApply(t *testing.T) {
	cases, err := tests.LoadCases()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		req, err := request.Decode(c.Request)
		if err != nil {
			t.Fatal(err)
		}
		sameEncoding(t, c.Name, req.Input)
	}
	sameEncoding(t, "escapes", map[string]any{
		"claim":    map[string]any{"id": "a<b>&\"c\\", "evidence": "line\nbreak\ttab\u2028sep\u2029\x01\x7f é 日本 \xff"},
		"customer": map[string]any{"id": json.Number("12"), "type": nil, "flag": true, "list": []any{false, "x", map[string]any{"z": 1, "a": 2.5}}},
		"a.b":      "a key with a dot",
	})
}

// TestAppendRecordIsMarshal: a record encoded in one pass is what
// json.Marshal gives.
func TestAppendRecordIsMarshal(t *testing.T) {
	for _, rec := range []decisionlog.Record{
		{DecisionID: "01a2", Time: time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC), Merchant: "aomei", Revision: "policies@abc",
			Outcome: "approve", Remedy: "refund", Currency: "EUR", Refunded: 4995, EngineNanos: 52000,
			Request: json.RawMessage(`{"claim":{"reason":"defective"}}`), Decision: json.RawMessage(`{"outcome":"approve"}`)},
		{DecisionID: "x<y>", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Merchant: "m", Refunded: -3},
	} {
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := decisionlog.AppendRecord(nil, &rec); !bytes.Equal(got, want) {
			t.Errorf("AppendRecord\n%s\njson.Marshal\n%s", got, want)
		}
	}
}

// FuzzEncode: for any request the API accepts, Encode gives Apply's bytes.
func FuzzEncode(f *testing.F) {
	cases, err := tests.LoadCases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add([]byte(c.Request))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := request.Decode(body)
		if err != nil {
			return
		}
		sameEncoding(t, "fuzz", req.Input)
	})
}

func BenchmarkMask(b *testing.B) {
	cases, _ := tests.LoadCases()
	req, err := request.Decode(cases[0].Request)
	if err != nil {
		b.Fatal(err)
	}
	m := masks[0]
	b.Run("Apply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Apply(req.Input, encodeKey)
		}
	})
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Encode(req.Input, encodeKey)
		}
	})
}

// FuzzAppendString: a string is quoted as encoding/json quotes it, whatever
// its bytes (control and HTML characters, U+2028, invalid UTF-8): the
// decision document and the record are written with it.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" and \\", "<a href='x'>&</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"é à ç", "line\u2028para\u2029", "bad \xff\xfe utf-8 \xe2\x82", "🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := decisionlog.AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got[1:], want)
		}
	})
}
