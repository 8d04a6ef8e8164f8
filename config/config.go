// Package config holds refundd serve's settings, their defaults and their
// validation.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/refundd/refundd/bundles"
)

// Config is everything refundd serve is configured with.
type Config struct {
	Addr     string
	Policies string // a policy source tree; used when no bundle source is set
	Watch    bool   // reload the source tree when a file changes
	Bundles  string // a directory of bundles
	// BundleURL is an HTTP bundle server or an OCI repository
	// (oci://host/repository); BundleCache keeps the last good bundles it
	// served.
	BundleURL   string
	BundleCache string
	// BundleService is a file holding an OPA service configuration for the
	// bundle server (credentials, TLS, headers).
	BundleService string
	PollInterval  time.Duration
	MaxBackoff    time.Duration
	RequireTests  bool
	// Evaluator is topdown (OPA's evaluator) or compiled (each merchant's
	// plan run by refundd's IR evaluator, topdown where it cannot).
	Evaluator string
	// ShadowRate is the share of compiled decisions topdown decides again.
	ShadowRate float64
	// DecisionLog is durable (a decision is answered once its record is
	// committed), async (bounded queue, drops counted) or off.
	DecisionLog string
	DataDir     string // the embedded SQLite decision log lives here
	DBURL       string // a PostgreSQL URL: the decision log lives there instead
	LogQueue    int
	LogBatch    int
	LogDelay    time.Duration // group commit: how long a commit may wait for company
	// LogWAL is on, off or auto (on with the SQLite store, off with
	// PostgreSQL): records committed to a write-ahead log in DataDir/wal,
	// the store indexed from it every LogIndexInterval (durable mode).
	LogWAL           string
	LogIndexInterval time.Duration
	// LogDamaged is what a start does with a damaged write-ahead log:
	// refuse (the default) or quarantine (set the damaged segments aside
	// and serve the rest).
	LogDamaged   string
	LogRetention time.Duration
	// UploadURL, if set, receives every committed record in OPA's decision
	// log format (gzip JSON arrays), every UploadInterval.
	UploadURL       string
	UploadInterval  time.Duration
	VerificationKey string
	VerificationAlg string
	VerificationKID string
	MaxBodyBytes    int64
	// MaxLines, MaxLineIDs, MaxStrings and MaxErrors bound a request (see
	// request.Limits); EvalTimeout bounds one evaluation.
	MaxLines, MaxLineIDs, MaxStrings, MaxErrors int
	EvalTimeout                                 time.Duration
	// TokensFile holds the API tokens (their digests and scopes); without
	// it every caller is served, which only a loopback address or
	// InsecureNoAuth allows.
	TokensFile     string
	InsecureNoAuth bool
	// TLS: certificate and key (reloaded when they change), and a client CA
	// for mTLS.
	TLSCertFile     string
	TLSKeyFile      string
	TLSClientCAFile string
	// DiagnosticAddr, if set, also serves /metrics, /health and /ready,
	// without a token, for probes and scrapers.
	DiagnosticAddr string
	// LogHashKeyFile keys the hashes of identifiers in decision records;
	// generated in DataDir when not set.
	LogHashKeyFile string
	// Impact analysis bounds: a candidate bundle's unpacked size and file
	// count, one run's time, and how many runs at a time.
	ImpactMaxBytes    int64
	ImpactMaxFiles    int
	ImpactTimeout     time.Duration
	ImpactConcurrency int
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownDrain     time.Duration
	ShutdownTimeout   time.Duration
	// GCPercent is the Go garbage collector's target (GOGC): decisions
	// allocate a lot of short-lived memory, so a higher target trades a
	// little memory for throughput.
	GCPercent int
	LogFormat string // json or text
	LogLevel  string // debug, info, warn or error
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Addr:              "127.0.0.1:8181",
		Policies:          "policies/",
		PollInterval:      10 * time.Second,
		MaxBackoff:        5 * time.Minute,
		VerificationAlg:   "RS256",
		DecisionLog:       "durable",
		DataDir:           "data/",
		LogQueue:          10000,
		LogBatch:          512,
		LogDelay:          time.Millisecond,
		LogIndexInterval:  100 * time.Millisecond,
		LogWAL:            "auto",
		LogDamaged:        "refuse",
		Evaluator:         "compiled",
		LogRetention:      90 * 24 * time.Hour,
		UploadInterval:    5 * time.Second,
		VerificationKID:   "refundd",
		MaxBodyBytes:      1 << 20,
		MaxLines:          1000,
		MaxLineIDs:        1000,
		MaxStrings:        100,
		MaxErrors:         100,
		EvalTimeout:       2 * time.Second,
		ImpactMaxBytes:    32 << 20,
		ImpactMaxFiles:    1000,
		ImpactTimeout:     60 * time.Second,
		ImpactConcurrency: 1,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ShutdownDrain:     0,
		ShutdownTimeout:   15 * time.Second,
		GCPercent:         400,
		LogFormat:         "json",
		LogLevel:          "info",
	}
}

