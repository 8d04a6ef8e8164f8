package decisionlog

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collector is a loopback stand-in for an OPA decision log collector.
type collector struct {
	mu     sync.Mutex
	events []Event
	down   atomic.Bool
	posts  atomic.Int64
	srv    *httptest.Server
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.posts.Add(1)
		if c.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var batch []Event
		if err := json.NewDecoder(zr).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.events = append(c.events, batch...)
		c.mu.Unlock()
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) received() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

type uploadCounter struct{ uploaded, failed, dropped atomic.Int64 }

func (u *uploadCounter) Uploaded(n int, err error) {
	if err != nil {
		u.failed.Add(1)
	} else {
		u.uploaded.Add(int64(n))
	}
}
func (u *uploadCounter) UploadDropped(n int) { u.dropped.Add(int64(n)) }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUploadInOPAFormat(t *testing.T) {
	c := newCollector(t)
	s, err := OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	obs := &uploadCounter{}
	up := NewUploader(UploaderOptions{URL: c.srv.URL + "/logs", Interval: 20 * time.Millisecond, Labels: map[string]string{"app": "refundd"}, Observer: obs})
	l, err := NewLogger(s, Options{Mode: Durable, Uploader: up})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := record(1, "crmjetty", "partial")
	if err := l.Log(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first event", func() bool { return len(c.received()) == 1 })
	ev := c.received()[0]
	if ev.DecisionID != first.DecisionID || ev.Path != "refunds/merchants/crmjetty/decision" ||
		ev.Bundles["crmjetty"]["revision"] != first.Revision || ev.Labels["app"] != "refundd" ||
		string(ev.Input) != string(first.Request) || string(ev.Result) != string(first.Decision) || !ev.Timestamp.Equal(first.Time) {
		t.Errorf("event %+v\nfrom record %+v", ev, first)
	}

	// The collector goes down: events wait, then all arrive, once each.
	c.down.Store(true)
	for i := 2; i <= 30; i++ {
		if err := l.Log(ctx, record(i, "aomei", "approve")); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "failed attempts", func() bool { return obs.failed.Load() >= 2 })
	c.down.Store(false)
	waitUntil(t, "all 30 events", func() bool { return len(c.received()) == 30 })
	l.Close()
	up.Close()
	seen := map[string]bool{}
	for _, e := range c.received() {
		if seen[e.DecisionID] {
			t.Errorf("%s uploaded twice", e.DecisionID)
		}
		seen[e.DecisionID] = true
	}
	if obs.uploaded.Load() != 30 || obs.dropped.Load() != 0 {
		t.Errorf("uploaded %d, dropped %d", obs.uploaded.Load(), obs.dropped.Load())
	}
}

func TestUploadDropsTheOldestPastItsBuffer(t *testing.T) {
	c := newCollector(t)
	c.down.Store(true)
	obs := &uploadCounter{}
	up := NewUploader(UploaderOptions{URL: c.srv.URL, Interval: time.Hour, Buffer: 5, Observer: obs})
	var recs []Record
	for i := range 8 {
		recs = append(recs, record(i, "aomei", "deny"))
	}
	up.Add(recs)
	c.down.Store(false)
	up.Close() // the last attempt delivers what is left
	got := c.received()
	if obs.dropped.Load() != 3 || len(got) != 5 || got[0].DecisionID != recs[3].DecisionID {
		t.Errorf("dropped %d, delivered %d starting at %v; want the 5 newest", obs.dropped.Load(), len(got), got)
	}
}
