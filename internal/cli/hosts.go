package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// defaultHostsFile is where the system resolver (glibc, and so Node.js) and
// Go's own resolver read static host names.
const defaultHostsFile = "/etc/hosts"

// vaultHostsCommand prints, or installs into the hosts file, one entry per
// vault of the node: each vault is served at its own host name, which
// nothing resolves on a stock system when it is under vault.localhost.
func (a *app) vaultHostsCommand(subscription *string) *cobra.Command {
	var (
		install   bool
		hostsFile string
		address   string
	)
	cmd := &cobra.Command{
		Use:   "hosts [--install [--hosts-file F]] [--address IP]",
		Short: "Print (or install into /etc/hosts) a hosts entry for each vault, so SDKs and curl resolve vault host names",
		Long: "Each vault is served at its own host name, https://{vault}.{vault-dns-suffix}:{port}. The sealwatch command resolves those " +
			"names itself; other clients need them in DNS or in the hosts file. This prints one line per vault of the node, " +
			"`ADDRESS HOST`; with --install it writes them into the hosts file (default /etc/hosts, which needs root) between " +
			"marker lines, replacing the entries it wrote before for the same node. Run it again after creating a vault.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		addr, err := nodeAddress(ctx, m.cl.Endpoint(), address)
		if err != nil {
			return err
		}
		hosts, err := vaultHosts(ctx, m)
		if err != nil {
			return err
		}
		block := hostsBlock(m.cl.Endpoint(), addr, hosts)
		if install {
			if err := installHosts(hostsFile, m.cl.Endpoint(), block); err != nil {
				return err
			}
		}
		w := cmd.OutOrStdout()
		switch {
		case a.output == outputJSON:
			rep := hostsReport{Endpoint: m.cl.Endpoint(), Entries: make([]hostsEntry, len(hosts))}
			for i, h := range hosts {
				rep.Entries[i] = hostsEntry{Address: addr, Host: h}
			}
			if install {
				rep.HostsFile = hostsFile
			}
			return writeJSONOf(w, rep)
		case !install:
			_, err := io.WriteString(w, block)
			return err
		}
		entries := "entries"
		if len(hosts) == 1 {
			entries = "entry"
		}
		fmt.Fprintf(w, "Wrote %d vault host %s for %s into %s.\n", len(hosts), entries, m.cl.Endpoint(), hostsFile)
		return nil
	})
	cmd.Flags().BoolVar(&install, "install", false, "write the entries into the hosts file instead of printing them")
	cmd.Flags().StringVar(&hostsFile, "hosts-file", defaultHostsFile, "the hosts file --install writes")
	cmd.Flags().StringVar(&address, "address", "", "the IP address the entries name; default the node endpoint's")
	return cmd
}

// hostsReport is what keyvault hosts prints with -o json: the node's
// entries, and the hosts file they were written into with --install.
type hostsReport struct {
	Endpoint  string       `json:"endpoint"`
	HostsFile string       `json:"hostsFile,omitempty"`
	Entries   []hostsEntry `json:"entries"`
}

type hostsEntry struct {
	Address string `json:"address"`
	Host    string `json:"host"`
}

// vaultHosts lists the host names of the vaults in the subscription, sorted.
func vaultHosts(ctx context.Context, m *mgmt) ([]string, error) {
	items, err := m.cl.ListAll(ctx, m.listPath(""), client.AudienceManagement)
	if err != nil {
		return nil, fmt.Errorf("list vaults: %w", err)
	}
	var hosts []string
	for _, it := range items {
		var v vaultResource
		if err := json.Unmarshal(it, &v); err != nil {
			return nil, fmt.Errorf("decode vault list: %w", err)
		}
		u, err := url.Parse(v.Properties.VaultURI)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("vault %s has no usable vaultUri (%q)", v.Name, v.Properties.VaultURI)
		}
		hosts = append(hosts, strings.ToLower(u.Hostname()))
	}
	slices.Sort(hosts)
	return slices.Compact(hosts), nil
}

// nodeAddress is the IP address the hosts entries name: override when
// given, else the endpoint's host, looked up when it is a name.
func nodeAddress(ctx context.Context, endpoint, override string) (string, error) {
	if override != "" {
		ip, err := netip.ParseAddr(override)
		if err != nil {
			return "", usagef("--address must be an IP address, not %q", override)
		}
		return ip.String(), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), nil
	}
	if strings.EqualFold(host, "localhost") {
		return "127.0.0.1", nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("look up the node's address %s: %w; pass --address", host, err)
	}
	return ips[0].Unmap().String(), nil
}

// hostsMarker begins and ends the lines written for one node; the endpoint
// in it lets several nodes' entries live side by side.
func hostsMarker(edge, endpoint string) string {
	return fmt.Sprintf("# %s sealwatch vault hosts of %s", edge, endpoint)
}

// hostsBlock is the hosts-file text for a node's vaults: the markers and one
// "ADDRESS HOST" line per vault.
func hostsBlock(endpoint, addr string, hosts []string) string {
	var b strings.Builder
	b.WriteString(hostsMarker("BEGIN", endpoint) + " (written by `sealwatch keyvault hosts --install`)\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s\t%s\n", addr, h)
	}
	b.WriteString(hostsMarker("END", endpoint) + "\n")
	return b.String()
}

// replaceHostsBlock returns content with the node's block replaced by
// block, or block appended when content has none; every other line is kept
// as it was.
func replaceHostsBlock(content, endpoint, block string) string {
	lines := strings.SplitAfter(content, "\n")
	begin, end := hostsMarker("BEGIN", endpoint), hostsMarker("END", endpoint)
	var out strings.Builder
	inside, replaced := false, false
	for _, line := range lines {
		trimmed := strings.TrimRight(line, "\r\n")
		switch {
		case !inside && strings.HasPrefix(trimmed, begin):
			inside = true
		case inside && trimmed == end:
			inside = false
			if !replaced {
				out.WriteString(block)
				replaced = true
			}
		case !inside:
			out.WriteString(line)
		}
	}
	if !replaced {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString("\n")
		}
		out.WriteString(block)
	}
	return out.String()
}

// installHosts writes block into the hosts file at path. It rewrites the
// file in place rather than renaming a new one over it: in a container
// /etc/hosts is a mount point, which cannot be replaced.
func installHosts(path, endpoint, block string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return hostsWriteError(path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return hostsWriteError(path, err)
	}
	_, err = f.WriteString(replaceHostsBlock(string(old), endpoint, block))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return hostsWriteError(path, err)
	}
	return nil
}

// hostsWriteError says what to do when the hosts file cannot be written:
// usually it belongs to root.
func hostsWriteError(path string, err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("cannot write %s (%w): it belongs to root; append the entries as root with `sealwatch keyvault hosts | sudo tee -a %s`, "+
			"or build the command and run it as root with your credentials file: `go build -o sealwatch ./cmd/sealwatch && sudo ./sealwatch keyvault hosts --install --credentials FILE` "+
			"(sudo does not see a shell alias)", path, err, path)
	}
	return fmt.Errorf("write the vault host entries into %s: %w", path, err)
}
