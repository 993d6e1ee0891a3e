package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cli"
	sealwatchnode "github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

// These tests run the examples of docs/sdk.md, "Go", as a user does: the
// program built with `go build`, the official SDKs at the versions go.mod
// names, the environment variables the guide sets, a node started here on
// 127.0.0.1, and the node set up with the sealwatch command. The vault host
// resolves through an /etc/hosts that `sealwatch keyvault hosts --install`
// wrote, given to the example in a mount namespace of its own (unshare), so
// the machine's /etc/hosts is never touched.

// env is a node set up for the examples and a sealwatch command logged in to it.
type env struct {
	t      *testing.T
	n      *nodetest.Node
	config string // the CLI's configuration directory
	bin    string // the examples, built
}

func setUp(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, n: nodetest.Start(t, sealwatchnode.Config{}), config: t.TempDir(), bin: buildExamples(t)}
	e.sealwatch("login", "--credentials", e.n.CredentialsFile())
	return e
}

// buildExamples builds this directory's program with the go command that
// runs the test.
func buildExamples(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sdkexample")
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build the examples: %v\n%s", err, out)
	}
	return bin
}

// sealwatch runs the sealwatch command in-process and returns its output.
func (e *env) sealwatch(args ...string) string {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "SEALWATCH_CONFIG_DIR" {
				return e.config
			}
			return ""
		}})
	if code != 0 {
		e.t.Fatalf("sealwatch %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

// app creates an application and returns its object ID, client ID and secret.
func (e *env) app(name string) (objectID, clientID, secret string) {
	e.t.Helper()
	var a struct{ ID, AppID, ClientSecret string }
	if err := json.Unmarshal([]byte(e.sealwatch("identity", "app", "create", "--name", name, "-o", "json")), &a); err != nil {
		e.t.Fatal(err)
	}
	return a.ID, a.AppID, a.ClientSecret
}

// example runs the built examples as clientID, with the guide's environment
// and extra, in a mount namespace whose /etc/hosts is hostsFile and whose
// resolver reads nothing else (as on a stock Debian, where *.localhost does
// not resolve by itself).
func (e *env) example(hostsFile, clientID, secret string, extra []string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		e.t.Fatalf("the Go SDK examples get their /etc/hosts with unshare (util-linux), which is not on PATH; scripts/test.sh runs the tests where it is")
	}
	nsswitch := filepath.Join(e.t.TempDir(), "nsswitch.conf")
	if err := os.WriteFile(nsswitch, []byte("hosts: files\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	argv := []string{"unshare", "--mount"}
	if os.Geteuid() != 0 {
		argv = append(argv, "--map-root-user")
	}
	// sh's $0 and $1 are the two files, "$@" the command.
	argv = append(argv, "sh", "-c", `mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"`,
		hostsFile, nsswitch, e.bin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], args...)...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.t.TempDir(),
		"SEALWATCH_ENDPOINT=" + e.n.Endpoint(),
		"SEALWATCH_CA_FILE=" + e.n.Creds.CAFile,
		"AZURE_TENANT_ID=" + e.n.Creds.TenantID,
		"AZURE_CLIENT_ID=" + clientID,
		"AZURE_CLIENT_SECRET=" + secret,
	}, extra...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		e.t.Fatalf("sdkexample %s did not finish within 2 minutes: %s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), errOut.String(), err
}

func (e *env) mustExample(hostsFile, clientID, secret string, extra []string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.example(hostsFile, clientID, secret, extra, args...)
	if err != nil {
		e.t.Fatalf("sdkexample %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// hostsFile writes a hosts file holding localhost and what extra adds.
func hostsFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(f, []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGoTokenExampleGetsATokenTheNodeAccepts(t *testing.T) {
	e := setUp(t)
	hosts := hostsFile(t)
	tok := strings.TrimSpace(e.mustExample(hosts, e.n.Creds.ClientID, e.n.Creds.ClientSecret, nil, "token", "https://management.azure.com/.default"))
	url := e.n.Endpoint() + "/subscriptions/" + e.n.Creds.TenantID + "/providers/Microsoft.KeyVault/vaults?api-version=2023-07-01"
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.n.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the node answered the example's token with %d", resp.StatusCode)
	}

	t.Run("a wrong secret is refused with the node's message", func(t *testing.T) {
		_, errOut, err := e.example(hosts, e.n.Creds.ClientID, "sws~wrong", nil, "token", "https://management.azure.com/.default")
		if err == nil || !strings.Contains(errOut, "invalid_client") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
	t.Run("an untrusted node says which file to trust", func(t *testing.T) {
		other := otherCA(t)
		_, errOut, err := e.example(hosts, e.n.Creds.ClientID, e.n.Creds.ClientSecret, []string{"SEALWATCH_CA_FILE=" + other}, "token", "https://management.azure.com/.default")
		if err == nil || !strings.Contains(errOut, "SEALWATCH_CA_FILE must name its CA file") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
}

// TestGoKeysExampleWrapsInTheVault: azkeys reaches the vault at its own host
// name once `sealwatch keyvault hosts --install` wrote the entry, and says
// what to do before.
func TestGoKeysExampleWrapsInTheVault(t *testing.T) {
	e := setUp(t)
	oid, clientID, secret := e.app("go-keys")
	e.sealwatch("keyvault", "create", "--name", "cmk1", "-g", "rg1", "--enable-purge-protection")
	e.sealwatch("keyvault", "set-policy", "--name", "cmk1", "--object-id", oid, "--key-permissions", "create", "get", "wrapKey", "unwrapKey")
	vault := []string{"VAULT_URL=" + e.n.VaultURL("cmk1")}
	hosts := hostsFile(t)

	t.Run("before the hosts entry, the error says how to add it", func(t *testing.T) {
		_, errOut, err := e.example(hosts, clientID, secret, vault, "keys", "app-key")
		want := `cmk1.vault.localhost does not resolve: add the line "127.0.0.1 cmk1.vault.localhost" to /etc/hosts, or run ` + "`sealwatch keyvault hosts | sudo tee -a /etc/hosts`"
		if err == nil || !strings.Contains(errOut, want) {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})

	e.sealwatch("keyvault", "hosts", "--install", "--hosts-file", hosts)
	out := e.mustExample(hosts, clientID, secret, vault, "keys", "app-key")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	prefix := e.n.VaultURL("cmk1") + "/keys/app-key/"
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "created "+prefix) ||
		!strings.Contains(lines[1], ": RSA, 3072 bits, operations wrapKey unwrapKey") ||
		!strings.HasPrefix(lines[2], "wrapped a 32-byte key into 384 bytes with "+prefix) {
		t.Fatalf("the example printed:\n%s", out)
	}
	audit := e.sealwatch("keyvault", "audit", "--name", "cmk1", "--key", "app-key")
	for _, op := range []string{"KeyCreate", "KeyGet", "KeyWrap", "KeyUnwrap"} {
		if !strings.Contains(audit, op) || !strings.Contains(audit, oid) {
			t.Errorf("the audit log does not show %s by %s:\n%s", op, oid, audit)
		}
	}
}

// TestGoIngestAndQueryExamplesRoundTripRows: rows sent by the ingest example
// come back from azquery with their types, each example signed in as an
// application with the one role it needs.
func TestGoIngestAndQueryExamplesRoundTripRows(t *testing.T) {
	e := setUp(t)
	e.sealwatch("workspace", "create", "--name", "secops", "-g", "security")
	e.sealwatch("dcr", "create", "--name", "events", "-g", "security", "--workspace", "secops", "--stream", "Custom-Events",
		"--column", "Computer:string", "--column", "Account:string", "--column", "EventID:int", "--column", "Activity:string")
	shipperOID, shipperID, shipperSecret := e.app("go-shipper")
	analystOID, analystID, analystSecret := e.app("go-analyst")
	e.sealwatch("role", "assign", "--role", "Ingestor", "--object-id", shipperOID, "--dcr", "events", "-g", "security")
	e.sealwatch("role", "assign", "--role", "Reader", "--object-id", analystOID, "--workspace", "secops", "-g", "security")
	var dcr struct {
		Properties struct{ ImmutableID string }
	}
	var ws struct {
		Properties struct{ CustomerID string }
	}
	decodeJSON(t, e.sealwatch("dcr", "show", "--name", "events", "-g", "security", "-o", "json"), &dcr)
	decodeJSON(t, e.sealwatch("workspace", "show", "--name", "secops", "-g", "security", "-o", "json"), &ws)
	events, err := filepath.Abs("../../events.json")
	if err != nil {
		t.Fatal(err)
	}
	hosts := hostsFile(t)

	rule := dcr.Properties.ImmutableID
	if out := e.mustExample(hosts, shipperID, shipperSecret, nil, "ingest", rule, "Custom-Events", events); out != fmt.Sprintf("sent 5 rows to stream Custom-Events of rule %s\n", rule) {
		t.Fatalf("ingest printed %q", out)
	}
	t.Run("a stream the rule does not have is refused with the node's message", func(t *testing.T) {
		_, errOut, err := e.example(hosts, shipperID, shipperSecret, nil, "ingest", rule, "Custom-Other", events)
		if err == nil || !strings.Contains(errOut, "error: StreamNotFound: data collection rule 'events' has no data flow for stream 'Custom-Other'") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})

	out := e.mustExample(hosts, analystID, analystSecret, nil, "query", ws.Properties.CustomerID,
		"Events_CL | where EventID == 4625 | summarize failures = count() by Account | sort by failures desc, Account asc")
	if want := `{"Account":"CORP\\mallory","failures":3}` + "\n" + `{"Account":"CORP\\bob","failures":1}` + "\n"; out != want {
		t.Fatalf("query printed\n%s\nwant\n%s", out, want)
	}
	t.Run("a query that does not parse is refused with the node's message", func(t *testing.T) {
		_, errOut, err := e.example(hosts, analystID, analystSecret, nil, "query", ws.Properties.CustomerID, "Events_CL | where")
		if err == nil || !strings.Contains(errOut, "syntax error") {
			t.Fatalf("exit %v, stderr %q", err, errOut)
		}
	})
	t.Run("a result over the 500,000 rows one answer holds prints its first rows and the node's words", func(t *testing.T) {
		out, errOut, err := e.example(hosts, analystID, analystSecret, nil, "query", ws.Properties.CustomerID,
			"union (range x from 1 to 500000 step 1), (print x = 0)")
		if err != nil || strings.Count(out, "\n") != 500_000 ||
			!strings.Contains(errOut, "partial result: the result has more than the 500000 rows one answer holds: these are its first 500000") {
			t.Fatalf("exit %v, %d rows, stderr %q", err, strings.Count(out, "\n"), errOut)
		}
	})
}

func decodeJSON(t *testing.T, s string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// otherCA writes the certificate of a CA that did not issue the node's.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
