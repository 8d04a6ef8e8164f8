package decisionlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func walRecord(i int) Record {
	return Record{DecisionID: fmt.Sprintf("d-%04d", i), Time: time.Unix(int64(1700000000+i), 0).UTC(), Merchant: "aomei",
		Revision: "r1", Outcome: "approve", Remedy: "refund", Currency: "EUR", Refunded: int64(i),
		Request: json.RawMessage(`{"claim":{"reason":"defective"}}`), Decision: json.RawMessage(fmt.Sprintf(`{"decision_id":"d-%04d"}`, i))}
}

func appendRecords(t *testing.T, w *WAL, from, to int) WALPosition {
	t.Helper()
	var payloads [][]byte
	for i := from; i < to; i++ {
		b, _ := json.Marshal(walRecord(i))
		payloads = append(payloads, b)
	}
	pos, err := w.Append(payloads)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func ids(recs []WALRecord) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Record.DecisionID)
	}
	return strings.Join(out, ",")
}

// TestWALReopen: what was appended is read back whole after a reopen,
// across segments; a checkpoint hides what it covers and deletes the
// segments wholly before it.
func TestWALReopen(t *testing.T) {
	dir := t.TempDir()
	w, pending, err := OpenWAL(dir, 4096) // small segments: several of them
	if err != nil || len(pending) != 0 {
		t.Fatalf("%v %v", pending, err)
	}
	appendRecords(t, w, 0, 10)
	mid := appendRecords(t, w, 10, 40)
	appendRecords(t, w, 40, 60)
	w.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("%d segments for 60 records of ~300 bytes in 4 KiB segments", len(segs))
	}
	w, pending, err = OpenWAL(dir, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 60 || pending[0].Record.DecisionID != "d-0000" || pending[59].Record.DecisionID != "d-0059" {
		t.Fatalf("read back %d: %s", len(pending), ids(pending))
	}
	if got := pending[5].Record; got.Refunded != 5 || string(got.Decision) != `{"decision_id":"d-0005"}` || !got.Time.Equal(walRecord(5).Time) {
		t.Errorf("record 5 read back as %+v", got)
	}
	if err := w.Checkpoint(mid); err != nil {
		t.Fatal(err)
	}
	w.Close()
	after, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(after) >= len(segs) {
		t.Errorf("checkpoint deleted no segment: %d before, %d after", len(segs), len(after))
	}
	w, pending, err = OpenWAL(dir, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(pending) != 20 || pending[0].Record.DecisionID != "d-0040" {
		t.Fatalf("after the checkpoint: %s", ids(pending))
	}
	// Appending goes on after the last record.
	appendRecords(t, w, 60, 61)
	w.Close()
	_, pending, _ = OpenWAL(dir, 4096)
	if len(pending) != 21 || pending[20].Record.DecisionID != "d-0060" {
		t.Fatalf("after one more: %s", ids(pending))
	}
}

// TestWALTornTail: a frame cut short by a crash at the end of the last
// segment is dropped, the rest is read, and appends after it read back.
func TestWALTornTail(t *testing.T) {
	for name, tear := range map[string]func(seg []byte, off int){
		// The header made it, half the payload did not.
		"short payload": func(seg []byte, off int) {
			binary.LittleEndian.PutUint32(seg[off:], 300)
			binary.LittleEndian.PutUint32(seg[off+4:], 12345)
			copy(seg[off+8:], `{"decision_id":"d-9`)
		},
		// Garbage where the next frame would be.
		"garbage": func(seg []byte, off int) { copy(seg[off:], []byte{0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4, 5}) },
		// A whole frame whose checksum does not match.
		"bad checksum": func(seg []byte, off int) {
			b, _ := json.Marshal(walRecord(99))
			binary.LittleEndian.PutUint32(seg[off:], uint32(len(b)))
			binary.LittleEndian.PutUint32(seg[off+4:], 7)
			copy(seg[off+8:], b)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, _ := OpenWAL(dir, 1<<16)
			end := appendRecords(t, w, 0, 3)
			w.Close()
			path := filepath.Join(dir, fmt.Sprintf("%016x.wal", end.Seq))
			seg, _ := os.ReadFile(path)
			tear(seg, int(end.Off))
			_ = os.WriteFile(path, seg, 0o600)
			w, pending, err := OpenWAL(dir, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			if ids(pending) != "d-0000,d-0001,d-0002" {
				t.Fatalf("read %s", ids(pending))
			}
			appendRecords(t, w, 3, 4)
			w.Close()
			_, pending, err = OpenWAL(dir, 1<<16)
			if err != nil || ids(pending) != "d-0000,d-0001,d-0002,d-0003" {
				t.Fatalf("after appending past the torn tail: %s %v", ids(pending), err)
			}
		})
	}
}

// TestWALDamagedSegment: damage before the last segment is no torn write:
// the WAL refuses to open, naming the segment.
func TestWALDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := OpenWAL(dir, 4096)
	appendRecords(t, w, 0, 40)
	w.Close()
	first := filepath.Join(dir, fmt.Sprintf("%016x.wal", 1))
	seg, _ := os.ReadFile(first)
	seg[20] ^= 0xff
	_ = os.WriteFile(first, seg, 0o600)
	if _, _, err := OpenWAL(dir, 4096); err == nil || !strings.Contains(err.Error(), first) {
		t.Fatalf("a damaged first segment: %v", err)
	}
}

