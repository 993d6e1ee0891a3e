package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterIdentityFileIsCheckedBeforeUse(t *testing.T) {
	dir := t.TempDir()
	const good = `{"issuer":"https://ops.example:8443/t1/v2.0","tenantId":"t1","principals":[{"objectId":"o1"},{"objectId":"o2"}]}`
	cases := map[string]struct{ body, want string }{
		"not JSON":          {`issuer: x`, "not a cluster identity file"},
		"no issuer":         {`{"tenantId":"t1","principals":[{"objectId":"o1"}]}`, "lacks the issuer"},
		"plain http issuer": {`{"issuer":"http://ops.example/t1/v2.0","tenantId":"t1","principals":[{"objectId":"o1"}]}`, "lacks the issuer"},
		"no tenant":         {`{"issuer":"https://ops.example/t1/v2.0","principals":[{"objectId":"o1"}]}`, "lacks the issuer"},
		"no principals":     {`{"issuer":"https://ops.example/t1/v2.0","tenantId":"t1","principals":[]}`, "principals"},
		"empty object ID":   {`{"issuer":"https://ops.example/t1/v2.0","tenantId":"t1","principals":[{"objectId":""}]}`, "without an object ID"},
	}
	for name, tc := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadClusterIdentity(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", name, err, tc.want)
		}
	}
	if _, err := loadClusterIdentity(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file was accepted")
	}
	path := filepath.Join(dir, "good.json")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	ci, err := loadClusterIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if ti, err := ci.trustedIssuer(); err != nil || ti.TenantID != "t1" || ti.Client == nil {
		t.Fatalf("trusted issuer %+v, %v", ti, err)
	}
	ci.CACertificate = "not a certificate"
	if _, err := ci.trustedIssuer(); err == nil || !strings.Contains(err.Error(), "not a PEM certificate") {
		t.Fatalf("bad CA: err = %v", err)
	}
	// vault serve refuses to start on a bad file, before it opens anything.
	res := runCLI(t, t.TempDir(), "vault", "serve", "--data", filepath.Join(dir, "vault"), "--addr", "127.0.0.1:0", "--trust", filepath.Join(dir, "not-JSON.json"))
	if res.code == 0 || !strings.Contains(res.stderr, "not a cluster identity file") {
		t.Fatalf("vault serve with a bad trust file: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault")); err == nil {
		t.Fatal("vault serve created its data directory before refusing the trust file")
	}
}

func TestSetPolicyTakesExactlyOnePrincipalSource(t *testing.T) {
	n := startNode(t)
	n.must("login", "--credentials", n.adminFile)
	for _, args := range [][]string{
		{"keyvault", "set-policy", "--name", "v", "--key-permissions", "get"},
		{"keyvault", "set-policy", "--name", "v", "--object-id", "o", "--cluster", "c", "--key-permissions", "get"},
		{"keyvault", "set-policy", "--name", "v", "--object-id", "o", "--identity-file", "f", "--key-permissions", "get"},
	} {
		res := n.run(args...)
		if res.code == 0 || !strings.Contains(res.stderr, "exactly one of --object-id, --cluster and --identity-file") {
			t.Errorf("%v: exit %d\n%s", args, res.code, res.stderr)
		}
	}
}
