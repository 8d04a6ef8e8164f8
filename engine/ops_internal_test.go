package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/refundd/refundd/engine/ireval"
)

// BenchmarkOperations measures what one operation of a plan costs the
// compiled evaluator: a policy whose result lists the operation done 20
// times (I stands for 0 to 19, so that no two are alike) against one that
// lists input.n 20 times (base, run first), over the same small input.
// ns/operation is the difference divided by 20: the operation's cost beyond reading a value and
// appending it to the result.
func BenchmarkOperations(b *testing.B) {
	input := map[string]any{
		"n": json.Number("7"), "s": "abc", "t": "2026-03-03T15:00:00Z",
		"ns": json.Number("1772550000000000000"),
		"o":  map[string]any{"a": "x", "b": "y", "c": "z"},
	}
	ctx := context.Background()
	program := func(b *testing.B, expr, funcs string) *ireval.Program {
		elems := make([]string, 20)
		for i := range elems {
			elems[i] = strings.ReplaceAll(expr, "I", fmt.Sprint(i))
		}
		src := "package p\n\n" + funcs + "d := [" + strings.Join(elems, ", ") + "]\n"
		c := ast.MustCompileModulesWithOpts(map[string]string{"p.rego": src},
			ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
		prog, err := planCompiled(ctx, c, inmem.New(), ast.MustParseRef("data.p.d"), map[string]any{})
		if err != nil {
			b.Fatal(err)
		}
		if err := prog.EvalFunc(ctx, input, func(r ireval.Result) error {
			if r.Len() != len(elems) {
				return fmt.Errorf("%s: %d results, not %d", expr, r.Len(), len(elems))
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return prog
	}
	eval := func(prog *ireval.Program) {
		_ = prog.EvalFunc(ctx, input, func(ireval.Result) error { return nil })
	}
	baseNs := 0.0 // the first sub-benchmark's time, which the others are measured against
	for _, op := range []struct{ name, expr, funcs string }{
		{"base", "input.n", ""},
		{"lookup", "input.o.a", ""},
		{"comparison", `input.s == "abc"`, ""},
		{"call recalled", "f(input.n)", "f(x) := [x]\n\n"},                // the first runs, the others find its result
		{"call, new arguments", "f(input.n, I)", "f(x, i) := [x, i]\n\n"}, // each runs, after searching the calls kept (up to 16)
		{"plus", "input.n + I", ""},
		{"is_string", "is_string(input.s)", ""},
		{"member of a set", `"I" in {"a", "b", "c"}`, ""},
		{"object.get", `object.get(input.o, "I", 0)`, ""},
		{"object.union", `object.union(input.o, {"d": I})`, ""},
		{"sprintf", `sprintf("%04d-%02d-%02d", [2026, I, 3])`, ""},
		{"time.parse_rfc3339_ns", "time.parse_rfc3339_ns(input.t)", ""},
		{"time.add_date", "time.add_date(input.ns, 0, 0, I)", ""},
		{"time.date", `time.date([input.ns + I, "Europe/Paris"])`, ""},
	} {
		prog := program(b, op.expr, op.funcs)
		b.Run(op.name, func(b *testing.B) {
			for b.Loop() {
				eval(prog)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if op.name == "base" {
				baseNs = ns
				return
			}
			b.ReportMetric((ns-baseNs)/20, "ns/operation")
		})
	}
}
