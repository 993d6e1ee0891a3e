package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

var bucketBuiltin = []byte("node.builtin")

// openWorkspaces opens the workspace control plane and its key layer. The
// key layer reaches key vaults only over HTTPS, with a token for the
// principal whose access is being used — the cluster's identity or the
// document-store principal — even when the vault is served by this node.
func (n *Node) openWorkspaces(ctx context.Context) error {
	dir := filepath.Join(n.cfg.DataDir, "workspace")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create workspace directory: %w", err)
	}
	var err error
	n.controlDB, err = n.database("control", filepath.Join(dir, "control.db"))
	if err != nil {
		return err
	}
	platformRaw, err := n.box.LoadOrCreateKey(ctx, "workspace/platform/platform.key")
	if err != nil {
		return fmt.Errorf("open the platform key: %w", err)
	}
	platform, err := keyring.NewPlatformKEK(platformRaw)
	clear(platformRaw)
	if err != nil {
		return fmt.Errorf("open the platform key: %w", err)
	}
	docPrincipal, err := n.builtinPrincipal(ctx, "sealwatch-document-store")
	if err != nil {
		return err
	}

	pool, err := n.keyServiceCAs()
	if err != nil {
		return err
	}
	var transport http.RoundTripper = n.keyServiceTransport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if n.cfg.WrapKeyServiceTransport != nil {
		transport = n.cfg.WrapKeyServiceTransport(transport)
	}
	vaultHTTP := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	sources := keySources{
		workspace.KeySourceKeyVault: n.keyVaultKEK(vaultHTTP, cleanPaths(n.cfg.FederatedTokenFiles)),
		workspace.KeySourceAWSKMS:   awsKMSKEK(kmsHTTPClient(pool)),
		workspace.KeySourcePKCS11:   pkcs11KEK(cleanPaths(n.cfg.PKCS11Modules)),
	}
	shared, err := n.sharedKeyChecks(ctx)
	if err != nil {
		return err
	}
	n.keys, err = clusterkeys.New(clusterkeys.Config{
		DB: n.controlDB, NewKEK: sources.open, DocumentStore: docPrincipal, Platform: platform, RestoreAtStart: true,
		StoredKeys: n.storedClusterKeys, SharedChecks: shared,
		KeyCheckInterval: n.cfg.KeyCheckInterval, UnreachableGrace: n.cfg.UnreachableGrace,
		Logger: n.log.With("component", "keyring"), Registerer: n.metrics,
	})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, n.keys.Close)
	n.workspaces, err = workspace.New(n.controlDB, n.identity, n.keys, n.secrets, workspace.Options{
		DocumentStorePrincipalID: docPrincipal.ObjectID,
		Logger:                   n.log.With("component", "workspace"),
	})
	if err != nil {
		return err
	}
	n.docsDB, err = n.database("documents", filepath.Join(n.cfg.DataDir, "documents", "documents.db"))
	if err != nil {
		return err
	}
	dataOpts := wsdata.Options{
		FlushBytes:        n.cfg.LogFlushBytes,
		FlushInterval:     n.cfg.LogFlushInterval,
		MaxUnflushedBytes: n.cfg.LogMemoryBudget,
		IdleClose:         n.cfg.LogStoreIdleClose,
		MaxOpenStores:     n.cfg.LogMaxOpenStores,
		Logger:            n.log.With("component", "logstore"),
		ControlDB:         n.controlDB,
	}
	if s := n.cfg.Storage; s != nil && s.Objects != nil {
		if dataOpts.Lineage, err = nodeLineage(n.cfg.DataDir); err != nil {
			return err
		}
		dataOpts.Objects, dataOpts.LineageLease, dataOpts.SharedWAL = s.Objects, n.cfg.LineageLease, s.WAL
		n.log.Info("log segments in the shared object store", "lineage", dataOpts.Lineage, "sharedWAL", s.WAL != nil)
	}
	n.data, err = wsdata.New(filepath.Join(n.cfg.DataDir, "logs"), n.docsDB, n.keys, dataOpts)
	if err != nil {
		return err
	}
	n.metrics.MustRegister(integrityCollector{data: n.data}, storeCollector{data: n.data, log: n.log.With("component", "logstore")},
		clusterKeyCollector{workspaces: n.workspaces, keys: n.keys, log: n.log})
	n.closers = append(n.closers, n.data.Close)
	if dataOpts.Lineage != "" {
		if err := n.renewLineage(ctx); err != nil { // before any write: it may have been adopted while the node was down
			return fmt.Errorf("renew the node's lineage lease: %w", err)
		}
		// Before any ingest: a live lineage without a mark holds every
		// other node's analytics rules (wsdata.Data.ClusterMark).
		if err := n.data.PublishMarks(ctx); err != nil {
			return fmt.Errorf("publish the node's ingestion marks: %w", err)
		}
		n.takeFenced(ctx) // what a crash or a failure left of an adopted lineage's logs
	}
	secret, err := n.keyEventsSecret(ctx)
	if err != nil {
		return fmt.Errorf("open the key events secret: %w", err)
	}
	n.keyEvents = &keyEvents{n: n, secret: secret}
	return nil
}

