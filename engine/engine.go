// Package engine holds one compiled, prepared OPA query per merchant and
// evaluates decisions with it. Each merchant is compiled apart from every
// other: the shared lib plus that merchant's package and data, nothing more,
// so one merchant's change or mistake never touches another's decisions.
// The active set is an immutable snapshot swapped atomically.
//
// The engine knows nothing of HTTP. Decisions depend only on the request:
// the clock is read for activation times and durations, never for a decision.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/request"
)

// ErrUnknownMerchant is returned for a merchant with no active policy.
var ErrUnknownMerchant = errors.New("unknown merchant")

// PolicyError reports that a merchant's policy failed to give a valid
// decision: an evaluation error, an undefined decision, or a document that
// breaks the contract. No decision is made up in its place.
type PolicyError struct {
	Merchant string
	Err      error
}

func (e *PolicyError) Error() string { return fmt.Sprintf("policy %s: %v", e.Merchant, e.Err) }
func (e *PolicyError) Unwrap() error { return e.Err }

// Options configures an Engine.
type Options struct {
	Logger *slog.Logger
	// Now gives activation times; time.Now by default.
	Now func() time.Time
}

// Engine evaluates decisions against the active merchant policies. It is
// safe for concurrent use.
type Engine struct {
	active atomic.Pointer[snapshot]
	mu     sync.Mutex // serialises activations
	log    *slog.Logger
	now    func() time.Time
}

// snapshot is never modified once published.
type snapshot struct {
	merchants map[string]*merchant
	status    map[string]Status
}

type merchant struct {
	id          string
	revision    string
	activatedAt time.Time
	query       rego.PreparedEvalQuery
	messages    catalog
}

// Status describes one configured merchant.
type Status struct {
	ID          string    `json:"id"`
	Active      bool      `json:"active"`
	Revision    string    `json:"revision,omitempty"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// New returns an engine with no merchant loaded.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{log: opts.Logger, now: opts.Now}
	e.active.Store(&snapshot{merchants: map[string]*merchant{}, status: map[string]Status{}})
	return e
}

// LoadTree compiles every merchant of tree whose revision differs from the
// active one and activates the set in one atomic swap. A merchant that fails
// keeps serving its previous policy, if it had one, and reports the error in
// its Status; the others are activated regardless. Merchants no longer in the
// tree are removed. The returned error joins every merchant's failure.
func (e *Engine) LoadTree(ctx context.Context, tree *bundles.Tree) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.active.Load()
	next := &snapshot{merchants: map[string]*merchant{}, status: map[string]Status{}}
	var errs []error
	fail := func(id string, err error) {
		errs = append(errs, err)
		st := Status{ID: id, LastError: err.Error()}
		if prev := old.merchants[id]; prev != nil {
			next.merchants[id] = prev
			st.Active, st.Revision, st.ActivatedAt = true, prev.revision, prev.activatedAt
		}
		next.status[id] = st
		e.log.Error("policy activation failed", "merchant", id, "error", err.Error())
	}
	for id, err := range tree.Errors {
		fail(id, fmt.Errorf("load %s: %w", id, err))
	}
	ids := make([]string, 0, len(tree.Merchants))
	for id := range tree.Merchants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		src := tree.Merchants[id]
		rev := tree.Revision(src)
		if prev := old.merchants[id]; prev != nil && prev.revision == rev {
			next.merchants[id] = prev
			next.status[id] = Status{ID: id, Active: true, Revision: rev, ActivatedAt: prev.activatedAt}
			continue
		}
		m, err := compile(ctx, tree, src)
		if err != nil {
			fail(id, fmt.Errorf("activate %s: %w", id, err))
			continue
		}
		m.revision, m.activatedAt = rev, e.now().UTC()
		next.merchants[id] = m
		next.status[id] = Status{ID: id, Active: true, Revision: rev, ActivatedAt: m.activatedAt}
		e.log.Info("policy activated", "merchant", id, "revision", rev)
	}
	e.active.Store(next)
	return errors.Join(errs...)
}

// Merchants lists every configured merchant, sorted by id.
func (e *Engine) Merchants() []Status {
	snap := e.active.Load()
	out := make([]Status, 0, len(snap.status))
	for _, st := range snap.status {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Ready tells whether at least one merchant is configured and every
// configured merchant has an active policy.
func (e *Engine) Ready() bool {
	snap := e.active.Load()
	if len(snap.status) == 0 {
		return false
	}
	for _, st := range snap.status {
		if !st.Active {
			return false
		}
	}
	return true
}

// Known tells whether merchant has an active policy.
func (e *Engine) Known(merchantID string) bool {
	return e.active.Load().merchants[merchantID] != nil
}

// Decide evaluates req under merchant's active policy. Messages are in lang
// ("fr" or "en"; English for any other). The decision is checked against
// the contract before it is returned.
func (e *Engine) Decide(ctx context.Context, merchantID string, req *request.Request, lang string) (*Decision, error) {
	m := e.active.Load().merchants[merchantID]
	if m == nil {
		return nil, ErrUnknownMerchant
	}
	start := time.Now()
	input, err := ast.InterfaceToValue(req.Input)
	if err != nil {
		return nil, &PolicyError{Merchant: merchantID, Err: fmt.Errorf("input: %w", err)}
	}
	rs, err := m.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, &PolicyError{Merchant: merchantID, Err: err}
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, &PolicyError{Merchant: merchantID, Err: errors.New("decision is undefined for this request")}
	}
	d, err := parseDecision(rs[0].Expressions[0].Value, req)
	if err != nil {
		return nil, &PolicyError{Merchant: merchantID, Err: err}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("decision id: %w", err)
	}
	d.DecisionID, d.Merchant, d.Revision = id.String(), m.id, m.revision
	m.messages.localize(d, lang)
	d.Duration = time.Since(start)
	return d, nil
}
