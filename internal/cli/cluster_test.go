package cli

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/node"
)

// cmkCLISetup is what setUpCMKWithCLI made: vault cmkvault with key ws-cmk,
// cluster cluster1 and workspace secops in rg1, onboarded under the key.
type cmkCLISetup struct {
	*testNode
	principalID, docPrincipalID string
	keyVersion                  string // the key's version when it was set
}

// setUpCMKWithCLI does the five set-up steps with nothing but the CLI: a
// vault with purge protection and a key; a cluster; both of its principals
// granted the key; the key set on the cluster; a workspace linked to it and
// onboarded under the key. Resource groups are given only where create needs
// them: every later command finds its resource by listing.
func setUpCMKWithCLI(t *testing.T, n *testNode) *cmkCLISetup {
	t.Helper()
	n.login()
	n.must("keyvault", "create", "--name", "cmkvault", "-g", "rg1", "--enable-purge-protection")
	key := decode[keyBundle](t, n.must("keyvault", "key", "create", "--vault-name", "cmkvault", "--name", "ws-cmk", "--ops", "wrapKey", "unwrapKey", "-o", "json"))
	_, version := kidParts(key.Key.KID)

	out := n.must("cluster", "create", "--name", "cluster1", "-g", "rg1")
	c := decode[clusterResource](t, n.must("cluster", "show", "--name", "cluster1", "-o", "json"))
	cs := &cmkCLISetup{testNode: n, principalID: c.Identity.PrincipalID, docPrincipalID: c.Properties.DocumentStorePrincipalID, keyVersion: version}
	if cs.principalID == "" || cs.docPrincipalID == "" || cs.principalID == cs.docPrincipalID {
		t.Fatalf("the cluster does not name two principals: %+v", c)
	}
	for _, want := range []string{cs.principalID, cs.docPrincipalID, "set-policy", "get wrapKey unwrapKey", "sealwatch cluster update --name cluster1", "--key-name"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster create does not say %q:\n%s", want, out)
		}
	}

	// Setting the key before it is granted is refused with the node's
	// message, which names the principal, the missing permission and the
	// command that grants it; run as printed, it does. The cluster's identity
	// is refused first, then the document-store principal.
	for _, oid := range []string{cs.principalID, cs.docPrincipalID} {
		r := n.run("cluster", "update", "--name", "cluster1", "--key-vault", "cmkvault", "--key-name", "ws-cmk")
		if r.code != exitError || !strings.Contains(r.stderr, "(object ID "+oid+") lacks the get permission on key 'ws-cmk' in key vault 'cmkvault'") ||
			!strings.Contains(r.stderr, "access-policy problem") || strings.Contains(r.stderr, "revoked") {
			t.Fatalf("key set before %s is granted: exit %d\n%s", oid, r.code, r.stderr)
		}
		n.must(printedCommand(t, r.stderr, "sealwatch keyvault set-policy ")...)
	}
	out = n.must("cluster", "update", "--name", "cluster1", "--key-vault", "cmkvault", "--key-name", "ws-cmk")
	for _, want := range []string{"https://cmkvault.", "ws-cmk", "latest", "Accessible"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster update does not show %q:\n%s", want, out)
		}
	}

	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	if out := n.must("workspace", "link", "--name", "secops", "--cluster", "cluster1"); !strings.Contains(out, "Linked workspace secops to cluster cluster1") ||
		!strings.Contains(out, "sentinel onboard --workspace secops -g rg1 --cmk") {
		t.Errorf("workspace link:\n%s", out)
	}
	n.must("sentinel", "onboard", "--workspace", "secops", "--cmk")
	return cs
}

