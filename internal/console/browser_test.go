package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

// The browser tests drive Debian's Chromium, headless, against a node on
// 127.0.0.1. scripts/test.sh installs it and names it here.
const (
	chromiumEnv       = "SEALWATCH_TEST_CHROMIUM"
	defaultChromium   = "/usr/bin/chromium"
	screenshotsEnv    = "SEALWATCH_CONSOLE_SCREENSHOTS"
	screenshotsDir    = "../../docs/console"
	browserTestBudget = 90 * time.Second
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

// browser is one headless Chromium with a fresh profile, on one page, that
// records every console error, uncaught exception, failed load and Content
// Security Policy violation the page causes.
type browser struct {
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

func newBrowser(t *testing.T, n *nodetest.Node) *browser {
	t.Helper()
	b := &browser{}
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
		chromedp.Flag("ignore-certificate-errors-spki-list", nodeSPKIs(t, n)),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&syncWriter{b: b}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.observe))
	ctx, cancelTimeout := context.WithTimeout(ctx, browserTestBudget)
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
	b.do(t, chromedp.Func(func(ctx context.Context, tab *chromedp.Target) error {
		_, err := cdp.Call(ctx, tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordViolations})
		return err
	}))
	return b
}

type syncWriter struct{ b *browser }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.output.Write(p)
}

// observe records what the page reports that a clean page never does.
func (b *browser) observe(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
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
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// value runs a and returns what it reads from the page.
func value[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// pageProblems are the problems recorded so far, with the CSP violations
// the page itself saw.
func (b *browser) pageProblems(t *testing.T) []string {
	t.Helper()
	csp := value(t, b, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]string(nil), b.problems...)
	for _, v := range csp {
		out = append(out, "Content Security Policy violation: "+v)
	}
	return out
}

// requireClean fails the test for any console error, exception, failed
// load or CSP violation so far.
func (b *browser) requireClean(t *testing.T) {
	t.Helper()
	for _, p := range b.pageProblems(t) {
		t.Errorf("the page reported: %s", p)
	}
}

// screenshot saves the page as docs/console/name.png when
// SEALWATCH_CONSOLE_SCREENSHOTS is set, so that the guide's pictures are
// regenerated on demand and normal runs leave the tree alone.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	if os.Getenv(screenshotsEnv) == "" {
		return
	}
	png := value(t, b, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshotsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotsDir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeSPKIs are the base64 SHA-256 hashes of the public keys of the
// certificates n presents: what --ignore-certificate-errors-spki-list takes.
func nodeSPKIs(t *testing.T, n *nodetest.Node) string {
	t.Helper()
	resp, err := n.Client.Get(n.Endpoint() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var hashes []string
	for _, c := range resp.TLS.PeerCertificates {
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		hashes = append(hashes, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(hashes, ",")
}

// signIn fills the sign-in form with the node's admin and waits for the shell.
func signIn(t *testing.T, b *browser, n *nodetest.Node) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
		chromedp.SendKeys(chromedp.ID("client-id"), n.Creds.ClientID),
		chromedp.SendKeys(chromedp.ID("client-secret"), n.Creds.ClientSecret),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("shell")),
	)
}

func TestConsoleSignInShowsTheShellAndSignOutEndsIt(t *testing.T) {
	n := nodetest.Start(t, node.Config{})
	b := newBrowser(t, n)
	b.do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
	)
	b.screenshot(t, "signin")
	signIn(t, b, n)

	nav := value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('nav a')].map(a => a.textContent)`))
	who := value(t, b, chromedp.Text(chromedp.ID("who")))
	title := value(t, b, chromedp.Text(chromedp.ID("page-title")))
	pageCookie := value(t, b, chromedp.Evaluate[string](`document.cookie`))
	stored := value(t, b, chromedp.Evaluate[int](`localStorage.length + sessionStorage.length`))
	if got := strings.Join(nav, ","); got != "Logs,Incidents,Analytics,Keys" {
		t.Errorf("navigation %q, want Logs,Incidents,Analytics,Keys", got)
	}
	if !strings.Contains(who, "sealwatch-admin") || title != "Logs" {
		t.Errorf("signed in as %q on page %q, want sealwatch-admin on Logs", who, title)
	}
	if pageCookie != "" || stored != 0 {
		t.Errorf("the page can read cookie %q and holds %d stored items; the session must be out of its reach", pageCookie, stored)
	}
	if c, ok := b.cookies(t)["__Host-sealwatch-session"]; !ok || !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("the browser holds session cookie %+v, want HttpOnly, Secure, SameSite=Strict", c)
	}
	b.screenshot(t, "shell")

	b.do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav a[data-page="keys"][aria-current="page"]`)),
	)
	if title := value(t, b, chromedp.Text(chromedp.ID("page-title"))); title != "Keys" {
		t.Errorf("after clicking Keys the page is %q", title)
	}

	b.do(t,
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin")),
	)
	if notice := value(t, b, chromedp.Text(chromedp.ID("signin-notice"))); !strings.Contains(notice, "signed out") {
		t.Errorf("after sign-out the page says %q", notice)
	}
	if _, ok := b.cookies(t)["__Host-sealwatch-session"]; ok {
		t.Error("the session cookie outlived the sign-out")
	}
	b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("signin")))
	b.requireClean(t)
}

// The harness must see what it is there to catch: an inline script, which
// the policy blocks, is reported.
func TestBrowserHarnessReportsACSPViolation(t *testing.T) {
	n := nodetest.Start(t, node.Config{})
	b := newBrowser(t, n)
	b.do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
	)
	value(t, b, chromedp.Evaluate[bool](`(() => { const s = document.createElement('script'); s.textContent = 'window.ran = true'; document.body.append(s); return true; })()`))
	value(t, b, chromedp.Poll[bool](`window.__cspViolations.length > 0`, chromedp.WithPollingTimeout(10*time.Second)))
	if ran := value(t, b, chromedp.Evaluate[bool](`window.ran === true`)); ran {
		t.Fatal("an inline script ran under the console's policy")
	}
	problems := strings.Join(b.pageProblems(t), "\n")
	if !strings.Contains(problems, "script-src") {
		t.Errorf("the harness did not report the blocked inline script; it reported:\n%s", problems)
	}
}

// cookies are the browser's cookies for the page, by name.
func (b *browser) cookies(t *testing.T) map[string]*network.Cookie {
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
