package decisionlog

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// HashKeyFile is the name of the hash key generated in the data directory
// when none is given.
const HashKeyFile = "log-hash.key"

// minKeyBytes is the shortest hash key accepted: 256 bits.
const minKeyBytes = 32

// LoadHashKey reads the key that hashes identifiers in records. When path
// does not exist and create is true, a random 256-bit key is written there
// (mode 0600) and used from then on: records hash alike across restarts.
func LoadHashKey(path string, create bool) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return createHashKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	key := bytes.TrimSpace(raw)
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("log hash key %s: %d bytes, want at least %d (e.g. 64 hex digits from `openssl rand -hex 32`)", path, len(key), minKeyBytes)
	}
	return key, nil
}

func createHashKey(path string) ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	key := []byte(hex.EncodeToString(b[:]))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadHashKey(path, false) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	if _, err := f.Write(append(key, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("log hash key: %w", err)
	}
	return key, f.Close()
}
