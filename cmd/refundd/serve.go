package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refundd/refundd/auth"
	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/config"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/replay"
	"github.com/refundd/refundd/request"
	"github.com/refundd/refundd/server"
)

func serve(args []string, stderr io.Writer) int {
	cfg := config.Default()
	envDefault(&cfg.Addr, "REFUNDD_ADDR")
	envDefault(&cfg.Policies, "REFUNDD_POLICIES")
	envDefault(&cfg.Bundles, "REFUNDD_BUNDLES")
	envDefault(&cfg.BundleURL, "REFUNDD_BUNDLE_URL")
	envDefault(&cfg.DataDir, "REFUNDD_DATA_DIR")
	envDefault(&cfg.DBURL, "REFUNDD_DB_URL")
	envDefault(&cfg.TokensFile, "REFUNDD_TOKENS_FILE")
	fs := flag.NewFlagSet("refundd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env REFUNDD_ADDR)")
	fs.StringVar(&cfg.Policies, "policies", cfg.Policies, "policy source tree, served when no bundle source is given (env REFUNDD_POLICIES)")
	fs.BoolVar(&cfg.Watch, "watch", cfg.Watch, "reload the policy source tree when a file under it changes")
	fs.StringVar(&cfg.Bundles, "bundles", cfg.Bundles, "directory of bundles, one <merchant>.tar.gz each (env REFUNDD_BUNDLES)")
	fs.StringVar(&cfg.BundleURL, "bundle-url", cfg.BundleURL, "remote bundles: an HTTP base URL holding index.json and the bundles, or an OCI repository oci://host/repository with a tag per merchant (env REFUNDD_BUNDLE_URL)")
	fs.StringVar(&cfg.BundleService, "bundle-service-config", cfg.BundleService, "OPA service configuration (JSON or YAML) for --bundle-url: credentials (bearer, OAuth2, client TLS, cloud signing), TLS, headers")
	fs.StringVar(&cfg.BundleCache, "bundle-cache", cfg.BundleCache, "where the last good bundles from --bundle-url are kept (default <data-dir>/bundles)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "how often --bundles and --bundle-url are checked for changes")
	fs.DurationVar(&cfg.MaxBackoff, "max-backoff", cfg.MaxBackoff, "longest wait between polls after --bundle-url failures")
	fs.BoolVar(&cfg.RequireTests, "require-tests", cfg.RequireTests, "a policy goes live only if its bundled Rego tests pass")
	fs.Float64Var(&cfg.ShadowRate, "shadow-rate", cfg.ShadowRate, "share (0 to 1) of the compiled evaluator's decisions that topdown decides again after the answer; disagreements are counted (refundd_shadow_decisions_total) and logged with the decision id")
	fs.StringVar(&cfg.Evaluator, "evaluator", cfg.Evaluator, "compiled (each merchant's query plan run by refundd's IR evaluator, several times faster than topdown, once it decides the merchant's shipped cases as topdown does; topdown where it cannot, and for ?explain=true) or topdown (OPA's evaluator)")
	fs.StringVar(&cfg.VerificationKey, "verification-key", cfg.VerificationKey, "public key file (PEM), or HS256 secret, every bundle must be signed with")
	fs.StringVar(&cfg.VerificationAlg, "verification-alg", cfg.VerificationAlg, "signature algorithm of --verification-key: RS256, ES256, HS256...")
	fs.StringVar(&cfg.VerificationKID, "verification-key-id", cfg.VerificationKID, "key id of --verification-key")
	fs.StringVar(&cfg.TokensFile, "tokens-file", cfg.TokensFile, "API tokens: one line each, name, sha256:<digest> and scopes (see refundd token new); reloaded when it changes (env REFUNDD_TOKENS_FILE)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", cfg.InsecureNoAuth, "serve every caller without a token on a non-loopback address")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", cfg.TLSCertFile, "TLS certificate (PEM), reloaded when it changes")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", cfg.TLSKeyFile, "TLS private key (PEM), reloaded when it changes")
	fs.StringVar(&cfg.TLSClientCAFile, "tls-client-ca-file", cfg.TLSClientCAFile, "CA certificates (PEM) that client certificates must chain to: requires mTLS")
	fs.StringVar(&cfg.DiagnosticAddr, "diagnostic-addr", cfg.DiagnosticAddr, "also serve /metrics, /health and /ready here, in plain HTTP and without a token")
	fs.StringVar(&cfg.LogHashKeyFile, "log-hash-key-file", cfg.LogHashKeyFile, "key of the HMAC-SHA-256 hashes of identifiers in decision records (default: generated as <data-dir>/log-hash.key)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body accepted")
	fs.IntVar(&cfg.MaxLines, "max-lines", cfg.MaxLines, "most lines an order may hold (more: 400 on order.lines)")
	fs.IntVar(&cfg.MaxLineIDs, "max-line-ids", cfg.MaxLineIDs, "most entries of claim.line_ids")
	fs.IntVar(&cfg.MaxStrings, "max-strings", cfg.MaxStrings, "most entries of claim.evidence and of the request's other string arrays")
	fs.IntVar(&cfg.MaxErrors, "max-errors", cfg.MaxErrors, "most problems a 400 lists (errors_omitted counts the rest)")
	fs.DurationVar(&cfg.EvalTimeout, "eval-timeout", cfg.EvalTimeout, "bound of one evaluation, explained or not: past it, 503 evaluation_timeout")
	fs.Int64Var(&cfg.ImpactMaxBytes, "impact-max-bytes", cfg.ImpactMaxBytes, "largest candidate bundle, unpacked, that impact analysis accepts")
	fs.IntVar(&cfg.ImpactMaxFiles, "impact-max-files", cfg.ImpactMaxFiles, "most files a candidate bundle may hold")
	fs.DurationVar(&cfg.ImpactTimeout, "impact-timeout", cfg.ImpactTimeout, "time limit of one impact analysis run (compilation and replay)")
	fs.IntVar(&cfg.ImpactConcurrency, "impact-concurrency", cfg.ImpactConcurrency, "impact analysis runs at a time; more get 429")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time to read a request")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "time to write a response")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "time a keep-alive connection may idle")
	fs.DurationVar(&cfg.ShutdownDrain, "shutdown-drain", cfg.ShutdownDrain, "time /ready reports draining before the listener closes")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "time in-flight requests get to finish at shutdown")
	fs.StringVar(&cfg.DecisionLog, "decision-log", cfg.DecisionLog, "decision log: durable (answer once recorded), async (bounded queue) or off")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded SQLite decision log (env REFUNDD_DATA_DIR)")
	fs.StringVar(&cfg.DBURL, "db-url", cfg.DBURL, "PostgreSQL URL for the decision log, shared by replicas (env REFUNDD_DB_URL)")
	fs.IntVar(&cfg.LogQueue, "log-queue", cfg.LogQueue, "decision records that may wait to be committed")
	fs.IntVar(&cfg.LogBatch, "log-batch", cfg.LogBatch, "most decision records per commit")
	fs.DurationVar(&cfg.LogDelay, "log-commit-delay", cfg.LogDelay, "under concurrent traffic, how long a decision log commit waits for more records (0: never)")
	fs.StringVar(&cfg.LogWAL, "log-wal", cfg.LogWAL, "durable mode: commit records to a write-ahead log in <data-dir>/wal (one fdatasync per group) and index the store from it in the background: on, off, or auto (on with SQLite, off with --db-url)")
	fs.StringVar(&cfg.LogDamaged, "log-damaged", cfg.LogDamaged, "a damaged write-ahead log at start: refuse (name the segment and offset, change nothing) or quarantine (move each damaged segment to <data-dir>/wal/quarantine, serve what can be read, report it in /ready and refundd_decision_log_damaged_records)")
	fs.DurationVar(&cfg.LogIndexInterval, "log-index-interval", cfg.LogIndexInterval, "with --log-wal, how long the indexer gathers committed records before writing them to the store")
	fs.DurationVar(&cfg.LogRetention, "log-retention", cfg.LogRetention, "decision records older than this are pruned")
	fs.StringVar(&cfg.UploadURL, "decision-log-upload", cfg.UploadURL, "also send committed records, in OPA's decision log format, to this collector URL")
	fs.DurationVar(&cfg.UploadInterval, "decision-log-upload-interval", cfg.UploadInterval, "how often records are sent to --decision-log-upload")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "garbage collector target, as GOGC (the GOGC environment variable, if set, wins)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: json or text")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "refundd serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "refundd serve: invalid configuration:\n%v\n", err)
		return 2
	}
	setGCPercent(cfg.GCPercent)
	log := newLogger(cfg, stderr)
	if err := runServer(cfg, log); err != nil {
		log.Error("refundd stopped", "error", err.Error())
		return 1
	}
	return 0
}