// printedCommand is the arguments of the `sealwatch ...` command a message
// prints between backquotes, starting with prefix.
func printedCommand(t *testing.T, msg, prefix string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(msg, "`"+prefix)
	cmd, _, closed := strings.Cut(rest, "`")
	if !ok || !closed {
		t.Fatalf("the message prints no `%s...` command:\n%s", prefix, msg)
	}
	args, err := splitArgs(strings.TrimPrefix(prefix, "sealwatch ") + cmd)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

func TestFiveStepSetUpThroughTheCLIPutsTheKeyInForce(t *testing.T) {
	cs := setUpCMKWithCLI(t, startNode(t))

	out := cs.must("cluster", "show", "--name", "cluster1")
	for _, want := range []string{"Accessible", "latest", "ws-cmk", "secops", cs.principalID, cs.docPrincipalID, "key last checked:"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster show does not show %q:\n%s", want, out)
		}
	}
	c := decode[clusterResource](t, cs.must("cluster", "show", "--name", "cluster1", "-g", "rg1", "-o", "json"))
	kv := c.Properties.KeyVaultProperties
	if c.Properties.KeyState != "Accessible" || kv == nil || kv.KeyName != "ws-cmk" || kv.KeyVersion != "" || !strings.HasPrefix(kv.KeyVaultURI, "https://cmkvault.") {
		t.Errorf("cluster show json: state %q, key %+v", c.Properties.KeyState, kv)
	}

	lines := strings.Split(strings.TrimSpace(cs.must("cluster", "list")), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("cluster list:\n%s", strings.Join(lines, "\n"))
	}
	for _, want := range []string{"cluster1", "rg1", "100 GB/day", "ws-cmk", "latest", "Accessible"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("cluster list row does not show %q: %s", want, lines[1])
		}
	}
	if hi, ri := strings.Index(lines[0], "KEY STATE"), strings.Index(lines[1], "Accessible"); hi != ri {
		t.Errorf("KEY STATE column at %d in the header but %d in the row", hi, ri)
	}

	if out := cs.must("sentinel", "show", "--workspace", "secops"); !strings.Contains(out, "secops") || !strings.Contains(out, "cluster1") || strings.Count(out, "yes") != 2 {
		t.Errorf("sentinel show:\n%s", out)
	}
	if out := cs.must("workspace", "show", "--name", "secops"); !strings.Contains(out, "LACluster") || !strings.Contains(out, "clusters/cluster1") || !strings.Contains(out, "exportToStorage") {
		t.Errorf("workspace show:\n%s", out)
	}
}

func TestCMKWorkspaceCannotBeUnlinked(t *testing.T) {
	cs := setUpCMKWithCLI(t, startNode(t))
	r := cs.run("workspace", "unlink", "--name", "secops")
	if r.code != exitError {
		t.Errorf("unlink of a CMK workspace: exit %d, want %d", r.code, exitError)
	}
	for _, want := range []string{"error: unlink workspace secops", "HTTP 409", "cannot be unlinked", "delete the workspace"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
		}
	}
	if ws := decode[workspaceResource](t, cs.must("workspace", "show", "--name", "secops", "-o", "json")); !strings.HasSuffix(ws.Properties.ClusterResourceID, "/clusters/cluster1") {
		t.Errorf("the workspace lost its link: %q", ws.Properties.ClusterResourceID)
	}

	// A workspace that holds no data under the key unlinks freely.
	cs.must("workspace", "create", "--name", "scratch", "-g", "rg1")
	cs.must("workspace", "link", "--name", "scratch", "--cluster", "cluster1")
	if out := cs.must("workspace", "unlink", "--name", "scratch"); !strings.Contains(out, "Unlinked workspace scratch from cluster cluster1") {
		t.Errorf("unlink:\n%s", out)
	}
	if out := cs.must("workspace", "unlink", "--name", "scratch"); !strings.Contains(out, "not linked") {
		t.Errorf("unlink again:\n%s", out)
	}
	// Nor can the cluster be deleted under its workspace.
	if r := cs.run("cluster", "delete", "--name", "cluster1"); r.code != exitError || !strings.Contains(r.stderr, "unlink or delete them first") {
		t.Errorf("cluster delete with a linked workspace: exit %d\n%s", r.code, r.stderr)
	}
}

