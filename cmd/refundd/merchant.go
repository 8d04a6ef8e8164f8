package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/refundd/refundd/bundles"
)

//go:embed scaffold
var scaffold embed.FS

// merchantCmd scaffolds a new merchant: its policy, data and Rego tests
// (which pass), three case files and the texts of its own code.
func merchantCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, "usage: refundd merchant new ID [--policies DIR] [--cases DIR] [--currency CUR] [--refund-days N]\n")
		return 2
	}
	fs := flag.NewFlagSet("refundd merchant new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policies := fs.String("policies", envOr("REFUNDD_POLICIES", "policies/"), "policy source tree")
	cases := fs.String("cases", "tests/cases", "directory of the case files (one folder per merchant)")
	currency := fs.String("currency", "EUR", "the currency of the example claims")
	days := fs.Int("refund-days", 30, "the refund window of the starting policy, in days")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: refundd merchant new ID [flags]\n\n"+
			"Creates policies/merchants/ID/ (policy.rego, data.json, policy_test.rego), three case\n"+
			"files under tests/cases/ID/ and the texts of the merchant's own code in\n"+
			"policies/messages/data.json: a working starting point that make test accepts.\n\n")
		fs.PrintDefaults()
	}
	// The id may come before or after the flags.
	var id string
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		id, args = args[1], args[2:]
	} else {
		args = args[1:]
	}
	if code, done := parse(fs, args); done {
		return code
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" || fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	if err := newMerchant(id, *policies, *cases, *currency, *days, stdout); err != nil {
		return fail(stderr, "refundd merchant new", err)
	}
	return 0
}

func newMerchant(id, policies, cases, currency string, days int, stdout io.Writer) error {
	if !bundles.MerchantIDPattern.MatchString(id) {
		return fmt.Errorf("id %q: snake_case, a letter first (%s)", id, bundles.MerchantIDPattern)
	}
	if len(currency) != 3 || strings.ToUpper(currency) != currency {
		return fmt.Errorf("currency %q: an ISO 4217 code such as EUR", currency)
	}
	if days < 1 || days > 3650 {
		return fmt.Errorf("refund-days %d: from 1 to 3650", days)
	}
	merchantDir := filepath.Join(policies, "merchants", id)
	caseDir := filepath.Join(cases, id)
	for _, dir := range []string{merchantDir, caseDir} {
		if _, err := os.Stat(dir); err == nil {
			return fmt.Errorf("%s exists already", dir)
		}
	}
	catalog := filepath.Join(policies, "messages", "data.json")
	vars := map[string]any{"ID": id, "Currency": currency, "Days": days, "Code": id + "_refund_window"}
	texts := map[string]string{
		"en": fmt.Sprintf("The claim came within the %d-day refund period: the purchase is refunded, taxes excepted.", days),
		"fr": fmt.Sprintf("La demande est arrivée dans le délai de remboursement de %d jours : l'achat est remboursé, taxes exceptées.", days),
	}
	raw, err := os.ReadFile(catalog)
	if err != nil {
		return err
	}
	updated, err := addTexts(raw, vars["Code"].(string), texts)
	if err != nil {
		return fmt.Errorf("%s: %w", catalog, err)
	}
	var written []string
	err = fs.WalkDir(scaffold, "scaffold", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(path, "scaffold/"), ".tmpl")
		dst := filepath.Join(merchantDir, rel)
		if dir, file := filepath.Split(rel); dir == "cases/" {
			dst = filepath.Join(caseDir, file)
		}
		tmpl, err := template.ParseFS(scaffold, path)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, vars); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		written = append(written, dst)
		return os.WriteFile(dst, buf.Bytes(), 0o644)
	})
	if err == nil {
		err = bundles.WriteFileAtomically(catalog, updated)
	}
	if err != nil {
		for _, f := range written {
			os.Remove(f)
		}
		os.Remove(merchantDir)
		os.Remove(caseDir)
		return err
	}
	fmt.Fprintf(stdout, "created merchant %s:\n", id)
	for _, f := range written {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintf(stdout, "  %s: texts of %s (en, fr)\n\nNext: edit the policy and its tests, then `make test`.\n", catalog, vars["Code"])
	return nil
}

// addTexts puts code's text at the end of each language of the message
// catalog, leaving the rest of the file as it is.
func addTexts(catalog []byte, code string, texts map[string]string) ([]byte, error) {
	out := string(catalog)
	for _, lang := range []string{"en", "fr"} {
		start := strings.Index(out, fmt.Sprintf("%q: {", lang))
		if start < 0 {
			return nil, fmt.Errorf("no %q object", lang)
		}
		end := strings.Index(out[start:], "\n  }")
		if end < 0 {
			return nil, fmt.Errorf("the %q object does not end with a line \"  }\"", lang)
		}
		end += start
		if strings.Contains(out[start:end], fmt.Sprintf("%q:", code)) {
			return nil, fmt.Errorf("code %q has a text already", code)
		}
		line := fmt.Sprintf(",\n    %q: %s", code, jsonString(texts[lang]))
		out = out[:end] + line + out[end:]
	}
	if !json.Valid([]byte(out)) {
		return nil, errors.New("the catalog would not be valid JSON")
	}
	return []byte(out), nil
}

func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSpace(buf.String())
}
