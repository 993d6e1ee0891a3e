package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

func TestConsoleSignInShowsTheShellAndSignOutEndsIt(t *testing.T) {
	n := nodetest.Start(t, node.Config{})
	b := browsertest.New(t, n.Endpoint(), n.CAFile())
	b.Do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
	)
	b.Screenshot(t, "signin")
	browsertest.SignIn(t, b, n.Endpoint(), n.Creds.ClientID, n.Creds.ClientSecret)

	nav := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('nav a')].map(a => a.textContent)`))
	who := browsertest.Value(t, b, chromedp.Text(chromedp.ID("who")))
	title := browsertest.Value(t, b, chromedp.Text(chromedp.ID("page-title")))
	pageCookie := browsertest.Value(t, b, chromedp.Evaluate[string](`document.cookie`))
	stored := browsertest.Value(t, b, chromedp.Evaluate[int](`localStorage.length + sessionStorage.length`))
	if got := strings.Join(nav, ","); got != "Logs,Incidents,Analytics,Keys" {
		t.Errorf("navigation %q, want Logs,Incidents,Analytics,Keys", got)
	}
	if !strings.Contains(who, "sealwatch-admin") || title != "Logs" {
		t.Errorf("signed in as %q on page %q, want sealwatch-admin on Logs", who, title)
	}
	if pageCookie != "" || stored != 0 {
		t.Errorf("the page can read cookie %q and holds %d stored items; the session must be out of its reach", pageCookie, stored)
	}
	if c, ok := b.Cookies(t)["__Host-sealwatch-session"]; !ok || !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("the browser holds session cookie %+v, want HttpOnly, Secure, SameSite=Strict", c)
	}
	b.Screenshot(t, "shell")

	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav a[data-page="keys"][aria-current="page"]`)),
	)
	if title := browsertest.Value(t, b, chromedp.Text(chromedp.ID("page-title"))); title != "Keys" {
		t.Errorf("after clicking Keys the page is %q", title)
	}

	b.Do(t,
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin")),
	)
	if notice := browsertest.Value(t, b, chromedp.Text(chromedp.ID("signin-notice"))); !strings.Contains(notice, "signed out") {
		t.Errorf("after sign-out the page says %q", notice)
	}
	if _, ok := b.Cookies(t)["__Host-sealwatch-session"]; ok {
		t.Error("the session cookie outlived the sign-out")
	}
	b.Do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("signin")))
	b.RequireClean(t)
}

// The harness must see what it is there to catch: an inline script, which
// the policy blocks, is reported.
func TestBrowserHarnessReportsACSPViolation(t *testing.T) {
	n := nodetest.Start(t, node.Config{})
	b := browsertest.New(t, n.Endpoint(), n.CAFile())
	b.Do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
	)
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(() => { const s = document.createElement('script'); s.textContent = 'window.ran = true'; document.body.append(s); return true; })()`))
	browsertest.Value(t, b, chromedp.Poll[bool](`window.__cspViolations.length > 0`, chromedp.WithPollingTimeout(10*time.Second)))
	if ran := browsertest.Value(t, b, chromedp.Evaluate[bool](`window.ran === true`)); ran {
		t.Fatal("an inline script ran under the console's policy")
	}
	problems := strings.Join(b.Problems(t), "\n")
	if !strings.Contains(problems, "script-src") {
		t.Errorf("the harness did not report the blocked inline script; it reported:\n%s", problems)
	}
}

// The accessibility checker must see what it is there to catch: a button
// without a name, which a screen reader could only call "button", is a
// critical violation; the sign-in page as served has none. axe-core, the
// tests' own, is not served by the node.
func TestBrowserHarnessReportsAnAccessibilityViolation(t *testing.T) {
	n := nodetest.Start(t, node.Config{})
	b := browsertest.New(t, n.Endpoint(), n.CAFile())
	b.Do(t,
		chromedp.Navigate(n.Endpoint()+"/"),
		chromedp.WaitVisible(chromedp.ID("client-id")),
	)
	b.RequireAccessible(t, "sign-in")
	browsertest.Value(t, b, chromedp.Evaluate[bool](`(() => { const b = document.createElement('button'); b.id = 'nameless'; document.getElementById('signin').append(b); return true; })()`))
	found := strings.Join(b.AccessibilityViolations(t), "\n")
	if !strings.Contains(found, "critical button-name") || !strings.Contains(found, "#nameless") {
		t.Errorf("the checker did not report the nameless button; it reported:\n%s", found)
	}
	for _, path := range []string{"/console/assets/axe.min.js", "/console/assets/../browsertest/axe/axe.min.js"} {
		status := browsertest.Value(t, b, chromedp.Evaluate[int](`fetch('`+path+`').then((r) => r.status)`, chromedp.EvalAwaitPromise))
		if status == 200 {
			t.Errorf("the node serves %s", path)
		}
	}
	b.RequireClean(t, "status of 404")
}
