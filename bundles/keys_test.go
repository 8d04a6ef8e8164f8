package bundles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyMaterial(t *testing.T) {
	// PEM text whose base64 holds a run of more than 255 bytes without a
	// "/": as a path, too long a name for stat.
	pem := "-----BEGIN PUBLIC KEY-----\n" + strings.Repeat("A", 300) + "/B\n-----END PUBLIC KEY-----\n"
	if got, err := keyMaterial(pem, "RS256"); err != nil || got != pem {
		t.Errorf("inline PEM: %q, %v", got, err)
	}
	file := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(file, []byte(pem), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := keyMaterial(file, "ES256"); err != nil || got != pem {
		t.Errorf("key file: %q, %v", got, err)
	}
	if got, err := keyMaterial("s3cret", "HS256"); err != nil || got != "s3cret" {
		t.Errorf("inline HS256 secret: %q, %v", got, err)
	}
	if _, err := keyMaterial("/no/such/key.pub", "RS256"); err == nil {
		t.Error("a missing public key file was taken as the key itself")
	}
}
