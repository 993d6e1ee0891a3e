package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sealwatch/sealwatch/internal/console/browsertest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// TestConsoleKeysPageAndTheBannerFollowARevocation signs in to the console
// over a CMK workspace whose key has been rotated once: the Keys page shows
// the cluster's key Accessible with its last check, the key usage report
// with the old version offered for disabling, the vault's audit log with its
// chain verified, and the five set-up steps done. The key owner then
// disables the key in the vault: the Logs page carries the banner and the
// query is refused with its message; enabled again, the banner goes and the
// query runs — without a reload.
func TestConsoleKeysPageAndTheBannerFollowARevocation(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	if st, code := cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "keys-page"}}); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	// A rotation leaves the first version wrapping nothing, once the next
	// check has rewrapped the account keys.
	keyURL := cs.vaultURL("cmkvault") + "/keys/ws-cmk"
	var key map[string]any
	cs.call("GET", keyURL+"?api-version=7.6", cs.vtok, nil, &key)
	oldKID := key["key"].(map[string]any)["kid"].(string)
	oldVersion := oldKID[strings.LastIndexByte(oldKID, '/')+1:]
	if st := cs.call("POST", keyURL+"/rotate?api-version=7.6", cs.vtok, nil, nil); st != http.StatusOK {
		t.Fatalf("rotate: %d", st)
	}
	cs.probe()

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t,
		chromedp.WaitEnabled(chromedp.ID("run-query")),
		chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)),
	)
	row := `document.querySelector('#key-states tr[data-cluster="cluster1"]')`
	pageWaits(t, b, row+`?.querySelector('.key-state')?.textContent === 'Accessible'`)
	if checked := browsertest.Value(t, b, chromedp.Evaluate[string](row+`.querySelector('.checked').textContent`)); !strings.Contains(checked, " UTC (") {
		t.Errorf("the last check reads %q, want a UTC time and how long ago", checked)
	}
	if why := browsertest.Value(t, b, chromedp.Evaluate[string](row+`.querySelector('.check-error').textContent`)); why != "" {
		t.Errorf("an Accessible key shows the error %q", why)
	}

	// Key usage: the old version wraps nothing and is offered for disabling.
	pageWaits(t, b, `document.querySelectorAll('#key-usage .usage[data-cluster="cluster1"] tbody tr').length === 4`)
	inUse := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#key-usage tbody tr')].map(tr => tr.cells[0].textContent + ' ' + tr.cells[1].textContent + ' ' + tr.cells[3].textContent)`))
	for _, want := range []string{"logs " + oldVersion + " no", "documents " + oldVersion + " no"} {
		if !strings.Contains(strings.Join(inUse, ","), want) {
			t.Errorf("the key usage rows are %q, want one reading %q", inUse, want)
		}
	}
	disable := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#key-usage .disable-safe code')].map(c => c.textContent)`))
	if want := "sealwatch keyvault key set-attributes --vault-name cmkvault --name ws-cmk --version " + oldVersion + " --enabled=false"; len(disable) != 1 || disable[0] != want {
		t.Errorf("the versions offered for disabling are %q, want only %q", disable, want)
	}

	// The audit log: verified, with the node's unwraps in it.
	pageWaits(t, b, `document.getElementById('audit-chain')?.classList.contains('chain-verified')`)
	ops := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#audit-records tbody tr')].map(tr => tr.cells[2].textContent)`))
	if got := strings.Join(ops, ","); !strings.Contains(got, "KeyUnwrap") || !strings.Contains(got, "KeyRotate") {
		t.Errorf("the audit log shows %q, want the node's KeyUnwrap and the KeyRotate", got)
	}

	// The set-up: every step checked and done.
	pageWaits(t, b, `document.querySelectorAll('#cmk-steps li[data-status="done"]').length === 5`)
	b.Screenshot(t, "keys")

	// The key owner disables the key: the banner is on the Logs page, the
	// query is refused with its message.
	cs.disableKey(true)
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="logs"]`)))
	pageWaits(t, b, `!document.getElementById('key-banner').hidden`)
	banner := browsertest.Value(t, b, chromedp.Text(chromedp.ID("key-banner")))
	for _, want := range []string{"cluster cluster1 is Revoked", "workspace secops you work in", "refused", "Enable the key"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner reads %q, want %q in it", banner, want)
		}
	}
	b.Do(t,
		chromedp.WaitEnabled(chromedp.ID("run-query")),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.ID("query-error")),
	)
	if msg := browsertest.Value(t, b, chromedp.Text(chromedp.ID("query-error"))); !strings.Contains(msg, "customer-managed key is not accessible") {
		t.Errorf("the refused query reads %q", msg)
	}
	b.Screenshot(t, "banner")
	// Every page carries it: the incident queue of the same workspace too.
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="incidents"]`)))
	pageWaits(t, b, `document.title.startsWith('Incidents') && document.getElementById('key-banner').textContent.includes('workspace secops you work in')`)

	// Enabled again: on the next page the banner is gone, and the query runs.
	cs.disableKey(false)
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)))
	pageWaits(t, b, row+`?.querySelector('.key-state')?.textContent === 'Accessible' && document.getElementById('key-banner').hidden`)
	b.Do(t,
		chromedp.Click(chromedp.CSS(`nav a[data-page="logs"]`)),
		chromedp.WaitEnabled(chromedp.ID("run-query")),
		chromedp.Click(chromedp.ID("run-query")),
		chromedp.WaitVisible(chromedp.CSS("#results table")),
	)
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('key-banner').hidden`)); !hidden {
		t.Error("the banner stayed after the key was enabled again")
	}
	b.RequireClean(t, "status of 403")
}

// pageWaits waits, up to 20 s, until the page's expression cond is true.
func pageWaits(t *testing.T, b *browsertest.Browser, cond string) {
	t.Helper()
	browsertest.Value(t, b, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(20*time.Second)))
}

// TestConsoleShowsWhereTheVaultAuditChainBreaks: a record of the vault's
// audit log edited behind the node's back (while it is stopped) is shown on
// the Keys page as the chain broken at that record, and the record marked.
func TestConsoleShowsWhereTheVaultAuditChainBreaks(t *testing.T) {
	cs := setUpCMK(t)
	var edited uint64
	cs.restart(func() {
		db, err := boltkv.Open(filepath.Join(cs.dir, "vault", "vault.db"), boltkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// The key's creation, answered 200, is said to have been refused.
		err = db.Update(context.Background(), func(tx kv.Tx) error {
			b := tx.Bucket([]byte("audit"))
			if b == nil {
				return errors.New("no audit bucket")
			}
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				var rec map[string]any
				if err := json.Unmarshal(v, &rec); err != nil {
					return err
				}
				if rec["operation"] == "KeyCreate" {
					edited = uint64(rec["seq"].(float64))
					rec["httpStatus"] = 403
					buf, err := json.Marshal(rec)
					if err != nil {
						return err
					}
					return b.Put(k, buf)
				}
			}
			return errors.New("no KeyCreate record")
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)))
	pageWaits(t, b, `document.getElementById('audit-chain')?.classList.contains('chain-broken')`)
	if got, want := browsertest.Value(t, b, chromedp.Text(chromedp.ID("audit-chain"))), fmt.Sprintf("Chain broken at record %d: ", edited); !strings.HasPrefix(got, want) {
		t.Errorf("the chain's verdict reads %q, want it to begin %q", got, want)
	}
	marked := browsertest.Value(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#audit-records tr.broken')].map(tr => tr.cells[0].textContent + ' ' + tr.cells[2].textContent + ' ' + tr.cells[5].textContent)`))
	if want := fmt.Sprintf("%d KeyCreate 403", edited); len(marked) != 1 || marked[0] != want {
		t.Errorf("the rows marked broken are %q, want only %q", marked, want)
	}
	b.RequireClean(t)
}

