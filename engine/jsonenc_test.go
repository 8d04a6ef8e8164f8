package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/refundd/refundd/engine"
)

// TestAppendJSONIsEncodingJSON: a decision's document, written by hand in
// one pass, is byte for byte what encoding/json writes for the same
// decision with its legal_floor section as a map (the form it had before
// it was written as it is read): for every shared case and floor example,
// with each evaluator, in English and in French, and with an explanation;
// and a document read back into a Decision is written the same.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	e := compiledEngine(t)
	seeds := allSeeds(t)
	floors := 0
	for _, c := range seeds {
		for _, opts := range []engine.DecideOptions{{}, {Lang: "fr"}, {Topdown: true, Lang: "fr"}, {Explain: true}} {
			d, err := e.Decide(context.Background(), c.merchant, decode(t, string(c.body)), opts)
			if err != nil {
				t.Fatalf("%s %+v: %v", c.merchant, opts, err)
			}
			got := d.AppendJSON(nil)
			want, err := json.Marshal(asMaps(t, d))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s %+v:\n got %s\nwant %s", c.merchant, opts, got, want)
			}
			if std, _ := json.Marshal(d); !bytes.Equal(std, want) {
				t.Fatalf("%s %+v: json.Marshal of the decision\n got %s\nwant %s", c.merchant, opts, std, want)
			}
			var back engine.Decision // read back, it is written the same
			if err := json.Unmarshal(got, &back); err != nil || !bytes.Equal(back.AppendJSON(nil), got) ||
				d.LegalFloor != nil && (back.LegalFloor.Mode != d.LegalFloor.Mode || back.LegalFloor.Comparison != d.LegalFloor.Comparison) {
				t.Fatalf("%s %+v: read back: %v\n%s", c.merchant, opts, err, back.AppendJSON(nil))
			}
			if d.LegalFloor != nil {
				floors++
			}
		}
	}
	if floors < len(seeds) {
		t.Errorf("%d decisions of %d have a legal_floor section", floors, 4*len(seeds))
	}
}

// asMaps is d with its legal_floor section decoded into a map, as the
// Decision struct held it before.
func asMaps(t *testing.T, d *engine.Decision) any {
	t.Helper()
	type decision struct {
		DecisionID  string             `json:"decision_id"`
		Merchant    string             `json:"merchant"`
		Revision    string             `json:"revision"`
		Outcome     string             `json:"outcome"`
		Remedy      string             `json:"remedy"`
		Refund      engine.Refund      `json:"refund"`
		Reasons     []engine.Explained `json:"reasons"`
		Obligations []engine.Explained `json:"obligations"`
		LegalFloor  map[string]any     `json:"legal_floor,omitempty"`
		Explanation []engine.Fired     `json:"explanation,omitempty"`
	}
	out := decision{d.DecisionID, d.Merchant, d.Revision, d.Outcome, d.Remedy, d.Refund, d.Reasons, d.Obligations, nil, d.Explanation}
	if d.LegalFloor != nil {
		var err error
		if out.LegalFloor, err = d.LegalFloor.Doc(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
