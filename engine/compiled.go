package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/refundd/refundd/engine/ireval"
	"github.com/refundd/refundd/request"
)

// Evaluators: topdown is OPA's own evaluator; compiled runs the merchant's
// query as OPA's planner plans it (its IR) with package ireval.
const (
	EvaluatorTopdown  = "topdown"
	EvaluatorCompiled = "compiled"
)

// irTarget is the rego target under which refundd receives a query's plan:
// OPA's rego package plans the query and hands the IR to a target plugin.
const irTarget = "refundd-ir"

type planSlot struct{ policy *ir.Policy }

type planSlotKey struct{}

// irPlugin captures the plan into the slot its context carries; it never
// evaluates through rego.
type irPlugin struct{}

func (irPlugin) IsTarget(t string) bool { return t == irTarget }

func (irPlugin) PrepareForEval(ctx context.Context, p *ir.Policy, _ ...rego.PrepareOption) (rego.TargetPluginEval, error) {
	slot, ok := ctx.Value(planSlotKey{}).(*planSlot)
	if !ok {
		return nil, errors.New("refundd-ir: no plan slot")
	}
	slot.policy = p
	return irNoEval{}, nil
}

type irNoEval struct{}

func (irNoEval) Eval(context.Context, *rego.EvalContext, ast.Value) (ast.Value, error) {
	return nil, errors.New("refundd-ir: plans are evaluated by package ireval, not through rego")
}

func init() { rego.RegisterPlugin(irTarget, irPlugin{}) }

// agreeOnCases decides every case of the source with topdown and with the
// compiled program: the program may serve only if they agree on each (the
// whole document, or both failing). Requests the API would refuse are
// skipped.
func agreeOnCases(ctx context.Context, pq rego.PreparedEvalQuery, prog *ireval.Program, cases map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		body, err := json.Marshal(cases[name])
		if err != nil {
			return err
		}
		req, err := request.Decode(body)
		if err != nil {
			continue
		}
		input, err := ast.InterfaceToValue(req.Input)
		if err != nil {
			return err
		}
		var want ast.Value
		rs, werr := pq.Eval(ctx, rego.EvalParsedInput(input))
		if werr == nil && len(rs) > 0 && len(rs[0].Expressions) > 0 {
			if want, werr = ast.InterfaceToValue(rs[0].Expressions[0].Value); werr != nil {
				return werr
			}
		}
		var got ast.Value
		gotJSON, gerr := prog.Eval(ctx, req.Input)
		if gerr == nil && gotJSON != nil {
			if got, gerr = ast.InterfaceToValue(gotJSON); gerr != nil {
				return gerr
			}
		}
		switch {
		case (werr != nil) != (gerr != nil):
			return fmt.Errorf("case %s: the compiled evaluator and topdown disagree (errors: %v, %v)", name, gerr, werr)
		case werr == nil && (want == nil) != (got == nil), want != nil && got != nil && ast.Compare(want, got) != 0:
			return fmt.Errorf("case %s: the compiled evaluator decides otherwise than topdown", name)
		}
	}
	return nil
}

// planCompiled plans the decision query over the compiled modules and binds
// the merchant's data into the plan.
func planCompiled(ctx context.Context, c *ast.Compiler, store storage.Store, query ast.Ref, data map[string]any) (*ireval.Program, error) {
	slot := &planSlot{}
	if _, err := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Query(query.String()),
		rego.Target(irTarget),
	).PrepareForEval(context.WithValue(ctx, planSlotKey{}, slot)); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if slot.policy == nil {
		return nil, errors.New("plan: none was made")
	}
	value, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, err
	}
	return ireval.Compile(slot.policy, value)
}
