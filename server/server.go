// Package server is refundd's HTTP layer: routes, request handling, error
// mapping and middleware. It reaches the engine only through Decider.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/refundd/refundd/auth"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/request"
)

// Decider makes decisions; the engine is one.
type Decider interface {
	Decide(ctx context.Context, merchant string, req *request.Request, opts engine.DecideOptions) (*engine.Decision, error)
	Known(merchant string) bool
	Merchants() []engine.Status
	Ready() bool
	// Localize puts a logged decision document's texts in another language.
	Localize(merchant string, doc []byte, lang string) ([]byte, error)
}

var _ Decider = (*engine.Engine)(nil)

// logWait bounds how long a decision waits for its record to be committed;
// it is below the default write timeout so the client gets the 503.
const logWait = 5 * time.Second

// DefaultMaxBodyBytes bounds a request body (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// Options configures a Server.
type Options struct {
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	// MaxBodyBytes bounds a request body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// DecisionLog, when set, records every decision before it is answered
	// (in durable mode); Records reads the log back; Impact replays it
	// against a candidate bundle.
	DecisionLog DecisionLog
	Records     Records
	Impact      Impact
	// LogHashKey keys the hashes of masked identifiers in decision records;
	// a random key for this process when empty.
	LogHashKey []byte
	// Auth authenticates callers by bearer token; nil serves everyone
	// (a server on loopback, or one told --insecure-no-auth).
	Auth Authenticator
	// ImpactTimeout bounds one impact analysis run, compilation included
	// (60 s when 0); ImpactConcurrency is how many may run at once (1 when
	// 0; more get 429); MaxBundleBytes bounds a candidate upload (32 MiB
	// when 0).
	ImpactTimeout     time.Duration
	ImpactConcurrency int
	MaxBundleBytes    int64
	// Now stamps decision records; time.Now by default. It never enters a
	// decision.
	Now func() time.Time
	// ShadowRate is the share (0 to 1) of the compiled evaluator's
	// decisions that topdown decides again, after the answer, to count
	// disagreements.
	ShadowRate float64
	// EvalTimeout bounds one evaluation, explained or not
	// (DefaultEvalTimeout when 0): past it the decision is a 503
	// evaluation_timeout, never a made-up answer.
	EvalTimeout time.Duration
}

// DefaultEvalTimeout bounds one evaluation.
const DefaultEvalTimeout = 2 * time.Second

// Server serves the decision API.
type Server struct {
	decider  Decider
	log      *slog.Logger
	metrics  *metrics.Metrics
	maxBody  int64
	declog   DecisionLog
	records  Records
	impactFn Impact
	now      func() time.Time
	handler  *gin.Engine
	draining atomic.Bool
	auth     Authenticator
	hashKey  []byte // keys the hashes of masked identifiers
	// logReady tells whether decision records can be committed.
	logReady func(context.Context) error
	// logDamage: the damage the decision log set aside at start.
	logDamage []string
	// metricsHandler serves /metrics, here and on the diagnostic listener.
	metricsHandler gin.HandlerFunc
	// stopping is done once shutdown begins: impact runs in progress stop
	// then, so that a long run never holds up SIGTERM.
	stopping context.Context
	stop     context.CancelFunc
	// impactSlots holds a token per impact run in progress.
	impactSlots   chan struct{}
	impactTimeout time.Duration
	maxBundle     int64
	shadowRate    float64
	shadowSlots   chan struct{}
	evalTimeout   time.Duration
}

