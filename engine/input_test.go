package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/refundd/refundd/request"
)

// FuzzInputValue: the input the policy reads is exactly what
// ast.InterfaceToValue makes of the decoded request, for every shared case
// and for generated bodies (whatever request.Decode accepts).
func FuzzInputValue(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "tests", "cases", "*", "*.json"))
	if len(paths) == 0 {
		f.Fatal("no cases")
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var c struct{ Request json.RawMessage }
		if err := json.Unmarshal(raw, &c); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(c.Request))
	}
	f.Add([]byte(`{"claim": {"id": "x", "evidence": ["é", ""]}, "order": {"lines": [{"amount": 12345678901234}, {"amount": 1.5e3}]}, "extra": null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var decoded any
		if req, err := request.Decode(body); err == nil {
			decoded = req.Input
		} else if json.Unmarshal(body, new(any)) == nil {
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if d.Decode(&decoded) != nil {
				return
			}
		} else {
			return
		}
		want, werr := ast.InterfaceToValue(decoded)
		got, gerr := inputValue(decoded)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("%q: errors %v, %v", body, gerr, werr)
		}
		if werr == nil && (ast.Compare(got, want) != 0 || got.String() != want.String()) {
			t.Fatalf("%q: input %v, want %v", body, got, want)
		}
	})
}
