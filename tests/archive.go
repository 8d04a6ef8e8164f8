package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/refundd/refundd/bundles"
)

// Entry is one file of a hand-made bundle archive: Size bytes read from R.
type Entry struct {
	Name string
	Size int64
	R    io.Reader
}

// ZeroEntry is a file of size zero bytes: the stuff of compression bombs.
func ZeroEntry(name string, size int64) Entry {
	return Entry{name, size, io.LimitReader(zeroes{}, size)}
}

// TextEntry is a file holding s.
func TextEntry(name, s string) Entry { return Entry{name, int64(len(s)), strings.NewReader(s)} }

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TarGz streams entries into a gzipped tar: a bomb costs its packed size.
func TarGz(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: 0o644, Size: e.Size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, e.R); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// BundleBytes builds src as a bundle file, signed when signing is set.
func BundleBytes(t testing.TB, src *bundles.Source, revision string, signing *bundles.Signing) []byte {
	t.Helper()
	b, err := bundles.Build(src, revision, signing)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bundles.Write(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
