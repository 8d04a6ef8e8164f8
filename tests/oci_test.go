package tests

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// TestOCIRegistry is the OCI shipping loop as an operator runs it: build
// signed bundles, push them to a registry on loopback, serve from it, then
// rebuild and push one merchant and see it go live while the others stay.
func TestOCIRegistry(t *testing.T) {
	cases := setup(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	repo := "oci://" + strings.TrimPrefix(reg.URL, "http://") + "/refundd/bundles"

	work := t.TempDir()
	private, public := writeKeys(t, work)
	out := filepath.Join(work, "bundles")
	run(t, binary, "bundle", "build", "--policies", PoliciesDir(), "--out", out, "--signing-key", private, "--revision", "oci-1")
	pushed := run(t, binary, "bundle", "push", "--from", out, repo)
	for _, id := range MerchantIDs() {
		if !strings.Contains(pushed, repo+":"+id+"\tsha256:") {
			t.Errorf("push output lacks %s:\n%s", id, pushed)
		}
	}

	base, _, logs := startServer(t, binary, "--bundle-url", repo, "--verification-key", public, "--poll-interval", "50ms")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()
	waitFor(t, "every merchant from the registry", func() bool {
		ms := merchantsOf(t, base)
		for _, id := range MerchantIDs() {
			if !ms[id].Active || ms[id].Revision != "oci-1" {
				return false
			}
		}
		return true
	})
	for _, c := range cases {
		resp, err := http.Post(base+"/v1/merchants/"+c.Merchant+"/decisions", "application/json", bytes.NewReader(c.Request))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/%s: %d %s", c.Merchant, c.Name, resp.StatusCode, body)
		}
		if got, err := Summarize(body); err != nil || !reflect.DeepEqual(got, c.Want) {
			t.Errorf("%s/%s: got %+v (%v), want %+v", c.Merchant, c.Name, got, err, c.Want)
		}
	}

	run(t, binary, "bundle", "build", "--policies", PoliciesDir(), "--out", out, "--signing-key", private, "--merchant", "crmjetty", "--revision", "oci-2")
	run(t, binary, "bundle", "push", "--from", out, "--merchant", "crmjetty", repo)
	waitFor(t, "crmjetty's new revision", func() bool { return merchantsOf(t, base)["crmjetty"].Revision == "oci-2" })
	for id, m := range merchantsOf(t, base) {
		if id != "crmjetty" && m.Revision != "oci-1" {
			t.Errorf("%s changed with crmjetty: %+v", id, m)
		}
	}
}
