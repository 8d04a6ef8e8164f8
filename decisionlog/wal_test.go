package decisionlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	w, pending, err := OpenWAL(dir, WALOptions{SegmentBytes: 4096}) // small segments: several of them
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
	w, pending, err = OpenWAL(dir, WALOptions{SegmentBytes: 4096})
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
	w, pending, err = OpenWAL(dir, WALOptions{SegmentBytes: 4096})
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
	_, pending, _ = OpenWAL(dir, WALOptions{SegmentBytes: 4096})
	if len(pending) != 21 || pending[20].Record.DecisionID != "d-0060" {
		t.Fatalf("after one more: %s", ids(pending))
	}
}

// tornLastGroup appends records [from, to) as one group and then undoes
// part of the write as a crash would: the sectors of the group that keep
// says not to are zeros again (a preallocated segment was zeros there).
func tornLastGroup(t *testing.T, dir string, w *WAL, from, to int, keep func(sector, sectors int) bool) {
	t.Helper()
	before := WALPosition{Seq: w.seq, Off: w.off}
	end := appendRecords(t, w, from, to)
	if end.Seq != before.Seq {
		t.Fatal("the torn group crosses segments; the test needs it in one")
	}
	path := filepath.Join(dir, fmt.Sprintf("%016x.wal", end.Seq))
	seg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, last := before.Off/sectorSize, (end.Off-1)/sectorSize
	for s := first; s <= last; s++ {
		if keep(int(s-first), int(last-first+1)) {
			continue
		}
		lo, hi := max(s*sectorSize, before.Off), min((s+1)*sectorSize, end.Off)
		clear(seg[lo:hi])
	}
	if err := os.WriteFile(path, seg, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWALTornTail: a group cut short by a crash (its write reached only
// some of its sectors) was never acknowledged: it is dropped, everything
// before it is read, and appends after it read back.
func TestWALTornTail(t *testing.T) {
	for name, keep := range map[string]func(sector, sectors int) bool{
		"first sectors only":   func(s, n int) bool { return s < n/2 },
		"a middle sector lost": func(s, n int) bool { return s != n/2 },
		"the header's sector":  func(s, n int) bool { return s != 0 },
		"nothing written":      func(s, n int) bool { return false },
		"the last sector lost": func(s, n int) bool { return s != n-1 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, _ := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 16})
			appendRecords(t, w, 0, 2)
			appendRecords(t, w, 2, 3)
			tornLastGroup(t, dir, w, 3, 9, keep)
			w.Close()
			w, pending, err := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 16})
			if err != nil {
				t.Fatal(err)
			}
			got := ids(pending)
			if !strings.HasPrefix(got, "d-0000,d-0001,d-0002") {
				t.Fatalf("read %s", got)
			}
			appendRecords(t, w, 20, 21)
			w.Close()
			_, again, err := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 16})
			if err != nil || ids(again) != got+",d-0020" {
				t.Fatalf("after appending past the torn tail: %s %v", ids(again), err)
			}
		})
	}
}