// New builds the server and its routes.
func New(d Decider, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	gin.SetMode(gin.ReleaseMode)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ImpactTimeout <= 0 {
		opts.ImpactTimeout = 60 * time.Second
	}
	if opts.ImpactConcurrency <= 0 {
		opts.ImpactConcurrency = 1
	}
	if opts.EvalTimeout <= 0 {
		opts.EvalTimeout = DefaultEvalTimeout
	}
	if opts.MaxBundleBytes <= 0 {
		opts.MaxBundleBytes = 32 << 20
	}
	s := &Server{decider: d, log: opts.Logger, metrics: opts.Metrics, maxBody: opts.MaxBodyBytes,
		declog: opts.DecisionLog, records: opts.Records, impactFn: opts.Impact, now: opts.Now,
		auth: opts.Auth, hashKey: opts.LogHashKey, impactSlots: make(chan struct{}, opts.ImpactConcurrency), impactTimeout: opts.ImpactTimeout, maxBundle: opts.MaxBundleBytes,
		shadowRate: opts.ShadowRate, shadowSlots: make(chan struct{}, shadowSlots), evalTimeout: opts.EvalTimeout}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.observe, s.recover, s.authenticate, s.checkQuery)
	get := func(path string, h ...gin.HandlerFunc) { r.GET(path, h...); r.HEAD(path, h...) }
	r.POST("/v1/merchants/:merchant/decisions", s.require(auth.Decide), s.decide(false))
	r.POST("/v1/data/refunds/merchants/:merchant/decision", s.require(auth.Decide), s.decide(true))
	r.POST("/v1/merchants/:merchant/try", s.require(auth.Read), s.try)
	get("/v1/merchants", s.require(auth.Status), s.merchants)
	r.POST("/v1/merchants/:merchant/impact", s.require(auth.Impact), s.impact)
	get("/v1/decisions", s.listDecisions)   // read scope: filters what it lists
	get("/v1/decisions/:id", s.getDecision) // read scope of the record's merchant
	get("/health", s.health)
	get("/ready", s.ready)
	s.routeUI(r)
	if opts.Gatherer != nil {
		s.metricsHandler = gin.WrapH(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
		get("/metrics", s.require(auth.Metrics), s.metricsHandler)
	}
	r.NoRoute(func(c *gin.Context) { s.fail(c, "", errNotFound) })
	r.NoMethod(func(c *gin.Context) { s.fail(c, "", errMethodNotAllowed) })
	s.stopping, s.stop = context.WithCancel(context.Background())
	if len(s.hashKey) == 0 {
		s.hashKey = make([]byte, 32)
		_, _ = rand.Read(s.hashKey)
	}
	if rl, ok := opts.DecisionLog.(interface{ Ready(context.Context) error }); ok {
		s.logReady = rl.Ready
	}
	if dl, ok := opts.DecisionLog.(interface{ DamageReports() []string }); ok {
		s.logDamage = dl.DamageReports()
	}
	s.handler = r
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) decide(dataAPI bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		merchant := c.Param("merchant")
		if !s.decider.Known(merchant) {
			s.fail(c, "", engine.ErrUnknownMerchant)
			return
		}
		req, err := s.decodeBody(c, dataAPI)
		if err != nil {
			s.fail(c, merchant, err)
			return
		}
		computed := func() {}
		if s.declog != nil {
			computed = s.declog.Begin() // the log's group commit waits for this decision
		}
		defer computed()
		explain := c.Query("explain") == "true"
		d, err := s.evaluate(c, merchant, req, engine.DecideOptions{Lang: language(c.GetHeader("Accept-Language")), Explain: explain})
		if err != nil {
			s.fail(c, merchant, err)
			return
		}
		c.Set(decisionIDKey, d.DecisionID)
		var out []byte // the answer: the logged document when there is one
		if s.declog != nil {
			rec, err := d.Record(req, s.now(), s.hashKey)
			if err != nil {
				s.fail(c, merchant, err)
				return
			}
			// Bounded: a stalled database gets a clean 503, not a timed-out
			// connection.
			ctx, cancel := context.WithTimeout(c.Request.Context(), logWait)
			err = s.declog.LogComputed(ctx, rec, computed) // computed once the record is queued
			cancel()
			if err != nil {
				s.fail(c, merchant, &errLogUnavailable{err})
				return
			}
			out = rec.Decision
		}
		if s.metrics != nil {
			s.metrics.ObserveDecision(merchant, d.Outcome, d.Remedy, d.Refund.Currency, d.Refund.Amount, d.Duration.Seconds())
			if d.LegalFloor != nil {
				s.metrics.ObserveFloor(merchant, d.LegalFloor.Comparison, d.LegalFloor.Mode)
			}
		}
		if out == nil || explain {
			out = d.AppendJSON(nil)
		}
		if dataAPI {
			out = append(append(append([]byte(`{"result":`), out...), `,"decision_id":"`...), d.DecisionID+`"}`...)
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", out)
		s.shadow(merchant, req, d)
	}
}

