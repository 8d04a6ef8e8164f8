// Package config holds refundd serve's settings, their defaults and their
// validation.
package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is everything refundd serve is configured with.
type Config struct {
	Addr            string
	Policies        string
	MaxBodyBytes    int64
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownDrain   time.Duration
	ShutdownTimeout time.Duration
	LogFormat       string // json or text
	LogLevel        string // debug, info, warn or error
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8181",
		Policies:        "policies/",
		MaxBodyBytes:    1 << 20,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		IdleTimeout:     60 * time.Second,
		ShutdownDrain:   0,
		ShutdownTimeout: 15 * time.Second,
		LogFormat:       "json",
		LogLevel:        "info",
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.Policies == "" {
		errs = append(errs, errors.New("policies: a policy directory is required"))
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
