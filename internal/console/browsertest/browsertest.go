// Package browsertest drives Debian's Chromium, headless, against a node on
// 127.0.0.1 for the web console's tests: one fresh browser per test, which
// records every console error, uncaught exception, failed load and Content
// Security Policy violation of the page, so that a test can require none.
package browsertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Script is an action that runs source in every page the browser opens from
// then on, before the page's own scripts: a test's helpers, which the
// page's policy does not restrict.
func Script(source string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		_, err := cdp.Call(ctx, tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
		return err
	})
}

// Chromium comes from scripts/test.sh, which installs Debian's package and
// names it in SEALWATCH_TEST_CHROMIUM.
const (
	chromiumEnv     = "SEALWATCH_TEST_CHROMIUM"
	defaultChromium = "/usr/bin/chromium"
	// ScreenshotsEnv, when set, makes Screenshot write docs/console/*.png.
	ScreenshotsEnv = "SEALWATCH_CONSOLE_SCREENSHOTS"
	// budget bounds everything one browser does in a test.
	budget = 90 * time.Second
)

// chromiumPath is the Chromium the tests drive. A test that needs one and
// finds none fails: a browser test that skipped would prove nothing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv(chromiumEnv)
	if p == "" {
		p = defaultChromium
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/test.sh, which installs Debian's chromium package and sets %s", p, err, chromiumEnv)
	}
	return p
}

// Browser is one headless Chromium with a fresh profile, on one page, that
// records every console error, uncaught exception, failed load and Content
// Security Policy violation the page causes.
type Browser struct {
	ctx    context.Context
	output bytes.Buffer // Chromium's own output, shown when a test fails

	mu       sync.Mutex
	problems []string
}

