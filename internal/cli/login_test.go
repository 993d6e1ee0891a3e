package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/node"
)

// TestASecondLoginIsStoredBesideTheFirst: logging in to a second node under
// a profile of its own leaves the first login in use; each login and whoami
// name the profile, the node and the tenant, which tell two admins of the
// same name apart; a login to a profile that holds one says it replaced it.
func TestASecondLoginIsStoredBesideTheFirst(t *testing.T) {
	workspaceNode, vaultNode := startNode(t), startNode(t)
	config := workspaceNode.configDir
	workspaceTenant := decode[signedIn](t, runCLI(t, t.TempDir(), "--credentials", workspaceNode.adminFile, "whoami", "-o", "json").stdout).TenantID

	out := workspaceNode.must("login", "--credentials", workspaceNode.adminFile)
	for _, want := range []string{"Logged in to " + workspaceNode.endpoint + " as sealwatch-admin", "profile default", "tenant:    " + workspaceTenant} {
		if !strings.Contains(out, want) {
			t.Errorf("the first login does not say %q:\n%s", want, out)
		}
	}
	r := runCLI(t, config, "login", "--profile", "customer-vault", "--credentials", vaultNode.adminFile)
	for _, want := range []string{"Logged in to " + vaultNode.endpoint + " as sealwatch-admin", "profile customer-vault", "Also stored: default", "--profile customer-vault"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the second login does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "replaced") {
		t.Errorf("a login to a new profile says it replaced one:\n%s", r.stdout)
	}

	whoami := func(env map[string]string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		e := testEnv(config, &stdout, &stderr)
		e.Getenv = func(k string) string {
			if k == "SEALWATCH_CONFIG_DIR" {
				return config
			}
			return env[k]
		}
		if code := Run(context.Background(), append(args, "whoami"), e); code != 0 {
			t.Fatalf("whoami %v: exit %d\n%s", args, code, stderr.String())
		}
		return stdout.String()
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		profile string
		node    *testNode
	}{
		{"without a profile, the first login is still in use", nil, nil, "default", workspaceNode},
		{"--profile picks the second", nil, []string{"--profile", "customer-vault"}, "customer-vault", vaultNode},
		{"SEALWATCH_PROFILE picks the second", map[string]string{"SEALWATCH_PROFILE": "customer-vault"}, nil, "customer-vault", vaultNode},
		{"--profile wins over SEALWATCH_PROFILE", map[string]string{"SEALWATCH_PROFILE": "customer-vault"}, []string{"--profile", "default"}, "default", workspaceNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := whoami(tt.env, tt.args...)
			want := "Profile " + tt.profile + ": sealwatch-admin (client ID "
			if !strings.HasPrefix(out, want) || !strings.Contains(out, "at "+tt.node.endpoint+", tenant ") ||
				!strings.Contains(out, "endpoint:  "+tt.node.endpoint) || !strings.Contains(out, "roles:     Owner") {
				t.Errorf("whoami does not start %q and name %s:\n%s", want, tt.node.endpoint, out)
			}
		})
	}
	// The workspace commands still reach the workspace node.
	workspaceNode.must("workspace", "create", "--name", "secops", "-g", "rg1")
	if r := runCLI(t, config, "--profile", "customer-vault", "workspace", "show", "--name", "secops"); r.code == 0 {
		t.Errorf("the workspace was created on the vault node too:\n%s", r.stdout)
	}

	r = runCLI(t, config, "login", "--credentials", vaultNode.adminFile)
	if !strings.Contains(r.stdout, "This replaced the earlier login of profile default") || !strings.Contains(r.stdout, "at "+workspaceNode.endpoint+", tenant "+workspaceTenant) ||
		!strings.Contains(r.stdout, "under a profile of its own: sealwatch login --profile NAME") {
		t.Errorf("a login to another node over profile default does not say what it replaced:\n%s", r.stdout)
	}
	r = runCLI(t, config, "login", "--credentials", vaultNode.adminFile)
	if !strings.Contains(r.stdout, "This replaced the earlier login of profile default") || strings.Contains(r.stdout, "under a profile of its own") {
		t.Errorf("a login again to the same node:\n%s", r.stdout)
	}
}

