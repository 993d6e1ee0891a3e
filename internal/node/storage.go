package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// Storage is the databases a node shares with the other nodes behind one
// address (Config.Storage), one per concern, as the embedded node keeps
// them in identity.db, vault/vault.db, workspace/control.db and
// documents/documents.db. The node uses them and leaves closing them to
// whoever opened them.
type Storage struct {
	Identity, Vault, Control, Documents kv.DB
	// Objects is the object store the nodes share for the log stores'
	// sealed segments and manifests (`serve --object-store`), each node
	// writing every table in a lineage of its own (see nodeLineage); nil
	// keeps them under DataDir/logs, where no other node reads them. The
	// write-ahead logs stay under DataDir/logs either way.
	Objects objstore.Store
	// WAL, if set with Objects, keeps a copy of every write-ahead log
	// record of every node (`serve --shared-wal`, package pgwal): each node
	// reads the rows the others have not flushed, and an acknowledged row
	// outlives the loss of the disk of the node that took it.
	WAL logstore.SharedWAL
}

func (s *Storage) check() error {
	if s.Identity == nil || s.Vault == nil || s.Control == nil || s.Documents == nil {
		return errors.New("node: shared storage needs all four databases: identity, vault, control and documents")
	}
	if s.WAL != nil && s.Objects == nil {
		return errors.New("node: a shared write-ahead log needs a shared object store: the rows it keeps are flushed there")
	}
	return nil
}

// database is the database of one concern, as the metric labels name it
// (identity, vault, control, documents): the shared one, or the bbolt file
// at path, under the data directory, which the node closes.
func (n *Node) database(name, path string) (kv.DB, error) {
	if s := n.cfg.Storage; s != nil {
		return map[string]kv.DB{"identity": s.Identity, "vault": s.Vault, "control": s.Control, "documents": s.Documents}[name], nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	db, err := boltkv.Open(path, boltkv.Options{})
	if errors.Is(err, boltkv.ErrLocked) {
		return nil, fmt.Errorf("%w; stop the other sealwatch process first", err)
	}
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, db.Close)
	n.files[name] = db
	return db, nil
}

// openBox unseals the node's secrets: its own, under its own master key in
// DIR/seal, or, on shared storage, the cluster's, whose master key is kept
// in the identity database.
func (n *Node) openBox(ctx context.Context) (*nodeseal.Box, error) {
	if n.cfg.Storage == nil {
		return nodeseal.Open(ctx, n.cfg.DataDir, n.cfg.Root)
	}
	return nodeseal.OpenShared(ctx, n.cfg.DataDir, n.cfg.Storage.Identity, n.cfg.Root)
}

// vaultPassphraseKey derives the vault's root key from the configured
// passphrase. Its Argon2id parameters are in DIR/vault/root.params, or, on
// shared storage, kept with the cluster's secrets, so that every node
// derives the same key.
func (n *Node) vaultPassphraseKey(ctx context.Context) (*rootkey.Key, error) {
	if !n.box.Shared() {
		return rootkey.FromPassphrase(n.cfg.VaultPassphrase, filepath.Join(n.cfg.DataDir, "vault", "root.params"))
	}
	params, err := n.box.LoadOrCreate(ctx, "vault/root.params", func() ([]byte, error) {
		k, params, err := rootkey.NewPassphraseKey(n.cfg.VaultPassphrase)
		if err != nil {
			return nil, err
		}
		k.Close()
		return params, nil
	})
	if err != nil {
		return nil, err
	}
	return rootkey.FromPassphraseParams(n.cfg.VaultPassphrase, params)
}

// checkPublicURL checks Config.PublicURL and returns it without a trailing
// slash.
func checkPublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error repeats the URL, and so any password in it.
		return "", errors.New("node: the public URL given is not a URL; give an https URL such as https://sealwatch.example.com")
	}
	shown := raw
	if u.User != nil {
		shown = u.Redacted() // a password is never repeated
	}
	if u.Scheme != "https" || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("node: the public URL %q must be an https URL of a host, with an optional port and no path or credentials, such as https://sealwatch.example.com", shown)
	}
	if p := u.Port(); p != "" {
		if v, err := strconv.Atoi(p); err != nil || v < 1 || v > 65535 {
			return "", fmt.Errorf("node: the public URL %q has no valid port", shown)
		}
	}
	return "https://" + strings.ToLower(u.Host), nil
}

// publicURL is the base URL clients reach the service at: Config.PublicURL,
// or this node's own listener.
func (n *Node) publicURL() string {
	if n.public != "" {
		return n.public
	}
	return n.endpoint
}

// publicPort is the port of publicURL, as vault URIs name it.
func (n *Node) publicPort() int {
	u, err := url.Parse(n.publicURL())
	if err != nil || u.Port() == "" {
		return 443
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

// serverNames are the names and addresses this node's certificate covers:
// its loopback and listener, the vault hosts, and the public URL's host.
func (n *Node) serverNames() ([]string, []net.IP) {
	names := []string{"localhost", n.cfg.VaultDNSSuffix, "*." + n.cfg.VaultDNSSuffix}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, n.listener.Addr().(*net.TCPAddr).IP}
	if n.public != "" {
		u, _ := url.Parse(n.public)
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, u.Hostname())
		}
	}
	return names, ips
}

// AdminCredentialsElsewhere is, when another node sharing this one's
// databases made the admin application, where that node wrote its
// credentials ("" otherwise): this node has no admin.json of its own.
func (n *Node) AdminCredentialsElsewhere() string { return n.adminElsewhere }

// lineageFile keeps, under the data directory, the node's lineage of the
// tables it writes into a shared object store.
const lineageFile = "lineage"

// nodeLineage is this node's lineage of the tables it writes into the
// shared object store (logstore.Config.Lineage): made on its first start
// with Objects and kept in DIR/lineage, so that a restart on the same disk
// goes on with its write-ahead logs. A node on a new disk takes a new one;
// what the old one published stays in the bucket, read by every node.
func nodeLineage(dataDir string) (string, error) {
	path := filepath.Join(dataDir, lineageFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read the node's lineage: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	lineage := "n" + hex.EncodeToString(b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(lineage+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the node's lineage: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write the node's lineage: %w", err)
	}
	return lineage, nil
}
