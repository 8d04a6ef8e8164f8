package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/refundd/refundd/engine/ireval"
	"github.com/refundd/refundd/request"
)

// TestParseDecisionNamesTheField: a policy's document that breaks the
// contract is refused, the error naming the field by its path.
func TestParseDecisionNamesTheField(t *testing.T) {
	req := &request.Request{Currency: "EUR", Claimed: 1000}
	good := func() map[string]any {
		return map[string]any{
			"outcome": "partial", "remedy": "refund",
			"refund": map[string]any{"amount": json.Number("500"), "currency": "EUR", "withheld": []any{
				map[string]any{"line_id": "l1", "amount": json.Number("500"), "code": "used"},
			}},
			"reasons":     []any{map[string]any{"code": "a", "message": "A"}, map[string]any{"code": "b", "message": "B"}},
			"obligations": []any{},
		}
	}
	if d, err := parseDecision(good(), req, nil); err != nil || d.Refund.Withheld[0].LineID != "l1" || d.Reasons[1].Message != "B" {
		t.Fatalf("a good document: %+v, %v", d, err)
	}
	// The compiled evaluator's result, read from its values, gives the
	// same decision, and the same error for every broken document.
	prog := echoProgram(t)
	if d, err := resultOf(t, prog, good(), req); err != nil || !reflect.DeepEqual(d, mustParse(t, good(), req)) {
		t.Fatalf("a good document from the compiled evaluator: %+v, %v", d, err)
	}
	for _, tc := range []struct {
		breakIt func(map[string]any)
		want    string
	}{
		{func(d map[string]any) { d["outcome"] = "maybe" }, `outcome "maybe" is not one of`},
		{func(d map[string]any) { d["remedy"] = "cash" }, `remedy "cash" is not one of`},
		{func(d map[string]any) { d["refund"].(map[string]any)["amount"] = json.Number("-1") }, "refund.amount -1 is not a whole"},
		{func(d map[string]any) {
			d["refund"].(map[string]any)["withheld"].([]any)[0].(map[string]any)["line_id"] = ""
		}, "refund.withheld[0].line_id is not"},
		{func(d map[string]any) { d["reasons"].([]any)[1].(map[string]any)["code"] = "" }, "reasons[1].code is not a non-empty string"},
		{func(d map[string]any) { delete(d["reasons"].([]any)[0].(map[string]any), "message") }, "reasons[0].message is not"},
		{func(d map[string]any) { delete(d["refund"].(map[string]any), "currency") }, "refund.currency is not"},
		{func(d map[string]any) { d["refund"].(map[string]any)["amount"] = json.Number("1.5") }, "refund.amount 1.5 is not a whole"},
		{func(d map[string]any) {
			d["refund"].(map[string]any)["withheld"].([]any)[0].(map[string]any)["amount"] = "500"
		}, "refund.withheld[0].amount is not a number"},
		{func(d map[string]any) { d["obligations"] = nil }, "obligations is not a list"},
		{func(d map[string]any) { d["legal_floor"] = "none" }, "legal_floor is not an object"},
		{func(d map[string]any) { d["refund"].(map[string]any)["currency"] = "USD" }, `refund currency "USD" is not the order's "EUR"`},
	} {
		doc := good()
		tc.breakIt(doc)
		_, err := parseDecision(doc, req, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want an error with %q", err, tc.want)
		}
		if _, rerr := resultOf(t, prog, doc, req); fmt.Sprint(rerr) != fmt.Sprint(err) {
			t.Errorf("from the compiled evaluator: %v, want %v", rerr, err)
		}
	}
}

// echoProgram is a compiled program whose result is input.doc.
func echoProgram(t *testing.T) *ireval.Program {
	t.Helper()
	c := ast.MustCompileModulesWithOpts(map[string]string{"echo.rego": "package echo\n\nd := input.doc\n"},
		ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
	prog, err := planCompiled(context.Background(), c, inmem.New(), ast.MustParseRef("data.echo.d"), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// resultOf is the decision parseResult reads from the program's result
// for doc.
func resultOf(t *testing.T, prog *ireval.Program, doc any, req *request.Request) (*Decision, error) {
	t.Helper()
	var d *Decision
	err := prog.EvalFunc(context.Background(), map[string]any{"doc": doc}, func(r ireval.Result) error {
		var err error
		d, err = parseResult(r, req, nil)
		return err
	})
	return d, err
}

func mustParse(t *testing.T, doc any, req *request.Request) *Decision {
	t.Helper()
	d, err := parseDecision(doc, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAppendNodeWritesTheJSON: a value of the compiled evaluator's result,
// or of topdown's decoded JSON, is written as encoding/json writes that
// JSON: null, booleans, numbers as their text, escaped strings, members
// sorted, sets as sorted arrays, and an object with a key that is not a
// string from its JSON.
func TestAppendNodeWritesTheJSON(t *testing.T) {
	src := "package v\n\nd := {\"z\": [null, true, false, 1.5, -0, 100000000000000000000, \"<é\\n>\"], \"a\": {\"y\", \"x\"}, \"m\": {1: \"one\", \"k\": {}}, \"e\": []}\n"
	c := ast.MustCompileModulesWithOpts(map[string]string{"v.rego": src}, ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
	prog, err := planCompiled(context.Background(), c, inmem.New(), ast.MustParseRef("data.v.d"), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	err = prog.EvalFunc(context.Background(), map[string]any{}, func(r ireval.Result) error {
		doc, err := r.JSON()
		if err != nil {
			return err
		}
		want, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		for name, got := range map[string]func() ([]byte, error){
			"compiled": func() ([]byte, error) { return appendNode(nil, r, nil) },
			"decoded":  func() ([]byte, error) { return appendNode(nil, jsonNode{v: doc, ok: true}, nil) },
		} {
			b, err := got()
			if err != nil || string(b) != string(want) {
				t.Errorf("%s: %s, %v; want %s", name, b, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFloorWithOddKeysIsLocalised: a legal_floor right with a key that is
// not a string is written, and localised, from the compiled evaluator's
// result as from its JSON (topdown's form).
func TestFloorWithOddKeysIsLocalised(t *testing.T) {
	src := `package v

d := {"outcome": "deny", "remedy": "none", "refund": {"amount": 0, "currency": "EUR", "withheld": []},
	"reasons": [{"code": "r", "message": "R"}], "obligations": [],
	"legal_floor": {"version": "1", "mode": "report", "jurisdiction": null, "comparison": "meets", "shortfall": 0,
		"rights": [{"right": "withdrawal", "status": "applies", "comparison": "meets", "code": "floor_withdrawal", "message": "en", 7: "odd"}]}}
`
	c := ast.MustCompileModulesWithOpts(map[string]string{"v.rego": src}, ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
	prog, err := planCompiled(context.Background(), c, inmem.New(), ast.MustParseRef("data.v.d"), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	req := &request.Request{Currency: "EUR", Claimed: 100}
	texts := map[string]string{"floor_withdrawal": "fr"}
	err = prog.EvalFunc(context.Background(), map[string]any{}, func(r ireval.Result) error {
		got, err := parseResult(r, req, texts)
		if err != nil {
			return err
		}
		doc, _ := r.JSON()
		want, err := parseDecision(doc, req, texts)
		if err != nil {
			return err
		}
		g, _ := got.LegalFloor.MarshalJSON()
		w, _ := want.LegalFloor.MarshalJSON()
		if string(g) != string(w) || !strings.Contains(string(g), `"message":"fr"`) || !strings.Contains(string(g), `"7":"odd"`) {
			t.Errorf("compiled %s\nJSON     %s", g, w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
