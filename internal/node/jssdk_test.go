package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
)

// The JavaScript examples of docs/sdk.md, run by these tests with Node.js
// and the official SDKs exactly as a user runs them: the same files, the
// user's environment variables, the node's CA trusted with
// NODE_EXTRA_CA_CERTS.
const jsExamples = "../../docs/examples/sdk/js"

// jsPackages are the SDKs the examples use, which scripts/test.sh installs.
var jsPackages = []string{"@azure/identity", "@azure/keyvault-keys", "@azure/monitor-ingestion", "@azure/monitor-query-logs"}

// jsLockedVersions returns the version of each of jsPackages that the
// examples' package-lock.json names.
func jsLockedVersions(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(jsExamples, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct{ Version string }
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	versions := map[string]string{}
	for _, p := range jsPackages {
		v := lock.Packages["node_modules/"+p].Version
		if v == "" {
			t.Fatalf("package-lock.json names no version of %s", p)
		}
		versions[p] = v
	}
	return versions
}

// jsRunner runs the JavaScript examples against one node, signed in as one
// principal.
type jsRunner struct {
	node    string // the node binary
	modules string // node_modules holding jsPackages
	env     []string
	hosts   []string // host names the examples' /etc/hosts sends to 127.0.0.1
}

// newJSRunner finds Node.js and the SDKs, and fails the test, naming the
// command that installs them, when either is missing.
func newJSRunner(t *testing.T, rn *running, clientID, secret string) *jsRunner {
	t.Helper()
	const install = "run scripts/test.sh, which installs Node.js and the SDKs into ~/.cache/sealwatch-test and runs the tests with SEALWATCH_TEST_NODE_MODULES set"
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the JavaScript SDK tests need Node.js, and there is no node on PATH: %s", install)
	}
	modules := os.Getenv("SEALWATCH_TEST_NODE_MODULES")
	if modules == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("SEALWATCH_TEST_NODE_MODULES is not set and there is no cache directory (%v): %s", err, install)
		}
		modules = filepath.Join(cache, "sealwatch-test", "js", "node_modules")
	}
	locked := jsLockedVersions(t)
	for _, p := range jsPackages {
		raw, err := os.ReadFile(filepath.Join(modules, p, "package.json"))
		if err != nil {
			t.Fatalf("the JavaScript SDK tests need %s in %s, which is missing: %s", p, modules, install)
		}
		var installed struct{ Version string }
		if err := json.Unmarshal(raw, &installed); err != nil {
			t.Fatalf("%s in %s: %v: %s", p, modules, err, install)
		}
		if installed.Version != locked[p] {
			t.Fatalf("%s holds %s %s, but the examples' package-lock.json names %s: %s", modules, p, installed.Version, locked[p], install)
		}
	}
	// go test caches a passing result until a file the test reads changes;
	// node reads the examples in a process of its own, so read them here.
	examples, err := os.ReadDir(jsExamples)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range examples {
		if e.Type().IsRegular() {
			if _, err := os.ReadFile(filepath.Join(jsExamples, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &jsRunner{node: bin, modules: modules, env: []string{
		"AZURE_TENANT_ID=" + rn.creds.TenantID,
		"AZURE_CLIENT_ID=" + clientID,
		"AZURE_CLIENT_SECRET=" + secret,
		"SEALWATCH_ENDPOINT=" + rn.creds.Endpoint,
		"NODE_EXTRA_CA_CERTS=" + rn.creds.CAFile,
	}}
}

// run runs example with args and extra environment variables, and returns
// what it printed and its error (an *exec.ExitError when it failed).
func (j *jsRunner) run(t *testing.T, extraEnv []string, example string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script, err := filepath.Abs(filepath.Join(jsExamples, example))
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{j.node, script}, args...)
	if len(j.hosts) > 0 {
		argv = j.withHosts(t, argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Only what a user sets: no proxy, no AZURE_* or NODE_OPTIONS of the
	// machine running the tests.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"NODE_PATH=" + j.modules,
	}, append(slices.Clone(j.env), extraEnv...)...)
	cmd.Dir = t.TempDir()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("node %s did not finish within 2 minutes: %s", example, errOut.String())
	}
	return out.String(), errOut.String(), err
}

// mustRun runs example and fails the test when it fails.
func (j *jsRunner) mustRun(t *testing.T, extraEnv []string, example string, args ...string) string {
	t.Helper()
	out, errOut, err := j.run(t, extraEnv, example, args...)
	if err != nil {
		t.Fatalf("node %s %s: %v\n%s%s", example, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// withHosts runs argv in a mount namespace of its own whose /etc/hosts has
// the lines a user adds for the node's vault hosts (docs/sdk.md, "Vault host
// names from Node.js"); the machine's own /etc/hosts is not touched.
func (j *jsRunner) withHosts(t *testing.T, argv []string) []string {
	t.Helper()
	// The lines sealwatch keyvault hosts --install writes.
	hosts := "127.0.0.1 localhost\n"
	for _, h := range j.hosts {
		hosts += "127.0.0.1\t" + h + "\n"
	}
	file := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(file, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	unshare := []string{"unshare", "--mount"}
	if os.Geteuid() != 0 {
		unshare = append(unshare, "--map-root-user")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("the vault tests give Node.js its hosts entries with unshare (util-linux), which is not on PATH")
	}
	// sh's $0 is the hosts file, "$@" the command.
	return append(append(unshare, "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, file), argv...)
}

func TestJSIdentityExampleGetsATokenTheNodeAccepts(t *testing.T) {
	rn := startNode(t, t.TempDir())
	js := newJSRunner(t, rn, rn.creds.ClientID, rn.creds.ClientSecret)

	tok := strings.TrimSpace(js.mustRun(t, nil, "token.js", "https://vault.azure.net/.default"))
	claims, err := rn.node.identity.Verify(context.Background(), tok, identity.AudienceVault)
	if err != nil {
		t.Fatalf("the token from @azure/identity does not verify: %v", err)
	}
	if claims.AppID != rn.creds.ClientID || claims.TenantID != rn.creds.TenantID {
		t.Fatalf("token for app %s of tenant %s, want the admin's %s of %s", claims.AppID, claims.TenantID, rn.creds.ClientID, rn.creds.TenantID)
	}

	t.Run("a wrong secret is refused, saying so", func(t *testing.T) {
		_, errOut, err := js.run(t, []string{"AZURE_CLIENT_SECRET=sws~wrong"}, "token.js", "https://vault.azure.net/.default")
		if err == nil || !strings.Contains(errOut, "invalid_client") || !strings.Contains(errOut, "secret is wrong") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
	t.Run("without the node's CA the example says to set NODE_EXTRA_CA_CERTS", func(t *testing.T) {
		_, errOut, err := js.run(t, []string{"NODE_EXTRA_CA_CERTS="}, "token.js", "https://vault.azure.net/.default")
		if err == nil || !strings.Contains(errOut, "NODE_EXTRA_CA_CERTS names its CA file") {
			t.Fatalf("a token without trusting the node's CA: exit %v, stderr %q", err, errOut)
		}
	})
}

// jsApp creates an application and returns its object ID, client ID and secret.
func jsApp(t *testing.T, rn *running, name string) (objectID, clientID, secret string) {
	t.Helper()
	p, secret, err := rn.node.identity.CreateApplication(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ObjectID, p.AppID, secret
}

func TestJSKeyVaultExampleCreatesAKeyAndWrapsInTheVault(t *testing.T) {
	rn := startNode(t, t.TempDir())
	oid, clientID, secret := jsApp(t, rn, "js-keys")
	rn.createVault("jskeys", map[string][]string{oid: {"create", "get", "wrapKey", "unwrapKey"}})
	js := newJSRunner(t, rn, clientID, secret)
	vaultURL := rn.vaultURL("jskeys")
	env := []string{"VAULT_URL=" + vaultURL}

	t.Run("a vault host that does not resolve is named, with the hosts line to add", func(t *testing.T) {
		_, errOut, err := js.run(t, env, "keys.js", "never-created")
		want := fmt.Sprintf(`add the line "127.0.0.1 jskeys.%s" to /etc/hosts (sealwatch keyvault hosts | sudo tee -a /etc/hosts adds one for each vault)`, rn.creds.VaultDNSSuffix)
		if err == nil || !strings.Contains(errOut, want) {
			t.Fatalf("exit %v, stderr %q, want it to say %q", err, errOut, want)
		}
	})

	js.hosts = []string{"jskeys." + rn.creds.VaultDNSSuffix}
	out := js.mustRun(t, env, "keys.js", "js-key")
	var key struct{ Key struct{ KID string } }
	if st := rn.call("GET", vaultURL+"/keys/js-key?api-version=7.6", rn.token(clientID, secret, "https://vault.azure.net/.default"), nil, &key); st != 200 {
		t.Fatalf("the key the example created: GET %d", st)
	}
	kid := key.Key.KID
	version := kid[strings.LastIndexByte(kid, '/')+1:]
	for _, want := range []string{
		"created " + kid + "\n",
		"got " + kid + ": RSA, 3072 bits, operations wrapKey unwrapKey\n",
		"wrapped a 32-byte key into 384 bytes with " + kid + " and unwrapped it again\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The vault did the wrapping: its audit log has both operations, by the
	// example's application, on the version created.
	done := jsAuditedOps(t, rn, "jskeys", "js-key", oid, version)
	for _, op := range []string{"KeyCreate", "KeyGet", "KeyWrap", "KeyUnwrap"} {
		if done[op] == 0 {
			t.Errorf("the vault's audit log has no successful %s of %s by the example's application", op, version)
		}
	}

	t.Run("without a hosts entry, an agent that dials the vault host at the node", func(t *testing.T) {
		js.hosts = nil
		out := js.mustRun(t, env, "keys-at-node.js", "js-key")
		if want := "wrapped a 32-byte key into 384 bytes with " + kid + " and unwrapped it again, with no hosts entry\n"; out != want {
			t.Fatalf("keys-at-node.js printed %q, want %q", out, want)
		}
		done := jsAuditedOps(t, rn, "jskeys", "js-key", oid, version)
		// One of each by keys.js, one by keys-at-node.js.
		if done["KeyWrap"] != 2 || done["KeyUnwrap"] != 2 {
			t.Fatalf("the vault's audit log has %d wraps and %d unwraps, want the example's second of each", done["KeyWrap"], done["KeyUnwrap"])
		}
	})
	t.Run("a key keys.js has not created is not found, and the example says to run keys.js first", func(t *testing.T) {
		js.hosts = nil
		_, errOut, err := js.run(t, env, "keys-at-node.js", "never-created")
		if err == nil || !strings.Contains(errOut, "'never-created' was not found") || !strings.Contains(errOut, "create the key first: node keys.js never-created") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
}

// jsAuditedOps counts, by operation, the successful audit records of vault's
// key name at version by the principal oid.
func jsAuditedOps(t *testing.T, rn *running, vault, name, oid, version string) map[string]int {
	t.Helper()
	var audit struct {
		Value []struct {
			Operation, KeyVersion, CallerObjectID string
			Status                                int `json:"httpStatus"`
		}
	}
	url := fmt.Sprintf("%s/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/%s/auditRecords?api-version=2023-07-01&key=%s", rn.creds.Endpoint, rn.creds.TenantID, vault, name)
	if st := rn.call("GET", url, rn.adminToken("https://management.azure.com/.default"), nil, &audit); st != 200 {
		t.Fatalf("audit records: %d", st)
	}
	done := map[string]int{}
	for _, r := range audit.Value {
		if r.CallerObjectID == oid && r.KeyVersion == version && r.Status == 200 {
			done[r.Operation]++
		}
	}
	return done
}

func TestJSIngestionAndQueryExamplesRoundTripRows(t *testing.T) {
	cs := setUpCMK(t)
	cols := []map[string]string{{"name": "Computer", "type": "string"}, {"name": "Account", "type": "string"}, {"name": "EventID", "type": "int"}, {"name": "Activity", "type": "string"}}
	ruleID := cs.streamDCR(t, "events", "Custom-Events", cs.workspace["id"].(string), cols)
	// Each example signs in as an application with the one role it needs.
	assign := func(app, role, scope string) (clientID, secret string) {
		t.Helper()
		oid, clientID, secret := jsApp(t, cs.running, app)
		body := map[string]any{"properties": map[string]any{"roleDefinitionId": role, "principalId": oid}}
		if st := cs.call("PUT", cs.mgmtURL(scope+"/providers/Microsoft.Authorization/roleAssignments/"+app), cs.mgmt, body, nil); st != 201 {
			t.Fatalf("assign %s the %s role: %d", app, role, st)
		}
		return clientID, secret
	}
	shipperID, shipperSecret := assign("js-shipper", "Ingestor", "Microsoft.Insights/dataCollectionRules/events")
	analystID, analystSecret := assign("js-analyst", "Reader", "Microsoft.OperationalInsights/workspaces/secops")
	events, err := filepath.Abs("../../docs/examples/events.json")
	if err != nil {
		t.Fatal(err)
	}

	shipper := newJSRunner(t, cs.running, shipperID, shipperSecret)
	out := shipper.mustRun(t, nil, "ingest.js", ruleID, "Custom-Events", events)
	if want := fmt.Sprintf("sent 5 rows to stream Custom-Events of rule %s\n", ruleID); out != want {
		t.Fatalf("ingest.js printed %q, want %q", out, want)
	}
	t.Run("a stream the rule does not have is refused with the node's message", func(t *testing.T) {
		_, errOut, err := shipper.run(t, nil, "ingest.js", ruleID, "Custom-Other", events)
		if err == nil || !strings.Contains(errOut, "1 batches refused: data collection rule 'events' has no data flow for stream 'Custom-Other'") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})

	reader := newJSRunner(t, cs.running, analystID, analystSecret)
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	out = reader.mustRun(t, nil, "query.js", customerID, "Events_CL | where EventID == 4625 | summarize failures = count() by Account | sort by failures desc, Account asc")
	want := `{"Account":"CORP\\mallory","failures":3}` + "\n" + `{"Account":"CORP\\bob","failures":1}` + "\n"
	if out != want {
		t.Fatalf("query.js printed\n%s\nwant\n%s", out, want)
	}
	t.Run("a query that does not parse is refused with the node's message", func(t *testing.T) {
		_, errOut, err := reader.run(t, nil, "query.js", customerID, "Events_CL | where")
		if err == nil || !strings.Contains(errOut, "syntax error") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
	// A row comes back with the types of the rule's columns: EventID a number.
	out = reader.mustRun(t, nil, "query.js", customerID, `Events_CL | where Account == @"CORP\alice" | project Computer, EventID`)
	if want := `{"Computer":"dc01.corp.example","EventID":4624}` + "\n"; out != want {
		t.Fatalf("query.js printed %q, want %q", out, want)
	}
}

// TestJSGuideNamesTheTestedVersions holds docs/sdk.md's table of packages to
// the versions the tests run.
func TestJSGuideNamesTheTestedVersions(t *testing.T) {
	guide, err := os.ReadFile("../../docs/sdk.md")
	if err != nil {
		t.Fatal(err)
	}
	for p, v := range jsLockedVersions(t) {
		if row := fmt.Sprintf("| `%s` | %s |", p, v); !strings.Contains(string(guide), row) {
			t.Errorf("docs/sdk.md has no row starting %q: the JavaScript table names another version than package-lock.json", row)
		}
	}
}

// TestJSQueryExamplePrintsAPartialResultWithItsNotice: @azure/monitor-query-logs reads a
// result over the rows one answer holds as LogsQueryResultStatus.PartialFailure, not a
// failure, and query.js prints its first rows and the node's words on stderr.
func TestJSQueryExamplePrintsAPartialResultWithItsNotice(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), QueryResultRows: 3}) // small, to stay fast
	reader := newJSRunner(t, cs.running, cs.creds.ClientID, cs.creds.ClientSecret)
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	out, errOut, err := reader.run(t, nil, "query.js", customerID, "datatable(x:long)[1,2,3,4,5]")
	if err != nil || out != "{\"x\":1}\n{\"x\":2}\n{\"x\":3}\n" {
		t.Fatalf("exit %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	if want := "partial result: the result has more than the 3 rows one answer holds: these are its first 3"; !strings.Contains(errOut, want) {
		t.Fatalf("stderr %q, want %q", errOut, want)
	}
}
