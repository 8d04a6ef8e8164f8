package replay

import (
	"context"
	"fmt"
	"os"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
)

// Candidate compiles the merchant's candidate policy from a source tree
// directory or a bundle file, in an engine of its own.
func Candidate(ctx context.Context, path, merchant string, v *bundles.Verification) (*engine.Engine, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("candidate: %w", err)
	}
	if st.IsDir() {
		tree, err := bundles.LoadTree(path)
		if err != nil {
			return nil, "", fmt.Errorf("candidate: %w", err)
		}
		if lerr, ok := tree.Errors[merchant]; ok {
			return nil, "", fmt.Errorf("candidate: %w", lerr)
		}
		src := tree.Source(merchant)
		if src == nil {
			return nil, "", fmt.Errorf("candidate %s: no merchant %q", path, merchant)
		}
		return compile(ctx, src)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("candidate: %w", err)
	}
	return CandidateBundle(ctx, raw, path, merchant, v, bundles.DefaultLimits)
}

// CandidateBundle compiles the merchant's candidate policy from bundle
// bytes, which must stay within limits (checked as the archive is read,
// before the bundle is kept in memory, verified or compiled).
func CandidateBundle(ctx context.Context, raw []byte, origin, merchant string, v *bundles.Verification, limits bundles.Limits) (*engine.Engine, string, error) {
	if err := bundles.CheckArchive(raw, limits); err != nil {
		return nil, "", err
	}
	src, err := bundles.Read(raw, origin, v)
	if err != nil {
		return nil, "", err
	}
	if src.Merchant != merchant {
		return nil, "", fmt.Errorf("candidate bundle holds merchant %s's policy, not %s's", src.Merchant, merchant)
	}
	return compile(ctx, src)
}

// compile activates the candidate on the compiled evaluator (topdown where
// it cannot run the plan or disagrees on the candidate's shipped cases).
func compile(ctx context.Context, src *bundles.Source) (*engine.Engine, string, error) {
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	if err := e.Activate(ctx, src); err != nil {
		return nil, "", err
	}
	return e, src.Revision, nil
}
