package bundles

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits bound what reading an untrusted bundle may cost, checked while the
// archive is streamed and before any file is kept whole in memory.
type Limits struct {
	// Bytes bounds the unpacked size of every file together.
	Bytes int64
	// Files bounds how many files the archive holds.
	Files int
	// DataValues bounds the JSON values (scalars, arrays and objects) of
	// every data file together: a small file of a huge array costs far more
	// memory once decoded than its size says.
	DataValues int
}

// DefaultLimits are the limits of a candidate bundle uploaded for impact
// analysis.
var DefaultLimits = Limits{Bytes: 32 << 20, Files: 1000, DataValues: 1_000_000}

// ErrLimit marks a bundle that exceeds a Limits bound.
var ErrLimit = errors.New("bundle exceeds a limit")

// CheckArchive streams a gzipped tar bundle and fails as soon as it exceeds
// l: its unpacked size, its file count or the JSON values of its data
// files. Nothing is buffered but one JSON token at a time.
func CheckArchive(raw []byte, l Limits) error {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var total int64
	files, values := 0, 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if files++; files > l.Files {
			return fmt.Errorf("%w: more than %d files", ErrLimit, l.Files)
		}
		if h.Size < 0 || total+h.Size > l.Bytes {
			return fmt.Errorf("%w: unpacks to more than %d bytes", ErrLimit, l.Bytes)
		}
		total += h.Size
		r := io.LimitReader(tr, h.Size)
		switch path.Base(h.Name) {
		case "data.json":
			n, err := countJSONValues(r, l.DataValues-values)
			if err != nil {
				return fmt.Errorf("bundle %s: %w", strings.TrimPrefix(h.Name, "/"), err)
			}
			values += n
		default:
			if _, err := io.Copy(io.Discard, r); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
		}
	}
}

// countJSONValues counts the values of a JSON stream, failing past max.
// Syntax is left to the bundle reader: a file that is not JSON stops the
// count where it breaks.
func countJSONValues(r io.Reader, max int) (int, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			_, _ = io.Copy(io.Discard, r)
			return n, nil
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			continue
		}
		if n++; n > max {
			return n, fmt.Errorf("%w: data holds more than the limit of JSON values", ErrLimit)
		}
	}
}
