package decisionlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stores returns the stores every test runs against: SQLite always, and
// PostgreSQL when REFUNDD_TEST_POSTGRES_URL names a server (CI starts one
// with scripts/postgres-test-server), in a database of its own.
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	out := map[string]*Store{}
	s, err := OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	switch admin := os.Getenv("REFUNDD_TEST_POSTGRES_URL"); {
	case admin != "":
		out["postgres"] = postgres(t, admin)
	case os.Getenv("REFUNDD_REQUIRE_POSTGRES") != "":
		t.Fatal("REFUNDD_REQUIRE_POSTGRES is set but REFUNDD_TEST_POSTGRES_URL is not")
	default:
		t.Log("PostgreSQL store not tested: set REFUNDD_TEST_POSTGRES_URL (scripts/postgres-test-server starts one)")
	}
	return out
}

func postgres(t *testing.T, admin string) *Store {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("refundd_test_%d", rand.Uint64()%1e12)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	s, err := OpenPostgres(u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		_, _ = db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		db.Close()
	})
	return s
}

var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func record(i int, merchant, outcome string) Record {
	at := base.Add(time.Duration(i) * time.Second)
	// A UUIDv7 of that time: ids order like times.
	ms := fmt.Sprintf("%012x", at.UnixMilli())
	id := fmt.Sprintf("%s-%s-7000-8000-%012x", ms[:8], ms[8:], i)
	return Record{
		DecisionID: id, Time: at, Merchant: merchant, Revision: "policies@abc", Outcome: outcome,
		Remedy: "refund", Currency: "EUR", Refunded: int64(100 * i), EngineNanos: 12345,
		Request: json.RawMessage(`{"claim":{"reason":"defective"}}`), Decision: json.RawMessage(`{"outcome":"` + outcome + `"}`),
	}
}

func TestWriteGet(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			want := record(1, "aomei", "approve")
			if err := s.Write(ctx, []Record{want}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, want.DecisionID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			if _, err := s.Get(ctx, "nope"); err != ErrNotFound {
				t.Errorf("missing id: %v", err)
			}
			// A record written again (indexed again from the WAL after a
			// crash) is no error, and never replaces the first.
			again := want
			again.Outcome, again.Refunded = "deny", 0
			if err := s.Write(ctx, []Record{again}); err != nil {
				t.Errorf("a record written again: %v", err)
			}
			if got, _ := s.Get(ctx, want.DecisionID); !reflect.DeepEqual(got, want) {
				t.Errorf("a record written again replaced the first: %+v", got)
			}
		})
	}
}

