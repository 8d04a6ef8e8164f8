package decisionlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a decision waits for its record.
type Mode string

const (
	// Durable answers a decision only once its record is committed.
	Durable Mode = "durable"
	// Async answers at once; records wait in a bounded queue, and those that
	// find it full are dropped and counted.
	Async Mode = "async"
)

// ErrClosed is returned once the logger is closed.
var ErrClosed = errors.New("decision log closed")

// Observer hears about the logger's work, for metrics.
type Observer interface {
	LogBatch(size int, commit time.Duration, err error)
	LogDropped()
	LogQueueDepth(n int)
}

// Options configures a Logger.
type Options struct {
	Mode      Mode
	QueueSize int // 10,000 by default
	MaxBatch  int // records per transaction, 512 by default
	// CommitDelay is how long a commit may wait for more records to join it
	// when there is concurrent traffic (the previous commit was a group, or
	// the mode is async): fewer, larger commits. 0 commits at once.
	CommitDelay time.Duration
	Observer    Observer
	Logger      *slog.Logger
	// Uploader, if set, is given every committed batch.
	Uploader *Uploader
	// WALDir, if set (durable mode only), puts a write-ahead log there: a
	// group of records is committed by one append and one fdatasync to the
	// WAL, and the store is indexed from it in the background, in batches
	// gathered for IndexInterval (100 ms by default). Records committed but
	// not yet indexed are found by Get.
	WALDir        string
	IndexInterval time.Duration
	// WALSegmentBytes is the size of a WAL segment; DefaultSegmentBytes
	// when 0.
	WALSegmentBytes int64
	// WALQuarantine: a damaged WAL is set aside (each damaged segment moved
	// to its quarantine folder) and the rest served, instead of refusing to
	// start; Damage reports what was set aside.
	WALQuarantine bool
	// MaxGroupWait bounds how long a WAL group waits for decisions still
	// being computed (2 ms by default).
	MaxGroupWait time.Duration
	// MaxPending bounds the records committed to the WAL and not yet
	// indexed (1,000,000 by default): past it, a store that does not keep
	// up stops new records (503) before the disk fills.
	MaxPending int
}

// Logger writes records with group commit: while one transaction commits,
// the records that arrive queue up and go together in the next.
type Logger struct {
	store    *Store
	mode     Mode
	maxBatch int
	delay    time.Duration
	queue    chan entry
	obs      Observer
	log      *slog.Logger
	upload   *Uploader
	// ready caches the last readiness probe for a second: /ready is open
	// to anyone, and must not become a way to load the database.
	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error
	mu       sync.RWMutex // guards closed against sends on a closed queue
	closed   bool
	done     chan struct{}

	// With a WAL: records committed to it and not yet indexed in the
	// store, by decision id, and the batches the indexer has yet to write.
	wal           *WAL
	indexInterval time.Duration
	pendingMu     sync.Mutex
	pending       map[string]Record
	toIndex       []Record
	toIndexEnd    WALPosition
	indexSignal   chan struct{}
	indexKick     chan struct{} // index now, without gathering
	committed     uint64        // batches queued for indexing (under pendingMu)
	indexed       atomic.Uint64 // batches indexed
	indexStop     chan struct{}
	indexDone     chan struct{}
	closeWAL      sync.Once
	// computing counts the decisions begun (Begin) and not yet logged or
	// abandoned, in two generations: a WAL group that opens starts a new
	// generation and waits for the decisions of the one before, so that it
	// commits as soon as none that was computing when it opened is left to
	// join it (and decisions that begin later join the next group).
	walErr     atomic.Value // errBox: the last WAL commit's error, nil once one works
	generation atomic.Uint64
	computing  [2]atomic.Int64
	computed   chan struct{} // a generation's last decision is computed
	groupWait  time.Duration
	maxPending int
}

// errBox lets atomic.Value hold a nil error.
type errBox struct{ error }

// defaultGroupWait bounds how long a WAL group waits for decisions still
// being computed, so that one slow evaluation never holds the others'
// answers for long.
const defaultGroupWait = 2 * time.Millisecond

// Begin says a decision is being computed whose record is to be logged: a
// WAL group that opens meanwhile waits for it to join. The function it
// returns says the decision is computed: hand it to LogComputed, which
// calls it once the record is queued, or call it when giving up; it may be
// called more than once.
func (l *Logger) Begin() (computed func()) {
	n := &l.computing[l.generation.Load()&1]
	n.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			if n.Add(-1) == 0 {
				select {
				case l.computed <- struct{}{}:
				default:
				}
			}
		})
	}
}