// TestWALDamage: damage to what was acknowledged (anything but the last
// group's write cut short) refuses the open, naming the segment and the
// offset, and changes no byte; quarantine sets the segment aside whole and
// serves what can be read around the damage.
func TestWALDamage(t *testing.T) {
	type harm func(t *testing.T, dir string, segs []string)
	flipAt := func(frac float64) harm {
		return func(t *testing.T, dir string, segs []string) {
			path := segs[len(segs)-1]
			seg, _ := os.ReadFile(path)
			end := walDataEnd(seg)
			seg[int(float64(end-segHeader)*frac)+segHeader] ^= 0x55
			_ = os.WriteFile(path, seg, 0o600)
		}
	}
	for name, h := range map[string]harm{
		"a byte in the middle of the last segment": flipAt(0.5),
		"a byte of the last record":                flipAt(0.995),
		"a byte of the first frame header":         func(t *testing.T, dir string, segs []string) { flipByte(t, segs[len(segs)-1], segHeader+2) },
		"a byte of an earlier segment":             func(t *testing.T, dir string, segs []string) { flipByte(t, segs[0], 700) },
		"a sector zeroed before the last group": func(t *testing.T, dir string, segs []string) {
			path := segs[len(segs)-1]
			seg, _ := os.ReadFile(path)
			clear(seg[1024:1536])
			_ = os.WriteFile(path, seg, 0o600)
		},
		"the last segment cut inside a record": func(t *testing.T, dir string, segs []string) {
			path := segs[len(segs)-1]
			seg, _ := os.ReadFile(path)
			_ = os.WriteFile(path, seg[:walDataEnd(seg)/2], 0o600)
		},
		"an earlier segment deleted": func(t *testing.T, dir string, segs []string) { _ = os.Remove(segs[1]) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, _, _ := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 13})
			for i := 0; i < 120; i += 4 {
				appendRecords(t, w, i, i+4)
			}
			w.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
			if len(segs) < 3 {
				t.Fatalf("%d segments", len(segs))
			}
			h(t, dir, segs)
			snapshot := readDir(t, dir)
			_, _, err := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 13})
			if !errors.Is(err, ErrWALDamaged) || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), ".wal") {
				t.Fatalf("opened a damaged WAL: %v", err)
			}
			if after := readDir(t, dir); !maps.EqualFunc(after, snapshot, bytes.Equal) {
				t.Fatal("refusing a damaged WAL changed its files")
			}
			t.Log(err)
			// Told to, it sets the damage aside and serves the rest.
			w, pending, err := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 13, Quarantine: true})
			if err != nil {
				t.Fatal(err)
			}
			dmg := w.Damage()
			if len(dmg) != 1 || dmg[0].Unreadable < 1 || dmg[0].Recovered+len(pending) == 0 {
				t.Fatalf("damage reported: %+v", dmg)
			}
			lost := 120 - len(pending)
			if bounded := !strings.Contains(name, "cut") && !strings.Contains(name, "deleted"); lost < 1 || bounded && lost > 12 {
				t.Errorf("%d records lost to one damage, %d reported unreadable", lost, dmg[0].Unreadable)
			}
			if dmg[0].Segment != "" && !strings.Contains(name, "deleted") {
				if b, err := os.ReadFile(dmg[0].Segment); err != nil || !bytes.Equal(b, snapshot[filepath.Base(dmg[0].Segment)]) {
					t.Errorf("the quarantined segment is not the damaged one, byte for byte: %v", err)
				}
			}
			appendRecords(t, w, 200, 201)
			w.Close()
			w, again, err := OpenWAL(dir, WALOptions{SegmentBytes: 1 << 13})
			if err != nil || len(again) < 1 || again[len(again)-1].Record.DecisionID != "d-0200" {
				t.Fatalf("reopened after quarantine: %d records, %v", len(again), err)
			}
			if len(w.Damage()) != 1 {
				t.Errorf("the quarantine is not reported at the next start: %+v", w.Damage())
			}
			w.Close()
		})
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	seg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seg[at] ^= 0x55
	_ = os.WriteFile(path, seg, 0o600)
}

