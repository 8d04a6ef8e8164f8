package tests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// TestFloorEndToEnd: each worked example of the statutory floor, through
// the real server and both endpoint shapes, carries its legal_floor.
func TestFloorEndToEnd(t *testing.T) {
	setup(t)
	examples, err := LoadFloorExamples()
	if err != nil {
		t.Fatal(err)
	}
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--decision-log", "off")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	counted := map[string]int{} // refundd_floor_comparisons_total series, by what was answered
	for _, ex := range examples {
		t.Run(ex.Name, func(t *testing.T) {
			status, native := post(t, base+"/v1/merchants/"+ex.Merchant+"/decisions", string(ex.Request))
			status2, wrapped := post(t, base+"/v1/data/refunds/merchants/"+ex.Merchant+"/decision", `{"input":`+string(ex.Request)+`}`)
			var env struct{ Result json.RawMessage }
			if status != 200 || status2 != 200 || json.Unmarshal(wrapped, &env) != nil {
				t.Fatalf("%d %s / %d %s", status, native, status2, wrapped)
			}
			var d struct {
				LegalFloor struct{ Comparison, Mode string } `json:"legal_floor"`
			}
			if json.Unmarshal(native, &d) == nil && d.LegalFloor.Comparison != "" {
				counted[fmt.Sprintf(`refundd_floor_comparisons_total{comparison=%q,merchant=%q,mode=%q}`, d.LegalFloor.Comparison, ex.Merchant, d.LegalFloor.Mode)] += 2
			}
			for shape, body := range map[string][]byte{"native": native, "data API": env.Result} {
				got, err := SummarizeFloor(body, ex.Want)
				if err != nil || !reflect.DeepEqual(got, ex.Want) {
					t.Errorf("%s: %+v (%v)\nwant %+v", shape, got, err, ex.Want)
				}
			}
		})
	}
	// Every answered comparison is counted once per decision, by merchant and mode.
	m := scrape(t, base)
	if len(counted) < 2 {
		t.Fatalf("the examples gave %d comparison series", len(counted))
	}
	for series, n := range counted {
		if v := metricValue(m, series); v != float64(n) {
			t.Errorf("%s = %v, want %d", series, v, n)
		}
	}
}