// sharedKeyChecks is, on shared storage, how the nodes share the checks of
// the customers' keys: one probes each key, the others read the record it
// writes, MAC'd under a secret the nodes keep sealed under the cluster's
// master key, which the database cannot open. nil for a node on its own,
// which checks every key itself as before.
func (n *Node) sharedKeyChecks(ctx context.Context) (*keyring.SharedChecks, error) {
	if !n.box.Shared() {
		return nil, nil
	}
	secret, err := n.box.LoadOrCreateKey(ctx, "workspace/key-checks.key")
	if err != nil {
		return nil, fmt.Errorf("open the key checks secret: %w", err)
	}
	n.checkNode = schedulerNode()
	return &keyring.SharedChecks{Key: secret, Node: n.checkNode, SelfCheckEvery: n.cfg.KeySelfCheckEvery}, nil
}

// keyServiceCAs are the authorities trusted for reaching key services and
// the webhooks of key events: the system's, this node's own, and those the
// node was given (KeyVaultCAFiles).
func (n *Node) keyServiceCAs() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	caPEM, err := os.ReadFile(n.tls.CAFile)
	if err != nil {
		return nil, err
	}
	pool.AppendCertsFromPEM(caPEM)
	for _, f := range n.cfg.KeyVaultCAFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read key vault CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("key vault CA file %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// keyServiceTransport is how the key layer reaches key vaults and the token
// endpoint its principals sign in at. The vaults this node serves and its
// token endpoint are named at the public URL's host and port, which behind a
// load balancer belong to another host: those requests go to this node's own
// listener, which serves the same vaults and identities (from the shared
// storage, on a cluster) without a round trip through the balancer. Other
// hosts are dialled as client.Transport dials them.
func (n *Node) keyServiceTransport(tlsCfg *tls.Config) *http.Transport {
	tr := client.Transport(n.listener.Addr().String(), n.cfg.VaultDNSSuffix, tlsCfg)
	next := tr.DialContext
	self := strings.TrimPrefix(n.endpoint, "https://")
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if n.servedHere(addr) {
			addr = self
		}
		return next(ctx, network, addr)
	}
	return tr
}

