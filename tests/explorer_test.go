package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifactsDir is where the browser test leaves its screenshots:
// $REFUNDD_TEST_ARTIFACTS, else build/test-artifacts/explorer.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("REFUNDD_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(Dir(), "..", "build", "test-artifacts")
	}
	dir = filepath.Join(dir, "explorer")
	if err := os.RemoveAll(dir); err != nil { // no screenshot of an earlier run
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser finds headless Chromium; without one the test is skipped, unless
// REFUNDD_REQUIRE_BROWSER is set (CI), where it fails.
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("REFUNDD_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium on PATH (REFUNDD_REQUIRE_BROWSER is set): apt-get install chromium")
	}
	t.Skip("no Chromium on PATH: apt-get install chromium (or set REFUNDD_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// TestExplorerInBrowser drives the decision explorer in headless Chromium
// against the real server with tokens on: the token prompt, the list, a
// crmjetty decision with its withheld tax line and its reasons in English
// and then French, a trial of that claim, and an impact upload. Screenshots
// are saved along the way.
func TestExplorerInBrowser(t *testing.T) {
	cases := setup(t)
	chrome := browser(t)
	shots := artifactsDir(t)
	file, tok := tokens(t, map[string][]string{
		"support":  {"status", "read:*", "impact:*"},
		"checkout": {"decide:*"},
	})
	base, _, logs := startServer(t, binary, "--policies", PoliciesDir(), "--data-dir", t.TempDir(), "--tokens-file", file)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}()

	// Decisions to explore: every shared case, through the API.
	var withTax string // the crmjetty decision with a withheld tax line
	for _, c := range cases {
		status, _, body := call(t, http.DefaultClient, "POST", base+"/v1/merchants/"+c.Merchant+"/decisions", tok["checkout"], "application/json", c.Request)
		if status != 200 {
			t.Fatalf("%s/%s: %d %s", c.Merchant, c.Name, status, body)
		}
		if c.Merchant == "crmjetty" && strings.HasPrefix(c.Name, "03_") {
			var d struct {
				DecisionID string `json:"decision_id"`
			}
			_ = json.Unmarshal(body, &d)
			withTax = d.DecisionID
		}
	}
	if withTax == "" {
		t.Fatal("no crmjetty case 03 (renewal refunded, tax withheld)")
	}

	// A candidate for crmjetty: four business days for renewals instead of five.
	tree := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(tree, os.DirFS(PoliciesDir())); err != nil {
		t.Fatal(err)
	}
	dataFile := filepath.Join(tree, "merchants", "crmjetty", "data.json")
	raw, _ := os.ReadFile(dataFile)
	edited := strings.Replace(string(raw), `"renewal_business_days": 5`, `"renewal_business_days": 4`, 1)
	if edited == string(raw) {
		t.Fatal("crmjetty's data has no renewal_business_days of 5 to change")
	}
	if err := os.WriteFile(dataFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundles")
	run(t, binary, "bundle", "build", "--policies", tree, "--out", out, "--merchant", "crmjetty", "--revision", "four-days")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000),
		chromedp.Flag("lang", "en-GB"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatal(err)
	}
	// step bounds one step; the browser outlives it.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 20*time.Second) }
	failed := func(what string, err error) {
		t.Helper()
		c, cancel := step()
		defer cancel()
		page, _ := chromedp.Run(c, chromedp.OuterHTML(chromedp.CSS("body")))
		if png, err := chromedp.Run(c, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(shots, "failure.png"), png, 0o644)
		}
		t.Fatalf("%s: %v\npage: %.3000s", what, err, page)
	}

	// Every step either works or fails the test with the page's state.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := step()
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			failed(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := step()
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			failed("text of "+sel, err)
		}
		return s
	}
	eval := func(expr string) []string {
		t.Helper()
		c, cancel := step()
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[[]string](expr))
		if err != nil {
			failed(expr, err)
		}
		return v
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, target)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
	}
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	// settled waits for the page to have drawn the view at path (the part of
	// the address after #, filters included).
	settled := func(path string) chromedp.Action[chromedp.Void] { return visible(`body[data-ready="` + path + `"]`) }

	// Without a token the page says what it needs; with one it lists.
	do("open the page", chromedp.Navigate(base+"/ui/"), settled("/"))
	if n := text("#notice"); !strings.Contains(n, "bearer token") {
		t.Errorf("without a token the page says %q", n)
	}
	do("use the token",
		chromedp.SendKeys(chromedp.CSS("#token"), tok["support"]),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
		visible(`#decisions tbody a[href="#/d/`+withTax+`"]`),
		shot("1-list"))
	if rows := eval(`[...document.querySelectorAll("#decisions tbody tr")].map(r => r.cells[5].textContent)`); len(rows) != min(len(cases), 50) {
		t.Errorf("the list shows %d rows, want %d", len(rows), min(len(cases), 50))
	}

	// Filtering by merchant and outcome.
	do("filter",
		chromedp.SetValue(chromedp.CSS(`select[name="merchant"]`), "crmjetty"),
		chromedp.SetValue(chromedp.CSS(`select[name="outcome"]`), "deny"),
		chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)),
		// The list is drawn again once the new filters are in the address;
		// until then the page still shows (or is clearing) the old one.
		settled("/?merchant=crmjetty&outcome=deny"))
	outcomes := eval(`[...document.querySelectorAll("#decisions tbody tr")].map(r => r.cells[1].textContent + " " + r.cells[2].textContent)`)
	if len(outcomes) == 0 {
		t.Error("no crmjetty denial listed")
	}
	for _, o := range outcomes {
		if o != "crmjetty deny" {
			t.Errorf("filtered list holds %q", o)
		}
	}

	// The decision, in English, then in French.
	do("open the decision", chromedp.Navigate(base+"/ui/#/d/"+withTax), settled("/d/"+withTax), shot("2-decision-en"))
	withheld := text("#withheld")
	if !strings.Contains(withheld, "l2") || !strings.Contains(withheld, "tax_not_refundable") {
		t.Errorf("withheld lines: %q", withheld)
	}
	reasonsEN := text("#reasons")
	do("switch to French",
		chromedp.SetValue(chromedp.CSS("#lang"), "fr"),
		func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[any](`document.getElementById("lang").dispatchEvent(new Event("change"))`)(ctx, target)
			return chromedp.Void{}, err
		},
		visible(`html[lang="fr"]`), settled("/d/"+withTax), shot("3-decision-fr"))
	reasonsFR := text("#reasons")
	if reasonsFR == reasonsEN || !strings.Contains(reasonsFR, "renewal_refund_in_time") || !strings.Contains(reasonsFR, "remboursé") {
		t.Errorf("reasons in French %q, in English %q", reasonsFR, reasonsEN)
	}
	if h := text("main h2"); h != "Retenu" {
		t.Errorf("French headings: %q", h)
	}

	// The rules that fired, then a trial of the same claim.
	do("explain", chromedp.Click(chromedp.CSS("#explain-button")), visible("#fired"))
	if fired := text("#fired"); !strings.Contains(fired, "merchants/crmjetty/policy.rego:") {
		t.Errorf("rules that fired: %.300q", fired)
	}
	do("try this claim", chromedp.Click(chromedp.CSS("#try-this")), settled("/try"),
		chromedp.Click(chromedp.CSS(`#try-form button[type="submit"]`)), visible("#result #outcome"), shot("4-try"))
	if got := text("#result #outcome"); got != "partial" && got != "approve" {
		t.Errorf("trial outcome %q", got)
	}
	if note := text("#result p"); !strings.Contains(note, "non journalisé") {
		t.Errorf("trial note %q", note)
	}

	// Impact of the candidate bundle.
	do("impact", chromedp.Navigate(base+"/ui/#/impact"), settled("/impact"),
		chromedp.SetValue(chromedp.CSS(`#impact-form select[name="merchant"]`), "crmjetty"),
		chromedp.SetUploadFiles(chromedp.CSS("#bundle"), []string{filepath.Join(out, "crmjetty.tar.gz")}),
		chromedp.Click(chromedp.CSS(`#impact-form button[type="submit"]`)),
		visible("#transitions"), shot("5-impact"))
	if changed := text("#changed"); changed == "0" || changed == "" {
		t.Errorf("impact: %q decisions would change; the renewal on the fifth business day should", changed)
	}
	if sample := text("#sample"); !strings.Contains(sample, withTax) {
		t.Errorf("impact sample lacks %s: %.500q", withTax, sample)
	}
	t.Logf("screenshots in %s", shots)
}