func TestRotatedKeyLeavesTheOldVersionWrappingNothing(t *testing.T) {
	// A short key check interval: rewrapping under the new version happens
	// at the key check after the rotation.
	cs := setUpCMKWithCLI(t, startNodeWith(t, node.Config{KeyCheckInterval: 100 * time.Millisecond}))
	old := cs.keyVersion
	if out := cs.must("cluster", "key-usage", "--name", "cluster1"); !strings.Contains(out, old) || !strings.Contains(out, "none can be disabled") {
		t.Errorf("key usage before rotation:\n%s", out)
	}

	rotated := decode[keyBundle](t, cs.must("keyvault", "key", "rotate", "--vault-name", "cmkvault", "--name", "ws-cmk", "-o", "json"))
	_, current := kidParts(rotated.Key.KID)
	rewrapped := func(usage []keyVersionUsage) bool {
		for _, u := range usage {
			if _, v := kidParts(u.KeyURI); (v == old) == u.InUse {
				return false
			}
		}
		return len(usage) == 4 // two versions, each for logs and documents
	}
	deadline := time.Now().Add(30 * time.Second)
	for !rewrapped(decode[[]keyVersionUsage](t, cs.must("cluster", "key-usage", "--name", "cluster1", "-o", "json"))) {
		if time.Now().After(deadline) {
			t.Fatalf("the account keys were not rewrapped under %s within 30 s", current)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := cs.must("cluster", "key-usage", "--name", "cluster1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-2:]
	if !strings.Contains(last[0], "wrap nothing and can be disabled: ws-cmk/"+old) || strings.Contains(last[0], current) {
		t.Errorf("key usage does not name the old version, and only it, as free to disable:\n%s", out)
	}
	if want := "sealwatch keyvault key set-attributes --vault-name cmkvault --name ws-cmk --version " + old + " --enabled=false"; strings.TrimSpace(last[1]) != want {
		t.Errorf("the disable command is %q, want %q", strings.TrimSpace(last[1]), want)
	}
	// The cluster follows the latest version and stays accessible.
	if c := decode[clusterResource](t, cs.must("cluster", "show", "--name", "cluster1", "-o", "json")); c.Properties.KeyState != "Accessible" {
		t.Errorf("key state after rotation: %q", c.Properties.KeyState)
	}
}

func TestClusterCapacityMustBeATier(t *testing.T) {
	n := startNode(t)
	n.login()
	r := n.run("cluster", "create", "--name", "cluster1", "-g", "rg1", "--capacity", "150")
	if r.code != exitError || !strings.Contains(r.stderr, "InvalidCapacity") || !strings.Contains(r.stderr, "100 200 300 400 500 1000") {
		t.Fatalf("capacity 150: exit %d\n%s", r.code, r.stderr)
	}
	if out := n.must("cluster", "list"); strings.Contains(out, "cluster1") {
		t.Errorf("a refused cluster was created:\n%s", out)
	}
	n.must("cluster", "create", "--name", "cluster1", "-g", "rg1", "--capacity", "200")
	if out := n.must("cluster", "update", "--name", "cluster1", "--capacity", "500"); !strings.Contains(out, "500 GB/day") {
		t.Errorf("update --capacity 500:\n%s", out)
	}
	if r := n.run("cluster", "update", "--name", "cluster1", "--capacity", "150"); r.code != exitError || !strings.Contains(r.stderr, "not a commitment tier") {
		t.Errorf("update --capacity 150: exit %d\n%s", r.code, r.stderr)
	}
}

func TestANameInTwoResourceGroupsMustBeToldApart(t *testing.T) {
	n := startNode(t)
	n.login()
	for _, rg := range []string{"rg1", "rg2"} {
		n.must("cluster", "create", "--name", "shared", "-g", rg)
		n.must("workspace", "create", "--name", "secops", "-g", rg, "--retention-days", "30")
	}
	for _, args := range [][]string{
		{"cluster", "delete", "--name", "shared"},
		{"workspace", "delete", "--name", "secops"},
		{"workspace", "link", "--name", "secops", "-g", "rg1", "--cluster", "shared"},
	} {
		r := n.run(args...)
		if r.code != exitError || !strings.Contains(r.stderr, "in resource groups rg1, rg2") {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if r := n.run("workspace", "link", "--name", "secops", "-g", "rg1", "--cluster", "shared"); !strings.Contains(r.stderr, "pass --cluster-resource-group") {
		t.Errorf("link does not name the flag that picks the cluster's group:\n%s", r.stderr)
	}
	n.must("workspace", "link", "--name", "secops", "-g", "rg1", "--cluster", "shared", "--cluster-resource-group", "rg2")
	if out := n.must("cluster", "show", "--name", "shared", "-g", "rg2"); !strings.Contains(out, "secops") {
		t.Errorf("the workspace was not linked to the cluster in rg2:\n%s", out)
	}
	if out := n.must("workspace", "list", "-g", "rg2"); strings.Count(out, "secops") != 1 || !strings.Contains(out, " 30 ") {
		t.Errorf("workspace list -g rg2:\n%s", out)
	}
	if out := n.must("workspace", "delete", "--name", "secops", "-g", "rg2"); !strings.Contains(out, "Deleted workspace secops") {
		t.Errorf("workspace delete:\n%s", out)
	}
	if r := n.run("workspace", "show", "--name", "nope"); r.code != exitError || !strings.Contains(r.stderr, `no workspace named "nope"`) {
		t.Errorf("a missing workspace: exit %d\n%s", r.code, r.stderr)
	}
	if r := n.run("cluster", "show", "--name", "nope", "-g", "rg1"); r.code != exitError || !strings.Contains(r.stderr, "ResourceNotFound") {
		t.Errorf("a missing cluster in a given group: exit %d\n%s", r.code, r.stderr)
	}
}

func TestWorkspaceKeysAndOnboardingWithoutTheKey(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "plain", "-g", "rg1")
	out := n.must("workspace", "keys", "--name", "plain")
	ws := decode[workspaceResource](t, n.must("workspace", "show", "--name", "plain", "-o", "json"))
	if !strings.Contains(out, "workspace ID:  "+ws.Properties.CustomerID) || !strings.Contains(out, "primary key:") || !strings.Contains(out, "secondary key:") {
		t.Errorf("workspace keys:\n%s", out)
	}
	keys := decode[map[string]string](t, n.must("workspace", "keys", "--name", "plain", "-o", "json"))
	if keys["primarySharedKey"] == "" || keys["primarySharedKey"] == keys["secondarySharedKey"] || !strings.Contains(out, keys["primarySharedKey"]) {
		t.Errorf("workspace keys json: %v", keys)
	}

	if r := n.run("sentinel", "show", "--workspace", "plain"); r.code != exitError || !strings.Contains(r.stderr, "is not onboarded") {
		t.Errorf("sentinel show before onboarding: exit %d\n%s", r.code, r.stderr)
	}
	if r := n.run("sentinel", "onboard", "--workspace", "plain", "--cmk"); r.code != exitError || !strings.Contains(r.stderr, "not linked to a cluster") {
		t.Errorf("onboard --cmk without a cluster: exit %d\n%s", r.code, r.stderr)
	}
	if out := n.must("sentinel", "onboard", "--workspace", "plain"); !strings.Contains(out, "plain") || !strings.Contains(out, "no") {
		t.Errorf("onboard:\n%s", out)
	}
	// Without the key now means without it for good.
	if r := n.run("sentinel", "onboard", "--workspace", "plain", "--cmk"); r.code != exitError || !strings.Contains(r.stderr, "cannot be switched") {
		t.Errorf("onboard --cmk after onboarding without: exit %d\n%s", r.code, r.stderr)
	}
}

func TestClusterCommandLinesAreUsageErrors(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	requireUsageErrors(t, config, []usageCase{
		{"cluster create needs a resource group", []string{"cluster", "create", "--name", "c1"}, "-g RG"},
		{"workspace create needs a resource group", []string{"workspace", "create", "--name", "w1"}, "-g RG"},
		{"update with nothing to change", []string{"cluster", "update", "--name", "c1"}, "nothing to change"},
		{"two vaults", []string{"cluster", "update", "--name", "c1", "--key-vault", "v", "--key-vault-uri", "https://v.vault.localhost/", "--key-name", "k"}, "not both"},
		{"a key without a name", []string{"cluster", "update", "--name", "c1", "--key-vault", "v"}, "needs --key-name"},
		{"a key without a vault", []string{"cluster", "update", "--name", "c1", "--key-name", "k"}, "needs its vault"},
		{"a version without a key", []string{"cluster", "update", "--name", "c1", "--key-version", "abc"}, "--key-version needs the key"},
		{"an unknown key source", []string{"cluster", "update", "--name", "c1", "--key-source", "floppy"}, "--key-source must be keyvault, aws-kms or pkcs11"},
		{"aws-kms without its key", []string{"cluster", "update", "--name", "c1", "--key-source", "aws-kms", "--aws-region", "eu-west-1"}, "needs --kms-key-arn"},
		{"aws-kms without its region", []string{"cluster", "update", "--name", "c1", "--key-source", "aws-kms", "--kms-key-arn", "alias/k"}, "needs --aws-region"},
		{"aws-kms without an access key", []string{"cluster", "update", "--name", "c1", "--key-source", "aws-kms", "--kms-key-arn", "alias/k", "--aws-region", "eu-west-1"}, "--aws-access-key-id or AWS_ACCESS_KEY_ID"},
		{"aws-kms with a vault key's name", []string{"cluster", "update", "--name", "c1", "--key-source", "aws-kms", "--kms-key-arn", "alias/k", "--key-name", "k"}, "are for keyvault"},
		{"a KMS key without aws-kms", []string{"cluster", "update", "--name", "c1", "--kms-key-arn", "alias/k"}, "need --key-source aws-kms"},
		{"pkcs11 without its module", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--pkcs11-token", "t", "--pkcs11-key-label", "k"}, "--pkcs11-module is required"},
		{"pkcs11 with a relative module", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--pkcs11-module", "libsofthsm2.so", "--pkcs11-token", "t", "--pkcs11-key-label", "k"}, "must be an absolute path"},
		{"pkcs11 without its token", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--pkcs11-module", "/usr/lib/x.so", "--pkcs11-key-label", "k"}, "--pkcs11-token is required"},
		{"pkcs11 without its key label", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--pkcs11-module", "/usr/lib/x.so", "--pkcs11-token", "t"}, "--pkcs11-key-label is required"},
		{"pkcs11 with a vault key's name", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--key-name", "k"}, "are for keyvault"},
		{"a token without pkcs11", []string{"cluster", "update", "--name", "c1", "--pkcs11-token", "t"}, "need --key-source pkcs11"},
		{"an application without the key", []string{"cluster", "update", "--name", "c1", "--vault-tenant", "t1", "--vault-client-id", "c1"}, "are for a Key Vault key"},
		{"an application on a pkcs11 key", []string{"cluster", "update", "--name", "c1", "--key-source", "pkcs11", "--pkcs11-module", "/usr/lib/x.so", "--pkcs11-token", "t", "--pkcs11-key-label", "k",
			"--vault-tenant", "t1", "--vault-client-id", "c1"}, "are for a Key Vault key"},
		{"an application without its client ID", []string{"cluster", "update", "--name", "c1", "--key-vault", "v", "--key-name", "k", "--vault-tenant", "t1"}, "needs both --vault-tenant and --vault-client-id"},
		{"an application with two credentials", []string{"cluster", "update", "--name", "c1", "--key-vault", "v", "--key-name", "k", "--vault-tenant", "t1", "--vault-client-id", "c1",
			"--vault-client-secret-stdin", "--vault-client-cert", "app.pem"}, "give one credential"},
		{"a relative federated token file", []string{"cluster", "update", "--name", "c1", "--key-vault", "v", "--key-name", "k", "--vault-tenant", "t1", "--vault-client-id", "c1",
			"--vault-federated-token-file", "token"}, "--vault-federated-token-file must be an absolute path"},
		{"pkcs11 key create without its module", []string{"pkcs11", "key", "create", "--token", "t", "--key-label", "k"}, "--module is required"},
		{"pkcs11 key disable with a bad ID", []string{"pkcs11", "key", "disable", "--module", "/usr/lib/x.so", "--token", "t", "--key-label", "k", "--id", "zz"}, "--id must be the version's CKA_ID in hex"},
		{"link without a cluster", []string{"workspace", "link", "--name", "w1"}, `required flag(s) "cluster" not set`},
		{"onboard without a workspace", []string{"sentinel", "onboard", "--cmk"}, `required flag(s) "workspace" not set`},
		{"unknown subcommand", []string{"cluster", "rotate"}, `unknown command "rotate" for "sealwatch cluster"`},
		{"wait for an unknown key state", []string{"cluster", "wait", "--name", "c1", "--key-state", "Gone"}, "--key-state must be Accessible, Revoked, Unreachable or Locked"},
		{"wait for a state and the rewrap at once", []string{"cluster", "wait", "--name", "c1", "--key-state", "Revoked", "--rewrapped"}, "not both"},
		{"wait with no time to wait", []string{"cluster", "wait", "--name", "c1", "--key-state", "Revoked", "--timeout", "0s"}, "--timeout must be more than 0"},
		{"wait with a negative timeout", []string{"cluster", "wait", "--name", "c1", "--key-state", "Revoked", "--timeout", "-1s"}, "--timeout must be more than 0"},
	})
}

func TestAVersionIsFreeToDisableOnlyWhenNeitherResourceUsesIt(t *testing.T) {
	const v1, v2, v3 = "https://v.vault.localhost/keys/k/1", "https://v.vault.localhost/keys/k/2", "https://v.vault.localhost/keys/k/3"
	for _, tc := range []struct {
		name string
		rows []keyVersionUsage
		want []string
	}{
		{"nothing wrapped yet", nil, nil},
		{"every version in use", []keyVersionUsage{{Resource: "logs", KeyURI: v1, InUse: true}, {Resource: "documents", KeyURI: v1, InUse: true}}, nil},
		{"logs rewrapped, documents not yet", []keyVersionUsage{
			{Resource: "logs", KeyURI: v2, InUse: true}, {Resource: "logs", KeyURI: v1},
			{Resource: "documents", KeyURI: v1, InUse: true}}, nil},
		{"both rewrapped, listed once each", []keyVersionUsage{
			{Resource: "logs", KeyURI: v3, InUse: true}, {Resource: "logs", KeyURI: v1}, {Resource: "logs", KeyURI: v2},
			{Resource: "documents", KeyURI: v3, InUse: true}, {Resource: "documents", KeyURI: v2}}, []string{v1, v2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := idleVersions(tc.rows); !slices.Equal(got, tc.want) {
				t.Errorf("idleVersions = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVaultNameOfAKeyURI(t *testing.T) {
	for uri, want := range map[string]string{
		"https://cmkvault.vault.localhost:8443/keys/k/abc": "cmkvault",
		"https://cmkvault.vault.azure.net/keys/k":          "cmkvault",
		"::not a url": "",
	} {
		if got := vaultNameOf(uri); got != want {
			t.Errorf("vaultNameOf(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestClusterShowSaysWhenTheKeyWasCheckedAndWhyItFailed: cluster show
// prints the last key check, and while the key is disabled, the vault's
// answer; enabled again, no failure is printed.
func TestClusterShowSaysWhenTheKeyWasCheckedAndWhyItFailed(t *testing.T) {
	cs := setUpCMKWithCLI(t, startNodeWith(t, node.Config{KeyCheckInterval: 100 * time.Millisecond}))
	cs.must("keyvault", "key", "set-attributes", "--vault-name", "cmkvault", "--name", "ws-cmk", "--enabled=false")
	cs.must("cluster", "wait", "--name", "cluster1", "--key-state", "Revoked", "--timeout", "30s")
	out := cs.must("cluster", "show", "--name", "cluster1")
	if !strings.Contains(out, "key last checked:") || !regexp.MustCompile(`last key check failed: +(logs|documents): .*ws-cmk.*KeyDisabled`).MatchString(out) {
		t.Errorf("cluster show of a disabled key:\n%s", out)
	}
	cs.must("keyvault", "key", "set-attributes", "--vault-name", "cmkvault", "--name", "ws-cmk", "--enabled=true")
	cs.must("cluster", "wait", "--name", "cluster1", "--key-state", "Accessible", "--timeout", "30s")
	if out := cs.must("cluster", "show", "--name", "cluster1"); strings.Contains(out, "failed") || !strings.Contains(out, "key last checked:") {
		t.Errorf("cluster show once the key is enabled again:\n%s", out)
	}
}
