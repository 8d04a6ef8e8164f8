package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/refundd/refundd/bundles"
)

const bundleUsage = `Usage:
  refundd bundle build [--policies DIR] [--out DIR] [--merchant ID] [--revision REV]
                       [--signing-key KEY [--signing-alg ALG] [--signing-key-id ID]]
  refundd bundle inspect FILE
  refundd bundle verify FILE --verification-key KEY [--verification-alg ALG] [--verification-key-id ID]
`

func bundleCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, bundleUsage)
		return 2
	}
	switch args[0] {
	case "build":
		return bundleBuild(args[1:], stdout, stderr)
	case "inspect":
		return bundleInspect(args[1:], stdout, stderr)
	case "verify":
		return bundleVerify(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, bundleUsage)
		return 0
	}
	fmt.Fprintf(stderr, "refundd bundle: unknown command %q\n\n%s", args[0], bundleUsage)
	return 2
}

func bundleBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd bundle build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policies := fs.String("policies", envOr("REFUNDD_POLICIES", "policies/"), "policy source tree")
	out := fs.String("out", "build/bundles", "directory the bundles are written to")
	merchant := fs.String("merchant", "", "build only this merchant's bundle")
	revision := fs.String("revision", "", "manifest revision (default: policies@<content hash>)")
	sign := signingFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	tree, err := bundles.LoadTree(*policies)
	if err != nil {
		return fail(stderr, "refundd bundle build", err)
	}
	ids := make([]string, 0, len(tree.Merchants))
	for id := range tree.Merchants {
		if *merchant == "" || id == *merchant {
			ids = append(ids, id)
		}
	}
	if lerr, ok := tree.Errors[*merchant]; ok {
		return fail(stderr, "refundd bundle build", lerr)
	}
	if *merchant != "" && len(ids) == 0 {
		return fail(stderr, "refundd bundle build", fmt.Errorf("no merchant %q in %s", *merchant, *policies))
	}
	var errs []error
	for id, err := range tree.Errors {
		if *merchant == "" {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, "refundd bundle build", err)
	}
	sort.Strings(ids)
	index := bundles.Index{}
	for _, id := range ids {
		b, err := bundles.Build(tree.Source(id), *revision, sign.signing())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		file := id + ".tar.gz"
		var buf bytes.Buffer
		if err := bundles.Write(&buf, b); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := bundles.WriteFileAtomically(filepath.Join(*out, file), buf.Bytes()); err != nil {
			errs = append(errs, err)
			continue
		}
		index.Bundles = append(index.Bundles, bundles.IndexEntry{Merchant: id, File: file, Revision: b.Manifest.Revision})
		fmt.Fprintf(stdout, "%s\t%s\n", filepath.Join(*out, file), b.Manifest.Revision)
	}
	if *merchant != "" {
		// One merchant rebuilt: the others keep their entries, so that a
		// server polling the index (--bundle-url) sees the new revision.
		index = mergeIndex(filepath.Join(*out, bundles.IndexFile), index)
	}
	// Written last: an HTTP source reads the index first.
	b, _ := json.MarshalIndent(index, "", "  ")
	if err := bundles.WriteFileAtomically(filepath.Join(*out, bundles.IndexFile), append(b, '\n')); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fail(stderr, "refundd bundle build", err)
	}
	return 0
}

// mergeIndex returns the index at path with built's entries put in place
// of the same merchants' (the index as built when there is none).
func mergeIndex(path string, built bundles.Index) bundles.Index {
	raw, err := os.ReadFile(path)
	var old bundles.Index
	if err != nil || json.Unmarshal(raw, &old) != nil {
		return built
	}
	byMerchant := map[string]bundles.IndexEntry{}
	for _, e := range old.Bundles {
		byMerchant[e.Merchant] = e
	}
	for _, e := range built.Bundles {
		byMerchant[e.Merchant] = e
	}
	merged := bundles.Index{}
	for _, e := range byMerchant {
		merged.Bundles = append(merged.Bundles, e)
	}
	sort.Slice(merged.Bundles, func(i, j int) bool { return merged.Bundles[i].Merchant < merged.Bundles[j].Merchant })
	return merged
}

func bundleInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd bundle inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: refundd bundle inspect FILE\n\nPrints a bundle's manifest, files and signature (unverified) as JSON.\n")
	}
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fail(stderr, "refundd bundle inspect", err)
	}
	info, err := bundles.Inspect(raw)
	if err != nil {
		return fail(stderr, "refundd bundle inspect", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(info)
	return 0
}

func bundleVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd bundle verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v := verificationFlags(fs)
	// The file may come before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if code, done := parse(fs, args); done {
		return code
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || *v.key == "" {
		fmt.Fprint(stderr, bundleUsage)
		return 2
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return fail(stderr, "refundd bundle verify", err)
	}
	src, err := bundles.Read(raw, file, v.verification())
	if err != nil {
		return fail(stderr, "refundd bundle verify", err)
	}
	fmt.Fprintf(stdout, "%s: signature valid, merchant %s, revision %s\n", file, src.Merchant, src.Revision)
	return 0
}

// keyFlags are a key, its algorithm and its key id, for signing or verifying.
type keyFlags struct{ key, alg, kid *string }

func newKeyFlags(fs *flag.FlagSet, use, keyHelp string) keyFlags {
	return keyFlags{
		key: fs.String(use+"-key", "", keyHelp),
		alg: fs.String(use+"-alg", "RS256", "signature algorithm: RS256, ES256, HS256..."),
		kid: fs.String(use+"-key-id", bundles.DefaultKeyID, "key id"),
	}
}

func signingFlags(fs *flag.FlagSet) keyFlags {
	return newKeyFlags(fs, "signing", "private key file (PEM), or the HS256 secret, to sign bundles with")
}

func verificationFlags(fs *flag.FlagSet) keyFlags {
	return newKeyFlags(fs, "verification", "public key file (PEM), or the HS256 secret, bundles must be signed with")
}

func (k keyFlags) signing() *bundles.Signing {
	if *k.key == "" {
		return nil
	}
	return &bundles.Signing{Key: *k.key, Algorithm: *k.alg, KeyID: *k.kid}
}

func (k keyFlags) verification() *bundles.Verification {
	if *k.key == "" {
		return nil
	}
	return &bundles.Verification{Key: *k.key, Algorithm: *k.alg, KeyID: *k.kid}
}

// parse parses flags; done tells the caller to return code.
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	return 0, false
}

func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	return 1
}