// recordViolations runs in the page before its own scripts and keeps each
// CSP violation where the test can read it, whether or not Chromium also
// logs it.
const recordViolations = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`

// New starts a Chromium for the node at endpoint, trusting the keys of the
// certificates it presents under caFile and nothing else; the test's
// cleanup stops it.
func New(t *testing.T, endpoint, caFile string) *Browser {
	t.Helper()
	b := &Browser{}
	// chromedp talks to Chromium over a pipe: the browser opens no
	// debugging port at all.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, Chromium reaches for Google's hosts, which this
		// machine's closed network refuses, many at a time.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		// The node's certificate is signed by its own CA: trust exactly its
		// keys, not every certificate.
		chromedp.Flag("ignore-certificate-errors-spki-list", nodeSPKIs(t, endpoint, caFile)),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&syncWriter{b: b}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.observe))
	ctx, cancelTimeout := context.WithTimeout(ctx, budget)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("Chromium's output:\n%s", b.output.String())
			b.mu.Unlock()
		}
	})
	b.ctx = ctx
	b.Do(t, Script(recordViolations))
	return b
}

type syncWriter struct{ b *Browser }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.output.Write(p)
}

// observe records what the page reports that a clean page never does.
func (b *Browser) observe(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		problem = "uncaught exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning || ev.Type == cdpruntime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			problem = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
			problem = fmt.Sprintf("%s %s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// do runs actions in the page, failing the test on the first error.
func (b *Browser) Do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// value runs a and returns what it reads from the page.
func Value[T any](t *testing.T, b *Browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// Problems are the problems recorded so far, with the CSP violations
// the page itself saw.
func (b *Browser) Problems(t *testing.T) []string {
	t.Helper()
	csp := Value(t, b, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]string(nil), b.problems...)
	for _, v := range csp {
		out = append(out, "Content Security Policy violation: "+v)
	}
	return out
}

// RequireClean fails the test for any console error, exception, failed
// load or CSP violation so far, but those that hold one of expected: what
// the test caused on purpose, such as the 400 of a query it wrote wrong,
// which Chromium reports as a failed load.
func (b *Browser) RequireClean(t *testing.T, expected ...string) {
	t.Helper()
	for _, p := range b.Problems(t) {
		if !containsAny(p, expected) {
			t.Errorf("the page reported: %s", p)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Screenshot saves the page as docs/console/name.png when
// SEALWATCH_CONSOLE_SCREENSHOTS is set, so that the guide's pictures are
// regenerated on demand and normal runs leave the tree alone.
func (b *Browser) Screenshot(t *testing.T, name string) {
	t.Helper()
	if os.Getenv(ScreenshotsEnv) == "" {
		return
	}
	png := Value(t, b, chromedp.FullScreenshot(100))
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("browsertest: cannot tell where the repository is")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeSPKIs are the base64 SHA-256 hashes of the public keys of the
// certificates the node at endpoint presents, verified against its CA
// (caFile): what --ignore-certificate-errors-spki-list takes.
func nodeSPKIs(t *testing.T, endpoint, caFile string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("browsertest: %s holds no certificate", caFile)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: u.Hostname()})
	if err != nil {
		t.Fatalf("browsertest: reach %s: %v", endpoint, err)
	}
	defer conn.Close()
	var hashes []string
	for _, c := range conn.ConnectionState().PeerCertificates {
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		hashes = append(hashes, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(hashes, ",")
}

// cookies are the browser's cookies for the page, by name.
func (b *Browser) Cookies(t *testing.T) map[string]*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// SignIn opens the console at endpoint and signs in with an application's
// client ID and secret, as a person would: it types them and waits for the
// shell.
func SignIn(t *testing.T, b *Browser, endpoint, clientID, secret string) {
	t.Helper()
	b.Do(t,
		chromedp.Navigate(endpoint+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
		chromedp.SendKeys(chromedp.ID("client-id"), clientID),
		chromedp.SendKeys(chromedp.ID("client-secret"), secret),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("shell")),
	)
}

// Download makes the browser save downloads in a new directory, runs
// trigger, and returns the bytes of the file name saved there, waiting for
// it up to the browser's budget.
func (b *Browser) Download(t *testing.T, name string, trigger chromedp.Action[chromedp.Void]) []byte {
	t.Helper()
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatalf("browser: %v", err)
	}
	b.Do(t, trigger)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Chromium writes NAME.crdownload and renames it when it is whole.
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return data
		}
		select {
		case <-b.ctx.Done():
			t.Fatalf("browser: no download %s: %v", name, b.ctx.Err())
		case <-tick.C:
		}
	}
}

// axeViolations runs axe-core over the page and answers each serious or
// critical violation as one line: the rule, what it asks, and the first
// elements at fault.
const axeViolations = `(async () => {
  const r = await axe.run(document, { resultTypes: ['violations'] });
  return JSON.stringify(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')));
})()`

// RequireAccessible runs the accessibility checker axe-core over the page
// as it stands and fails the test for each serious or critical violation,
// naming where; what names the page.
func (b *Browser) RequireAccessible(t *testing.T, what string) {
	t.Helper()
	for _, v := range b.AccessibilityViolations(t) {
		t.Errorf("%s: accessibility: %s", what, v)
	}
}

// AccessibilityViolations are the serious and critical violations axe-core
// finds in the page as it stands. axe-core is a test-only copy
// (browsertest/axe, which scripts/console-vendor.sh writes): the node
// neither serves nor embeds it. It runs in an isolated world of the page —
// the same DOM, its own scripts and globals — under a policy of its own
// that lets it add the style it measures with, which the page's refuses.
func (b *Browser) AccessibilityViolations(t *testing.T) []string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("browsertest: cannot tell where axe-core is")
	}
	src, err := os.ReadFile(filepath.Join(filepath.Dir(self), "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("browsertest: read axe-core (scripts/console-vendor.sh copies it): %v", err)
	}
	var found string
	b.Do(t, chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		tree, err := cdp.Call(ctx, tab, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		world, err := cdp.Call(ctx, tab, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: tree.FrameTree.Frame.ID, WorldName: "axe", ContentSecurityPolicy: "style-src 'unsafe-inline'"})
		if err != nil {
			return err
		}
		yes := true
		for _, expr := range []string{string(src), axeViolations} {
			res, err := cdp.Call(ctx, tab, cdpruntime.Evaluate, cdpruntime.EvaluateParams{Expression: expr,
				ContextID: world.ExecutionContextID, AwaitPromise: &yes, ReturnByValue: &yes})
			if err != nil {
				return err
			}
			if res.ExceptionDetails != nil {
				return fmt.Errorf("axe-core: %s %s", res.ExceptionDetails.Text, describe(res.ExceptionDetails.Exception))
			}
			found = string(res.Result.Value)
		}
		return nil
	}))
	var violations []string
	var text string
	if err := json.Unmarshal([]byte(found), &text); err != nil {
		t.Fatalf("browsertest: axe-core answered %.200s: %v", found, err)
	}
	if err := json.Unmarshal([]byte(text), &violations); err != nil {
		t.Fatalf("browsertest: axe-core answered %.200s: %v", text, err)
	}
	return violations
}

func describe(o *cdpruntime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}
