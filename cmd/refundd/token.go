package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/refundd/refundd/auth"
)

// scopeList collects repeated --scope flags (or space-separated scopes).
type scopeList []string

func (s *scopeList) String() string { return strings.Join(*s, " ") }
func (s *scopeList) Set(v string) error {
	*s = append(*s, strings.Fields(v)...)
	return nil
}

func tokenCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, "usage: refundd token new --name NAME --scope SCOPE [--scope SCOPE...]\n")
		return 2
	}
	fs := flag.NewFlagSet("refundd token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "what the token is for, such as checkout or support-ui (required)")
	var scopes scopeList
	fs.Var(&scopes, "scope", "a scope, repeatable: decide:<merchant>|decide:*, read:<merchant>|read:*, impact:<merchant>|impact:*, status, metrics")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: refundd token new --name NAME --scope SCOPE [--scope SCOPE...]\n\n"+
			"Prints a new random token, once, and the line to add to the tokens file\n(serve --tokens-file), which keeps only the token's SHA-256 digest.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	token, line, err := auth.New(*name, scopes)
	if err != nil {
		fmt.Fprintf(stderr, "refundd token new: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "token (shown once; give it to the caller, keep it secret):\n  %s\n\nline for the tokens file:\n%s\n", token, line)
	return 0
}
