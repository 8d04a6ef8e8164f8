package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/refundd/refundd/bundles"
)

// decisionsPackage is the lib package whose constructors take the codes a
// merchant's policy can emit.
var decisionsPackage = ast.MustParseRef("data.refunds.lib.decisions")

// constructors are the decisions package's functions that take codes: the
// string literals of their arguments are reason or obligation codes.
var constructors = []string{"verdict", "deny", "refund", "prorated_refund"}

// missingTexts lists, for every code the merchant's policy names (as the
// literal codes it passes to the decisions constructors, and the withheld
// and obligation codes of its params), the languages whose message catalog
// lacks it. A code without a text would otherwise leave the decision
// undefined at the first claim that reaches it.
func missingTexts(src *bundles.Source, c catalog) []string {
	codes := map[string]bool{}
	for _, code := range Codes(src) {
		codes[code] = true
	}
	var missing []string
	for code := range codes {
		var langs []string
		for _, lang := range []string{"en", "fr"} {
			if _, ok := c[lang][code]; !ok {
				langs = append(langs, map[string]string{"en": "English", "fr": "French"}[lang])
			}
		}
		if len(langs) > 0 {
			missing = append(missing, fmt.Sprintf("code %q has no %s text", code, strings.Join(langs, " or ")))
		}
	}
	sort.Strings(missing)
	return missing
}

// Codes lists, sorted, the reason, withheld and obligation codes a
// merchant's policy names: the literal codes it passes to the decisions
// constructors, and the withheld and obligation codes of its params.
func Codes(src *bundles.Source) []string {
	codes := map[string]bool{}
	for _, m := range src.Modules {
		alias := importAlias(m.Parsed, decisionsPackage)
		if alias == "" {
			continue
		}
		ast.WalkTerms(m.Parsed, func(t *ast.Term) bool {
			call, ok := t.Value.(ast.Call)
			if !ok || !isConstructor(call[0].Value, alias) {
				return false
			}
			for _, arg := range call[1:] {
				ast.WalkTerms(arg, func(s *ast.Term) bool {
					switch v := s.Value.(type) {
					case ast.String:
						codes[string(v)] = true
					case ast.Ref, ast.Call:
						return true // a data path or a computed value: not a literal code
					}
					return false
				})
			}
			return false
		})
	}
	// Outcome and remedy literals are arguments too; they are not codes.
	for _, word := range slices.Concat(Outcomes, Remedies) {
		delete(codes, word)
	}
	if params, ok := src.Data["params"].(map[string]any); ok {
		if kinds, ok := params["withheld_kinds"].(map[string]any); ok {
			for _, code := range kinds {
				if s, ok := code.(string); ok {
					codes[s] = true
				}
			}
		}
		if obligations, ok := params["refund_obligations"].([]any); ok {
			for _, code := range obligations {
				if s, ok := code.(string); ok {
					codes[s] = true
				}
			}
		}
	}
	out := make([]string, 0, len(codes))
	for code := range codes {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// importAlias is the name under which module imports pkg, "" if it does not.
func importAlias(m *ast.Module, pkg ast.Ref) string {
	for _, imp := range m.Imports {
		ref, ok := imp.Path.Value.(ast.Ref)
		if !ok || !ref.Equal(pkg) {
			continue
		}
		if imp.Alias != "" {
			return string(imp.Alias)
		}
		return string(ref[len(ref)-1].Value.(ast.String))
	}
	return ""
}

func isConstructor(op ast.Value, alias string) bool {
	ref, ok := op.(ast.Ref)
	if !ok || len(ref) != 2 || !ref[0].Equal(ast.VarTerm(alias)) {
		return false
	}
	name, ok := ref[1].Value.(ast.String)
	return ok && slices.Contains(constructors, string(name))
}
