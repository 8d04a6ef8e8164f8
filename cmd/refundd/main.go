// Command refundd serves refund decisions from merchants' Rego policies.
//
//	refundd serve [flags]                          serve the decision API
//	refundd eval --merchant ID [--policies DIR] FILE   print one decision
//	refundd bundle build|inspect|verify ...           policy bundles
//	refundd replay --merchant ID --candidate PATH      impact of a candidate policy
//	refundd token new --name N --scope S...            a new API token
//	refundd merchant new ID                            scaffold a merchant
//	refundd version                                    what this binary is
package main

import (
	"fmt"
	"io"
	"os"

	_ "time/tzdata" // merchants' time zones resolve on hosts without a zoneinfo database
)

const usage = `refundd: refund decisions from merchants' Rego policies

Usage:
  refundd serve [flags]                               serve the decision API
  refundd eval --merchant ID [--policies DIR] FILE    print the decision for one request
                                                      (FILE "-" reads standard input)
  refundd bundle build|inspect|verify ...             build, inspect and verify policy bundles
  refundd replay --merchant ID --candidate PATH       what a candidate policy would change in
                                                      the logged decisions
  refundd token new --name NAME --scope SCOPE...      a new API token and its tokens-file line
  refundd merchant new ID                             scaffold a merchant: policy, data, tests, cases, texts
  refundd docs                                        the merchants' rules from their METADATA (docs/merchants.md)
  refundd version                                     the version, commit, Go and OPA versions

Run "refundd serve -h", "refundd eval -h", "refundd replay -h" or "refundd bundle" for their flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "eval":
		return eval(args[1:], stdin, stdout, stderr)
	case "bundle":
		return bundleCmd(args[1:], stdout, stderr)
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	case "token":
		return tokenCmd(args[1:], stdout, stderr)
	case "merchant":
		return merchantCmd(args[1:], stdout, stderr)
	case "docs":
		return docsCmd(args[1:], stdout, stderr)
	case "version", "--version":
		return versionCmd(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "refundd: unknown command %q\n\n%s", args[0], usage)
	return 2
}
