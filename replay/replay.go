// Package replay re-evaluates logged decisions against a candidate policy
// and reports what would change: impact analysis before a policy ships.
package replay

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
)

// Options selects the decisions to replay and shapes the report.
type Options struct {
	Merchant string
	Since    time.Time // inclusive; zero: from the first
	Until    time.Time // exclusive; zero: to the last
	// Sample is how many changed decisions to show with before and after
	// (10 by default; the first by decision id, that is by time).
	Sample int
	// ChangedIDs lists every changed decision id in the report.
	ChangedIDs bool
	Workers    int // GOMAXPROCS by default
	// RecordTimeout bounds the candidate's evaluation of one record
	// (DefaultRecordTimeout when 0): a record it cannot decide in time
	// counts as failed.
	RecordTimeout time.Duration
}

// DefaultRecordTimeout bounds one record's evaluation.
const DefaultRecordTimeout = time.Second

// Report is what a candidate policy would change.
type Report struct {
	Merchant  string `json:"merchant"`
	Candidate string `json:"candidate_revision"`
	Decisions int    `json:"decisions"`
	Changed   int    `json:"changed"`
	// Failed counts the records the candidate could not decide (its policy
	// failed, or the logged request no longer validates).
	Failed int `json:"failed"`
	// Transitions counts decisions by outcome before and after:
	// Transitions["approve"]["deny"] were approved and would be denied.
	Transitions map[string]map[string]int `json:"transitions"`
	// Refunded is the money refunded, by currency, before and after.
	Refunded   map[string]*Money `json:"refunded"`
	Sample     []Change          `json:"sample"`
	ChangedIDs []string          `json:"changed_ids,omitempty"`
	Errors     []string          `json:"errors,omitempty"`
	Seconds    float64           `json:"seconds"`
}

// Money is refunded money in minor units.
type Money struct {
	Before int64 `json:"before"`
	After  int64 `json:"after"`
	Change int64 `json:"change"`
}

// Change is one decision that would change.
type Change struct {
	DecisionID string         `json:"decision_id"`
	Time       time.Time      `json:"time"`
	Before     engine.Summary `json:"before"`
	After      engine.Summary `json:"after"`
}

// Decider decides with the candidate policy: an engine holding it.
type Decider interface {
	Decide(ctx context.Context, merchant string, req *request.Request, opts engine.DecideOptions) (*engine.Decision, error)
}

// Source streams logged records: the decision log store.
type Source interface {
	Each(ctx context.Context, q decisionlog.Query, f func(decisionlog.Record) error) error
}

// Run replays the merchant's logged decisions against candidate.
func Run(ctx context.Context, log Source, candidate Decider, revision string, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Sample <= 0 {
		opts.Sample = 10
	}
	if opts.RecordTimeout <= 0 {
		opts.RecordTimeout = DefaultRecordTimeout
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	rep := &Report{Merchant: opts.Merchant, Candidate: revision,
		Transitions: map[string]map[string]int{}, Refunded: map[string]*Money{}, Sample: []Change{}}
	var (
		mu      sync.Mutex
		changes []Change
	)
	// One record's outcome, added under mu.
	tally := func(r decisionlog.Record, before, after *engine.Summary, failure error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Decisions++
		if failure != nil {
			rep.Failed++
			if len(rep.Errors) < 10 {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.DecisionID, failure))
			}
			return
		}
		to := rep.Transitions[before.Outcome]
		if to == nil {
			to = map[string]int{}
			rep.Transitions[before.Outcome] = to
		}
		to[after.Outcome]++
		rep.money(before.Refund.Currency).Before += before.Refund.Amount
		rep.money(after.Refund.Currency).After += after.Refund.Amount
		if !reflect.DeepEqual(*before, *after) {
			rep.Changed++
			changes = append(changes, Change{DecisionID: r.DecisionID, Time: r.Time, Before: *before, After: *after})
		}
	}

	records := make(chan decisionlog.Record, 256)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range records {
				if ctx.Err() != nil {
					continue // drain: the run is over
				}
				rctx, cancel := context.WithTimeout(ctx, opts.RecordTimeout)
				before, after, err := replayOne(rctx, candidate, opts.Merchant, r)
				cancel()
				tally(r, before, after, err)
			}
		}()
	}
	err := log.Each(ctx, decisionlog.Query{Merchant: opts.Merchant, Since: opts.Since, Until: opts.Until}, func(r decisionlog.Record) error {
		select {
		case records <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(records)
	wg.Wait()
	if err == nil {
		err = ctx.Err() // cut short: no partial report passes for a whole one
	}
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", opts.Merchant, err)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].DecisionID < changes[j].DecisionID })
	rep.Sample = append(rep.Sample, changes[:min(len(changes), opts.Sample)]...)
	if opts.ChangedIDs {
		rep.ChangedIDs = make([]string, len(changes))
		for i, c := range changes {
			rep.ChangedIDs[i] = c.DecisionID
		}
	}
	for _, m := range rep.Refunded {
		m.Change = m.After - m.Before
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func (rep *Report) money(currency string) *Money {
	m := rep.Refunded[currency]
	if m == nil {
		m = &Money{}
		rep.Refunded[currency] = m
	}
	return m
}

func replayOne(ctx context.Context, candidate Decider, merchant string, r decisionlog.Record) (*engine.Summary, *engine.Summary, error) {
	logged, err := readLogged(r.Decision)
	if err != nil {
		return nil, nil, fmt.Errorf("logged decision: %w", err)
	}
	req, err := request.Decode(r.Request)
	if err != nil {
		return nil, nil, err
	}
	d, err := candidate.Decide(ctx, merchant, req, engine.DecideOptions{})
	if err != nil {
		return nil, nil, err
	}
	before, after := logged.summary(), d.Summary()
	return &before, &after, nil
}