// servedHere reports whether addr, a host and port a request names, is this
// node's public URL or a vault host at its port.
func (n *Node) servedHere(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != strconv.Itoa(n.publicPort()) {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	suffix := n.cfg.VaultDNSSuffix
	public, _ := url.Parse(n.publicURL())
	return host == "localhost" || host == suffix || strings.HasSuffix(host, "."+suffix) ||
		(public != nil && host == strings.ToLower(public.Hostname()))
}

// homeTenantCredential signs in at this node's tenant whatever tenant a
// vault's challenge names: the cluster identity and the document-store
// principal belong to this node's tenant even when the key is in a
// customer's vault that serves another tenant and trusts this one.
type homeTenantCredential struct{ azcore.TokenCredential }

func (c homeTenantCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	opts.TenantID = ""
	return c.TokenCredential.GetToken(ctx, opts)
}

// storedClusterKeys lists every cluster's key as the control plane holds
// it: what the key layer reopens at a start, and follows when another node
// sharing the control plane changes a cluster's key.
func (n *Node) storedClusterKeys(ctx context.Context) ([]clusterkeys.StoredKey, error) {
	var stored []clusterkeys.StoredKey
	err := n.workspaces.ClustersWithKeys(ctx, func(clusterID string, p workspace.Principal, props workspace.KeyVaultProperties) error {
		stored = append(stored, clusterkeys.StoredKey{ClusterID: clusterID, Identity: p, Key: props})
		return nil
	})
	return stored, err
}

// restoreClusterKeys reopens the keyrings of every cluster with a key,
// several clusters at once (see clusterkeys.Manager.RestoreAll). It runs
// once the node serves, since the vault may be this node; key changes wait
// for it.
func (n *Node) restoreClusterKeys(ctx context.Context) {
	defer n.keys.Restored()
	stored, err := n.storedClusterKeys(ctx)
	if err = errors.Join(err, n.keys.RestoreAll(ctx, stored)); err != nil {
		n.log.Error("cluster keys not restored", "err", err)
	}
}

type builtinRecord struct {
	ObjectID     string `json:"objectId"`
	AppID        string `json:"appId"`
	SealedSecret []byte `json:"sealedSecret"`
}

// builtinPrincipal returns a service principal the node owns, creating it
// on first run; its secret is kept sealed. Nodes sharing their databases
// share it: of several nodes that find none, the one whose record commits
// first keeps its principal, and the others delete theirs and use it.
func (n *Node) builtinPrincipal(ctx context.Context, name string) (workspace.Principal, error) {
	aad := envelope.AAD("sealwatch/node/builtin-principal/v1", name)
	rec, err := n.readBuiltin(ctx, []byte(name))
	if err != nil {
		return workspace.Principal{}, err
	}
	if rec != nil {
		_, err = n.identity.Get(ctx, rec.ObjectID)
		if err == nil {
			return n.openBuiltin(name, rec, aad)
		}
		if !errors.Is(err, identity.ErrNotFound) {
			// Only a principal that is really gone is made again: a failed
			// read must not leave a second identity behind the keys' policies.
			return workspace.Principal{}, fmt.Errorf("look up the %s principal: %w", name, err)
		}
		n.log.Warn("built-in principal missing from the identity store; creating it again", "name", name)
	}
	p, secret, err := n.identity.CreateManagedIdentity(ctx, name)
	if err != nil {
		return workspace.Principal{}, err
	}
	sealed, err := n.secrets.Seal([]byte(secret), aad)
	if err != nil {
		return workspace.Principal{}, errors.Join(err, n.identity.Delete(ctx, p.ObjectID))
	}
	raw, _ := json.Marshal(builtinRecord{ObjectID: p.ObjectID, AppID: p.AppID, SealedSecret: sealed})
	var theirs *builtinRecord
	err = n.controlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBuiltin)
		if err != nil {
			return err
		}
		// Another node's record stands unless it is the one found gone.
		if v := b.Get([]byte(name)); v != nil {
			cur := new(builtinRecord)
			if err := json.Unmarshal(v, cur); err != nil {
				return fmt.Errorf("the %s principal's record is damaged: %w", name, err)
			}
			if rec == nil || cur.ObjectID != rec.ObjectID {
				theirs = cur
				return nil
			}
		}
		return b.Put([]byte(name), raw)
	})
	if err != nil || theirs != nil {
		if err := errors.Join(err, n.identity.Delete(ctx, p.ObjectID)); err != nil {
			return workspace.Principal{}, err
		}
		return n.openBuiltin(name, theirs, aad)
	}
	n.log.Info("built-in principal created", "name", name, "objectId", p.ObjectID)
	return workspace.Principal{ObjectID: p.ObjectID, AppID: p.AppID, Secret: secret}, nil
}

// readBuiltin reads the record of a built-in principal or secret, nil if
// there is none.
func (n *Node) readBuiltin(ctx context.Context, key []byte) (*builtinRecord, error) {
	var rec *builtinRecord
	err := n.controlDB.View(ctx, func(tx kv.Tx) error {
		if b := tx.Bucket(bucketBuiltin); b != nil {
			if raw := b.Get(key); raw != nil {
				rec = new(builtinRecord)
				return json.Unmarshal(raw, rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the node's %s: %w", key, err)
	}
	return rec, nil
}

func (n *Node) openBuiltin(name string, rec *builtinRecord, aad []byte) (workspace.Principal, error) {
	secret, err := n.secrets.Open(rec.SealedSecret, aad)
	if err != nil {
		return workspace.Principal{}, fmt.Errorf("open the %s principal's secret: %w", name, err)
	}
	return workspace.Principal{ObjectID: rec.ObjectID, AppID: rec.AppID, Secret: string(secret)}, nil
}

// DocumentStorePrincipalID is the object ID customers grant key access to
// for the document store.
func (n *Node) DocumentStorePrincipalID() string { return n.keys.DocumentStorePrincipalID() }

// PurgeExpired deletes every workspace's log data older than its retention,
// as of now. It needs no key, so it runs while a customer key is revoked.
func (n *Node) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	all, err := n.workspaces.AllWorkspaces(ctx)
	if err != nil {
		return 0, err
	}
	return n.data.PurgeExpired(ctx, all, now)
}

// retentionLoop purges expired data every interval until ctx ends.
func (n *Node) retentionLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if purged, err := n.PurgeExpired(ctx, time.Now()); err != nil {
				n.log.Error("retention purge failed", "err", err)
			} else if purged > 0 {
				n.log.Info("retention purge", "segments", purged)
			}
		}
	}
}