// LogComputed is Log for a decision that Begin counted: computed is called
// once the record is queued (or could not be), so that the group it joins
// never commits between the decision's end and its record's arrival.
func (l *Logger) LogComputed(ctx context.Context, rec Record, computed func()) error {
	return l.enqueue(ctx, rec, computed)
}

type entry struct {
	rec  Record
	done chan error // nil in async mode
}

// NewLogger starts a logger writing to store.
func NewLogger(store *Store, opts Options) (*Logger, error) {
	if opts.Mode == "" {
		opts.Mode = Durable
	}
	if opts.Mode != Durable && opts.Mode != Async {
		return nil, fmt.Errorf("decision log mode %q: want durable or async", opts.Mode)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Logger{store: store, mode: opts.Mode, maxBatch: opts.MaxBatch, delay: opts.CommitDelay, queue: make(chan entry, opts.QueueSize),
		obs: opts.Observer, log: opts.Logger, upload: opts.Uploader, done: make(chan struct{}), computed: make(chan struct{}, 1)}
	if opts.WALDir != "" {
		if opts.Mode != Durable {
			return nil, fmt.Errorf("decision log WAL: applies to the durable mode, not %s", opts.Mode)
		}
		w, committed, err := OpenWAL(opts.WALDir, WALOptions{SegmentBytes: opts.WALSegmentBytes, Quarantine: opts.WALQuarantine})
		if err != nil {
			return nil, err
		}
		l.wal = w
		l.groupWait = cmp.Or(opts.MaxGroupWait, defaultGroupWait)
		l.maxPending = cmp.Or(opts.MaxPending, 1_000_000)
		l.indexInterval = opts.IndexInterval
		if l.indexInterval <= 0 {
			l.indexInterval = 100 * time.Millisecond
		}
		l.pending = map[string]Record{}
		l.indexSignal = make(chan struct{}, 1)
		l.indexKick = make(chan struct{}, 1)
		l.indexStop = make(chan struct{})
		l.indexDone = make(chan struct{})
		// What the WAL holds past its checkpoint was committed and perhaps
		// not indexed: it is indexed first, and readable meanwhile.
		if len(committed) > 0 {
			recs := make([]Record, len(committed))
			for i, c := range committed {
				recs[i] = c.Record
			}
			l.queueIndex(recs, committed[len(committed)-1].End)
			l.log.Info("decision log: indexing records committed to the WAL before start", "records", len(recs))
		}
		go l.index()
	}
	go l.run()
	return l, nil
}

// queueIndex makes recs readable by Get and hands them to the indexer;
// end is the WAL position after the last.
func (l *Logger) queueIndex(recs []Record, end WALPosition) {
	l.pendingMu.Lock()
	for _, r := range recs {
		l.pending[r.DecisionID] = r
	}
	l.toIndex = append(l.toIndex, recs...)
	l.toIndexEnd = end
	l.committed++
	l.pendingMu.Unlock()
	select {
	case l.indexSignal <- struct{}{}:
	default:
	}
}

// Flush returns once every record committed before it was called is
// indexed in the store (at once without a WAL), or when ctx is done: reads
// of the store (listing, replay) then see every decision already answered.
func (l *Logger) Flush(ctx context.Context) error {
	if l == nil || l.wal == nil {
		return nil
	}
	l.pendingMu.Lock()
	target := l.committed
	l.pendingMu.Unlock()
	for l.indexed.Load() < target {
		select {
		case l.indexSignal <- struct{}{}:
		default:
		}
		select {
		case l.indexKick <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Pending returns a record committed to the WAL and not yet indexed.
func (l *Logger) Pending(id string) (Record, bool) {
	if l == nil || l.wal == nil {
		return Record{}, false
	}
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	r, ok := l.pending[id]
	r.Time = r.Time.UTC() // as the store gives it
	return r, ok
}

// indexBatch bounds one transaction of the indexer.
const indexBatch = 4096

// index writes what the WAL committed into the store, in large batches,
// until Close; a store that fails is retried (the records stay readable
// and in the WAL meanwhile), and at Close what could not be indexed stays
// in the WAL for the next start.
func (l *Logger) index() {
	defer close(l.indexDone)
	stopping := false
	for {
		if !stopping {
			select {
			case <-l.indexSignal:
				// Gather for a while: fewer, larger transactions.
				select {
				case <-time.After(l.indexInterval):
				case <-l.indexKick:
				case <-l.indexStop:
					stopping = true
				}
			case <-l.indexStop:
				stopping = true
			}
		}
		l.pendingMu.Lock()
		recs, end, upTo := l.toIndex, l.toIndexEnd, l.committed
		l.toIndex = nil
		l.pendingMu.Unlock()
		if len(recs) > 0 {
			if err := l.indexRecords(recs, stopping); err != nil {
				l.log.Error("decision log: records left in the WAL, to be indexed at the next start", "records", len(recs), "error", err.Error())
				return
			}
			if err := l.wal.Checkpoint(end); err != nil {
				l.log.Error("decision log: WAL checkpoint", "error", err.Error())
			}
			l.pendingMu.Lock()
			for _, r := range recs {
				delete(l.pending, r.DecisionID)
			}
			l.pendingMu.Unlock()
		}
		l.indexed.Store(upTo)
		if stopping {
			l.pendingMu.Lock()
			left := len(l.toIndex)
			l.pendingMu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

// indexRecords writes recs to the store in batches, retrying a failing
// store with backoff (a few times only once stopping).
func (l *Logger) indexRecords(recs []Record, stopping bool) error {
	for start := 0; start < len(recs); start += indexBatch {
		batch := recs[start:min(start+indexBatch, len(recs))]
		wait := 10 * time.Millisecond
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := l.store.Write(ctx, batch)
			cancel()
			if err == nil {
				break
			}
			if stopping && attempt >= 5 {
				return err
			}
			l.log.Error("decision log: indexing failed; retrying", "records", len(batch), "error", err.Error())
			if l.obs != nil {
				l.obs.LogBatch(len(batch), 0, err)
			}
			time.Sleep(wait)
			wait = min(wait*2, 5*time.Second)
		}
	}
	return nil
}

// Damage lists what the WAL set aside as damaged when it was opened
// (Options.WALQuarantine); none without a WAL.
func (l *Logger) Damage() []WALDamage {
	if l.wal == nil {
		return nil
	}
	return l.wal.Damage()
}

// DamageReports says in words what Damage lists.
func (l *Logger) DamageReports() []string {
	var out []string
	for _, d := range l.Damage() {
		out = append(out, d.String())
	}
	return out
}

// Mode is the logger's mode.
func (l *Logger) Mode() Mode { return l.mode }

// Ready tells whether records can be committed now, by committing a probe
// (at most once a second; the last answer is given in between).
func (l *Logger) Ready(ctx context.Context) error {
	l.readyMu.Lock()
	defer l.readyMu.Unlock()
	if time.Since(l.readyAt) < time.Second {
		return l.readyErr
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if l.wal != nil {
		// A durable decision is recorded once it is in the WAL: readiness
		// is the WAL's, and a store that has fallen too far behind.
		l.readyErr = l.walReady()
	} else {
		l.readyErr = l.store.Probe(pctx)
	}
	l.readyAt = time.Now()
	return l.readyErr
}

// walReady tells whether a group could be committed to the WAL now: the
// last commit worked, the WAL's directory takes a synced file, and the
// store has not fallen so far behind that commits are refused.
func (l *Logger) walReady() error {
	if b, _ := l.walErr.Load().(errBox); b.error != nil {
		return b.error
	}
	if err := l.wal.Probe(); err != nil {
		return err
	}
	l.pendingMu.Lock()
	backlog := len(l.pending)
	l.pendingMu.Unlock()
	if backlog >= l.maxPending {
		return fmt.Errorf("%d records wait to be indexed in the store, which is not keeping up", backlog)
	}
	return nil
}

// Log records a decision. In durable mode it returns once the record is
// committed, or with the error that kept it from being; in async mode it
// returns at once.
func (l *Logger) Log(ctx context.Context, rec Record) error {
	return l.enqueue(ctx, rec, func() {})
}

func (l *Logger) enqueue(ctx context.Context, rec Record, computed func()) error {
	defer computed() // at the latest: on every path, the record is queued or refused first
	e := entry{rec: rec}
	if l.mode == Durable {
		e.done = make(chan error, 1)
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if l.mode == Async {
		select {
		case l.queue <- e:
		default:
			if l.obs != nil {
				l.obs.LogDropped()
			}
		}
		l.mu.RUnlock()
		return nil
	}
	select {
	case l.queue <- e:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	computed()
	// Once queued, the record is written even if the caller stops waiting
	// (ctx done): it then gets ctx's error and does not answer the decision.
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Logger) run() {
	defer close(l.done)
	batch := make([]entry, 0, l.maxBatch)
	recs := make([]Record, 0, l.maxBatch)
	grouped := false // the previous commit carried more than one record
	for first := range l.queue {
		batch = append(batch[:0], first)
		var wait <-chan time.Time // nil: take only what is queued now
		var timer *time.Timer
		if l.wal != nil {
			batch = l.gather(batch)
		} else if l.delay > 0 && (grouped || l.mode == Async) {
			timer = time.NewTimer(l.delay)
			wait = timer.C
		}
	fill:
		for len(batch) < l.maxBatch {
			if wait == nil {
				batch = l.drain(batch)
				break
			}
			select {
			case e, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			case <-wait:
				wait = nil // then take whatever else is already queued
			}
		}
		if timer != nil {
			timer.Stop()
		}
		grouped = len(batch) > 1
		recs = recs[:0]
		for _, e := range batch {
			recs = append(recs, e.rec)
		}
		start := time.Now()
		var err error
		if l.wal != nil {
			err = l.commitWAL(recs)
			l.walErr.Store(errBox{err})
		} else {
			err = l.write(recs)
		}
		if l.obs != nil {
			l.obs.LogBatch(len(recs), time.Since(start), err)
			l.obs.LogQueueDepth(len(l.queue))
		}
		if err != nil {
			l.log.Error("decision log write failed", "records", len(recs), "error", err.Error())
		} else if l.upload != nil {
			l.upload.Add(recs)
		}
		for _, e := range batch {
			if e.done != nil {
				e.done <- err
			}
		}
	}
}

// gather adds to a WAL group the records queued now, then those of the
// decisions that were being computed when the group opened, for at most
// MaxGroupWait: the group commits as soon as none of them is left to join
// it. Decisions that begin later are left to the next group.
func (l *Logger) gather(batch []entry) []entry {
	waiting := &l.computing[(l.generation.Add(1)-1)&1] // begun before the group opened
	var deadline <-chan time.Time
	for {
		if batch = l.drain(batch); len(batch) >= l.maxBatch || waiting.Load() <= 0 {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(l.groupWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case e, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, e)
		case <-l.computed:
		case <-deadline:
			return l.drain(batch)
		}
	}
}

// drain adds what is queued now.
func (l *Logger) drain(batch []entry) []entry {
	for len(batch) < l.maxBatch {
		select {
		case e, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// commitWAL commits a batch to the WAL: one append, one fdatasync; then
// the records are readable and queued for indexing.
func (l *Logger) commitWAL(recs []Record) error {
	l.pendingMu.Lock()
	backlog := len(l.pending)
	l.pendingMu.Unlock()
	if backlog+len(recs) > l.maxPending {
		return fmt.Errorf("%d records wait to be indexed in the store, which is not keeping up", backlog)
	}
	payloads := make([][]byte, len(recs))
	for i := range recs {
		payloads[i] = AppendRecord(nil, &recs[i]) // the request and decision bytes as they are
	}
	end, err := l.wal.Append(payloads)
	if err != nil {
		return err
	}
	l.queueIndex(slices.Clone(recs), end)
	return nil
}

// write commits a batch, retrying briefly: a locked or restarting database
// should not lose decisions that were already made.
func (l *Logger) write(recs []Record) error {
	var err error
	for attempt, wait := 0, 10*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = l.store.Write(ctx, recs)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(wait)
	}
	return err
}

// Close stops taking records, writes those queued, and returns when done.
func (l *Logger) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	if l.wal != nil {
		l.closeWAL.Do(func() {
			close(l.indexStop)
			<-l.indexDone
			_ = l.wal.Close()
		})
	}
}

// Reader reads the decision log: the store, and the records a Logger has
// committed to its WAL but not yet indexed there (found by Get).
type Reader struct {
	*Store
	Logger *Logger
}

// flushWait bounds how long a read of the store waits for the WAL's
// records to be indexed; past it, it reads what is indexed.
const flushWait = 5 * time.Second

// List lists records from the store once the WAL's committed records are
// indexed in it.
func (r Reader) List(ctx context.Context, q Query) ([]Record, string, error) {
	r.flush(ctx)
	return r.Store.List(ctx, q)
}

// Each reads records from the store once the WAL's committed records are
// indexed in it.
func (r Reader) Each(ctx context.Context, q Query, f func(Record) error) error {
	r.flush(ctx)
	return r.Store.Each(ctx, q, f)
}

func (r Reader) flush(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, flushWait)
	defer cancel()
	_ = r.Logger.Flush(fctx)
}

// Get returns one record, from the WAL's pending records or the store.
func (r Reader) Get(ctx context.Context, id string) (Record, error) {
	if rec, ok := r.Logger.Pending(id); ok {
		return rec, nil
	}
	return r.Store.Get(ctx, id)
}

// Prune deletes, every interval, the records older than retention, until
// ctx is done.
func Prune(ctx context.Context, store *Store, retention, interval time.Duration, now func() time.Time, log *slog.Logger) {
	prune := func() {
		n, err := store.Prune(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("decision log prune failed", "error", err.Error())
		case n > 0:
			log.Info("decision log pruned", "records", n, "retention", retention.String())
		}
	}
	prune()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			prune()
		}
	}
}
