package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/logtest"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

// testNode is a node serving on 127.0.0.1 from a temporary data directory,
// and a configuration directory of its own for the CLI's stored credentials.
type testNode struct {
	t         *testing.T
	dataDir   string
	configDir string
	adminFile string
	endpoint  string
}

func startNode(t *testing.T) *testNode { return startNodeWith(t, node.Config{}) }

// startNodeWith starts a node with cfg on 127.0.0.1 in a temporary directory
// and stops it when the test ends.
func startNodeWith(t *testing.T, cfg node.Config) *testNode {
	t.Helper()
	dir := t.TempDir()
	cfg.DataDir = filepath.Join(dir, "data")
	n := nodetest.Start(t, cfg)
	return &testNode{t: t, dataDir: cfg.DataDir, configDir: filepath.Join(dir, "config"),
		adminFile: n.CredentialsFile(), endpoint: n.Endpoint()}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command tree in-process with the node's configuration directory.
func (n *testNode) run(args ...string) result {
	n.t.Helper()
	return runCLI(n.t, n.configDir, args...)
}

func runCLI(t *testing.T, configDir string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, testEnv(configDir, &stdout, &stderr))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testEnv keeps stored credentials in configDir and reads no real environment.
func testEnv(configDir string, stdout, stderr io.Writer) Env {
	return Env{
		Stdout: stdout, Stderr: stderr,
		Getenv: func(k string) string {
			if k == "SEALWATCH_CONFIG_DIR" {
				return configDir
			}
			return ""
		},
		UserConfigDir: func() (string, error) { return "", errors.New("tests use SEALWATCH_CONFIG_DIR") },
	}
}

// must runs args and fails the test unless the command succeeds.
func (n *testNode) must(args ...string) string {
	n.t.Helper()
	r := n.run(args...)
	if r.code != 0 {
		n.t.Fatalf("sealwatch %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (n *testNode) login() {
	n.t.Helper()
	n.must("login", "--credentials", n.adminFile)
}

// clientFor is an API client signed in as an application.
func (n *testNode) clientFor(appID, secret string) *client.Client {
	n.t.Helper()
	admin, err := client.LoadCredentials(n.adminFile)
	if err != nil {
		n.t.Fatal(err)
	}
	creds := *admin
	creds.ClientID, creds.ClientSecret = appID, secret
	c, err := client.New(creds, client.Options{})
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

func TestLoginStoresCredentialsReadableOnlyByTheUser(t *testing.T) {
	n := startNode(t)
	out := n.must("login", "--credentials", n.adminFile)
	if !strings.Contains(out, "Logged in to "+n.endpoint+" as sealwatch-admin") || !strings.Contains(out, "Owner") {
		t.Errorf("login did not say who we are:\n%s", out)
	}
	stored := filepath.Join(n.configDir, "credentials.json")
	fi, err := os.Stat(stored)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("stored credentials have mode %v, want 0600", fi.Mode().Perm())
	}
	secret := decode[profiles](t, mustRead(t, stored)).Profiles[defaultProfile].ClientSecret
	if secret == "" {
		t.Fatal("login stored no credentials under the default profile")
	}
	if strings.Contains(out, secret) {
		t.Error("login printed the client secret")
	}
	// Later commands use the stored copy without --credentials.
	if out := n.must("identity", "app", "list"); !strings.Contains(out, "sealwatch-admin") {
		t.Errorf("identity app list after login:\n%s", out)
	}
}

func TestLoginRefusesCredentialsTheNodeRejects(t *testing.T) {
	n := startNode(t)
	creds := decode[client.Credentials](t, mustRead(t, n.adminFile))
	creds.ClientSecret = "not-the-secret"
	bad := filepath.Join(t.TempDir(), "bad.json")
	buf, _ := json.Marshal(creds)
	if err := os.WriteFile(bad, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	r := n.run("login", "--credentials", bad)
	if r.code != exitError || !strings.Contains(r.stderr, "invalid_client") || !strings.Contains(r.stderr, "hint: ") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "not-the-secret") {
		t.Error("the error quotes the secret")
	}
	if _, err := os.Stat(filepath.Join(n.configDir, "credentials.json")); !errors.Is(err, os.ErrNotExist) {
		t.Error("rejected credentials were stored")
	}
}

func TestApplicationLifecycle(t *testing.T) {
	n := startNode(t)
	n.login()
	ctx := context.Background()

	created := decode[application](t, n.must("identity", "app", "create", "--name", "shipper", "-o", "json"))
	if created.ClientSecret == "" || created.ID == "" || created.AppID == "" {
		t.Fatalf("create did not return the application and its secret: %+v", created)
	}
	first := n.clientFor(created.AppID, created.ClientSecret)
	if _, err := first.Token(ctx, client.AudienceVault); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}
	if out := n.must("identity", "app", "list"); !strings.Contains(out, "shipper") || !strings.Contains(out, created.ID) {
		t.Errorf("list does not show the new application:\n%s", out)
	}

	r := n.run("identity", "app", "reset-secret", created.ID)
	if r.code != 0 {
		t.Fatalf("reset-secret: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "shown only this once") {
		t.Errorf("reset-secret gave no warning to store the secret:\n%s", r.stderr)
	}
	secret := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "client secret: "); ok {
			secret = strings.TrimSpace(v)
		}
	}
	if secret == "" || secret == created.ClientSecret {
		t.Fatalf("reset-secret printed no new secret:\n%s", r.stdout)
	}
	var apiErr *client.APIError
	if _, err := n.clientFor(created.AppID, created.ClientSecret).Token(ctx, client.AudienceVault); !errors.As(err, &apiErr) || apiErr.Code != "invalid_client" {
		t.Fatalf("the old secret after a reset: %v, want invalid_client", err)
	}
	if _, err := n.clientFor(created.AppID, secret).Token(ctx, client.AudienceVault); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}

	if out := n.must("identity", "app", "delete", created.ID); !strings.Contains(out, "Deleted application") {
		t.Errorf("delete said:\n%s", out)
	}
	if out := n.must("identity", "app", "list"); strings.Contains(out, "shipper") {
		t.Errorf("the deleted application is still listed:\n%s", out)
	}
	if _, err := n.clientFor(created.AppID, secret).Token(ctx, client.AudienceVault); err == nil {
		t.Fatal("a deleted application still gets tokens")
	}
}

