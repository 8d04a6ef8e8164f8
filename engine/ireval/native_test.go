package ireval

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// TestNativesAgreeWithOPA calls every native builtin and OPA's own
// implementation with the same arguments, over values at the edges of
// what the natives handle (the int32 window of OPA's fast arithmetic,
// int64's limits, floats, times out of range, zones, every type), and
// requires the same result wherever the native answers. Where it does not,
// OPA's implementation is what runs.
func TestNativesAgreeWithOPA(t *testing.T) {
	values := []string{
		`null`, `true`, `false`, `0`, `1`, `-1`, `7`, `2147483647`, `2147483648`, `-2147483648`, `-2147483649`,
		`9223372036854775807`, `-9223372036854775808`, `92233720368547758070`, `1.5`, `-0.5`, `1e3`, `2.0`,
		`1700000000000000000`, `1711846800000000000`, `-62135596800000000000`,
		`""`, `"a"`, `"été"`, `"2024-03-31T01:30:00Z"`, `"2024-03-31T01:30:00+02:00"`, `"2024-02-30T00:00:00Z"`,
		`"1677-09-21T00:00:00Z"`, `"2262-04-12T00:00:00Z"`, `"9999-12-31T23:59:59Z"`, `"not a time"`,
		`[]`, `[1, "a", null]`, `[1711846800000000000, "Europe/Paris"]`, `["a", 1]`,
		`[1711846800000000000, "UTC"]`, `[1711846800000000000, ""]`, `[1711846800000000000, "Local"]`,
		`[1711846800000000000, "Nowhere/Nothing"]`, `[1729990800000000000, "America/Sao_Paulo"]`,
		`[1711846800000000000, "Europe/Paris", "2006"]`, `[1711846800000000000, 1]`, `[1.5, "UTC"]`, `[1711846800000000000]`,
		`{}`, `{"a": 1, "b": [2]}`, `{"x": {"y": 1}}`, `{1, 2, "a"}`, `set()`,
		`{"x": {"z": 2, "y": {"w": 1}}, "a": 3}`, `{"x": 5, "b": [2]}`, `{1: "one", "1": "text"}`,
		// formats, and their arguments
		`"%d"`, `"%04d-%02d-%02d"`, `"%sT%02d:59:59Z"`, `"floor_%s_%s"`, `"%5d|%-3d"`, `"%v"`, `"100%%"`,
		`"%s"`, `"%"`, `"%0d%3d"`, `"%05s"`,
		`[2024, 3, 1]`, `[-7, 3, 12345]`, `["a", "b"]`, `["2024-01-01", 5]`, `[9223372036854775807]`,
		`[-9223372036854775808]`, `[1.5]`, `[-1, -1]`, `[7, "a"]`, `-3`, `12`, `10001`, `{"a", "x"}`, `["b", 1]`, `[2.0, 2, 1, 1.0, 3, "b", "a"]`, `{"checkout": {"info": [1, 2]}}`, `["checkout", "info", 1]`,
	}
	var vals []ast.Value
	for _, v := range values {
		vals = append(vals, ast.MustParseTerm(v).Value)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range natives {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		arity := len(ast.BuiltinMap[name].Decl.FuncArgs().Args)
		opa := topdown.GetBuiltin(name)
		if opa == nil {
			t.Fatalf("%s: OPA has no such builtin", name)
		}
		handled := 0
		for _, args := range argLists(vals, arity, name) {
			in := make([]value, len(args))
			for i, a := range args {
				var ok bool
				if in[i], ok = fromAST(a); !ok {
					t.Fatalf("%v is not a value", a)
				}
			}
			res, ok := natives[name](&arena{}, in)
			if !ok {
				continue
			}
			got := toAST(res)
			handled++
			terms := make([]*ast.Term, len(args))
			for i, a := range args {
				terms[i] = ast.NewTerm(a)
			}
			var want ast.Value
			err := opa(topdown.BuiltinContext{Context: context.Background(), Cache: builtins.Cache{}}, terms, func(t *ast.Term) error {
				want = t.Value
				return nil
			})
			if err != nil {
				t.Errorf("%s%v: native %v, OPA fails: %v", name, args, got, err)
				continue
			}
			if want == nil || ast.Compare(got, want) != 0 || got.String() != want.String() {
				t.Errorf("%s%v: native %v, OPA %v", name, args, got, want)
			}
		}
		if handled == 0 {
			t.Errorf("%s: the native handled none of the arguments", name)
		}
	}
}

// argLists is every combination of values for arity 1 and 2; for more,
// the time arguments with every small integer combination.
func argLists(vals []ast.Value, arity int, name string) [][]ast.Value {
	var out [][]ast.Value
	switch {
	case arity == 1:
		for _, v := range vals {
			out = append(out, []ast.Value{v})
		}
	case arity == 2:
		for _, a := range vals {
			for _, b := range vals {
				out = append(out, []ast.Value{a, b})
			}
		}
	case arity == 3 && name == "object.get":
		for _, o := range vals {
			for _, k := range vals {
				out = append(out, []ast.Value{o, k, ast.String("default")})
			}
		}
	case name == "time.add_date":
		ints := []string{"0", "1", "-1", "12", "1.5", `"a"`, "400", "-300000"}
		for _, v := range vals {
			for _, y := range ints {
				for _, m := range ints {
					for _, d := range ints[:4] {
						out = append(out, []ast.Value{v, ast.MustParseTerm(y).Value, ast.MustParseTerm(m).Value, ast.MustParseTerm(d).Value})
					}
				}
			}
		}
	default:
		panic(fmt.Sprintf("no arguments for %s/%d", name, arity))
	}
	return out
}