// WAL tells whether the decision log commits to a write-ahead log: on, or
// auto with the durable log in SQLite (the WAL then lives on the same disk;
// PostgreSQL replicas often have no disk that outlives them).
func (c Config) WAL() bool {
	return c.DecisionLog == "durable" && c.DataDir != "" && (c.LogWAL == "on" || c.LogWAL == "auto" && c.DBURL == "")
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	switch {
	case c.Bundles != "" && c.BundleURL != "":
		errs = append(errs, errors.New("bundles and bundle-url: give one policy source, not both"))
	case c.Bundles == "" && c.BundleURL == "" && c.Policies == "":
		errs = append(errs, errors.New("policies: a policy source is required (policies, bundles or bundle-url)"))
	}
	if c.Watch && (c.Bundles != "" || c.BundleURL != "") {
		errs = append(errs, errors.New("watch: applies to a policy source tree (policies), not to bundles"))
	}
	if c.VerificationKey != "" && c.Bundles == "" && c.BundleURL == "" {
		errs = append(errs, errors.New("verification-key: applies to bundles (bundles or bundle-url)"))
	}
	if c.BundleService != "" && c.BundleURL == "" {
		errs = append(errs, errors.New("bundle-service-config: applies to bundle-url"))
	}
	if c.BundleURL != "" {
		if strings.HasPrefix(c.BundleURL, "oci://") {
			if err := bundles.ValidateOCIURL(c.BundleURL); err != nil {
				errs = append(errs, err)
			}
		} else if u, err := url.Parse(c.BundleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("bundle-url %q: must be an http or https URL, or oci://host/repository", c.BundleURL))
		}
	}
	if c.ShadowRate < 0 || c.ShadowRate > 1 {
		errs = append(errs, fmt.Errorf("shadow-rate %v: must be from 0 to 1", c.ShadowRate))
	}
	if c.Evaluator != "topdown" && c.Evaluator != "compiled" {
		errs = append(errs, fmt.Errorf("evaluator %q: must be topdown or compiled", c.Evaluator))
	}
	if c.PollInterval <= 0 || c.MaxBackoff < c.PollInterval {
		errs = append(errs, fmt.Errorf("poll-interval %s, max-backoff %s: want 0 < poll-interval <= max-backoff", c.PollInterval, c.MaxBackoff))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls-cert-file and tls-key-file: give both or neither"))
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("tls-client-ca-file: needs tls-cert-file and tls-key-file"))
	}
	if c.DiagnosticAddr != "" {
		if _, _, err := net.SplitHostPort(c.DiagnosticAddr); err != nil {
			errs = append(errs, fmt.Errorf("diagnostic-addr %q: %w", c.DiagnosticAddr, err))
		}
	}
	if c.TokensFile == "" && !c.InsecureNoAuth && !IsLoopback(c.Addr) {
		errs = append(errs, fmt.Errorf("addr %q is not a loopback address: give --tokens-file so callers must authenticate, or --insecure-no-auth to serve everyone", c.Addr))
	}
	if c.TokensFile != "" && c.InsecureNoAuth {
		errs = append(errs, errors.New("insecure-no-auth: contradicts tokens-file"))
	}
	if c.ImpactMaxBytes <= 0 || c.ImpactMaxFiles <= 0 || c.ImpactTimeout <= 0 || c.ImpactConcurrency <= 0 {
		errs = append(errs, fmt.Errorf("impact-max-bytes %d, impact-max-files %d, impact-timeout %s, impact-concurrency %d: must be positive",
			c.ImpactMaxBytes, c.ImpactMaxFiles, c.ImpactTimeout, c.ImpactConcurrency))
	}
	if c.MaxLines < 1 || c.MaxLineIDs < 1 || c.MaxStrings < 1 || c.MaxErrors < 1 {
		errs = append(errs, fmt.Errorf("max-lines %d, max-line-ids %d, max-strings %d, max-errors %d: must be positive", c.MaxLines, c.MaxLineIDs, c.MaxStrings, c.MaxErrors))
	}
	if c.EvalTimeout <= 0 || c.EvalTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("eval-timeout %s: must be from 1ns to 1m", c.EvalTimeout))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max-body-bytes %d: must be positive", c.MaxBodyBytes))
	}
	for name, d := range map[string]time.Duration{
		"read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout,
		"idle-timeout": c.IdleTimeout, "shutdown-timeout": c.ShutdownTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", name, d))
		}
	}
	if c.ShutdownDrain < 0 {
		errs = append(errs, fmt.Errorf("shutdown-drain %s: must not be negative", c.ShutdownDrain))
	}
	switch c.DecisionLog {
	case "durable", "async", "off":
	default:
		errs = append(errs, fmt.Errorf("decision-log %q: must be durable, async or off", c.DecisionLog))
	}
	if c.DecisionLog != "off" {
		if c.DBURL == "" && c.DataDir == "" {
			errs = append(errs, errors.New("data-dir: required for the decision log (or db-url, or --decision-log off)"))
		}
		if c.DBURL != "" {
			if u, err := url.Parse(c.DBURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				errs = append(errs, fmt.Errorf("db-url: must be a postgres:// URL"))
			}
		}
		if c.LogQueue < 1 || c.LogBatch < 1 {
			errs = append(errs, fmt.Errorf("log-queue %d, log-batch %d: must be positive", c.LogQueue, c.LogBatch))
		}
		switch {
		case c.LogWAL != "auto" && c.LogWAL != "on" && c.LogWAL != "off":
			errs = append(errs, fmt.Errorf("log-wal %q: must be auto, on or off", c.LogWAL))
		case c.LogWAL == "on" && (c.DecisionLog != "durable" || c.DataDir == ""):
			errs = append(errs, errors.New("log-wal: applies to the durable decision log, and needs data-dir for its segments"))
		}
		if c.LogDamaged != "refuse" && c.LogDamaged != "quarantine" {
			errs = append(errs, fmt.Errorf("log-damaged %q: must be refuse or quarantine", c.LogDamaged))
		}
		if c.LogIndexInterval <= 0 || c.LogIndexInterval > time.Hour {
			errs = append(errs, fmt.Errorf("log-index-interval %s: must be from 1ns to 1h", c.LogIndexInterval))
		}
		if c.LogDelay < 0 || c.LogDelay > time.Second {
			errs = append(errs, fmt.Errorf("log-commit-delay %s: must be from 0 to 1s", c.LogDelay))
		}
		if c.UploadURL != "" {
			if u, err := url.Parse(c.UploadURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("decision-log-upload %q: must be an http or https URL", c.UploadURL))
			}
			if c.UploadInterval <= 0 {
				errs = append(errs, fmt.Errorf("decision-log-upload-interval %s: must be positive", c.UploadInterval))
			}
		}
		if c.LogRetention < time.Hour {
			errs = append(errs, fmt.Errorf("log-retention %s: must be at least 1h", c.LogRetention))
		}
	}
	if err := CheckGCPercent(c.GCPercent); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("log-format %q: must be json or text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q: must be debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// IsLoopback tells whether addr (host:port) listens on loopback only: a
// loopback IP or "localhost". An empty host listens on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckGCPercent checks a garbage collector target (--gc-percent): below
// 25 the collector would run nearly all the time.
func CheckGCPercent(pct int) error {
	if pct < 25 {
		return fmt.Errorf("gc-percent %d: must be at least 25", pct)
	}
	return nil
}