func TestOutputJSONIsTheServersJSONAndTableIsAligned(t *testing.T) {
	n := startNode(t)
	n.login()
	apps := decode[[]map[string]any](t, n.must("identity", "app", "list", "--output", "json"))
	// The admin, and the node's own document-store principal.
	if len(apps) != 2 || apps[0]["displayName"] != "sealwatch-admin" || apps[0]["createdDateTime"] == nil || apps[1]["kind"] != "ManagedIdentity" {
		t.Fatalf("json list = %v", apps)
	}
	lines := strings.Split(strings.TrimSpace(n.must("identity", "app", "list")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "OBJECT ID") {
		t.Fatalf("table:\n%s", strings.Join(lines, "\n"))
	}
	if hi, ri := strings.Index(lines[0], "CLIENT ID"), strings.Index(lines[1], apps[0]["appId"].(string)); hi != ri {
		t.Errorf("CLIENT ID column at %d in the header but %d in the row", hi, ri)
	}
}

func TestUnauthorizedGivesTheLoginHint(t *testing.T) {
	n := startNode(t)
	n.login()
	t.Run("not logged in", func(t *testing.T) {
		r := runCLI(t, t.TempDir(), "identity", "app", "list")
		if r.code != exitError || !strings.Contains(r.stderr, "not logged in") || !strings.Contains(r.stderr, "sealwatch login") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("deleted principal", func(t *testing.T) {
		app := decode[application](t, n.must("identity", "app", "create", "--name", "temp", "--role", "Owner", "-o", "json"))
		other := t.TempDir()
		creds := decode[client.Credentials](t, mustRead(t, n.adminFile))
		creds.ClientID, creds.ClientSecret = app.AppID, app.ClientSecret
		file := filepath.Join(other, "temp.json")
		buf, _ := json.Marshal(creds)
		if err := os.WriteFile(file, buf, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := runCLI(t, other, "login", "--credentials", file); r.code != 0 {
			t.Fatalf("login as temp: %s", r.stderr)
		}
		n.must("identity", "app", "delete", app.ID)
		r := runCLI(t, other, "identity", "app", "list")
		if r.code != exitError || !strings.Contains(r.stderr, "HTTP 401") || !strings.Contains(r.stderr, "hint: ") || !strings.Contains(r.stderr, "sealwatch login") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
}

// usageCase is a command line refused as a usage error saying want.
type usageCase struct {
	name string
	args []string
	want string
}

// requireUsageErrors runs each command line with the configuration
// directory config: each must exit with exitUsage, saying what is wrong and
// pointing at --help.
func requireUsageErrors(t *testing.T, config string, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, config, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage") {
				t.Errorf("stderr does not say %q and point at --help:\n%s", tc.want, r.stderr)
			}
		})
	}
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	requireUsageErrors(t, config, []usageCase{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"keyvault", "frobnicate"}, `unknown command "frobnicate" for "sealwatch keyvault"`},
		{"misspelt subcommand gets a suggestion", []string{"identity", "app", "craete"}, "did you mean create"},
		{"unknown flag", []string{"identity", "app", "list", "--nope"}, "unknown flag: --nope"},
		{"missing required flag", []string{"identity", "app", "create"}, `required flag(s) "name" not set`},
		{"missing argument", []string{"identity", "app", "delete"}, "accepts 1 arg(s)"},
		{"bad output format", []string{"identity", "app", "list", "-o", "yaml"}, "--output must be json or table"},
		{"login without a file", []string{"login"}, "login needs --credentials"},
		{"bad key type", []string{"keyvault", "key", "create", "--vault-name", "v", "--name", "k", "--kty", "EC"}, "--kty must be RSA or oct"},
		{"bad since", []string{"keyvault", "audit", "--name", "v", "--since", "yesterday"}, "--since"},
		{"bad log level", []string{"up", "--log-level", "loud", "--data", filepath.Join(config, "d")}, "--log-level"},
		{"flush size without a number", []string{"up", "--log-flush-size", "MiB", "--data", filepath.Join(config, "d")}, "is not a size"},
		{"flush size in an unknown unit", []string{"up", "--log-flush-size", "32MB", "--data", filepath.Join(config, "d")}, "is not a size"},
		{"negative flush size", []string{"up", "--log-flush-size", "-1", "--data", filepath.Join(config, "d")}, "is not a size"},
		{"flush size that overflows", []string{"up", "--log-flush-size", "9223372036854775807KiB", "--data", filepath.Join(config, "d")}, "is not a size"},
		{"flush size below the minimum", []string{"up", "--log-flush-size", "4KiB", "--data", filepath.Join(config, "d")}, "between 64KiB and 4GiB, not 4KiB"},
		{"flush size above the maximum", []string{"serve", "--log-flush-size", "5GiB", "--data", filepath.Join(config, "d")}, "between 64KiB and 4GiB"},
		{"scrub interval under a minute", []string{"up", "--scrub-interval", "30s", "--data", filepath.Join(config, "d")}, "--scrub-interval must be at least 1m, not 30s"},
		{"query memory over the node's", []string{"up", "--query-memory", "2GiB", "--query-memory-total", "1GiB", "--data", filepath.Join(config, "d")}, "must be above 0 and not exceed --query-memory-total (1GiB)"},
		{"flush interval under a second", []string{"up", "--log-flush-interval", "10ms", "--data", filepath.Join(config, "d")}, "--log-flush-interval must be at least 1s"},
		{"import needs one key file", []string{"keyvault", "key", "import", "--vault-name", "v", "--name", "k"}, "exactly one of --pem-file"},
		{"create needs a resource group", []string{"keyvault", "create", "--name", "v"}, "-g RG"},
		{"nothing to change", []string{"keyvault", "key", "set-attributes", "--vault-name", "v", "--name", "k"}, "nothing to change"},
	})
	t.Run("help is not an error", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"keyvault"}, {"keyvault", "key", "create", "--help"}} {
			if r := runCLI(t, config, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("%v: exit %d, stdout:\n%s", args, r.code, r.stdout)
			}
		}
	})
}

