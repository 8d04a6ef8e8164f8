package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// TLSFiles are the files of a TLS listener. The certificate, key and client
// CA are read again when they change, so a rotated certificate is served
// without a restart; files that do not load keep the previous ones in force.
type TLSFiles struct {
	Cert, Key string
	// ClientCA, if set, requires every client to present a certificate
	// signed by one of its CAs (mTLS).
	ClientCA string
}

// reloadingTLS serves the current certificate and client CAs, checking the
// files at most once a second.
type reloadingTLS struct {
	files TLSFiles
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamp   string // the files' sizes and modification times when last read
	config  *tls.Config
}

// Config returns a TLS 1.2+ configuration that reloads its files; it fails
// if they do not load now.
func (f TLSFiles) Config(log *slog.Logger) (*tls.Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &reloadingTLS{files: f, log: log}
	cfg, err := r.load()
	if err != nil {
		return nil, err
	}
	r.config, r.stamp, r.checked = cfg, r.filesStamp(), time.Now()
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.current(), nil },
	}, nil
}

func (r *reloadingTLS) filesStamp() string {
	stamp := ""
	for _, name := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if name == "" {
			continue
		}
		if st, err := os.Stat(name); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	return stamp
}

func (r *reloadingTLS) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < time.Second {
		return r.config
	}
	r.checked = time.Now()
	stamp := r.filesStamp()
	if stamp == r.stamp {
		return r.config
	}
	cfg, err := r.load()
	if err != nil {
		r.log.Error("TLS files not reloaded; the previous certificate stays in force", "error", err.Error())
		r.stamp = stamp // report once per change
		return r.config
	}
	r.config, r.stamp = cfg, stamp
	r.log.Info("TLS files reloaded", "cert", r.files.Cert)
	return cfg
}

func (r *reloadingTLS) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if r.files.ClientCA != "" {
		pem, err := os.ReadFile(r.files.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("TLS client CA: no PEM certificate in " + r.files.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// DiagnosticHandler serves /metrics, /health and /ready without a token,
// for a listener that only probes and scrapers reach (--diagnostic-addr).
func (s *Server) DiagnosticHandler() http.Handler {
	r := gin.New()
	r.Use(s.recover)
	r.GET("/health", s.health)
	r.HEAD("/health", s.health)
	r.GET("/ready", s.ready)
	r.HEAD("/ready", s.ready)
	if s.metricsHandler != nil {
		r.GET("/metrics", s.metricsHandler)
		r.HEAD("/metrics", s.metricsHandler)
	}
	r.NoRoute(func(c *gin.Context) { s.fail(c, "", errNotFound) })
	return r
}
