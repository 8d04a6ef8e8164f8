package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/refundd/refundd/bundles"
)

// TestMerchantDocsAreUpToDate: docs/merchants.md is what the policies'
// METADATA says now; `make docs` rewrites it.
func TestMerchantDocsAreUpToDate(t *testing.T) {
	tree, err := bundles.LoadTree(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeMerchantDocs(&buf, tree); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "..", "docs", "merchants.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Error("docs/merchants.md is out of date with the policies' METADATA: run make docs")
	}
}
