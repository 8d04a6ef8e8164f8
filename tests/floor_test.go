package tests

import (
	"encoding/json"
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
	for _, ex := range examples {
		t.Run(ex.Name, func(t *testing.T) {
			status, native := post(t, base+"/v1/merchants/"+ex.Merchant+"/decisions", string(ex.Request))
			status2, wrapped := post(t, base+"/v1/data/refunds/merchants/"+ex.Merchant+"/decision", `{"input":`+string(ex.Request)+`}`)
			var env struct{ Result json.RawMessage }
			if status != 200 || status2 != 200 || json.Unmarshal(wrapped, &env) != nil {
				t.Fatalf("%d %s / %d %s", status, native, status2, wrapped)
			}
			for shape, body := range map[string][]byte{"native": native, "data API": env.Result} {
				got, err := SummarizeFloor(body, ex.Want)
				if err != nil || !reflect.DeepEqual(got, ex.Want) {
					t.Errorf("%s: %+v (%v)\nwant %+v", shape, got, err, ex.Want)
				}
			}
		})
	}
}