// TestACommandForTheWrongKindOfNodeSaysToCheckTheProfile: a workspace
// command sent to a vault-only node (the login replaced, or the wrong
// --profile) is answered 404 for a path that node has no route for; the
// CLI says why and how to pick the right login, instead of a bare 404.
func TestACommandForTheWrongKindOfNodeSaysToCheckTheProfile(t *testing.T) {
	vault := startNodeWith(t, node.Config{Services: node.ServeVault})
	vault.must("login", "--credentials", vault.adminFile)
	r := vault.run("workspace", "list")
	if r.code != exitError || !strings.Contains(r.stderr, "NotFound (HTTP 404)") {
		t.Fatalf("workspace list at a vault-only node: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "hint: the node at this endpoint does not serve this command") || !strings.Contains(r.stderr, "--profile NAME") {
		t.Errorf("the refusal does not say to check the login in use:\n%s", r.stderr)
	}
	// A resource that is not there is another 404, and no such hint.
	r = vault.run("keyvault", "show", "--name", "nosuch")
	if r.code != exitError || strings.Contains(r.stderr, "does not serve this command") {
		t.Errorf("a vault that does not exist: exit %d\n%s", r.code, r.stderr)
	}
}

func TestAProfileMustBeStoredAndWellNamed(t *testing.T) {
	n := startNode(t)
	n.login()
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"a profile with no login names the stored ones and how to log in", []string{"--profile", "nope", "identity", "app", "list"}, exitError,
			[]string{"not logged in: no login stored for profile nope", "(stored profiles: default)", "hint: run `sealwatch login --profile nope --credentials"}},
		{"a name that is no profile name", []string{"--profile", "../x", "identity", "app", "list"}, exitUsage, []string{`--profile "../x" is not a profile name`}},
		{"an empty profile name, which is no silent default", []string{"--profile", "", "whoami"}, exitUsage, []string{"--profile needs a NAME"}},
		{"an empty profile name after the command", []string{"whoami", "--profile="}, exitUsage, []string{"--profile needs a NAME"}},
		{"--profile and --credentials together", []string{"--profile", "default", "--credentials", n.adminFile, "whoami"}, exitUsage, []string{"not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := n.run(tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestAStoredLoginFromBeforeProfilesIsTheDefaultProfile: a credentials file
// in the shape from before profiles keeps working, and is rewritten in place
// as the default profile.
func TestAStoredLoginFromBeforeProfilesIsTheDefaultProfile(t *testing.T) {
	n := startNode(t)
	if err := os.MkdirAll(n.configDir, 0o700); err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(n.configDir, "credentials.json")
	if err := os.WriteFile(stored, []byte(mustRead(t, n.adminFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := n.must("whoami"); !strings.HasPrefix(out, "Profile default: sealwatch-admin") {
		t.Errorf("whoami over an old credentials file:\n%s", out)
	}
	p := decode[profiles](t, mustRead(t, stored))
	if c, ok := p.Profiles[defaultProfile]; !ok || c.ClientSecret == "" || len(p.Profiles) != 1 {
		t.Errorf("the old file was not rewritten as the default profile: %d profiles", len(p.Profiles))
	}
	if fi, err := os.Stat(stored); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the rewritten file: %v, %v", fi, err)
	}
	n.must("identity", "app", "list")
}

func TestVaultServeSuggestsAProfileNamedAfterItsData(t *testing.T) {
	for dir, want := range map[string]string{
		"customer-vault":                       "customer-vault",
		"/srv/keys/customer-vault":             "customer-vault",
		"/srv/keys/default":                    "vault", // the workspace node's login stays where it is
		"/srv/keys/my vault":                   "vault", // no profile name
		"/srv/keys/" + strings.Repeat("v", 65): "vault",
	} {
		if got := vaultProfile(dir); got != want {
			t.Errorf("vaultProfile(%q) = %q, want %q", dir, got, want)
		}
	}
}

func TestProfileCompletesToTheStoredProfiles(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("login", "--profile", "customer-vault", "--credentials", n.adminFile)
	out := n.must("__complete", "--profile", "")
	if !strings.HasPrefix(out, "customer-vault\ndefault\n:4\n") {
		t.Errorf("candidates for --profile:\n%s", out)
	}
}
