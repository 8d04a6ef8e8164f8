package bundles_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/refundd/refundd/bundles"
	"github.com/refundd/refundd/tests"
)

func policies() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "policies")
}

func source(t *testing.T, id string) *bundles.Source {
	t.Helper()
	tree, err := bundles.LoadTree(policies())
	if err != nil {
		t.Fatal(err)
	}
	src := tree.Source(id)
	if src == nil {
		t.Fatalf("no merchant %s", id)
	}
	return src
}

func build(t *testing.T, src *bundles.Source, signing *bundles.Signing) []byte {
	return tests.BundleBytes(t, src, "", signing)
}

func TestRoundTrip(t *testing.T) {
	src := source(t, "crmjetty")
	got, err := bundles.Read(build(t, src, nil), "crmjetty.tar.gz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Merchant != "crmjetty" || got.Revision != src.Revision || got.ContentHash() != src.ContentHash() {
		t.Errorf("read back %s %s %s, want %s %s %s", got.Merchant, got.Revision, got.ContentHash(), src.Merchant, src.Revision, src.ContentHash())
	}
	if !reflect.DeepEqual(paths(got.Tests), paths(src.Tests)) || len(got.Tests) == 0 {
		t.Errorf("tests %v, want %v", paths(got.Tests), paths(src.Tests))
	}
	// The merchant's cases travel with it, for the compiled evaluator's
	// check at activation.
	if len(got.Cases) == 0 || len(got.Cases) != len(src.Cases) {
		t.Errorf("%d cases read back, %d built", len(got.Cases), len(src.Cases))
	}
	if !reflect.DeepEqual(got.Data, src.Data) {
		t.Errorf("data differs")
	}
}

func paths(ms []bundles.Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Path)
	}
	return out
}