func runServer(cfg config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Who may call, and over what: checked before any policy is loaded.
	var tokens *auth.File
	if cfg.TokensFile != "" {
		var err error
		if tokens, err = auth.OpenFile(cfg.TokensFile, log); err != nil {
			return err
		}
		go tokens.Watch(ctx, 2*time.Second)
	} else if !config.IsLoopback(cfg.Addr) {
		log.Warn("serving without authentication on a non-loopback address (--insecure-no-auth)", "addr", cfg.Addr)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		var err error
		files := server.TLSFiles{Cert: cfg.TLSCertFile, Key: cfg.TLSKeyFile, ClientCA: cfg.TLSClientCAFile}
		if tlsConfig, err = files.Config(log); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	eng := engine.New(engine.Options{Logger: log, Observer: m, RequireTests: cfg.RequireTests, Evaluator: cfg.Evaluator})
	metrics.WatchMerchants(reg, func() map[string]metrics.MerchantState {
		states := map[string]metrics.MerchantState{}
		for _, st := range eng.Merchants() {
			states[st.ID] = metrics.MerchantState{Active: st.Active, Evaluator: st.Evaluator}
		}
		return states
	})
	source, origin, err := policySource(cfg, log)
	if err != nil {
		return err
	}
	if err := source.Load(ctx, eng); err != nil {
		if len(eng.Configured()) == 0 && cfg.BundleURL == "" {
			return err // a local source that yields nothing is a misconfiguration
		}
		// Merchants that went live are served; /ready and /v1/merchants
		// report the others, and the source keeps trying.
		log.Error("some merchant policies are not active", "error", err.Error())
	}
	go source.Run(ctx, eng)
	request.SetLimits(request.Limits{Lines: cfg.MaxLines, LineIDs: cfg.MaxLineIDs, Strings: cfg.MaxStrings, Errors: cfg.MaxErrors})
	opts := server.Options{Logger: log, Metrics: m, Gatherer: reg, MaxBodyBytes: cfg.MaxBodyBytes, EvalTimeout: cfg.EvalTimeout,
		ImpactTimeout: cfg.ImpactTimeout, ImpactConcurrency: cfg.ImpactConcurrency, MaxBundleBytes: cfg.ImpactMaxBytes,
		ShadowRate: cfg.ShadowRate}
	if cfg.DecisionLog != "off" {
		store, err := openStore(cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		keyFile, create := cfg.LogHashKeyFile, false
		if keyFile == "" {
			keyFile, create = filepath.Join(cfg.DataDir, decisionlog.HashKeyFile), true
		}
		if opts.LogHashKey, err = decisionlog.LoadHashKey(keyFile, create); err != nil {
			return err
		}
		var uploader *decisionlog.Uploader
		if cfg.UploadURL != "" {
			host, _ := os.Hostname()
			uploader = decisionlog.NewUploader(decisionlog.UploaderOptions{URL: cfg.UploadURL, Interval: cfg.UploadInterval,
				Labels: map[string]string{"app": "refundd", "instance": host}, Observer: m, Logger: log})
			defer uploader.Close() // after the logger: its last batches are uploaded too
		}
		walDir := ""
		if cfg.WAL() {
			walDir = filepath.Join(cfg.DataDir, "wal")
		}
		dlog, err := decisionlog.NewLogger(store, decisionlog.Options{Mode: decisionlog.Mode(cfg.DecisionLog),
			QueueSize: cfg.LogQueue, MaxBatch: cfg.LogBatch, CommitDelay: cfg.LogDelay, Observer: m, Logger: log, Uploader: uploader,
			WALDir: walDir, IndexInterval: cfg.LogIndexInterval, WALQuarantine: cfg.LogDamaged == "quarantine"})
		if err != nil {
			return err
		}
		hidden := 0
		for _, d := range dlog.Damage() {
			log.Error("decision log: a damaged WAL segment is set aside in quarantine", "damage", d.String())
			hidden += d.Unreadable
		}
		m.LogDamage(len(dlog.Damage()), hidden)
		defer dlog.Close() // after the server has drained: every answered decision is written
		go decisionlog.Prune(ctx, store, cfg.LogRetention, time.Hour, time.Now, log)
		v := verification(cfg)
		records := decisionlog.Reader{Store: store, Logger: dlog}
		opts.DecisionLog, opts.Records = dlog, records
		opts.Impact = func(ctx context.Context, merchant string, raw []byte, ro replay.Options) (*replay.Report, error) {
			candidate, rev, err := replay.CandidateBundle(ctx, raw, "upload", merchant, v,
				bundles.Limits{Bytes: cfg.ImpactMaxBytes, Files: cfg.ImpactMaxFiles, DataValues: bundles.DefaultLimits.DataValues})
			if err != nil {
				return nil, server.BadBundle(err)
			}
			return replay.Run(ctx, records, candidate, rev, ro)
		}
		log.Info("decision log", "mode", cfg.DecisionLog, "store", store.Kind(), "wal", walDir)
	}
	if tokens != nil { // a nil *auth.File in the interface would not read as "no authentication"
		opts.Auth = tokens
	}
	srv := server.New(eng, opts)
	if cfg.DiagnosticAddr != "" {
		dln, err := net.Listen("tcp", cfg.DiagnosticAddr)
		if err != nil {
			return err
		}
		diag := &http.Server{Handler: srv.DiagnosticHandler(), ReadHeaderTimeout: cfg.ReadTimeout,
			ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout}
		go func() { _ = diag.Serve(dln) }()
		defer diag.Close()
		log.Info("serving diagnostics", "addr", dln.Addr().String())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	log.Info("serving", "addr", ln.Addr().String(), "tls", tlsConfig != nil, "mtls", cfg.TLSClientCAFile != "",
		"auth", tokens != nil, "source", origin, "merchants", len(eng.Merchants()))
	return srv.Serve(ctx, ln, server.Timeouts{
		ReadHeader: cfg.ReadTimeout,
		Read:       cfg.ReadTimeout,
		Write:      cfg.WriteTimeout,
		Idle:       cfg.IdleTimeout,
		Drain:      cfg.ShutdownDrain,
		Shutdown:   cfg.ShutdownTimeout,
	})
}

func openStore(cfg config.Config) (*decisionlog.Store, error) {
	if cfg.DBURL != "" {
		return decisionlog.OpenPostgres(cfg.DBURL)
	}
	return decisionlog.OpenSQLite(cfg.DataDir)
}

func verification(cfg config.Config) *bundles.Verification {
	if cfg.VerificationKey == "" {
		return nil
	}
	return &bundles.Verification{Key: cfg.VerificationKey, Algorithm: cfg.VerificationAlg, KeyID: cfg.VerificationKID}
}

// policySource picks the configured policy source.
func policySource(cfg config.Config, log *slog.Logger) (bundles.Policies, string, error) {
	v := verification(cfg)
	switch {
	case cfg.BundleURL != "":
		var service []byte
		if cfg.BundleService != "" {
			var err error
			if service, err = os.ReadFile(cfg.BundleService); err != nil {
				return nil, "", fmt.Errorf("bundle-service-config: %w", err)
			}
		}
		return &bundles.HTTPSource{URL: cfg.BundleURL, Interval: cfg.PollInterval, MaxBackoff: cfg.MaxBackoff,
			CacheDir: cmp.Or(cfg.BundleCache, filepath.Join(cfg.DataDir, "bundles")), Verification: v, Service: service, Log: log}, cfg.BundleURL, nil
	case cfg.Bundles != "":
		return &bundles.DirSource{Dir: cfg.Bundles, Interval: cfg.PollInterval, Verification: v, Log: log}, cfg.Bundles, nil
	}
	return &bundles.TreeSource{Dir: cfg.Policies, Watch: cfg.Watch, Log: log}, cfg.Policies, nil
}

func envDefault(dst *string, name string) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		*dst = v
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setGCPercent sets the garbage collector's target, unless the GOGC
// environment variable does.
func setGCPercent(pct int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(pct)
	}
}
