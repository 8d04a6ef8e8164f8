package decisionlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Event is a record in OPA's decision log format, as OPA's decision_logs
// plugin uploads it, so that existing OPA log collectors take refundd's.
type Event struct {
	Labels     map[string]string         `json:"labels"`
	DecisionID string                    `json:"decision_id"`
	Path       string                    `json:"path"`
	Input      json.RawMessage           `json:"input"`
	Result     json.RawMessage           `json:"result"`
	Bundles    map[string]map[string]any `json:"bundles"`
	Timestamp  time.Time                 `json:"timestamp"`
	Metrics    map[string]int64          `json:"metrics"`
}

// NewEvent converts a record; input is the masked request, as stored.
func NewEvent(r Record, labels map[string]string) Event {
	return Event{
		Labels:     labels,
		DecisionID: r.DecisionID,
		Path:       "refunds/merchants/" + r.Merchant + "/decision",
		Input:      r.Request,
		Result:     r.Decision,
		Bundles:    map[string]map[string]any{r.Merchant: {"revision": r.Revision}},
		Timestamp:  r.Time,
		Metrics:    map[string]int64{"timer_refundd_engine_ns": r.EngineNanos},
	}
}

// UploadObserver hears about uploads, for metrics.
type UploadObserver interface {
	Uploaded(events int, err error)
	UploadDropped(events int)
}

// UploaderOptions configures an Uploader.
type UploaderOptions struct {
	URL      string            // where each gzip-compressed JSON array of events is POSTed
	Interval time.Duration     // between uploads; 5s by default
	MaxBatch int               // events per upload; 1,000 by default
	Buffer   int               // events held while the collector is down; 100,000 by default
	Labels   map[string]string // set on every event
	Client   *http.Client
	Observer UploadObserver
	Logger   *slog.Logger
}

// Uploader sends committed records to a collector in OPA's format, best
// effort: the records are already durable in the store, so when the
// collector stays down past Buffer events the oldest are dropped and counted.
type Uploader struct {
	opts    UploaderOptions
	mu      sync.Mutex
	pending []Event
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewUploader starts an uploader.
func NewUploader(opts UploaderOptions) *Uploader {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 100000
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &Uploader{opts: opts, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go u.run()
	return u
}

// Add queues committed records for upload.
func (u *Uploader) Add(recs []Record) {
	u.mu.Lock()
	for _, r := range recs {
		u.pending = append(u.pending, NewEvent(r, u.opts.Labels))
	}
	if over := len(u.pending) - u.opts.Buffer; over > 0 {
		u.pending = append(u.pending[:0:0], u.pending[over:]...)
		if u.opts.Observer != nil {
			u.opts.Observer.UploadDropped(over)
		}
	}
	full := len(u.pending) >= u.opts.MaxBatch
	u.mu.Unlock()
	if full {
		select {
		case u.wake <- struct{}{}:
		default:
		}
	}
}

func (u *Uploader) run() {
	defer close(u.done)
	tick := time.NewTicker(u.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-u.stop:
			u.flush() // a last attempt
			return
		case <-tick.C:
		case <-u.wake:
		}
		u.flush()
	}
}

// flush uploads what is pending, a batch at a time, until empty or failing.
func (u *Uploader) flush() {
	for {
		u.mu.Lock()
		n := min(len(u.pending), u.opts.MaxBatch)
		batch := u.pending[:n:n]
		u.mu.Unlock()
		if n == 0 {
			return
		}
		err := u.post(batch)
		if u.opts.Observer != nil {
			u.opts.Observer.Uploaded(n, err)
		}
		if err != nil {
			u.opts.Logger.Warn("decision log upload failed; will retry", "url", u.opts.URL, "events", n, "error", err.Error())
			return
		}
		u.mu.Lock()
		u.pending = u.pending[n:]
		u.mu.Unlock()
	}
}

func (u *Uploader) post(events []Event) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(events); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.opts.URL, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := u.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s", resp.Status)
	}
	return nil
}

// Close makes a last upload attempt and stops.
func (u *Uploader) Close() {
	close(u.stop)
	<-u.done
}
