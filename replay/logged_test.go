package replay

import (
	"encoding/json"
	"reflect"
	"testing"
)

// loggedSeeds are decision documents as refundd logs them, and shapes at
// the edges of what readLogged reads itself.
var loggedSeeds = []string{
	`{"decision_id":"01a2","merchant":"crmjetty","outcome":"partial","remedy":"refund","refund":{"amount":1999,"currency":"EUR","withheld":[{"line_id":"l2","amount":500,"reason":"tax_not_refundable"}]},"reasons":[{"code":"renewal_refund_in_time","message":"Remboursé \"à temps\""}],"obligations":[],"legal_floor":{"rights":[{"right":"withdrawal","status":"applies","basis":["L221-18"]}],"comparison":"meets"}}`,
	`{"outcome":"deny","reasons":null,"obligations":[{"code":"return_goods","message":"x"}],"refund":{"amount":0,"currency":"EUR","withheld":null}}`,
	` { "outcome" : "approve" , "outcome" : "deny" , "refund" : {"amount": 1} , "refund" : {"currency": "BRL"} } `,
	`{"Outcome":"deny"}`, `{"outcome":"ok","ſtatus":1}`, `{"o\u0075tcome":"x"}`, `{}`, `null`, `[]`, `{"outcome":1}`,
	`{"outcome":"a"} x`, `{"outcome":"a",}`, `{"x":[{"y":"]}"}],"outcome":"b"}`, `{"x":tru,"outcome":"c"}`,
	`{"reasons":[{"code":"a"},{"code":"b","code":"c"}],"remedy":"exchange"}`, `{"refund":{"amount":1e3}}`,
}

// FuzzReadLogged: wherever json.Unmarshal reads a document, readLogged
// reads the same; elsewhere it fails or reads something, and never panics.
func FuzzReadLogged(f *testing.F) {
	for _, s := range loggedSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, gerr := readLogged([]byte(doc))
		if !json.Valid([]byte(doc)) {
			return
		}
		var want loggedDecision
		werr := json.Unmarshal([]byte(doc), &want)
		if (gerr != nil) != (werr != nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read %+v (%v), json.Unmarshal %+v (%v)", doc, got, gerr, want, werr)
		}
	})
}

// TestReadLoggedSeeds: the seeds, and which of them readLogged reads
// itself rather than handing to json.Unmarshal.
func TestReadLoggedSeeds(t *testing.T) {
	for i, doc := range loggedSeeds {
		got, gerr := readLogged([]byte(doc))
		if json.Valid([]byte(doc)) {
			var want loggedDecision
			werr := json.Unmarshal([]byte(doc), &want)
			if (gerr != nil) != (werr != nil) || werr == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("%s: read %+v (%v), json.Unmarshal %+v (%v)", doc, got, gerr, want, werr)
			}
		}
		var l loggedDecision
		if own := readMembers([]byte(doc), &l); own != (i <= 2 || i == 6 || i == 12 || i == 13 || i == 14) {
			t.Errorf("%s: read by itself: %v", doc, own)
		}
	}
	l, err := readLogged([]byte(loggedSeeds[0]))
	if err != nil || l.Outcome != "partial" || l.Refund.Amount != 1999 || len(l.Refund.Withheld) != 1 ||
		len(l.Reasons) != 1 || l.Reasons[0].Code != "renewal_refund_in_time" {
		t.Errorf("a logged decision read as %+v, %v", l, err)
	}
}
