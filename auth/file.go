package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// File is a tokens file that reloads when it changes: new tokens work and
// removed ones stop working without a restart. A file that no longer
// parses is reported and the tokens last read stay in force.
type File struct {
	path   string
	log    *slog.Logger
	tokens atomic.Pointer[Tokens]
	sum    [sha256.Size]byte
}

// OpenFile reads the tokens file at path; it must parse.
func OpenFile(path string, log *slog.Logger) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := parseFile(path, raw)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, log: log, sum: sha256.Sum256(raw)}
	f.tokens.Store(t)
	return f, nil
}

func parseFile(path string, raw []byte) (*Tokens, error) {
	t, err := Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return t, nil
}

// Authenticate checks token against the tokens in force.
func (f *File) Authenticate(token string) (*Principal, bool) {
	return f.tokens.Load().Authenticate(token)
}

// Reload reads the file again if its content changed; it tells whether the
// tokens changed.
func (f *File) Reload() (bool, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(raw)
	if sum == f.sum {
		return false, nil
	}
	t, err := parseFile(f.path, raw)
	if err != nil {
		return false, err
	}
	f.sum = sum
	f.tokens.Store(t)
	return true, nil
}

// Watch reloads the file every interval until ctx is done.
func (f *File) Watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed, err := f.Reload()
		switch {
		case err != nil:
			if err.Error() != lastErr {
				f.log.Error("tokens file not reloaded; the previous tokens stay in force", "error", err.Error())
			}
			lastErr = err.Error()
		case changed:
			lastErr = ""
			f.log.Info("tokens file reloaded", "path", f.path, "tokens", f.tokens.Load().Len())
		}
	}
}