// evaluate decides under the evaluation's deadline.
func (s *Server) evaluate(c *gin.Context, merchant string, req *request.Request, opts engine.DecideOptions) (*engine.Decision, error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.evalTimeout)
	defer cancel()
	return s.decider.Decide(ctx, merchant, req, opts)
}

// queryParams lists the query parameters of the routes whose handlers do
// not check their own; a route listed takes no other.
var queryParams = map[string][]string{
	"/v1/merchants/:merchant/decisions":             {"explain"},
	"/v1/data/refunds/merchants/:merchant/decision": {"explain"},
	"/v1/merchants": nil, "/health": nil, "/ready": nil, "/metrics": nil, "/ui/*file": nil,
}

// checkQuery refuses a query parameter a route does not define, or a bad
// value of explain, naming it: a typo never silently changes an answer.
func (s *Server) checkQuery(c *gin.Context) {
	allowed, ok := queryParams[c.FullPath()]
	if !ok || c.Request.URL.RawQuery == "" {
		c.Next()
		return
	}
	var problems []request.FieldError
	values := c.Request.URL.Query()
	checkParams(values, allowed, &problems)
	if v, ok := values["explain"]; ok && len(v) == 1 && v[0] != "true" && v[0] != "false" {
		problems = append(problems, request.FieldError{Field: "explain", Rule: "enum", Args: []string{"true", "false"}})
	}
	if len(problems) > 0 {
		s.fail(c, c.Param("merchant"), &request.ValidationError{Problems: problems})
		return
	}
	c.Next()
}

// decodeBody reads a decision request: its content type, its size bound,
// and the strict decoder of the route's shape.
func (s *Server) decodeBody(c *gin.Context, dataAPI bool) (*request.Request, error) {
	if err := checkContentType(c.GetHeader("Content-Type")); err != nil {
		return nil, err
	}
	body, err := readBody(c, s.maxBody)
	if err != nil {
		return nil, err
	}
	if dataAPI {
		return request.DecodeDataAPI(body)
	}
	return request.Decode(body)
}

func (s *Server) health(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) merchants(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"merchants": s.decider.Merchants()})
}

func (s *Server) ready(c *gin.Context) {
	var logErr error
	if s.logReady != nil && !s.draining.Load() {
		logErr = s.logReady(c.Request.Context())
	}
	switch {
	case s.draining.Load():
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "draining"})
	case logErr != nil:
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not_ready", "decision_log": "records cannot be committed: " + logErr.Error()})
	case !s.decider.Ready():
		var waiting []engine.Status
		for _, st := range s.decider.Merchants() {
			if !st.Active {
				waiting = append(waiting, st)
			}
		}
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not_ready", "merchants": waiting})
	case len(s.logDamage) > 0:
		// Serving, as the operator chose, with the damage in quarantine.
		c.JSON(http.StatusOK, gin.H{"status": "ready", "decision_log_damage": s.logDamage})
	default:
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

// checkContentType accepts JSON bodies, and bodies that do not say.
func checkContentType(header string) error {
	if header == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(header)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return errUnsupportedMediaType
}

// Timeouts bound each phase of a connection and the shutdown.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
	// Drain is how long /ready reports draining before the listener closes,
	// so a load balancer stops sending new requests first.
	Drain time.Duration
	// Shutdown bounds how long in-flight requests may take to finish.
	Shutdown time.Duration
}

// Serve serves on ln until ctx is done, then shuts down gracefully: not
// ready first, a drain period, then in-flight requests finish and it stops.
func (s *Server) Serve(ctx context.Context, ln net.Listener, t Timeouts) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.stop()
	s.log.Info("shutting down", "drain", t.Drain.String())
	time.Sleep(t.Drain)
	sctx, cancel := context.WithTimeout(context.Background(), t.Shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
