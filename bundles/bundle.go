package bundles

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"
)

// MaxBundleBytes bounds what a bundle may unpack to.
const MaxBundleBytes = 64 << 20

// Signing is how bundles are signed: a private key (PEM) or, for HS256, a
// shared secret, its algorithm, and the key id put in the signature.
type Signing struct {
	Key       string // a file path or the key itself
	Algorithm string // RS256, ES256, HS256...
	KeyID     string
}

// Verification is how bundles are verified. KeyID is always set in OPA's
// verification config, so a signature cannot pick another key through its
// own "kid" header.
type Verification struct {
	Key       string // a file path or the key itself (public key, or HS256 secret)
	Algorithm string
	KeyID     string
}

// DefaultKeyID is the key id used when none is given.
const DefaultKeyID = "refundd"

func (v *Verification) config() (*bundle.VerificationConfig, error) {
	if v == nil {
		return nil, nil
	}
	if v.Key == "" {
		return nil, errors.New("verification key is empty")
	}
	kid, alg := keyDefaults(v.KeyID, v.Algorithm)
	material, err := keyMaterial(v.Key, alg)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	kc := &keys.Config{Key: material, Algorithm: alg}
	return bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{kid: kc}, kid, "", nil), nil
}

// keyMaterial resolves a key given as PEM text, as a file, or, for the HS*
// algorithms, as the shared secret itself. (OPA's own helper guesses by
// calling stat on the value, which fails on PEM text whose lines make a
// path component longer than the system allows.)
func keyMaterial(key, alg string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		return key, nil
	}
	b, err := os.ReadFile(key)
	if err == nil {
		return string(b), nil
	}
	if strings.HasPrefix(alg, "HS") {
		return key, nil // a shared secret given inline
	}
	return "", err
}

// keyDefaults fills in the default key id and algorithm.
func keyDefaults(kid, alg string) (string, string) {
	if kid == "" {
		kid = DefaultKeyID
	}
	if alg == "" {
		alg = "RS256"
	}
	return kid, alg
}

// Roots are the paths a merchant's bundle owns, in OPA's manifest form.
func Roots(merchant string) []string {
	return []string{
		"refunds/lib",
		"refunds/floor",
		"refunds/floor_test",
		"refunds/testing",
		"refunds/merchants/" + merchant,
		"refunds/merchants/" + merchant + "_test",
		"merchants/" + merchant,
		"messages",
		"floor",
		"cases/" + merchant,
	}
}

// Build makes merchant's bundle from src: the shared lib, the merchant's
// modules, data and tests, and the catalog, in OPA's bundle format. The
// revision is src.Revision unless revision is set. With signing, the bundle
// carries a .signatures.json.
func Build(src *Source, revision string, signing *Signing) (*bundle.Bundle, error) {
	if revision == "" {
		revision = src.Revision
	}
	v1 := 1
	roots := Roots(src.Merchant)
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{
			Revision:    revision,
			Roots:       &roots,
			RegoVersion: &v1,
			Metadata:    map[string]any{"merchant": src.Merchant, "content": src.ContentHash()},
		},
		Data: map[string]any{
			"merchants": map[string]any{src.Merchant: src.Data},
			"messages":  src.Messages,
		},
	}
	if len(src.Floor) > 0 {
		b.Data["floor"] = src.Floor
	}
	if len(src.Cases) > 0 {
		b.Data["cases"] = map[string]any{src.Merchant: src.Cases}
	}
	for _, group := range [][]Module{src.Lib, src.Modules, src.Tests} {
		for _, m := range group {
			b.Modules = append(b.Modules, bundle.ModuleFile{URL: "/" + m.Path, Path: "/" + m.Path, Raw: m.Raw, Parsed: m.Parsed})
		}
	}
	if signing != nil {
		kid, alg := keyDefaults(signing.KeyID, signing.Algorithm)
		if err := b.GenerateSignature(bundle.NewSigningConfig(signing.Key, alg, ""), kid, true); err != nil {
			return nil, fmt.Errorf("sign %s: %w", src.Merchant, err)
		}
	}
	return b, nil
}

// Write writes b as a tar.gz bundle, modules exactly as signed.
func Write(w io.Writer, b *bundle.Bundle) error {
	return bundle.NewWriter(w).UseModulePath(true).DisableFormat(true).Write(*b)
}

// Read reads one merchant's bundle. With v, the bundle must carry a valid
// signature by v's key over every file. origin names where it came from.
func Read(raw []byte, origin string, v *Verification) (*Source, error) {
	vc, err := v.config()
	if err != nil {
		return nil, err
	}
	r := bundle.NewReader(bytes.NewReader(raw)).
		WithProcessAnnotations(true).
		WithRegoVersion(ast.RegoV1).
		WithSizeLimitBytes(MaxBundleBytes)
	if vc != nil {
		r = r.WithBundleVerificationConfig(vc)
	}
	b, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", origin, err)
	}
	if b.Type() == bundle.DeltaBundleType {
		return nil, fmt.Errorf("bundle %s: delta bundles are not supported", origin)
	}
	src, err := fromBundle(&b)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", origin, err)
	}
	src.Origin = origin
	if src.Revision == "" {
		sum := sha256.Sum256(raw)
		src.Revision = "bundle@" + hex.EncodeToString(sum[:])[:7]
	}
	return src, nil
}

