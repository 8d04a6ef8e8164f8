package decisionlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
		obs: opts.Observer, log: opts.Logger, upload: opts.Uploader, done: make(chan struct{})}
	go l.run()
	return l, nil
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
	l.readyErr = l.store.Probe(pctx)
	l.readyAt = time.Now()
	return l.readyErr
}

// Log records a decision. In durable mode it returns once the record is
// committed, or with the error that kept it from being; in async mode it
// returns at once.
func (l *Logger) Log(ctx context.Context, rec Record) error {
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
		if l.delay > 0 && (grouped || l.mode == Async) {
			timer = time.NewTimer(l.delay)
			wait = timer.C
		}
	fill:
		for len(batch) < l.maxBatch {
			if wait == nil {
				select {
				case e, ok := <-l.queue:
					if !ok {
						break fill
					}
					batch = append(batch, e)
				default:
					break fill
				}
				continue
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
		err := l.write(recs)
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
