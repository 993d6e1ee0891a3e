package cli

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestKeyvaultHostsPrintsAndInstallsOneEntryPerVault: the entries name every
// vault of the node at the endpoint's address; --install writes them between
// markers, keeps every other line of the file, and replaces its own block
// when run again, so a new vault is added without a duplicate.
func TestKeyvaultHostsPrintsAndInstallsOneEntryPerVault(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("keyvault", "create", "--name", "cmk1", "-g", "rg1", "--enable-purge-protection")
	n.must("keyvault", "create", "--name", "cmk2", "-g", "rg2", "--enable-purge-protection")

	printed := n.must("keyvault", "hosts")
	for _, want := range []string{"127.0.0.1\tcmk1.vault.localhost\n", "127.0.0.1\tcmk2.vault.localhost\n", "# BEGIN sealwatch vault hosts of " + n.endpoint} {
		if !strings.Contains(printed, want) {
			t.Fatalf("keyvault hosts does not print %q:\n%s", want, printed)
		}
	}
	if out := n.must("keyvault", "hosts", "--address", "10.1.2.3"); !strings.Contains(out, "10.1.2.3\tcmk1.vault.localhost\n") {
		t.Fatalf("--address is not used:\n%s", out)
	}
	asJSON := decode[hostsReport](t, n.must("keyvault", "hosts", "-o", "json"))
	if want := []hostsEntry{{"127.0.0.1", "cmk1.vault.localhost"}, {"127.0.0.1", "cmk2.vault.localhost"}}; asJSON.Endpoint != n.endpoint ||
		asJSON.HostsFile != "" || !slices.Equal(asJSON.Entries, want) {
		t.Fatalf("-o json: %+v, want the endpoint and entries %v", asJSON, want)
	}

	hosts := filepath.Join(t.TempDir(), "hosts")
	before := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
	if err := os.WriteFile(hosts, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := n.must("keyvault", "hosts", "--install", "--hosts-file", hosts); !strings.Contains(out, "Wrote 2 vault host entries") {
		t.Fatalf("install says:\n%s", out)
	}
	if got := mustRead(t, hosts); got != before+printed {
		t.Fatalf("the hosts file is\n%s\nwant the old lines and then\n%s", got, printed)
	}
	n.must("keyvault", "create", "--name", "cmk3", "-g", "rg1", "--enable-purge-protection")
	installed := decode[hostsReport](t, n.must("keyvault", "hosts", "--install", "--hosts-file", hosts, "-o", "json"))
	if installed.HostsFile != hosts || len(installed.Entries) != 3 {
		t.Fatalf("--install -o json: %+v, want the file and 3 entries", installed)
	}
	got := mustRead(t, hosts)
	if !strings.HasPrefix(got, before) || strings.Count(got, "cmk1.vault.localhost") != 1 || !strings.Contains(got, "127.0.0.1\tcmk3.vault.localhost\n") {
		t.Fatalf("a second install did not replace its block:\n%s", got)
	}
}

func TestReplaceHostsBlockTouchesOnlyItsOwnNode(t *testing.T) {
	const ep = "https://127.0.0.1:8443"
	mine := hostsBlock(ep, "127.0.0.1", []string{"cmk1.vault.localhost"})
	other := hostsBlock("https://10.0.0.5:8443", "10.0.0.5", []string{"kv9.vault.localhost"})
	stale := hostsBlock(ep, "127.0.0.1", []string{"old.vault.localhost"})
	for _, tc := range []struct{ name, content, want string }{
		{"empty file", "", mine},
		{"no final newline", "127.0.0.1 localhost", "127.0.0.1 localhost\n" + mine},
		{"another node's block is kept", other, other + mine},
		{"its own block is replaced in place", "a\n" + stale + "b\n", "a\n" + mine + "b\n"},
		{"written twice, once", "a\n" + mine, "a\n" + mine},
		{"CRLF lines are kept", "a\r\n" + stale, "a\r\n" + mine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replaceHostsBlock(tc.content, ep, mine); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestHostsFileErrorsSayWhatToDo: a hosts file the user may not write (the
// usual /etc/hosts) is refused with the two ways to write it as root; any
// other failure names the file.
func TestHostsFileErrorsSayWhatToDo(t *testing.T) {
	denied := hostsWriteError("/etc/hosts", &fs.PathError{Op: "open", Path: "/etc/hosts", Err: syscall.EACCES})
	if msg := denied.Error(); !strings.Contains(msg, "sudo tee -a /etc/hosts") || !strings.Contains(msg, "sudo ./sealwatch keyvault hosts --install --credentials") {
		t.Fatalf("permission denied says: %v", denied)
	}
	dir := t.TempDir()
	err := installHosts(dir, "https://127.0.0.1:8443", "x\n")
	if err == nil || !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "sudo") {
		t.Fatalf("a directory as the hosts file: %v", err)
	}
}

// TestUnresolvedHostHintNamesTheHostsCommand: a host name that does not
// resolve gets a hint naming it, --endpoint, and the command that writes
// vault host entries.
func TestUnresolvedHostHintNamesTheHostsCommand(t *testing.T) {
	hint := hintFor(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "cmk1.vault.example", IsNotFound: true}})
	for _, want := range []string{"cmk1.vault.example", "--endpoint", "sealwatch keyvault hosts | sudo tee -a /etc/hosts"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint %q does not name %q", hint, want)
		}
	}
}