func TestInspect(t *testing.T) {
	info, err := bundles.Inspect(build(t, source(t, "aomei"), &bundles.Signing{Key: "secret", Algorithm: "HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	if info.Manifest.Metadata["merchant"] != "aomei" || info.Signature == nil || info.Signature.KeyID != bundles.DefaultKeyID || info.Signature.Algorithm != "HS256" {
		t.Errorf("info %+v signature %+v", info.Manifest, info.Signature)
	}
	names := strings.Join(paths2(info.Files), " ")
	for _, want := range []string{".manifest", ".signatures.json", "data.json", "lib/dates/dates.rego", "merchants/aomei/policy.rego", "merchants/aomei/policy_test.rego"} {
		if !strings.Contains(names, want) {
			t.Errorf("files %s lack %s", names, want)
		}
	}
}

func paths2(fs []bundles.FileInfo) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func rsaKeys(t *testing.T) (private, public string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

func ecKeys(t *testing.T) (private, public string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := x509.MarshalECPrivateKey(k)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// tamper rewrites one file of a tar.gz bundle, leaving the signature alone.
func tamper(t *testing.T, raw []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.TrimPrefix(h.Name, "/") == name {
			body, found = edit(body), true
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("no %s in bundle", name)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func TestSignatures(t *testing.T) {
	src := source(t, "aomei")
	rsaPriv, rsaPub := rsaKeys(t)
	otherPriv, _ := rsaKeys(t)
	ecPriv, ecPub := ecKeys(t)
	rsaV := &bundles.Verification{Key: rsaPub, Algorithm: "RS256"}

	signed := build(t, src, &bundles.Signing{Key: rsaPriv, Algorithm: "RS256"})
	for _, tc := range []struct {
		name   string
		raw    []byte
		v      *bundles.Verification
		reject string // empty: accepted
	}{
		{"RS256", signed, rsaV, ""},
		{"ES256", build(t, src, &bundles.Signing{Key: ecPriv, Algorithm: "ES256"}), &bundles.Verification{Key: ecPub, Algorithm: "ES256"}, ""},
		{"HS256", build(t, src, &bundles.Signing{Key: "shared-secret", Algorithm: "HS256"}), &bundles.Verification{Key: "shared-secret", Algorithm: "HS256"}, ""},
		{"HS256 wrong secret", build(t, src, &bundles.Signing{Key: "guess", Algorithm: "HS256"}), &bundles.Verification{Key: "shared-secret", Algorithm: "HS256"}, "verif"},
		{"unsigned", build(t, src, nil), rsaV, "missing .signatures.json"},
		{"another key", build(t, src, &bundles.Signing{Key: otherPriv, Algorithm: "RS256"}), rsaV, "verif"},
		{"another key, claiming our key id", build(t, src, &bundles.Signing{Key: otherPriv, Algorithm: "RS256", KeyID: bundles.DefaultKeyID}), rsaV, "verif"},
		{"another key, its own key id", build(t, src, &bundles.Signing{Key: otherPriv, Algorithm: "RS256", KeyID: "attacker"}), rsaV, "verif"},
		{"tampered data", tamper(t, signed, "data.json", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"guarantee_days":90`), []byte(`"guarantee_days":900`), 1)
		}), rsaV, "digest mismatch"},
		{"tampered policy", tamper(t, signed, "merchants/aomei/policy.rego", func(b []byte) []byte {
			return append(b, []byte("\n# changed\n")...)
		}), rsaV, "digest mismatch"},
		{"verification without a key id still needs a signature", build(t, src, nil), &bundles.Verification{Key: rsaPub, Algorithm: "RS256", KeyID: ""}, "missing .signatures.json"},
		{"no verification configured", build(t, src, nil), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bundles.Read(tc.raw, "aomei.tar.gz", tc.v)
			switch {
			case tc.reject == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reject == "" && got.Merchant != "aomei":
				t.Fatalf("merchant %q", got.Merchant)
			case tc.reject != "" && err == nil:
				t.Fatal("accepted")
			case tc.reject != "" && !strings.Contains(err.Error(), tc.reject):
				t.Fatalf("refused with %v, want it to say %q", err, tc.reject)
			}
		})
	}
}

func TestSignatureWithoutKeyID(t *testing.T) {
	// A signature whose JWT carries no "kid" at all is checked against the
	// configured key: accepted when that key signed it, refused otherwise.
	src := source(t, "aomei")
	priv, pub := rsaKeys(t)
	other, _ := rsaKeys(t)
	for _, tc := range []struct {
		key    string
		accept bool
	}{{priv, true}, {other, false}} {
		bb, _ := bundles.Build(src, "", nil)
		if err := bb.GenerateSignature(signingConfig(tc.key), "", true); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := bundles.Write(&buf, bb); err != nil {
			t.Fatal(err)
		}
		info, err := bundles.Inspect(buf.Bytes())
		if err != nil || info.Signature == nil || info.Signature.KeyID != "" {
			t.Fatalf("want a signature without key id: %+v %v", info, err)
		}
		_, err = bundles.Read(buf.Bytes(), "aomei.tar.gz", &bundles.Verification{Key: pub, Algorithm: "RS256"})
		if (err == nil) != tc.accept {
			t.Errorf("accept %v, got err %v", tc.accept, err)
		}
	}
}

func TestReadRejectsForeignContent(t *testing.T) {
	src := source(t, "aomei")
	other := source(t, "saas_codes")
	mixed := *src
	mixed.Modules = append(append([]bundles.Module{}, src.Modules...), other.Modules...)
	_, err := bundles.Read(build(t, &mixed, nil), "mixed.tar.gz", nil)
	// OPA's roots check or refundd's own, whichever comes first.
	if err == nil || !strings.Contains(err.Error(), "saas_codes") {
		t.Errorf("two merchants in a bundle: %v", err)
	}
	if _, err := bundles.Read([]byte("not a bundle"), "junk.tar.gz", nil); err == nil {
		t.Error("junk accepted")
	}
}

func signingConfig(key string) *bundle.SigningConfig {
	return bundle.NewSigningConfig(key, "RS256", "")
}
