package cli

import (
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
	"github.com/sealwatch/sealwatch/internal/node"
)

// TestClusterKeyOnAPKCS11TokenThroughTheCLI runs the guide's SoftHSM2
// example: a key made on the token with `pkcs11 key create`, set on a
// cluster with the PIN from the environment, rotated by a second
// version, and the first disabled as key-usage prints it; a new token
// without its PIN is refused naming how to give it, and the PIN is never
// printed.
func TestClusterKeyOnAPKCS11TokenThroughTheCLI(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch")
	n := startNodeWith(t, node.Config{PKCS11Modules: []string{tok.Module}})
	n.login()
	env := map[string]string{pkcs11PINEnv: tok.PIN}
	key := []string{"--module", tok.Module, "--token", tok.Label, "--key-label", "cl01-cmk"}
	var out strings.Builder
	run := func(env map[string]string, stdin string, args ...string) result {
		t.Helper()
		r := n.runWithAWSEnv(env, stdin, args...)
		out.WriteString(r.stdout + r.stderr)
		return r
	}

	if r := run(nil, "", append([]string{"pkcs11", "key", "create"}, key...)...); r.code != exitUsage || !strings.Contains(r.stderr, pkcs11PINEnv) {
		t.Fatalf("key create without a PIN: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(env, "", append([]string{"pkcs11", "key", "create"}, key...)...); r.code != 0 || !strings.Contains(r.stdout, "Created version 01") {
		t.Fatalf("key create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	n.must("cluster", "create", "--name", "cl01", "-g", "rg1", "--capacity", "100")
	update := []string{"cluster", "update", "--name", "cl01", "--key-source", "pkcs11", "--pkcs11-module", tok.Module,
		"--pkcs11-token", tok.Label, "--pkcs11-key-label", "cl01-cmk"}
	if r := run(nil, "", update...); r.code != exitUsage || !strings.Contains(r.stderr, "is new to cluster cl01") || !strings.Contains(r.stderr, "--pkcs11-pin-stdin") {
		t.Fatalf("a new token without its PIN: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(nil, "", "cluster", "update", "--name", "cl01", "--key-source", "pkcs11", "--pkcs11-token", tok.Label, "--pkcs11-key-label", "x"); r.code != exitUsage || !strings.Contains(r.stderr, "--pkcs11-module is required") {
		t.Fatalf("no module: exit %d\n%s", r.code, r.stderr)
	}
	r := run(nil, tok.PIN+"\n", append(update, "--pkcs11-pin-stdin")...)
	if r.code != 0 {
		t.Fatalf("cluster update --key-source pkcs11: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"pkcs11 " + tok.Label, "cl01-cmk", "Accessible"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cluster update does not show %q:\n%s", want, r.stdout)
		}
	}

	// Rotation: a second version; the account keys move to it at the next
	// check, and key-usage prints the command that disables the first.
	if r := run(env, "", append([]string{"pkcs11", "key", "create"}, key...)...); r.code != 0 || !strings.Contains(r.stdout, "Created version 02") {
		t.Fatalf("second key create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Setting the key again rewraps the account keys under the newest
	// version at once, rather than at the next key check.
	if r := run(env, "", update...); r.code != 0 {
		t.Fatalf("cluster update again after the rotation: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(nil, "", "cluster", "wait", "--name", "cl01", "--rewrapped"); r.code == 0 || !strings.Contains(r.stderr, "key-usage") {
		t.Fatalf("cluster wait --rewrapped on a PKCS#11 key: exit %d\n%s", r.code, r.stderr)
	}
	r = run(nil, "", "cluster", "key-usage", "--name", "cl01")
	disable := "sealwatch pkcs11 key disable --module " + tok.Module + " --token " + tok.Label + " --key-label cl01-cmk --id 01"
	if r.code != 0 || !strings.Contains(r.stdout, disable) {
		t.Fatalf("key-usage does not print %q:\n%s%s", disable, r.stdout, r.stderr)
	}
	args := strings.Fields(strings.TrimPrefix(disable, "sealwatch "))
	if r := run(env, "", args...); r.code != 0 || !strings.Contains(r.stdout, "may no longer wrap") {
		t.Fatalf("%s: exit %d\n%s%s", disable, r.code, r.stdout, r.stderr)
	}
	r = run(env, "", append([]string{"pkcs11", "key", "list", "-o", "json"}, key...)...)
	versions := decode[[]struct {
		ID                  string
		Usable, Destroyable bool
	}](t, r.stdout)
	if len(versions) != 2 || versions[0].ID != "01" || versions[0].Usable || versions[1].ID != "02" || !versions[1].Usable || versions[1].Destroyable {
		t.Fatalf("pkcs11 key list after the rotation and the disable: %+v", versions)
	}
	if r := run(nil, "", "cluster", "show", "--name", "cl01"); r.code != 0 || !strings.Contains(r.stdout, "Accessible") {
		t.Fatalf("cluster after disabling the idle version: exit %d\n%s", r.code, r.stdout)
	}
	if strings.Contains(out.String(), tok.PIN) {
		t.Fatalf("the CLI printed the PIN:\n%s", out.String())
	}
}
