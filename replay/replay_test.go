package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sort"
	"testing"
	"time"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/config"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/replay"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/tests"
)

const day = 24 * time.Hour

var paid = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// claim is a crmjetty one-time purchase claimed `elapsed` after payment.
func claim(elapsed time.Duration, reason string) []byte {
	return fmt.Appendf(nil, `{"claim":{"submitted_at":%q,"reason":%q,"support_unresolved":true},
	 "order":{"placed_at":%q,"paid_at":%q,"currency":"EUR",
	  "lines":[{"id":"l1","sku":"crm-sync-pro","kind":"product","amount":19900},{"id":"l2","sku":"vat","kind":"tax","amount":3980}]},
	 "customer":{"id":"cus_1"}}`,
		paid.Add(elapsed).Format(time.RFC3339), reason, paid.Format(time.RFC3339), paid.Format(time.RFC3339))
}

func loadEngine(t testing.TB, dir, merchant string) (*engine.Engine, string) {
	t.Helper()
	tree, err := bundles.LoadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := tree.Source(merchant)
	e := engine.New(engine.Options{Evaluator: engine.EvaluatorCompiled})
	if err := e.Activate(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return e, src.Revision
}

// logDecisions decides each request with the live policy and logs it.
func logDecisions(t testing.TB, store *decisionlog.Store, e *engine.Engine, merchant string, bodies [][]byte) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, len(bodies))
	var recs []decisionlog.Record
	for i, b := range bodies {
		req, err := request.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.Decide(ctx, merchant, req, engine.DecideOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := d.Record(req, paid.Add(time.Duration(i)*time.Second), []byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = d.DecisionID
		recs = append(recs, rec)
		if len(recs) == 1000 || i == len(bodies)-1 {
			if err := store.Write(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	return ids
}

// candidateTree copies policies/ with crmjetty's refund window at days.
func candidateTree(t testing.TB, days int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(tests.PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "merchants", "crmjetty", "data.json")
	raw, _ := os.ReadFile(p)
	raw = bytes.Replace(raw, []byte(`"refund_window_days": 30`), []byte(fmt.Sprintf(`"refund_window_days": %d`, days)), 1)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWindowFrom30To14Days replays a few thousand logged crmjetty decisions
// against the same policy with a 14-day window instead of 30: exactly the
// claims made more than 14 and at most 30 days after payment for a reason
// the window decides change, from a refund to a denial.
func TestWindowFrom30To14Days(t *testing.T) {
	store, err := decisionlog.OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	live, _ := loadEngine(t, tests.PoliciesDir(), "crmjetty")

	var bodies [][]byte
	var windowed []bool // decided by the window (not by rule 4)
	var elapsed []time.Duration
	add := func(e time.Duration, reason string) {
		bodies = append(bodies, claim(e, reason))
		elapsed = append(elapsed, e)
		windowed = append(windowed, reason == "defective")
	}
	for i := range 3000 {
		reason := "defective"
		if i%5 == 0 {
			reason = "change_of_mind" // denied by rule 4 whatever the window
		}
		add(time.Duration(i)*(40*day/3000), reason)
	}
	for _, e := range []time.Duration{14 * day, 14*day + time.Second, 30 * day, 30*day + time.Second} {
		add(e, "defective")
	}
	ids := logDecisions(t, store, live, "crmjetty", bodies)

	var want []string
	for i := range bodies {
		if windowed[i] && elapsed[i] > 14*day && elapsed[i] <= 30*day {
			want = append(want, ids[i])
		}
	}
	sort.Strings(want)

	candidate, rev := loadEngine(t, candidateTree(t, 14), "crmjetty")
	rep, err := replay.Run(context.Background(), store, candidate, rev, replay.Options{Merchant: "crmjetty", ChangedIDs: true, Sample: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decisions != len(bodies) || rep.Failed != 0 {
		t.Fatalf("replayed %d (%d failed), want %d: %v", rep.Decisions, rep.Failed, len(bodies), rep.Errors)
	}
	if !reflect.DeepEqual(rep.ChangedIDs, want) || rep.Changed != len(want) {
		t.Fatalf("changed %d decisions, want exactly %d", rep.Changed, len(want))
	}
	if got := rep.Transitions["partial"]["deny"]; got != len(want) {
		t.Errorf("partial -> deny: %d, want %d (transitions %v)", got, len(want), rep.Transitions)
	}
	eur := rep.Refunded["EUR"]
	if eur == nil || eur.Change != -19900*int64(len(want)) || eur.After-eur.Before != eur.Change {
		t.Errorf("refunded %+v, want a change of %d", eur, -19900*len(want))
	}
	if len(rep.Sample) != 3 || rep.Sample[0].DecisionID != want[0] ||
		rep.Sample[0].Before.Reasons[0] != "within_refund_window" || rep.Sample[0].After.Reasons[0] != "refund_window_expired" {
		t.Errorf("sample %+v", rep.Sample)
	}

	// The same policy changes nothing.
	same, rev := loadEngine(t, tests.PoliciesDir(), "crmjetty")
	rep, err = replay.Run(context.Background(), store, same, rev, replay.Options{Merchant: "crmjetty"})
	if err != nil || rep.Changed != 0 || rep.Decisions != len(bodies) {
		t.Errorf("replaying the live policy: %+v %v", rep, err)
	}

	// A time range replays only the decisions logged in it.
	rep, err = replay.Run(context.Background(), store, candidate, rev, replay.Options{Merchant: "crmjetty",
		Since: paid.Add(1000 * time.Second), Until: paid.Add(2000 * time.Second)})
	if err != nil || rep.Decisions != 1000 {
		t.Errorf("range: %d decisions, %v", rep.Decisions, err)
	}
}

// BenchmarkReplay100k replays 100,000 logged decisions (generated once per
// run) against a candidate policy. The figure is in docs/decision-log.md.
// Run: go test -run '^$' -bench Replay100k -benchtime 1x ./replay
func BenchmarkReplay100k(b *testing.B) {
	// As refundd replay and the server's impact analysis run it: the
	// garbage collector target of --gc-percent's default.
	defer debug.SetGCPercent(debug.SetGCPercent(config.Default().GCPercent))
	store, err := decisionlog.OpenSQLite(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	live, _ := loadEngine(b, tests.PoliciesDir(), "crmjetty")
	bodies := make([][]byte, 100000)
	for i := range bodies {
		reason := []string{"defective", "not_working", "change_of_mind", "not_as_described", "other"}[i%5]
		bodies[i] = claim(time.Duration(i)*(40*day/100000), reason)
	}
	logDecisions(b, store, live, "crmjetty", bodies)
	candidate, rev := loadEngine(b, candidateTree(b, 14), "crmjetty")
	b.ResetTimer()
	for b.Loop() {
		rep, err := replay.Run(context.Background(), store, candidate, rev, replay.Options{Merchant: "crmjetty"})
		if err != nil || rep.Decisions != 100000 || rep.Failed != 0 {
			b.Fatalf("%+v %v", rep, err)
		}
		b.ReportMetric(rep.Seconds, "replay_s")
		b.ReportMetric(float64(rep.Changed), "changed")
	}
}