func TestListFiltersAndPages(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var all []Record
			for i := range 25 {
				m, o := "aomei", "approve"
				if i%3 == 0 {
					m = "crmjetty"
				}
				if i%2 == 0 {
					o = "deny"
				}
				all = append(all, record(i, m, o))
			}
			if err := s.Write(ctx, all); err != nil {
				t.Fatal(err)
			}
			q := Query{Merchant: "aomei", Since: base.Add(2 * time.Second), Until: base.Add(20 * time.Second), Limit: 3}
			var want []string
			for i := len(all) - 1; i >= 0; i-- { // newest first
				r := all[i]
				if r.Merchant == "aomei" && !r.Time.Before(q.Since) && r.Time.Before(q.Until) {
					want = append(want, r.DecisionID)
				}
			}
			var got []string
			pages := 0
			for {
				page, next, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, r := range page {
					got = append(got, r.DecisionID)
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if !reflect.DeepEqual(got, want) || pages != (len(want)+2)/3 {
				t.Errorf("%d pages %v\nwant %v", pages, got, want)
			}
			denied, _, err := s.List(ctx, Query{Outcome: "deny", Limit: 100})
			if err != nil || len(denied) != 13 {
				t.Errorf("deny: %d records, %v", len(denied), err)
			}
			// A token that reads some merchants lists only theirs.
			scoped, _, err := s.List(ctx, Query{Merchants: []string{"crmjetty"}, Limit: 100})
			if err != nil || len(scoped) != 9 {
				t.Errorf("merchants [crmjetty]: %d records, %v", len(scoped), err)
			}
			if none, _, err := s.List(ctx, Query{Merchants: []string{}, Limit: 100}); err != nil || len(none) != 0 {
				t.Errorf("no merchants: %d records, %v", len(none), err)
			}
			// A page is bounded in bytes too, and the cursor goes on from there.
			perRecord := len(all[0].Request) + len(all[0].Decision)
			var paged []string
			for cursor := ""; ; {
				page, next, err := s.List(ctx, Query{Limit: 100, MaxBytes: 3*perRecord + 1, Cursor: cursor})
				if err != nil || len(page) > 3 {
					t.Fatalf("byte-bounded page: %d records, %v", len(page), err)
				}
				for _, r := range page {
					paged = append(paged, r.DecisionID)
				}
				if cursor = next; next == "" {
					break
				}
			}
			if len(paged) != 25 {
				t.Errorf("byte-bounded pages listed %d records, want 25", len(paged))
			}
			var each []string
			err = s.Each(ctx, Query{Merchant: "crmjetty"}, func(r Record) error { each = append(each, r.DecisionID); return nil })
			if err != nil || len(each) != 9 || each[0] != all[0].DecisionID {
				t.Errorf("each: %v %v", each, err)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Write(ctx, []Record{record(0, "a", "deny"), record(10, "a", "deny"), record(20, "a", "deny")}); err != nil {
				t.Fatal(err)
			}
			n, err := s.Prune(ctx, base.Add(15*time.Second))
			if err != nil || n != 2 {
				t.Fatalf("pruned %d, %v; want 2", n, err)
			}
			left, _, _ := s.List(ctx, Query{})
			if len(left) != 1 || !left[0].Time.Equal(base.Add(20*time.Second)) {
				t.Errorf("left %+v", left)
			}
		})
	}
}

type counter struct {
	batches, records, dropped atomic.Int64
	maxBatch                  atomic.Int64
}

func (c *counter) LogBatch(size int, _ time.Duration, err error) {
	if err == nil {
		c.batches.Add(1)
		c.records.Add(int64(size))
		if int64(size) > c.maxBatch.Load() {
			c.maxBatch.Store(int64(size))
		}
	}
}
func (c *counter) LogDropped()       { c.dropped.Add(1) }
func (c *counter) LogQueueDepth(int) {}

func TestDurableLoggerCommitsBeforeReturning(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			c := &counter{}
			l, err := NewLogger(s, Options{Mode: Durable, Observer: c})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			var wg sync.WaitGroup
			const n = 400
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := record(1000+i, "aomei", "approve")
					if err := l.Log(ctx, r); err != nil {
						t.Error(err)
						return
					}
					// Durable: once Log returns, the record is there.
					if _, err := s.Get(ctx, r.DecisionID); err != nil {
						t.Errorf("%s not committed when Log returned: %v", r.DecisionID, err)
					}
				}()
			}
			wg.Wait()
			if c.records.Load() != n {
				t.Errorf("%d records written, want %d", c.records.Load(), n)
			}
			if c.batches.Load() >= n || c.maxBatch.Load() < 2 {
				t.Errorf("%d commits for %d records (largest %d): want group commit", c.batches.Load(), n, c.maxBatch.Load())
			}
		})
	}
}