// TestLoggerWAL: a durable decision is committed to the WAL and readable
// at once, indexed into the store later; records committed but never
// indexed (the process died) are indexed at the next start.
func TestLoggerWAL(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	walDir := filepath.Join(dir, "wal")
	// An indexer that waits an hour: nothing reaches the store on its own.
	l, err := NewLogger(store, Options{Mode: Durable, WALDir: walDir, IndexInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		if err := l.Log(ctx, walRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Get(ctx, "d-0003"); err == nil {
		t.Fatal("indexed already; the test needs it pending")
	}
	r := Reader{Store: store, Logger: l}
	if got, err := r.Get(ctx, "d-0003"); err != nil || got.Refunded != 3 {
		t.Fatalf("a committed record not yet indexed: %+v %v", got, err)
	}
	// The process dies here: no Close. A new logger on the same WAL indexes
	// what was committed.
	l2, err := NewLogger(store, Options{Mode: Durable, WALDir: walDir, IndexInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := store.Get(ctx, "d-0004"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("records committed before the restart were not indexed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l2.Log(ctx, walRecord(5)); err != nil {
		t.Fatal(err)
	}
	l2.Close() // indexes what is left
	n := 0
	_ = store.Each(ctx, Query{}, func(Record) error { n++; return nil })
	if n != 6 {
		t.Errorf("%d records in the store, want 6", n)
	}
	// Everything indexed: the WAL holds nothing past its checkpoint.
	w, pending, err := OpenWAL(walDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if len(pending) != 0 {
		t.Errorf("%d records past the checkpoint after a clean close", len(pending))
	}
	if _, err := NewLogger(store, Options{Mode: Async, WALDir: walDir}); err == nil {
		t.Error("a WAL in async mode was accepted")
	}
}

type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) LogBatch(size int, _ time.Duration, err error) {
	if err == nil {
		b.mu.Lock()
		b.sizes = append(b.sizes, size)
		b.mu.Unlock()
	}
}
func (b *batchSizes) LogDropped()       {}
func (b *batchSizes) LogQueueDepth(int) {}

// TestWALGroupsWhileComputing: a WAL group commit waits for the decisions
// still being computed (Begin) and commits them together; with none left
// computing, a record commits on its own.
func TestWALGroupsWhileComputing(t *testing.T) {
	obs := &batchSizes{}
	_, l := walLogger(t, Options{Observer: obs, MaxGroupWait: time.Hour})
	ctx := context.Background()
	// Six decisions begin; five are computed and logged one after the
	// other: their group waits while the sixth is still computing.
	var computed []func()
	for range 6 {
		computed = append(computed, l.Begin())
	}
	var wg sync.WaitGroup
	for i := range 5 {
		computed[i]()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Log(ctx, walRecord(i)); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(5 * time.Millisecond) // each one queued alone, as if computed later
	}
	obs.mu.Lock()
	early := len(obs.sizes)
	obs.mu.Unlock()
	if early != 0 {
		t.Errorf("%d commits while a decision was still computing", early)
	}
	computed[5]() // the sixth gives up: nothing is left to wait for
	wg.Wait()
	if err := l.Log(ctx, walRecord(5)); err != nil { // alone: commits at once
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.sizes) != 2 || obs.sizes[0] != 5 || obs.sizes[1] != 1 {
		t.Errorf("commits of %v records, want [5 1]", obs.sizes)
	}
}

// TestWALGroupWaitsOnlyForEarlierDecisions: a group waits for the
// decisions that were computing when it opened, not for those that began
// later (they join the next group), so that a steady stream of decisions
// never holds a group to its longest wait.
func TestWALGroupWaitsOnlyForEarlierDecisions(t *testing.T) {
	obs := &batchSizes{}
	_, l := walLogger(t, Options{Observer: obs, MaxGroupWait: time.Hour})
	ctx := context.Background()
	early := l.Begin()
	gen := l.generation.Load()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := l.Log(ctx, walRecord(0)); err != nil { // opens the group
			t.Error(err)
		}
	}()
	for l.generation.Load() == gen {
		time.Sleep(time.Millisecond)
	}
	late := l.Begin() // after the group opened
	if err := l.LogComputed(ctx, walRecord(1), early); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := l.LogComputed(ctx, walRecord(2), late); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.sizes) != 2 || obs.sizes[0] != 2 || obs.sizes[1] != 1 {
		t.Errorf("commits of %v records, want [2 1]", obs.sizes)
	}
}

// TestReaderSeesWhatWasAnswered: listing and replay read the store only
// once what the WAL committed before them is indexed, whatever the
// indexer's interval.
func TestReaderSeesWhatWasAnswered(t *testing.T) {
	store, l := walLogger(t, Options{IndexInterval: time.Hour})
	ctx := context.Background()
	for i := range 3 {
		if err := l.Log(ctx, walRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	r := Reader{Store: store, Logger: l}
	recs, _, err := r.List(ctx, Query{Limit: 10})
	if err != nil || len(recs) != 3 {
		t.Fatalf("listed %d, %v", len(recs), err)
	}
	n := 0
	_ = r.Each(ctx, Query{}, func(Record) error { n++; return nil })
	if n != 3 {
		t.Errorf("replay saw %d records", n)
	}
}

// TestWALBacklogBound: when the store falls behind by MaxPending records,
// new records are refused (the decisions get 503) instead of filling the
// disk; once indexed, they are taken again.
func TestWALBacklogBound(t *testing.T) {
	_, l := walLogger(t, Options{IndexInterval: time.Hour, MaxPending: 2})
	ctx := context.Background()
	for i := range 2 {
		if err := l.Log(ctx, walRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Log(ctx, walRecord(2)); err == nil || !strings.Contains(err.Error(), "not keeping up") {
		t.Fatalf("a record past the backlog bound: %v", err)
	}
	if err := l.Ready(ctx); err == nil || !strings.Contains(err.Error(), "not keeping up") {
		t.Errorf("readiness with a full backlog: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(ctx, walRecord(2)); err != nil {
		t.Errorf("after indexing: %v", err)
	}
}

// walLogger opens a SQLite store in a temporary directory and a durable
// logger with a WAL beside it, both closed when the test ends.
func walLogger(t *testing.T, opts Options) (*Store, *Logger) {
	t.Helper()
	dir := t.TempDir()
	store, err := OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts.Mode, opts.WALDir = Durable, filepath.Join(dir, "wal")
	l, err := NewLogger(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return store, l
}

// TestWALReadiness: with a WAL, readiness is whether a group can be
// committed to it: ready while the WAL's disk takes writes, whatever the
// store does; not ready once its directory is gone.
func TestWALReadiness(t *testing.T) {
	store, l := walLogger(t, Options{})
	ctx := context.Background()
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("a fresh WAL: %v", err)
	}
	// The store refuses records: decisions are still recorded (in the WAL).
	if _, err := store.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'no space left'); END`); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(ctx, walRecord(1)); err != nil {
		t.Fatalf("a decision while the store refuses: %v", err)
	}
	if err := l.walReady(); err != nil {
		t.Errorf("readiness while only the store refuses: %v", err)
	}
	if err := os.RemoveAll(l.wal.dir); err != nil {
		t.Fatal(err)
	}
	if err := l.walReady(); err == nil {
		t.Error("ready with the WAL's directory gone")
	}
	if _, err := store.db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
}
