package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/decisionlog"
)

// compile builds one merchant's prepared query from the shared lib, the
// message catalog and the merchant's own modules and data, nothing else.
// With requireTests, the source's tests must be there and pass.
func compile(ctx context.Context, src *bundles.Source, requireTests bool, evaluator string) (*merchant, error) {
	if !bundles.MerchantIDPattern.MatchString(src.Merchant) {
		return nil, fmt.Errorf("merchant id %q: must match %s", src.Merchant, bundles.MerchantIDPattern)
	}
	pkg := ast.MustParseRef("data.refunds.merchants." + src.Merchant)
	if err := checkScope(src, pkg); err != nil {
		return nil, err
	}
	modules := copyModules(src.Lib, src.Modules)
	c := cancellable(ctx, ast.NewCompiler().WithStrict(true).WithCapabilities(capabilities))
	if c.Compile(modules); c.Failed() {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("compile: %w", ctx.Err())
		}
		return nil, c.Errors
	}
	decision := pkg.Append(ast.StringTerm("decision"))
	if len(c.GetRulesExact(decision)) == 0 {
		return nil, fmt.Errorf("package %s defines no decision rule", pkg)
	}
	msgs, err := newCatalog(src.Messages)
	if err != nil {
		return nil, err
	}
	if missing := missingTexts(src, msgs); len(missing) > 0 {
		return nil, fmt.Errorf("messages (policies/messages/data.json): %s", strings.Join(missing, "; "))
	}
	mask, err := decisionlog.ParseMask(src.Data["decision_log"])
	if err != nil {
		return nil, err
	}
	// Data is kept as AST values, so an evaluation reads it without
	// converting it again.
	data := map[string]any{
		"merchants": map[string]any{src.Merchant: src.Data},
		"messages":  src.Messages,
		"floor":     src.Floor,
	}
	if requireTests {
		if err := runTests(ctx, src, data); err != nil {
			return nil, err
		}
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Query(decision.String()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	m := &merchant{id: src.Merchant, query: pq, messages: msgs, mask: mask, evaluator: EvaluatorTopdown}
	if evaluator == EvaluatorCompiled {
		// A plan the compiled evaluator cannot run leaves the merchant on
		// topdown, saying why.
		prog, err := planCompiled(ctx, c, store, decision, data)
		if err == nil {
			err = agreeOnCases(ctx, pq, prog, src.Cases)
		}
		if err != nil {
			m.fallback = err.Error()
		} else {
			m.compiled, m.evaluator = prog, EvaluatorCompiled
		}
	}
	return m, nil
}

// copyModules copies parsed modules for a compiler, which rewrites them in
// place: the lib's are shared by every merchant.
func copyModules(groups ...[]bundles.Module) map[string]*ast.Module {
	out := map[string]*ast.Module{}
	for _, g := range groups {
		for _, m := range g {
			out[m.Path] = m.Parsed.Copy()
		}
	}
	return out
}

// runTests runs the source's Rego tests with OPA's test runner against the
// lib, the merchant's modules and its data.
func runTests(ctx context.Context, src *bundles.Source, data map[string]any) error {
	if len(src.Tests) == 0 {
		return errors.New("tests are required and the policy has none")
	}
	store := inmem.NewFromObject(data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return err
	}
	defer store.Abort(ctx, txn)
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithCapabilities(capabilities)).
		SetStore(store).
		SetModules(copyModules(src.Lib, src.Modules, src.Tests)).
		SetTimeout(30*time.Second).
		RaiseBuiltinErrors(true).
		RunTests(ctx, txn)
	if err != nil {
		return fmt.Errorf("tests: %w", err)
	}
	var failed []string
	passed := 0
	for r := range ch {
		switch {
		case r.Error != nil:
			failed = append(failed, fmt.Sprintf("%s.%s: %v", r.Package, r.Name, r.Error))
		case r.Fail:
			failed = append(failed, r.Package+"."+r.Name)
		case !r.Skip:
			passed++
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d tests failed: %s", len(failed), len(failed)+passed, strings.Join(failed, ", "))
	}
	if passed == 0 {
		return errors.New("tests are required and none ran")
	}
	return nil
}

// checkScope rejects a merchant whose modules reach beyond what it is
// compiled with: its own package and data, the shared lib, the catalog. A
// reference to another merchant's package would otherwise be silently
// undefined; here it fails to compile, with the place it was written.
func checkScope(src *bundles.Source, pkg ast.Ref) error {
	allowed := []ast.Ref{
		ast.MustParseRef("data.refunds.lib"),
		ast.MustParseRef("data.refunds.floor"),
		ast.MustParseRef("data.floor"),
		ast.MustParseRef("data.messages"),
		pkg,
		ast.MustParseRef("data.merchants." + src.Merchant),
	}
	var errs []error
	check := func(m bundles.Module, wantPkg ast.Ref) {
		if !m.Parsed.Package.Path.HasPrefix(wantPkg) {
			errs = append(errs, fmt.Errorf("%s: package %s must be within %s", m.Path, m.Parsed.Package.Path, wantPkg))
		}
		ast.WalkRefs(m.Parsed, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.DefaultRootRef) {
				return false
			}
			prefix := r.ConstantPrefix()
			for _, a := range allowed {
				if prefix.HasPrefix(a) {
					return false
				}
			}
			loc := m.Path
			if r[0].Location != nil {
				loc = fmt.Sprintf("%s:%d", m.Path, r[0].Location.Row)
			}
			errs = append(errs, fmt.Errorf("%s: %s is outside merchant %s's scope (%s)", loc, r, src.Merchant, scopeList(allowed)))
			return true
		})
	}
	for _, m := range src.Modules {
		check(m, pkg)
	}
	for _, m := range src.Lib {
		if strings.HasPrefix(m.Path, "floor/") {
			check(m, allowed[1])
		} else {
			check(m, allowed[0])
		}
	}
	return errors.Join(errs...)
}

// capabilities are OPA's, less every builtin whose answer depends on
// something other than its arguments: the clock, the network, chance, the
// runtime. A policy that calls one fails to compile, so every decision can
// be replayed from its request alone.
var capabilities = func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	builtins := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !b.Nondeterministic && b.Name != "time.now_ns" && b.Name != "opa.runtime" && b.Name != "trace" {
			builtins = append(builtins, b)
		}
	}
	caps.Builtins = builtins
	return caps
}()

func scopeList(refs []ast.Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// cancellable makes c stop between its stages once ctx is done: OPA's
// compiler takes no context, and an untrusted candidate policy must not
// keep a core busy after its time is up or its client has left.
func cancellable(ctx context.Context, c *ast.Compiler) *ast.Compiler {
	if ctx.Done() == nil {
		return c
	}
	check := func(*ast.Compiler) *ast.Error {
		if err := ctx.Err(); err != nil {
			return ast.NewError(ast.CompileErr, nil, "compilation stopped: %v", err)
		}
		return nil
	}
	for _, id := range ast.AllStages() {
		c = c.WithStageAfterID(id, ast.CompilerStageDefinition{Name: "refundd_cancel_" + string(id), MetricName: "refundd_cancel", Stage: check})
	}
	return c
}
