package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/refundd/refundd/bundles"
)

// compile builds one merchant's prepared query from the shared lib, the
// message catalog and the merchant's own modules and data, nothing else.
func compile(ctx context.Context, tree *bundles.Tree, src *bundles.Merchant) (*merchant, error) {
	pkg := ast.MustParseRef("data.refunds.merchants." + src.ID)
	if err := checkScope(src, tree.Lib, pkg); err != nil {
		return nil, err
	}
	modules := make(map[string]*ast.Module, len(tree.Lib)+len(src.Modules))
	for _, group := range [][]bundles.Module{tree.Lib, src.Modules} {
		for _, m := range group {
			// The compiler rewrites modules in place; lib modules are shared.
			modules[m.Path] = m.Parsed.Copy()
		}
	}
	c := ast.NewCompiler().WithStrict(true).WithCapabilities(capabilities)
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	decision := pkg.Append(ast.StringTerm("decision"))
	if len(c.GetRulesExact(decision)) == 0 {
		return nil, fmt.Errorf("package %s defines no decision rule", pkg)
	}
	msgs, err := newCatalog(tree.Messages)
	if err != nil {
		return nil, err
	}
	// Data is kept as AST values, so an evaluation reads it without
	// converting it again.
	store := inmem.NewFromObjectWithOpts(map[string]any{
		"merchants": map[string]any{src.ID: src.Data},
		"messages":  tree.Messages,
	}, inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Query(decision.String()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &merchant{id: src.ID, query: pq, messages: msgs}, nil
}

// checkScope rejects a merchant whose modules reach beyond what it is
// compiled with: its own package and data, the shared lib, the catalog. A
// reference to another merchant's package would otherwise be silently
// undefined; here it fails to compile, with the place it was written.
func checkScope(src *bundles.Merchant, lib []bundles.Module, pkg ast.Ref) error {
	allowed := []ast.Ref{
		ast.MustParseRef("data.refunds.lib"),
		ast.MustParseRef("data.messages"),
		pkg,
		ast.MustParseRef("data.merchants." + src.ID),
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
			errs = append(errs, fmt.Errorf("%s: %s is outside merchant %s's scope (%s)", loc, r, src.ID, scopeList(allowed)))
			return true
		})
	}
	for _, m := range src.Modules {
		check(m, pkg)
	}
	for _, m := range lib {
		check(m, allowed[0])
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
