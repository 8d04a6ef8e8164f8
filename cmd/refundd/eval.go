package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
)

// eval prints the decision merchant's policy gives for one request file,
// without a server: the policy author's loop.
func eval(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	merchant := fs.String("merchant", "", "merchant id (required)")
	policies := fs.String("policies", envOr("REFUNDD_POLICIES", "policies/"), "policy source tree (env REFUNDD_POLICIES)")
	lang := fs.String("lang", "en", "language of the messages: en or fr")
	explain := fs.Bool("explain", false, "list the policy rules that fired, with file and line")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: refundd eval --merchant ID [--policies DIR] [--lang en|fr] [--explain] FILE\n\n"+
			"FILE (\"-\" for standard input) holds a DecisionRequest, or a case file\n"+
			"{\"description\", \"request\", \"want\"}: then the decision is also checked against want.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *merchant == "" || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	body, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	body, want, err := unwrapCase(body)
	if err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	req, err := request.Decode(body)
	var verr *request.ValidationError
	if errors.As(err, &verr) {
		fmt.Fprintln(stderr, "refundd eval: invalid request:")
		for _, p := range verr.Problems {
			fmt.Fprintf(stderr, "  %s: %s\n", p.Field, p.Message(*lang))
		}
		return 1
	}
	tree, err := bundles.LoadTree(*policies)
	if err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	if src, ok := tree.Merchants[*merchant]; ok {
		// Compile only the merchant asked for.
		tree.Merchants = map[string]*bundles.Merchant{*merchant: src}
		tree.Errors = nil
	} else if lerr, ok := tree.Errors[*merchant]; ok {
		fmt.Fprintf(stderr, "refundd eval: %v\n", lerr)
		return 1
	}
	eng := engine.New(engine.Options{})
	if err := eng.LoadTree(context.Background(), tree); err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	d, err := eng.Decide(context.Background(), *merchant, req, engine.DecideOptions{Lang: *lang, Explain: *explain})
	if errors.Is(err, engine.ErrUnknownMerchant) {
		fmt.Fprintf(stderr, "refundd eval: unknown merchant %q in %s\n", *merchant, *policies)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		fmt.Fprintf(stderr, "refundd eval: %v\n", err)
		return 1
	}
	if want != nil {
		if got := d.Summary(); !reflect.DeepEqual(got, *want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			fmt.Fprintf(stderr, "refundd eval: the decision differs from the case's want\n  got  %s\n  want %s\n", g, w)
			return 1
		}
		fmt.Fprintln(stderr, "refundd eval: the decision matches the case's want")
	}
	return 0
}

// unwrapCase takes the request out of a case file (tests/cases/<merchant>/
// *.json: {"description", "request", "want"}) and returns the case's want;
// any other body is returned as it is, with no want.
func unwrapCase(body []byte) ([]byte, *engine.Summary, error) {
	var c struct {
		Request json.RawMessage `json:"request"`
		Want    *engine.Summary `json:"want"`
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top["request"] == nil || top["claim"] != nil || top["order"] != nil {
		return body, nil, nil
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, nil, fmt.Errorf("case file: %w", err)
	}
	return c.Request, c.Want, nil
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
