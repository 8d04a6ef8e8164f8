package auth_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/auth"
)

func TestScopes(t *testing.T) {
	tok, line, err := auth.New("checkout", []string{"decide:crmjetty", "read:*", "status"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "rfd_") || len(tok) < 40 || strings.Contains(line, tok) {
		t.Fatalf("token %q, line %q: the line must hold the digest, never the token", tok, line)
	}
	other, otherLine, _ := auth.New("other", []string{"metrics"})
	tokens, err := auth.Parse(strings.NewReader("# comment\n\n" + line + "\n" + otherLine + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tokens.Authenticate(tok)
	if !ok || p.Name != "checkout" {
		t.Fatalf("token not authenticated: %v %v", p, ok)
	}
	for _, tc := range []struct {
		kind, merchant string
		want           bool
	}{
		{auth.Decide, "crmjetty", true}, {auth.Decide, "aomei", false}, {auth.Read, "aomei", true},
		{auth.Impact, "crmjetty", false}, {auth.Status, "", true}, {auth.Metrics, "", false},
	} {
		if got := p.Allows(tc.kind, tc.merchant); got != tc.want {
			t.Errorf("Allows(%s, %q) = %v, want %v", tc.kind, tc.merchant, got, tc.want)
		}
	}
	if ids, all := p.Merchants(auth.Read); !all || ids != nil {
		t.Errorf("read:* gives %v %v", ids, all)
	}
	if ids, all := p.Merchants(auth.Decide); all || len(ids) != 1 || ids[0] != "crmjetty" {
		t.Errorf("decide merchants %v %v", ids, all)
	}
	if q, ok := tokens.Authenticate(other); !ok || q.Allows(auth.Decide, "crmjetty") || !q.Allows(auth.Metrics, "") {
		t.Errorf("other token: %v %v", q, ok)
	}
	for _, bad := range []string{"", tok + "x", strings.TrimPrefix(tok, "rfd_")} {
		if _, ok := tokens.Authenticate(bad); ok {
			t.Errorf("%q authenticated", bad)
		}
	}
}

func TestBadFilesAreRefusedWithEveryProblem(t *testing.T) {
	_, good, _ := auth.New("a", []string{"status"})
	digest := strings.Fields(good)[1]
	_, err := auth.Parse(strings.NewReader(strings.Join([]string{
		"a " + digest + " status",
		"b sha256:1234 status",
		"c " + digest + " status",
		"a sha256:" + strings.Repeat("0", 64) + " decide",
		"d sha256:" + strings.Repeat("1", 64) + " admin",
		"e sha256:" + strings.Repeat("2", 64) + " status:x",
		"f sha256:" + strings.Repeat("3", 64),
	}, "\n")))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"line 2", "line 3: the same token digest", "line 4", "line 5", "line 6", "line 7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, scopes := range [][]string{nil, {"decide"}, {"read:Bad-Id"}} {
		if _, _, err := auth.New("x", scopes); err == nil {
			t.Errorf("New with scopes %q accepted", scopes)
		}
	}
}

func TestFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	first, line1, _ := auth.New("first", []string{"status"})
	second, line2, _ := auth.New("second", []string{"status"})
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(line1 + "\n")
	f, err := auth.OpenFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Authenticate(first); !ok {
		t.Fatal("first token refused")
	}
	write(line2 + "\n")
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if _, ok := f.Authenticate(first); ok {
		t.Error("a removed token still works")
	}
	if _, ok := f.Authenticate(second); !ok {
		t.Error("an added token does not work")
	}
	write("garbage\n")
	if _, err := f.Reload(); err == nil {
		t.Error("a broken file reloaded")
	}
	if _, ok := f.Authenticate(second); !ok {
		t.Error("a broken file dropped the tokens in force")
	}
	if changed, err := f.Reload(); changed || err == nil {
		t.Errorf("second reload of the broken file: %v %v", changed, err)
	}
}