// walDataEnd is where a segment's frames end.
func walDataEnd(seg []byte) int {
	end := len(seg)
	for end > 0 && seg[end-1] == 0 {
		end--
	}
	return end
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	return out
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
	w, pending, err := OpenWAL(walDir, WALOptions{})
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

// TestWALFaultInjection writes a log under load (eight clients, real group
// commits, nothing indexed), adds a group torn by a crash, then damages a
// copy at a few hundred positions sampled across segment headers, frame
// headers, checksums, payloads, segment ends and the zeros after the data
// (a flipped byte, or the file cut there), and opens it: every record that
// was acknowledged is read back, or the open is refused naming the
// damage; with quarantine the open serves and reports the damage whenever
// an acknowledged record is missing. Never a silent loss.
// REFUNDD_WAL_SWEEP sets the number of positions (make fuzz runs more).
func TestWALFaultInjection(t *testing.T) {
	positions := 300
	if n, err := strconv.Atoi(os.Getenv("REFUNDD_WAL_SWEEP")); err == nil && n > 0 {
		positions = n
	}
	_, l := walLogger(t, Options{WALSegmentBytes: 1 << 16, IndexInterval: time.Hour})
	walDir := l.wal.dir
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				rec := walRecord(c*1000 + i)
				if err := l.Log(context.Background(), rec); err == nil {
					mu.Lock()
					acked[rec.DecisionID] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// The process dies: the WAL is copied as it is on disk, never closed.
	base := t.TempDir()
	copyDir(t, walDir, base)
	// A crash tears the next group: never acknowledged.
	w, _, err := OpenWAL(base, WALOptions{SegmentBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if w.off+4000 < w.segSize {
		tornLastGroup(t, base, w, 9000, 9008, func(s, n int) bool { return s < n/2 })
	}
	w.Close()
	golden := readDir(t, base)
	var segs []string
	for name := range golden {
		if strings.HasSuffix(name, ".wal") {
			segs = append(segs, name)
		}
	}
	slices.Sort(segs)
	if len(segs) < 4 {
		t.Fatalf("%d segments: the sweep wants several", len(segs))
	}
	type fault struct {
		seg  string
		at   int
		kind string // flip or cut
	}
	var faults []fault
	rnd := rand.New(rand.NewPCG(1, 2))
	for len(faults) < positions {
		name := segs[rnd.IntN(len(segs))]
		seg := golden[name]
		end := walDataEnd(seg)
		var at int
		switch rnd.IntN(6) {
		case 0: // the segment header
			at = rnd.IntN(segHeader)
		case 1, 2: // a frame header: length, group, checksums
			starts := frameStarts(seg)
			at = starts[rnd.IntN(len(starts))] + rnd.IntN(frameHeader)
		case 3: // around the end of the data
			at = max(0, end-64+rnd.IntN(128))
		default: // anywhere in the data
			at = segHeader + rnd.IntN(max(1, end-segHeader))
		}
		kind := "flip"
		if rnd.IntN(4) == 0 {
			kind = "cut"
		}
		faults = append(faults, fault{name, at, kind})
	}
	refused, clean, quarantined := 0, 0, 0
	for _, f := range faults {
		for _, quarantine := range []bool{false, true} {
			d := t.TempDir()
			for name, b := range golden {
				b = slices.Clone(b)
				if name == f.seg {
					if f.kind == "flip" {
						b[f.at] ^= byte(1 + rnd.IntN(255))
					} else {
						b = b[:f.at]
					}
				}
				if err := os.WriteFile(filepath.Join(d, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, pending, err := OpenWAL(d, WALOptions{SegmentBytes: 1 << 16, Quarantine: quarantine})
			if err != nil {
				if quarantine || !errors.Is(err, ErrWALDamaged) || !strings.Contains(err.Error(), "offset") {
					t.Fatalf("%s of %s at %d (quarantine %v): %v", f.kind, f.seg, f.at, quarantine, err)
				}
				refused++
				continue
			}
			got := map[string]bool{}
			for _, r := range pending {
				got[r.Record.DecisionID] = true
			}
			missing := 0
			for id := range acked {
				if !got[id] {
					missing++
				}
			}
			if missing > 0 && len(w.Damage()) == 0 {
				t.Fatalf("%s of %s at %d (quarantine %v): %d acknowledged records silently lost", f.kind, f.seg, f.at, quarantine, missing)
			}
			if len(w.Damage()) > 0 {
				quarantined++
			} else if !quarantine {
				clean++
			}
			w.Close()
		}
	}
	t.Logf("%d faults on %d segments, %d records acknowledged: refused %d, read whole %d, served with a quarantine %d",
		len(faults), len(segs), len(acked), refused, clean, quarantined)
}

// frameStarts lists where a segment's frames start.
func frameStarts(seg []byte) []int {
	out := []int{segHeader}
	for off := segHeader; off+frameHeader <= len(seg); {
		n := int(binary.LittleEndian.Uint32(seg[off:]) &^ lastOfGroup)
		if n == 0 {
			break
		}
		off += frameHeader + n
		out = append(out, off)
	}
	return out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	for name, b := range readDir(t, from) {
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
