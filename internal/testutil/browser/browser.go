// Package browser drives Debian's Chromium for the browser tests of the
// portal and the hosted login: finding it, starting it with the flags this
// closed network needs, opening private windows, the axe-core accessibility
// audit (X8) and screenshots. Tests only.
package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Debian's browser. CI must run the browser tests, so there a
// missing browser fails the test; elsewhere the test is skipped.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required in CI (scripts/test installs it)")
	}
	t.Skip("chromium not installed (scripts/test installs it)")
	return ""
}

// Launch starts a headless Chromium at path with the profile dir and the
// window size, and waits (at most 60 s) until it answers. cancel stops it.
func Launch(path, dir string, width, height int) (ctx context.Context, cancel context.CancelFunc, err error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	cancel = func() { cancelCtx(); cancelAlloc() }
	if err := first(ctx, 60*time.Second); err != nil {
		cancel()
		return nil, nil, errors.Join(errors.New("start chromium"), err)
	}
	return ctx, cancel, nil
}

// Open opens a private window of the browser (its own cookies), waiting at
// most timeout for it.
func Open(browser context.Context, timeout time.Duration) (context.Context, context.CancelFunc, error) {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := first(ctx, timeout); err != nil {
		cancel()
		return nil, nil, errors.Join(errors.New("open window"), err)
	}
	return ctx, cancel, nil
}

// first runs a context's first action, which starts the browser or the
// tab and must not carry a timeout of its own (its end would close what it
// started), so it is bounded from here.
func first(ctx context.Context, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout):
		return errors.New("timed out")
	}
}

// axeSource is axe-core, the accessibility engine, from the file
// COUNTERSIGN_AXE names (scripts/test downloads a pinned, checksummed
// release).
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("COUNTERSIGN_AXE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
})

// Violation is one failed accessibility rule with the elements failing it.
type Violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// Audit returns the actions that run axe-core's WCAG 2.0/2.1 A and AA rules
// on the page of ctx, or nil when there is no axe-core outside CI; CI must
// audit, so there a missing file fails the test.
func Audit(t testing.TB) (load chromedp.Action[chromedp.Void], run chromedp.Action[[]Violation]) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	if src == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("COUNTERSIGN_AXE is required in CI (scripts/test downloads axe-core)")
		}
		return nil, nil
	}
	// DevTools evaluation is not subject to the page's CSP.
	load = chromedp.Evaluate[chromedp.Void](src + "\n;undefined")
	run = chromedp.Evaluate[[]Violation](`axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]
	}).then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\s+/g, " "))})))`, chromedp.EvalAwaitPromise)
	return load, run
}

// Report fails the test for each violation found on the page name.
func Report(t testing.TB, name string, found []Violation) {
	t.Helper()
	for _, v := range found {
		t.Errorf("WCAG (axe %s) on %s: %s [%s]\n  %s", v.ID, name, v.Help, v.Impact, strings.Join(v.Nodes, "\n  "))
	}
}

// ScreenshotDir is where screenshots go (COUNTERSIGN_SCREENSHOTS), or "".
func ScreenshotDir() string { return os.Getenv("COUNTERSIGN_SCREENSHOTS") }

// Save writes a screenshot as name.png under ScreenshotDir.
func Save(t testing.TB, name string, png []byte) {
	t.Helper()
	dir := ScreenshotDir()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