// fromBundle sorts a bundle's files into a Source: modules under lib/,
// testing/ and merchants/<id>/ for exactly one merchant id.
func fromBundle(b *bundle.Bundle) (*Source, error) {
	src := &Source{Revision: b.Manifest.Revision}
	ids := map[string]bool{}
	for _, f := range b.Modules {
		path := strings.TrimPrefix(f.Path, "/")
		m := Module{Path: path, Parsed: f.Parsed, Raw: f.Raw}
		test := strings.HasSuffix(path, "_test.rego")
		switch {
		case strings.HasPrefix(path, "lib/") && test, strings.HasPrefix(path, "testing/"):
			src.Tests = append(src.Tests, m)
		case strings.HasPrefix(path, "floor/") && test:
			src.Tests = append(src.Tests, m)
		case strings.HasPrefix(path, "lib/"), strings.HasPrefix(path, "floor/"):
			src.Lib = append(src.Lib, m)
		case strings.HasPrefix(path, "merchants/"):
			id, _, _ := strings.Cut(strings.TrimPrefix(path, "merchants/"), "/")
			ids[id] = true
			if test {
				src.Tests = append(src.Tests, m)
			} else {
				src.Modules = append(src.Modules, m)
			}
		default:
			return nil, fmt.Errorf("%s: a bundle holds lib/, testing/ and merchants/<id>/ only", path)
		}
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("a bundle holds exactly one merchant, found %d", len(ids))
	}
	for id := range ids {
		src.Merchant = id
	}
	if meta, ok := b.Manifest.Metadata["merchant"].(string); ok && meta != src.Merchant {
		return nil, fmt.Errorf("manifest names merchant %q but the policy is %q's", meta, src.Merchant)
	}
	if len(src.Lib) == 0 {
		return nil, errors.New("no lib modules")
	}
	for key := range b.Data {
		if key != "merchants" && key != "messages" && key != "floor" && key != "cases" {
			return nil, fmt.Errorf("data.%s: a bundle's data is merchants.<id>, messages, floor and cases.<id> only", key)
		}
	}
	merchants, _ := b.Data["merchants"].(map[string]any)
	for id := range merchants {
		if id != src.Merchant {
			return nil, fmt.Errorf("data.merchants.%s: not this bundle's merchant (%s)", id, src.Merchant)
		}
	}
	src.Data, _ = merchants[src.Merchant].(map[string]any)
	if src.Data == nil {
		src.Data = map[string]any{}
	}
	src.Messages, _ = b.Data["messages"].(map[string]any)
	src.Floor, _ = b.Data["floor"].(map[string]any)
	cases, _ := b.Data["cases"].(map[string]any)
	for id := range cases {
		if id != src.Merchant {
			return nil, fmt.Errorf("data.cases.%s: not this bundle's merchant (%s)", id, src.Merchant)
		}
	}
	src.Cases, _ = cases[src.Merchant].(map[string]any)
	for _, ms := range [][]Module{src.Lib, src.Modules, src.Tests} {
		sortModules(ms)
	}
	return src, nil
}

// Info describes a bundle file for `refundd bundle inspect`.
type Info struct {
	Manifest  bundle.Manifest `json:"manifest"`
	Files     []FileInfo      `json:"files"`
	Signature *SignatureInfo  `json:"signature,omitempty"`
}

// FileInfo is one file of a bundle.
type FileInfo struct {
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
}

// SignatureInfo is what a bundle's signature says, unverified.
type SignatureInfo struct {
	KeyID     string   `json:"key_id,omitempty"`
	Algorithm string   `json:"algorithm,omitempty"`
	Files     []string `json:"files"`
}

// Inspect reads a bundle without verifying it and describes it.
func Inspect(raw []byte) (*Info, error) {
	b, err := bundle.NewReader(bytes.NewReader(raw)).WithSkipBundleVerification(true).
		WithRegoVersion(ast.RegoV1).WithSizeLimitBytes(MaxBundleBytes).Read()
	if err != nil {
		return nil, err
	}
	info := &Info{Manifest: b.Manifest}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "/")
		info.Files = append(info.Files, FileInfo{Path: name, Bytes: int(h.Size)})
		if name == ".signatures.json" {
			var sigs bundle.SignaturesConfig
			if err := json.NewDecoder(tr).Decode(&sigs); err != nil {
				return nil, fmt.Errorf(".signatures.json: %w", err)
			}
			if len(sigs.Signatures) > 0 {
				if info.Signature, err = decodeSignature(sigs.Signatures[0]); err != nil {
					return nil, err
				}
			}
		}
	}
	sort.Slice(info.Files, func(i, j int) bool { return info.Files[i].Path < info.Files[j].Path })
	return info, nil
}

// decodeSignature reads a signature's JWT header and claims, unverified.
func decodeSignature(token string) (*SignatureInfo, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("signature is not a compact JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Files []struct {
			Name string `json:"name"`
		} `json:"files"`
		KeyID string `json:"keyid"`
	}
	for i, dst := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
	}
	si := &SignatureInfo{KeyID: hdr.Kid, Algorithm: hdr.Alg}
	if si.KeyID == "" {
		si.KeyID = claims.KeyID
	}
	for _, f := range claims.Files {
		si.Files = append(si.Files, f.Name)
	}
	return si, nil
}