// lockWrites holds the store's write lock until the returned func is called.
func lockWrites(t *testing.T, s *Store) func() {
	t.Helper()
	tx, err := s.db.BeginTx(context.Background(), nil) // SQLite: BEGIN IMMEDIATE takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind() == "postgres" {
		if _, err := tx.Exec("LOCK TABLE decisions IN EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	return func() { _ = tx.Rollback() }
}

func TestAsyncLoggerDropsWhenFullAndCountsIt(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			c := &counter{}
			l, err := NewLogger(s, Options{Mode: Async, QueueSize: 10, MaxBatch: 5, Observer: c})
			if err != nil {
				t.Fatal(err)
			}
			unlock := lockWrites(t, s)
			const n = 100
			for i := range n {
				if err := l.Log(context.Background(), record(2000+i, "aomei", "deny")); err != nil {
					t.Fatal(err)
				}
			}
			unlock()
			l.Close()
			if c.dropped.Load() == 0 || c.dropped.Load()+c.records.Load() != n {
				t.Errorf("dropped %d + written %d, want some dropped and %d in all", c.dropped.Load(), c.records.Load(), n)
			}
			if err := l.Log(context.Background(), record(1, "a", "deny")); err != ErrClosed {
				t.Errorf("after close: %v", err)
			}
		})
	}
}

func TestMask(t *testing.T) {
	input := map[string]any{
		"claim":    map[string]any{"id": "clm_1", "reason": "defective"},
		"customer": map[string]any{"id": "cus_9", "country": "FR"},
	}
	m, err := ParseMask(map[string]any{"drop": []any{"customer.country", "claim.nothing"}, "hash": []any{"customer.id", "claim.id"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.Apply(input, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	_ = json.Unmarshal(raw, &got)
	if _, ok := got["customer"]["country"]; ok {
		t.Error("customer.country not dropped")
	}
	if id, _ := got["customer"]["id"].(string); len(id) != len("hmac-sha256:")+64 || id == "cus_9" {
		t.Errorf("customer.id %q not hashed", id)
	}
	if got["claim"]["reason"] != "defective" {
		t.Error("an unmasked field changed")
	}
	if input["customer"].(map[string]any)["id"] != "cus_9" {
		t.Error("Apply modified its input")
	}
	if _, err := ParseMask(map[string]any{"drop": []any{"a..b"}}); err == nil {
		t.Error("bad path accepted")
	}
	if _, err := ParseMask(map[string]any{"erase": []any{"a"}}); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestCommitDelayGroupsABurst(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			c := &counter{}
			l, err := NewLogger(s, Options{Mode: Async, CommitDelay: 200 * time.Millisecond, Observer: c})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				if err := l.Log(context.Background(), record(3000+i, "aomei", "deny")); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			if c.records.Load() != 100 || c.batches.Load() > 3 {
				t.Errorf("%d records in %d commits, want 100 in a few", c.records.Load(), c.batches.Load())
			}
		})
	}
}

func TestDurableLogGivesUpWhenTheCallerStopsWaiting(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l, err := NewLogger(s, Options{Mode: Durable})
			if err != nil {
				t.Fatal(err)
			}
			unlock := lockWrites(t, s)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			r := record(4000, "aomei", "deny")
			if err := l.Log(ctx, r); err != context.DeadlineExceeded {
				t.Errorf("Log with the store locked: %v, want the context's deadline", err)
			}
			unlock()
			l.Close() // the queued record is still written
			if _, err := s.Get(context.Background(), r.DecisionID); err != nil {
				t.Errorf("record given up on was lost: %v", err)
			}
		})
	}
}

func TestHashKeyIsMadeOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", HashKeyFile)
	first, err := LoadHashKey(path, true)
	if err != nil || len(first) < 32 {
		t.Fatalf("key %q: %v", first, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", st.Mode(), err)
	}
	again, err := LoadHashKey(path, true)
	if err != nil || string(again) != string(first) {
		t.Errorf("second start read %q (%v), want the same key", again, err)
	}
	if _, err := LoadHashKey(filepath.Join(t.TempDir(), "none"), false); err == nil {
		t.Error("a missing key file given by flag was accepted")
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("secret\n"), 0o600)
	if _, err := LoadHashKey(short, false); err == nil {
		t.Error("a short key was accepted")
	}
}