// TestConsoleGuidesTheFiveCMKStepsThroughTheAPI starts from a node with
// nothing on it: on the Keys page each step of the set-up is shown not done,
// its button makes the API call that does it, and its check then shows it
// done — vault and key, cluster, grants, key, workspace linked and onboarded
// — after which the cluster's key is in force, as the API says.
func TestConsoleGuidesTheFiveCMKStepsThroughTheAPI(t *testing.T) {
	rn := startNodeWith(t, Config{DataDir: t.TempDir()})
	b := browsertest.New(t, rn.creds.Endpoint, rn.node.CAFile())
	browsertest.SignIn(t, b, rn.creds.Endpoint, rn.creds.ClientID, rn.creds.ClientSecret)
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)))

	step := func(n int) string { return fmt.Sprintf(`#cmk-steps li[data-step="%d"]`, n) }
	why := func(n int) string {
		return browsertest.Value(t, b, chromedp.Text(chromedp.CSS(step(n)+" .why")))
	}
	// press waits for step n's button to be ready and presses it.
	press := func(n int, label string) {
		t.Helper()
		button := step(n) + " form button"
		pageWaits(t, b, fmt.Sprintf(`(() => { const b = document.querySelector('%s'); return !!b && !b.disabled && b.textContent.startsWith(%q); })()`, button, label))
		b.Do(t, chromedp.Click(chromedp.CSS(button)))
	}
	done := func(n int) {
		t.Helper()
		pageWaits(t, b, fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'done'`, step(n)))
	}

	pageWaits(t, b, `document.querySelectorAll('#cmk-steps li[data-status="not-done"]').length === 5`)
	if got := why(1); got != "There is no vault yet." {
		t.Errorf("step 1 on an empty node says %q", got)
	}
	press(1, "Create the vault")
	pageWaits(t, b, `document.querySelector('#cmk-steps li[data-step="1"] .why')?.textContent.includes('no key')`)
	press(1, "Create an RSA 2048 key")
	done(1)
	if got := why(1); !strings.Contains(got, "key k1 (RSA 2048) is enabled and Recoverable") {
		t.Errorf("step 1 done says %q", got)
	}
	press(2, "Create the cluster")
	done(2)
	if got := why(3); !strings.Contains(got, "lacks get, wrapKey, unwrapKey on vault cmk1") {
		t.Errorf("step 3 before the grant says %q", got)
	}
	// Setting the key before the grant is refused by the node's key check,
	// and the refusal is shown under the step, naming the command that grants.
	press(4, "Set key k1 of vault cmk1")
	pageWaits(t, b, `!!document.querySelector('#cmk-steps li[data-step="4"] .error')`)
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.CSS(step(4)+" .error"))); !strings.Contains(got, "sealwatch keyvault set-policy --name cmk1") {
		t.Errorf("the refused step 4 says %q", got)
	}
	press(3, "Grant both principals")
	done(3)
	if stale := browsertest.Value(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#cmk-steps .error').length`)); stale != 0 {
		t.Error("step 4's refusal is still shown after the grant it asked for")
	}
	b.Screenshot(t, "keys-setup")
	press(4, "Set key k1 of vault cmk1")
	done(4)
	press(5, "Create the workspace")
	pageWaits(t, b, `document.querySelector('#cmk-steps li[data-step="5"] .why')?.textContent.includes('is not linked to cluster cl01')`)
	press(5, "Link ws01")
	done(5)

	// The API agrees: the key is in force, the workspace under it.
	mgmt := rn.adminToken("https://management.azure.com/.default")
	var cluster struct {
		Properties struct {
			KeyState             string
			AssociatedWorkspaces []struct{ WorkspaceName string }
		}
	}
	rn.call("GET", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cl01"), mgmt, nil, &cluster)
	var onboarding struct {
		Properties struct{ CustomerManagedKey bool }
	}
	st := rn.call("GET", rn.mgmtURL("Microsoft.OperationalInsights/workspaces/ws01/providers/Microsoft.SecurityInsights/onboardingStates/default"), mgmt, nil, &onboarding)
	if cluster.Properties.KeyState != "Accessible" || len(cluster.Properties.AssociatedWorkspaces) != 1 || st != 200 || !onboarding.Properties.CustomerManagedKey {
		t.Errorf("after the guided set-up the cluster is %+v and the onboarding %d %+v", cluster.Properties, st, onboarding)
	}
	b.RequireClean(t, "status of 403")
}

