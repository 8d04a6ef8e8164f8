package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
)

// docsCmd prints docs/merchants.md: each merchant's rules as its policy's
// METADATA states them, its parameters, codes and floor settings, so the
// description cannot drift from the Rego (make docs writes it, make test
// checks it is up to date).
func docsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd docs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policies := fs.String("policies", envOr("REFUNDD_POLICIES", "policies/"), "policy source tree")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: refundd docs [--policies DIR] > docs/merchants.md\n\nPrints every merchant's rules from its policy's METADATA, with its parameters and codes.\n")
		fs.PrintDefaults()
	}
	if code, done := parse(fs, args); done {
		return code
	}
	tree, err := bundles.LoadTree(*policies)
	if err != nil {
		return fail(stderr, "refundd docs", err)
	}
	if err := writeMerchantDocs(stdout, tree); err != nil {
		return fail(stderr, "refundd docs", err)
	}
	return 0
}

func writeMerchantDocs(w io.Writer, tree *bundles.Tree) error {
	var errs []error
	ids := make([]string, 0, len(tree.Merchants))
	for id := range tree.Merchants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	en, _ := tree.Messages["en"].(map[string]any)
	fmt.Fprint(w, "# The merchants' rules\n\n"+
		"Generated from each policy's METADATA by `make docs` (`refundd docs`); `make test`\n"+
		"fails when it is out of date. The policies under `policies/merchants/<id>/` are the\n"+
		"rules; this page says what they decide, in their own words.\n\n")
	for _, id := range ids {
		fmt.Fprintf(w, "- [%s](#%s)\n", id, id)
	}
	for _, id := range ids {
		src := tree.Source(id)
		fmt.Fprintf(w, "\n## %s\n\n", id)
		var rules []string
		for _, m := range src.Modules {
			for _, a := range m.Parsed.Annotations {
				switch a.Scope {
				case "package":
					if a.Description == "" {
						errs = append(errs, fmt.Errorf("%s: the package has no METADATA description", m.Path))
					}
					fmt.Fprintf(w, "%s\n", strings.TrimSpace(a.Description))
				case "rule", "document":
					name := a.GetTargetPath()[len(a.GetTargetPath())-1].Value
					entry := ""
					if a.Entrypoint {
						entry = " (entrypoint)"
					}
					rules = append(rules, fmt.Sprintf("- `%v`%s: %s", strings.Trim(name.String(), `"`), entry, indented(a.Description)))
				}
			}
		}
		if len(rules) > 0 {
			fmt.Fprintf(w, "\n### Rules\n\n%s\n", strings.Join(rules, "\n"))
		}
		if params, ok := src.Data["params"]; ok {
			b, _ := json.MarshalIndent(params, "", "  ")
			fmt.Fprintf(w, "\n### Parameters\n\n`data.merchants.%s.params`:\n\n```json\n%s\n```\n", id, b)
		}
		codes := engine.Codes(src)
		if len(codes) > 0 {
			fmt.Fprint(w, "\n### Codes it names\n\n| code | text |\n|---|---|\n")
			for _, c := range codes {
				fmt.Fprintf(w, "| `%s` | %v |\n", c, en[c])
			}
		}
		if f, ok := src.Data["floor"].(map[string]any); ok {
			b, _ := json.Marshal(f)
			fmt.Fprintf(w, "\n### Statutory floor\n\n`%s` (see [statutory-floor.md](statutory-floor.md))\n", b)
		}
		if dl, ok := src.Data["decision_log"]; ok {
			b, _ := json.Marshal(dl)
			fmt.Fprintf(w, "\n### Decision log\n\n`%s` (see [decision-log.md](decision-log.md))\n", b)
		}
	}
	return errors.Join(errs...)
}

// indented keeps a description's lines (its lists stay lists) under a
// list item.
func indented(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			lines[i] = "  " + strings.TrimSpace(lines[i])
		}
	}
	return strings.Join(lines, "\n")
}
