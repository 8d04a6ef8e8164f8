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
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine/ireval"
	"github.com/refundd/refundd/request"
)

var _ bundles.Target = (*Engine)(nil)

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
	// RequireTests makes a policy's own Rego tests (the lib's and the
	// merchant's, as shipped in its bundle) pass before it may go live.
	RequireTests bool
	// Observer hears of every activation attempt; optional.
	Observer Observer
	// Evaluator is EvaluatorTopdown (the default) or EvaluatorCompiled:
	// each merchant's plan run by package ireval, where it can be, and
	// topdown otherwise (Status says which and why).
	Evaluator string
}

// Observer hears of activation attempts, for metrics.
type Observer interface {
	Activation(merchant string, ok bool, at time.Time)
}

// Engine evaluates decisions against the active merchant policies. It is
// safe for concurrent use.
type Engine struct {
	active       atomic.Pointer[snapshot]
	mu           sync.Mutex // serialises snapshot swaps
	log          *slog.Logger
	now          func() time.Time
	requireTests bool
	evaluator    string
	observer     Observer
	ids          idSource
}

// idSource makes UUIDv7 decision ids from buffered randomness: one read of
// the system's random source serves many ids.
type idSource struct {
	mu  sync.Mutex
	rnd *bufio.Reader
}

func (s *idSource) next() (uuid.UUID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rnd == nil {
		s.rnd = bufio.NewReaderSize(rand.Reader, 4096)
	}
	return uuid.NewV7FromReader(s.rnd)
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
	compiled    *ireval.Program // nil: topdown serves
	evaluator   string
	fallback    string // why the compiled evaluator does not serve, when asked to
	messages    catalog
	mask        decisionlog.Mask
}

