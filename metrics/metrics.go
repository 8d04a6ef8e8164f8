// Package metrics defines refundd's Prometheus metrics on a registry passed
// in. Labels never carry an order, customer, claim or revision id.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the decision and HTTP metrics of one server.
type Metrics struct {
	Decisions        *prometheus.CounterVec
	DecisionDuration *prometheus.HistogramVec
	Refunded         *prometheus.CounterVec
	DecisionErrors   *prometheus.CounterVec
	HTTPDuration     *prometheus.HistogramVec
	Activations      *prometheus.CounterVec
	LastActivation   *prometheus.GaugeVec
	LogRecords       prometheus.Counter
	LogWriteErrors   prometheus.Counter
	LogBatchSize     prometheus.Histogram
	LogCommit        prometheus.Histogram
	LogDrops         prometheus.Counter
	LogQueue         prometheus.Gauge
	LogDamaged       *prometheus.GaugeVec
	Uploads          *prometheus.CounterVec
	UploadDrops      prometheus.Counter
	FloorComparisons *prometheus.CounterVec
	ShadowChecks     *prometheus.CounterVec
}

// New registers refundd's metrics, with the Go and process collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refundd_decisions_total",
			Help: "Decisions made, by merchant, outcome and remedy.",
		}, []string{"merchant", "outcome", "remedy"}),
		DecisionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refundd_decision_duration_seconds",
			Help:    "Engine time of a decision: input conversion, policy evaluation and checking the result.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3},
		}, []string{"merchant"}),
		Refunded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refundd_refunded_minor_units_total",
			Help: "Money granted back by decisions, in minor units of the currency.",
		}, []string{"merchant", "currency"}),
		DecisionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refundd_decision_errors_total",
			Help: "Decision requests that got no decision, by merchant and error code.",
		}, []string{"merchant", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency, by status code, route template and method.",
			Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 500e-3, 1, 5},
		}, []string{"code", "handler", "method"}),
		Activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refundd_bundle_activations_total",
			Help: "Policy activation attempts, by merchant and result (success or failure).",
		}, []string{"merchant", "result"}),
		LastActivation: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refundd_bundle_last_success_timestamp_seconds",
			Help: "When a merchant's policy last went live, in Unix seconds.",
		}, []string{"merchant"}),
		LogRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refundd_decision_log_records_total",
			Help: "Decision records committed to the decision log.",
		}),
		LogWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refundd_decision_log_write_errors_total",
			Help: "Decision log batches that failed to commit.",
		}),
		LogBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "refundd_decision_log_batch_size",
			Help:    "Records per decision log commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		LogCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "refundd_decision_log_commit_seconds",
			Help:    "Time to commit one decision log batch.",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 500e-3, 1},
		}),
		LogDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refundd_decision_log_dropped_total",
			Help: "Decision records dropped because the async queue was full.",
		}),
		LogQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "refundd_decision_log_queue_depth",
			Help: "Decision records waiting to be committed.",
		}),
		LogDamaged: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refundd_decision_log_damaged",
			Help: "Damage in the decision log's write-ahead log set aside at start (--log-damaged quarantine), while it is in quarantine: segments, and records it hides (a lower bound).",
		}, []string{"what"}),
		Uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refundd_decision_log_uploaded_events_total",
			Help: "Decision events sent to the collector in OPA's format, by result (success, failure).",
		}, []string{"result"}),
		UploadDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refundd_decision_log_upload_dropped_total",
			Help: "Decision events not uploaded because the collector was down too long (they stay in the store).",
		}),
	}
	m.FloorComparisons = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "refundd_floor_comparisons_total",
		Help: "Decisions by how the merchant's decision compares with the statutory floor (below, meets, indeterminate, not_applicable) and the merchant's floor mode.",
	}, []string{"merchant", "comparison", "mode"})
	m.ShadowChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "refundd_shadow_decisions_total",
		Help: "Decisions of the compiled evaluator also made by topdown (--shadow-rate), by result: agree, disagree, or skipped (shadow capacity busy).",
	}, []string{"merchant", "result"})
	reg.MustRegister(m.ShadowChecks, m.FloorComparisons, m.Decisions, m.DecisionDuration, m.Refunded, m.DecisionErrors, m.HTTPDuration,
		m.Activations, m.LastActivation,
		m.LogRecords, m.LogWriteErrors, m.LogBatchSize, m.LogCommit, m.LogDrops, m.LogQueue, m.LogDamaged,
		m.Uploads, m.UploadDrops,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// LogDamage sets the damage gauges: segments set aside, and the records
// they hide at least.
func (m *Metrics) LogDamage(segments, records int) {
	m.LogDamaged.WithLabelValues("segments").Set(float64(segments))
	m.LogDamaged.WithLabelValues("records").Set(float64(records))
}

// ObserveDecision counts a decision.
func (m *Metrics) ObserveDecision(merchant, outcome, remedy, currency string, refunded int64, seconds float64) {
	m.Decisions.WithLabelValues(merchant, outcome, remedy).Inc()
	m.DecisionDuration.WithLabelValues(merchant).Observe(seconds)
	if refunded > 0 {
		m.Refunded.WithLabelValues(merchant, currency).Add(float64(refunded))
	}
}

// ObserveFloor counts a decision's comparison with the statutory floor;
// both values were checked by the engine against their closed sets.
func (m *Metrics) ObserveFloor(merchant, comparison, mode string) {
	m.FloorComparisons.WithLabelValues(merchant, comparison, mode).Inc()
}

// Activation counts a policy activation attempt.
func (m *Metrics) Activation(merchant string, ok bool, at time.Time) {
	if !ok {
		m.Activations.WithLabelValues(merchant, "failure").Inc()
		return
	}
	m.Activations.WithLabelValues(merchant, "success").Inc()
	m.LastActivation.WithLabelValues(merchant).Set(float64(at.UnixNano()) / 1e9)
}

// LogBatch records one decision log commit.
func (m *Metrics) LogBatch(size int, commit time.Duration, err error) {
	if err != nil {
		m.LogWriteErrors.Inc()
		return
	}
	m.LogRecords.Add(float64(size))
	m.LogBatchSize.Observe(float64(size))
	m.LogCommit.Observe(commit.Seconds())
}

// LogDropped counts a record the async queue had no room for.
func (m *Metrics) LogDropped() { m.LogDrops.Inc() }

// LogQueueDepth sets the number of records waiting.
func (m *Metrics) LogQueueDepth(n int) { m.LogQueue.Set(float64(n)) }

// Uploaded counts an upload of events to the collector.
func (m *Metrics) Uploaded(events int, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.Uploads.WithLabelValues(result).Add(float64(events))
}

// UploadDropped counts events dropped from the upload buffer.
func (m *Metrics) UploadDropped(events int) { m.UploadDrops.Add(float64(events)) }

// ObserveHTTP records one HTTP request.
func (m *Metrics) ObserveHTTP(status int, handler, method string, seconds float64) {
	m.HTTPDuration.WithLabelValues(strconv.Itoa(status), handler, method).Observe(seconds)
}

// MerchantState is what refundd_merchant_active and
// refundd_merchant_evaluator report of a configured merchant.
type MerchantState struct {
	Active    bool
	Evaluator string // topdown or compiled; empty while it has no policy
}

// merchantsCollector reports at each scrape whether each configured
// merchant has a policy serving, and which evaluator decides for it.
type merchantsCollector struct {
	active, evaluator *prometheus.Desc
	status            func() map[string]MerchantState
}

func (c *merchantsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.active; ch <- c.evaluator }

func (c *merchantsCollector) Collect(ch chan<- prometheus.Metric) {
	for id, st := range c.status() {
		v := 0.0
		if st.Active {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, v, id)
		if st.Evaluator != "" {
			ch <- prometheus.MustNewConstMetric(c.evaluator, prometheus.GaugeValue, 1, id, st.Evaluator)
		}
	}
}

// WatchMerchants registers refundd_merchant_active{merchant} (1 while the
// merchant has a policy serving, 0 while it is configured but has none)
// and refundd_merchant_evaluator{merchant,evaluator} (1 for the evaluator
// deciding for it). status is read at each scrape and lists configured
// merchants only.
func WatchMerchants(reg prometheus.Registerer, status func() map[string]MerchantState) {
	reg.MustRegister(&merchantsCollector{
		active: prometheus.NewDesc("refundd_merchant_active",
			"1 while the merchant has a policy serving, 0 while it is configured but has none (it is answered 404 and keeps /ready at 503).",
			[]string{"merchant"}, nil),
		evaluator: prometheus.NewDesc("refundd_merchant_evaluator",
			"1 for the evaluator deciding for the merchant: topdown, or compiled (topdown where the compiled evaluator was asked for and cannot run the merchant's plan).",
			[]string{"merchant", "evaluator"}, nil),
		status: status,
	})
}
