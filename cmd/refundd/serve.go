package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/config"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/server"
)

func serve(args []string, stderr io.Writer) int {
	cfg := config.Default()
	envDefault(&cfg.Addr, "REFUNDD_ADDR")
	envDefault(&cfg.Policies, "REFUNDD_POLICIES")
	fs := flag.NewFlagSet("refundd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env REFUNDD_ADDR)")
	fs.StringVar(&cfg.Policies, "policies", cfg.Policies, "policy source tree (env REFUNDD_POLICIES)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body accepted")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time to read a request")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "time to write a response")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "time a keep-alive connection may idle")
	fs.DurationVar(&cfg.ShutdownDrain, "shutdown-drain", cfg.ShutdownDrain, "time /ready reports draining before the listener closes")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "time in-flight requests get to finish at shutdown")
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

	tree, err := bundles.LoadTree(cfg.Policies)
	if err != nil {
		return err
	}
	eng := engine.New(engine.Options{Logger: log})
	if err := eng.LoadTree(ctx, tree); err != nil {
		// Merchants that compiled are served; /ready reports the others.
		log.Error("some merchant policies are not active", "error", err.Error())
	}
	reg := prometheus.NewRegistry()
	srv := server.New(eng, server.Options{
		Logger:       log,
		Metrics:      metrics.New(reg),
		Gatherer:     reg,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "policies", cfg.Policies, "merchants", len(eng.Merchants()))
	return srv.Serve(ctx, ln, server.Timeouts{
		ReadHeader: cfg.ReadTimeout,
		Read:       cfg.ReadTimeout,
		Write:      cfg.WriteTimeout,
		Idle:       cfg.IdleTimeout,
		Drain:      cfg.ShutdownDrain,
		Shutdown:   cfg.ShutdownTimeout,
	})
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