// Status describes one configured merchant.
type Status struct {
	ID          string    `json:"id"`
	Active      bool      `json:"active"`
	Revision    string    `json:"revision,omitempty"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	Origin      string    `json:"origin,omitempty"`
	// Evaluator is what decides for the merchant: topdown or compiled;
	// EvaluatorFallback says why the compiled evaluator was asked for and
	// could not serve.
	Evaluator         string `json:"evaluator,omitempty"`
	EvaluatorFallback string `json:"evaluator_fallback,omitempty"`
	// LastError is why the last activation failed, if it did; the active
	// revision, if any, kept serving.
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	FailedRevision string    `json:"failed_revision,omitempty"`
}

// New returns an engine with no merchant loaded.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{log: opts.Logger, now: opts.Now, requireTests: opts.RequireTests, observer: opts.Observer, evaluator: opts.Evaluator}
	e.active.Store(&snapshot{merchants: map[string]*merchant{}, status: map[string]Status{}})
	return e
}

// Activate compiles src aside and, if it compiles (and its tests pass under
// RequireTests), swaps it in for its merchant in one atomic step. Decisions
// already under way finish on the policy they started with. Other merchants
// are not recompiled. On failure the merchant's active policy, if any, keeps
// serving and the error is recorded in its Status. A source whose revision
// is already active, or already failed, is not compiled again.
func (e *Engine) Activate(ctx context.Context, src *bundles.Source) error {
	snap := e.active.Load()
	st, known := snap.status[src.Merchant]
	if known && st.Active && st.Revision == src.Revision {
		if st.LastError != "" {
			e.update(func(s *snapshot) {
				st.LastError, st.LastErrorAt, st.FailedRevision = "", time.Time{}, ""
				s.status[src.Merchant] = st
			})
		}
		return nil
	}
	if known && st.FailedRevision == src.Revision && st.LastError != "" {
		return errors.New(st.LastError)
	}
	m, err := compile(ctx, src, e.requireTests, e.evaluator)
	if err != nil {
		err = fmt.Errorf("activate %s revision %s: %w", src.Merchant, src.Revision, err)
		e.fail(src.Merchant, src.Revision, src.Origin, err)
		return err
	}
	m.revision, m.activatedAt = src.Revision, e.now().UTC()
	e.update(func(s *snapshot) {
		s.merchants[src.Merchant] = m
		s.status[src.Merchant] = Status{ID: src.Merchant, Active: true, Revision: m.revision, ActivatedAt: m.activatedAt, Origin: src.Origin,
			Evaluator: m.evaluator, EvaluatorFallback: m.fallback}
	})
	e.log.Info("policy activated", "merchant", src.Merchant, "revision", src.Revision, "origin", src.Origin)
	if e.observer != nil {
		e.observer.Activation(src.Merchant, true, m.activatedAt)
	}
	return nil
}

// Fail records that merchant's policy could not even be read (unreadable
// file, bad signature...). Its active policy, if any, keeps serving.
func (e *Engine) Fail(merchant string, err error) {
	e.fail(merchant, "", "", err)
}

func (e *Engine) fail(merchant, revision, origin string, err error) {
	now := e.now().UTC()
	e.update(func(s *snapshot) {
		st, ok := s.status[merchant]
		if !ok {
			st = Status{ID: merchant, Origin: origin}
		}
		st.LastError, st.LastErrorAt, st.FailedRevision = err.Error(), now, revision
		s.status[merchant] = st
	})
	e.log.Error("policy activation failed", "merchant", merchant, "revision", revision, "error", err.Error())
	if e.observer != nil {
		e.observer.Activation(merchant, false, now)
	}
}

// Remove stops serving merchant.
func (e *Engine) Remove(merchant string) {
	e.update(func(s *snapshot) {
		delete(s.merchants, merchant)
		delete(s.status, merchant)
	})
	e.log.Info("merchant removed", "merchant", merchant)
}

// update publishes a modified copy of the active snapshot.
func (e *Engine) update(change func(*snapshot)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.active.Load()
	next := &snapshot{merchants: maps.Clone(old.merchants), status: maps.Clone(old.status)}
	change(next)
	e.active.Store(next)
}

// LoadTree activates every merchant of a source tree, compiling them in
// parallel, records the merchants whose files failed to load, and removes
// the merchants the tree no longer has. It returns every failure, joined.
func (e *Engine) LoadTree(ctx context.Context, tree *bundles.Tree) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	for id, err := range tree.Errors {
		err = fmt.Errorf("load %s: %w", id, err)
		e.Fail(id, err)
		errs = append(errs, err)
	}
	ids := make(chan string)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if err := e.Activate(ctx, tree.Source(id)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for id := range tree.Merchants {
		ids <- id
	}
	close(ids)
	wg.Wait()
	for _, st := range e.Merchants() {
		if _, ok := tree.Merchants[st.ID]; !ok {
			if _, failed := tree.Errors[st.ID]; !failed {
				e.Remove(st.ID)
			}
		}
	}
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

// Configured lists the ids of every configured merchant, sorted.
func (e *Engine) Configured() []string {
	snap := e.active.Load()
	ids := make([]string, 0, len(snap.status))
	for id := range snap.status {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
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

// DecideOptions shape a decision's answer, never its content.
type DecideOptions struct {
	// Lang is the language of the messages: "fr", or English for any other.
	Lang string
	// Explain lists the policy rules that fired, with their file and line
	// (always evaluated by topdown, which traces).
	Explain bool
	// Topdown evaluates with topdown even where the compiled evaluator
	// serves: the reference the differential tests compare with.
	Topdown bool
}

var errUndefined = errors.New("decision is undefined for this request (a policy rule failed, or named a code without a message text)")

// Decide evaluates req under merchant's active policy. The decision is
// checked against the contract before it is returned.
func (e *Engine) Decide(ctx context.Context, merchantID string, req *request.Request, opts DecideOptions) (*Decision, error) {
	m := e.active.Load().merchants[merchantID]
	if m == nil {
		return nil, ErrUnknownMerchant
	}
	start := time.Now()
	var tracer *firedTracer
	var d *Decision
	evaluator := EvaluatorTopdown
	if m.compiled != nil && !opts.Explain && !opts.Topdown {
		evaluator = EvaluatorCompiled
		err := m.compiled.EvalFunc(ctx, req.Input, func(r ireval.Result) error {
			if !r.Defined() {
				return errUndefined
			}
			var err error
			d, err = parseResult(r, req, m.messages.texts(opts.Lang))
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", ErrEvaluationAborted, ctx.Err())
			}
			return nil, &PolicyError{Merchant: merchantID, Err: err}
		}
	} else {
		input, err := ast.InterfaceToValue(req.Input)
		if err != nil {
			return nil, &PolicyError{Merchant: merchantID, Err: fmt.Errorf("input: %w", err)}
		}
		evalOpts := []rego.EvalOption{rego.EvalParsedInput(input)}
		if opts.Explain {
			tracer = &firedTracer{seen: map[*ast.Rule]bool{}}
			evalOpts = append(evalOpts, rego.EvalQueryTracer(tracer))
		}
		rs, err := m.query.Eval(ctx, evalOpts...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", ErrEvaluationAborted, ctx.Err())
			}
			return nil, &PolicyError{Merchant: merchantID, Err: err}
		}
		if len(rs) == 0 || len(rs[0].Expressions) == 0 {
			return nil, &PolicyError{Merchant: merchantID, Err: errUndefined}
		}
		if d, err = parseDecision(rs[0].Expressions[0].Value, req, m.messages.texts(opts.Lang)); err != nil {
			return nil, &PolicyError{Merchant: merchantID, Err: err}
		}
	}
	id, err := e.ids.next()
	if err != nil {
		return nil, fmt.Errorf("decision id: %w", err)
	}
	d.DecisionID, d.Merchant, d.Revision, d.Mask, d.Evaluator = id.String(), m.id, m.revision, m.mask, evaluator
	m.messages.localize(d, opts.Lang)
	if tracer != nil {
		d.Explanation = tracer.out
	}
	d.Duration = time.Since(start)
	return d, nil
}

// ErrEvaluationAborted: the evaluation was stopped by its context (its
// deadline, or the caller gone) before it decided.
var ErrEvaluationAborted = errors.New("the evaluation was stopped before it decided")

// firedTracer lists, in the order they first produced a value, the rules
// and functions an evaluation went through, with where they are written.
// It keeps one entry a rule, never the events: what it holds is bounded by
// the policy, not by the request.
type firedTracer struct {
	seen map[*ast.Rule]bool
	out  []Fired
}

func (t *firedTracer) Enabled() bool               { return true }
func (t *firedTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (t *firedTracer) TraceEvent(ev topdown.Event) {
	if ev.Op != topdown.ExitOp {
		return
	}
	rule, ok := ev.Node.(*ast.Rule)
	if !ok || rule.Location == nil || t.seen[rule] {
		return
	}
	t.seen[rule] = true
	f := Fired{Rule: rule.Path().String(), Location: fmt.Sprintf("%s:%d", rule.Location.File, rule.Location.Row)}
	for _, g := range t.out { // rules of one name and line (else branches) appear once
		if g == f {
			return
		}
	}
	t.out = append(t.out, f)
}