// TestConsoleShowsAReaderTheBannerOfItsWorkspacesKey: an application with
// only the Reader role on a CMK workspace, which may not read clusters, sees
// the banner on the Logs page once the key is disabled — from the
// workspace's own keyState, which it may read — and sees it go once the key
// is enabled again.
func TestConsoleShowsAReaderTheBannerOfItsWorkspacesKey(t *testing.T) {
	cs := setUpCMK(t)
	app, secret, err := cs.node.identity.CreateApplication(context.Background(), "analyst")
	if err != nil {
		t.Fatal(err)
	}
	assign := map[string]any{"properties": map[string]any{"roleDefinitionId": "Reader", "principalId": app.ObjectID}}
	if st := cs.call("PUT", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.Authorization/roleAssignments/analyst"), cs.mgmt, assign, nil); st != 201 {
		t.Fatalf("assign Reader: %d", st)
	}
	readerKeyState := func() string {
		t.Helper()
		var list struct {
			Value []struct {
				Name       string
				Properties struct{ KeyState string }
			}
		}
		tok := cs.token(app.AppID, secret, "https://management.azure.com/.default")
		if st := cs.call("GET", fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01", cs.creds.Endpoint, cs.creds.TenantID), tok, nil, &list); st != 200 || len(list.Value) != 1 {
			t.Fatalf("the reader lists the workspaces: %d %+v", st, list.Value)
		}
		return list.Value[0].Properties.KeyState
	}
	if got := readerKeyState(); got != "Accessible" {
		t.Fatalf("the reader reads the workspace's key state as %q", got)
	}

	b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
	browsertest.SignIn(t, b, cs.creds.Endpoint, app.AppID, secret)
	b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))
	if hidden := browsertest.Value(t, b, chromedp.Evaluate[bool](`document.getElementById('key-banner').hidden`)); !hidden {
		t.Error("the banner is up while the key is Accessible")
	}

	cs.disableKey(true)
	if got := readerKeyState(); got != "Revoked" {
		t.Errorf("after the key was disabled the reader reads %q", got)
	}
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)), chromedp.Click(chromedp.CSS(`nav a[data-page="logs"]`)))
	pageWaits(t, b, `!document.getElementById('key-banner').hidden`)
	banner := browsertest.Value(t, b, chromedp.Text(chromedp.ID("key-banner")))
	for _, want := range []string{"cluster cluster1 is Revoked", "workspace secops you work in", "For the key owner: Enable the key"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the reader's banner reads %q, want %q in it", banner, want)
		}
	}
	if links := browsertest.Value(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#key-banner a').length`)); links != 0 {
		t.Errorf("the reader's banner links to the Keys page, which it may not read")
	}

	cs.disableKey(false)
	// The page changes on the hash's change, a task after the click: wait
	// for it before reading what it says.
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)))
	pageWaits(t, b, `document.getElementById('page-title').textContent === 'Keys'`)
	if got := browsertest.Value(t, b, chromedp.Text(chromedp.ID("page-body"))); !strings.Contains(got, "only an Owner may call") {
		t.Errorf("the Keys page tells the reader %q", got)
	}
	b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="logs"]`)))
	pageWaits(t, b, `document.getElementById('key-banner').hidden`)
	b.RequireClean(t)
}

// TestConsoleBannerSaysWhatAnUnreachableVaultMeans cuts the network to the
// key vault: within the grace the banner warns that the node works from
// memory (Unreachable), past it (here a grace of 0) that work is refused
// (Locked); the Keys page shows the check's error; with the vault back the
// banner goes.
func TestConsoleBannerSaysWhatAnUnreachableVaultMeans(t *testing.T) {
	for _, tc := range []struct {
		name, state, class, means string
		grace                     time.Duration
	}{
		{"within the grace", "Unreachable", "warning", "the node works from the keys in memory", time.Hour},
		{"past the grace", "Locked", "refused", "refused (503 KeyVaultUnreachable)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &partition{}
			cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), UnreachableGrace: tc.grace,
				WrapKeyServiceTransport: func(next http.RoundTripper) http.RoundTripper { p.next = next; return p }})
			b := browsertest.New(t, cs.creds.Endpoint, cs.node.CAFile())
			browsertest.SignIn(t, b, cs.creds.Endpoint, cs.creds.ClientID, cs.creds.ClientSecret)
			b.Do(t, chromedp.WaitEnabled(chromedp.ID("run-query")))

			p.down.Store(true)
			cs.probe()
			if got := cs.keyState(); got != tc.state {
				t.Fatalf("with the vault cut off the key is %q, want %s", got, tc.state)
			}
			b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="keys"]`)))
			pageWaits(t, b, fmt.Sprintf(`document.getElementById('key-banner').classList.contains(%q)`, tc.class))
			banner := browsertest.Value(t, b, chromedp.Text(chromedp.ID("key-banner")))
			if want := "cluster cluster1 is " + tc.state; !strings.Contains(banner, want) || !strings.Contains(banner, tc.means) {
				t.Errorf("the banner reads %q, want %q and %q in it", banner, want, tc.means)
			}
			row := `document.querySelector('#key-states tr[data-cluster="cluster1"]')`
			pageWaits(t, b, row+`?.querySelector('.check-error')?.textContent.includes('test partition')`)

			p.down.Store(false)
			cs.probe()
			b.Do(t, chromedp.Click(chromedp.CSS(`nav a[data-page="logs"]`)))
			pageWaits(t, b, `document.getElementById('key-banner').hidden`)
			b.RequireClean(t)
		})
	}
}
