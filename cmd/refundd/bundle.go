package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/refundd/refundd/bundles"
)

const bundleUsage = `Usage:
  refundd bundle build [--policies DIR] [--out DIR] [--merchant ID] [--revision REV]
                       [--signing-key KEY [--signing-alg ALG] [--signing-key-id ID]]
  refundd bundle push [--from DIR] [--merchant ID] [--service-config FILE] oci://HOST[:PORT]/REPOSITORY
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
	case "push":
		return bundlePush(args[1:], stdout, stderr)
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

// bundlePush publishes built bundles to an OCI registry, one tag per
// merchant, where `refundd serve --bundle-url oci://...` finds them.
func bundlePush(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd bundle push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: refundd bundle push [flags] oci://HOST[:PORT]/REPOSITORY\n\n"+
			"Pushes the bundles of --from (as bundle build wrote them, index.json listing them) to an OCI\n"+
			"registry, each merchant's bundle under a tag named after the merchant. A registry on a\n"+
			"loopback address is reached over plain HTTP, any other over HTTPS.\n\n")
		fs.PrintDefaults()
	}
	from := fs.String("from", "build/bundles", "directory of built bundles (with its index.json)")
	merchant := fs.String("merchant", "", "push only this merchant's bundle")
	service := fs.String("service-config", "", "OPA service configuration (JSON or YAML) with the registry's credentials, as serve's --bundle-service-config")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	raw, err := os.ReadFile(filepath.Join(*from, bundles.IndexFile))
	if err != nil {
		return fail(stderr, "refundd bundle push", fmt.Errorf("%w (run refundd bundle build first)", err))
	}
	var index bundles.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		return fail(stderr, "refundd bundle push", fmt.Errorf("%s: %w", bundles.IndexFile, err))
	}
	built := map[string][]byte{}
	for _, e := range index.Bundles {
		if *merchant != "" && e.Merchant != *merchant {
			continue
		}
		b, err := os.ReadFile(filepath.Join(*from, filepath.Base(e.File)))
		if err != nil {
			return fail(stderr, "refundd bundle push", err)
		}
		built[e.Merchant] = b
	}
	if len(built) == 0 {
		return fail(stderr, "refundd bundle push", fmt.Errorf("no bundle to push in %s", *from))
	}
	var conf []byte
	if *service != "" {
		if conf, err = os.ReadFile(*service); err != nil {
			return fail(stderr, "refundd bundle push", err)
		}
	}
	digests, err := bundles.Push(context.Background(), fs.Arg(0), conf, built)
	for _, m := range slices.Sorted(maps.Keys(digests)) {
		fmt.Fprintf(stdout, "%s:%s\t%s\n", strings.TrimSuffix(fs.Arg(0), "/"), m, digests[m])
	}
	if err != nil {
		return fail(stderr, "refundd bundle push", err)
	}
	return 0
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