func TestListFlagsTakeSpaceSeparatedValues(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args, want []string
	}{
		{"values after the flag",
			[]string{"keyvault", "set-policy", "--key-permissions", "get", "wrapKey", "unwrapKey", "--name", "v"},
			[]string{"keyvault", "set-policy", "--key-permissions=get", "--key-permissions=wrapKey", "--key-permissions=unwrapKey", "--name", "v"}},
		{"flag with = and more values",
			[]string{"--ops=wrapKey", "unwrapKey"},
			[]string{"--ops=wrapKey", "--ops=unwrapKey"}},
		{"other flags keep their single value",
			[]string{"--name", "k", "extra"},
			[]string{"--name", "k", "extra"}},
		{"a double dash ends the rewriting",
			[]string{"--tags", "a=1", "--", "b=2"},
			[]string{"--tags=a=1", "--", "b=2"}},
		{"the first value may look like a flag",
			[]string{"--tags", "-x=1"},
			[]string{"--tags=-x=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expandListFlags(tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("expandListFlags(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

func TestUpServesUntilCancelledAndExitsCleanly(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr logtest.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- Run(ctx, []string{"up", "--data", dataDir, "--addr", "127.0.0.1:0", "--log-level", "warn"},
			Env{Stdout: pw, Stderr: &stderr, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	// Read the banner up to the login command it tells us to type.
	sc := bufio.NewScanner(pr)
	var banner []string
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "sealwatch login --credentials") {
			break
		}
	}
	go io.Copy(io.Discard, pr) // keep `up` from blocking on later output
	text := strings.Join(banner, "\n")
	adminFile := filepath.Join(dataDir, "admin.json")
	for _, want := range []string{"endpoint: https://127.0.0.1:", "CA file:", "tenant:", "First run: wrote", "sealwatch login --credentials " + adminFile} {
		if !strings.Contains(text, want) {
			t.Errorf("the banner does not say %q:\n%s", want, text)
		}
	}
	if r := runCLI(t, t.TempDir(), "login", "--credentials", adminFile); r.code != 0 {
		t.Fatalf("login to the node `up` started: %s", r.stderr)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("up exited %d after a clean shutdown; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop after its context ended")
	}
}

func TestByteSizeReadsWhatItPrints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		text string
	}{
		{"0", 0, "0"},
		{"1000", 1000, "1000"},
		{"65536", 64 << 10, "64KiB"},
		{"64KiB", 64 << 10, "64KiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
		{"32MiB", 32 << 20, "32MiB"},
		{"4GiB", 4 << 30, "4GiB"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var b byteSize
			if err := b.Set(tc.in); err != nil || int64(b) != tc.n || b.String() != tc.text {
				t.Fatalf("Set(%q) = %d (%s), %v; want %d (%s)", tc.in, int64(b), b, err, tc.n, tc.text)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
