package engine

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/bundles"
)

// TestAgreeOnCasesFindsADifference: a program that decides otherwise than
// the reference on one of the shipped cases is refused, naming the case.
func TestAgreeOnCasesFindsADifference(t *testing.T) {
	tree, err := bundles.LoadTree(filepath.Join("..", "policies")) // tests imports engine: no helper from there
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := tree.Source("aomei")
	if len(src.Cases) == 0 {
		t.Fatal("aomei's source carries no cases")
	}
	reference, err := compile(ctx, src, false, EvaluatorTopdown)
	if err != nil {
		t.Fatal(err)
	}
	other := *src
	other.Data = maps.Clone(src.Data)
	params := maps.Clone(src.Data["params"].(map[string]any))
	params["guarantee_days"] = 1
	other.Data["params"] = params
	variant, err := compile(ctx, &other, false, EvaluatorCompiled)
	if err != nil || variant.compiled == nil {
		t.Fatalf("variant: %v, %+v", err, variant)
	}
	if err := agreeOnCases(ctx, reference.query, variant.compiled, src.Cases); err == nil || !strings.Contains(err.Error(), "case ") {
		t.Errorf("a program deciding otherwise: %v", err)
	}
	if err := agreeOnCases(ctx, variant.query, variant.compiled, src.Cases); err != nil {
		t.Errorf("the program against its own reference: %v", err)
	}
}
