// Package node assembles Sealwatch's services into one running process: it
// opens the stores under a data directory, wires identity, vault and API, and
// serves them on one HTTPS port until its context ends.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealwatch/sealwatch/internal/api"
	"github.com/sealwatch/sealwatch/internal/audit"
	"github.com/sealwatch/sealwatch/internal/automation"
	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/console"
	"github.com/sealwatch/sealwatch/internal/detection"
	"github.com/sealwatch/sealwatch/internal/extdata"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyevents"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/pki"
	"github.com/sealwatch/sealwatch/internal/replay"
	"github.com/sealwatch/sealwatch/internal/rootkey"
	"github.com/sealwatch/sealwatch/internal/vault"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// Config says where a node keeps its data and where it listens.
type Config struct {
	DataDir string // created on first run, mode 0700
	Addr    string // host:port to listen on; port 0 picks a free one
	// VaultDNSSuffix is the domain vault hosts live under; default vault.localhost.
	VaultDNSSuffix string
	// Root is the root of trust the node's own secrets are sealed under (the
	// identity signing key, the TLS keys, the platform key, secrets.key, the
	// vault's root key file); nil is the development default, a root key
	// file in DIR/seal/root.key (see package nodeseal).
	Root nodeseal.Root
	// VaultPassphrase, when set, derives the vault's root key with Argon2id
	// instead of keeping it (sealed) in DIR/vault/root.key.
	VaultPassphrase []byte
	// Storage, when set, is the databases this node shares with others
	// behind one address, any of which answers any request; nil keeps them
	// in bbolt files under DataDir (one node on its own). On shared storage
	// the secrets the nodes must agree on (the signing keys, the TLS CA,
	// secrets.key, the platform key, the vault's root key or its
	// passphrase's parameters) are kept in Storage.Identity, sealed under a
	// cluster master key that Root wraps, so every node must be started
	// with the same root of trust; a node keeps only its own server
	// certificate and log files in DataDir. The admin application is made
	// once, by the first node, which alone writes admin.json.
	Storage *Storage
	// PublicURL is the https URL clients reach the service at, such as a
	// load balancer's in front of several nodes: tokens name it as their
	// issuer, admin.json as the endpoint, vault URIs and key IDs take its
	// port, and the server certificate covers its host, so that a token or
	// key ID one node issues holds on every other. Empty: this node's own
	// listener.
	PublicURL string
	// KeyCheckInterval is how often each customer key is proven usable
	// (default 30 s); UnreachableGrace how long work goes on from memory
	// while a key vault cannot be reached (0 fails closed at once).
	KeyCheckInterval time.Duration
	UnreachableGrace time.Duration
	// KeySelfCheckEvery is, on shared storage, how many key-check
	// intervals apart a node probes a customer key itself while another
	// node holds the key's probe lease and it reads that node's checks
	// (default 10; see keyring.SharedChecks).
	KeySelfCheckEvery int
	// LogFlushBytes is the size at which a table's write-ahead log is
	// sealed into segments (default 32 MiB); the rows of about three such
	// logs per table being written are held in memory. LogFlushInterval is
	// the age at which it is sealed even if smaller (default 10 min).
	LogFlushBytes    int64
	LogFlushInterval time.Duration
	// LogMemoryBudget bounds the rows every workspace's log store holds in
	// memory before they are flushed, together: over it, the largest
	// write-ahead log is flushed (0: each table is bounded by
	// LogFlushBytes alone, so memory grows with the tables written to).
	// LogStoreIdleClose is how long a workspace's log store stays open
	// unused before it is flushed and closed, its files and memory given
	// back (0: never); the next request opens it again.
	LogMemoryBudget   int64
	LogStoreIdleClose time.Duration
	// LogMaxOpenStores bounds the workspaces' log stores open at once, so
	// that open files do not grow with the workspaces under load: opening
	// one more closes the least recently used that nothing is using
	// (0: no bound).
	LogMaxOpenStores int
	// Services says which services run besides identity: all of them (up),
	// the vault only (vault serve: the key owner's side of a split
	// deployment) or the workspaces only (serve: the operator's side).
	Services Services
	// TrustedIssuers are other identity services (an operator's workspace
	// node) whose tokens the vault accepts, so that access policies can grant
	// their cluster identities the use of a key.
	TrustedIssuers []identity.TrustedIssuer
	// KeyVaultCAFiles are PEM files of certificate authorities trusted, in
	// addition to the system's and this node's own, for reaching key vaults
	// (a customer's vault served by another node) and the endpoints of the
	// vault's key event subscriptions (a workspace node).
	KeyVaultCAFiles []string
	// PKCS11Modules are the PKCS#11 libraries a cluster's key may name
	// (keySource pkcs11). Loading a library runs its code in the node, so
	// only those its operator lists here are loaded, never a path from an
	// API call alone.
	PKCS11Modules []string
	// FederatedTokenFiles are the files a cluster's Key Vault application
	// may sign in with (keyVaultFederatedTokenFile, workload identity). The
	// node sends a file's content to the authority the key names, so only
	// files its operator lists here are read, never a path from an API call
	// alone.
	FederatedTokenFiles []string
	// WrapKeyServiceTransport, when set, wraps the transport the key layer
	// reaches key vaults with: tests use it to cut the network between the
	// workspace and the vault.
	WrapKeyServiceTransport func(http.RoundTripper) http.RoundTripper
	// QueryMemory is what one query's operators may hold (default 1 GiB), and
	// QueryMemoryTotal what the queries running at once share (default 4 GiB);
	// a query that finds the total in use waits up to QueryMemoryWait
	// (default 3 s) for some to come back.
	QueryMemory      int64
	QueryMemoryTotal int64
	QueryMemoryWait  time.Duration
	// QueryResultRows and QueryResultBytes bound one answer of the query API:
	// its rows, and the bytes of their JSON (0: the cloud's 500,000 rows and
	// 100 MiB). A result over either is answered with its first rows and a
	// PartialError, as the cloud answers it.
	QueryResultRows  int64
	QueryResultBytes int64
	// ScrubRate is how many bytes a second the background scrub reads to
	// authenticate every workspace's sealed data (0: no background scrub);
	// ScrubInterval the pause between two rounds over every workspace
	// (default 6 h).
	ScrubRate     int64
	ScrubInterval time.Duration
	// LineageLease is how long the lease on the node's lineage of the
	// shared log tables lasts unrenewed (Storage with Objects; default
	// wsdata.DefaultLineageLease): past it, another node adopts the
	// lineage. It is renewed five times a lease.
	LineageLease time.Duration
	// WebhookClient, when set, sends automation rules' webhook calls instead
	// of the default client (bounded times, system roots): tests use it.
	WebhookClient *http.Client
	// NRTInterval is how often NRT analytics rules run (default 1 minute,
	// at least 10 s); RuleInterval how often the scheduler looks for due
	// rules (default 10 s). MaxAlertsPerRun is the safety limit on the
	// alerts one rule raises at once (default 500): a run that reaches it
	// records a warning and the next raises the rest.
	NRTInterval     time.Duration
	RuleInterval    time.Duration
	MaxAlertsPerRun int
	// GeoIPDB is the path of a GeoIP database in MMDB format that
	// geo_info_from_ip_address() reads in queries and analytics rules; empty,
	// the function answers null. The node never fetches one itself.
	GeoIPDB string
	// ExternalDataAllow are the URL prefixes externaldata may fetch from in
	// queries and analytics rules; none, it fetches nothing (a sealed workspace
	// reaches the network only where its operator allows).
	ExternalDataAllow []string
	Logger            *slog.Logger

	// adminStep, set only by tests, is called after each step of the
	// shared admin bootstrap (adminClaimed...); an error stops it there, as
	// a crash would.
	adminStep func(step string) error
}

// Query memory defaults, for a node of a few cores and tens of GB: four
// queries at their limit at once leave most of the machine to the stores.
const (
	DefaultQueryMemory      = 1 << 30
	DefaultQueryMemoryTotal = 4 << 30
	DefaultQueryMemoryWait  = 3 * time.Second
)

// Background scrub defaults: a round over every workspace's data every few
// hours, reading at a pace a disk hardly notices.
const (
	DefaultScrubRate     = 16 << 20
	DefaultScrubInterval = 6 * time.Hour
)

// Workspace store defaults: unflushed rows of all workspaces together in
// eight full write-ahead logs' worth of memory; a store unused for longer
// than the longest query may wait (10 minutes) closed.
const (
	DefaultLogMemoryBudget   = 256 << 20
	DefaultLogStoreIdleClose = 15 * time.Minute
	DefaultLogMaxOpenStores  = 256
)

// Services selects what a node serves besides the identity service.
type Services int

const (
	ServeAll        Services = iota // vault and workspaces: sealwatch up
	ServeVault                      // the key vault only: sealwatch vault serve
	ServeWorkspaces                 // the workspaces only: sealwatch serve
)

// Credentials is the admin principal's sign-in file, DIR/admin.json.
type Credentials struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Endpoint     string `json:"endpoint"`
	CAFile       string `json:"caFile"`
	// VaultDNSSuffix tells clients which host names to dial at the endpoint's address.
	VaultDNSSuffix string `json:"vaultDnsSuffix"`
}

// Node is one running Sealwatch process.
type Node struct {
	cfg      Config
	log      *slog.Logger
	listener net.Listener
	endpoint string
	public   string // Config.PublicURL, checked; "" for the listener
	tls      *pki.Bundle
	box      *nodeseal.Box // open while Open runs
	// checkNode names the node in the key check records it writes on
	// shared storage; "" on its own.
	checkNode string
	// files are the bbolt files the node opened itself, by the name the
	// database size metric gives them: none on shared storage.
	files      map[string]*boltkv.DB
	identityDB kv.DB
	identity   *identity.Service
	vaultDB    kv.DB
	root       *rootkey.Key
	vault      *vault.Service
	audit      *audit.Log
	// events delivers the vault's key events to their subscriptions;
	// keyEvents turns key events into checks of the cluster keys.
	events     *keyevents.Publisher
	keyEvents  *keyEvents
	controlDB  kv.DB
	secrets    *rootkey.Key
	keys       *clusterkeys.Manager
	workspaces *workspace.Service
	rules      *detection.Scheduler
	data       *wsdata.Data
	queryMem   *kql.MemoryPool
	geoIP      *kql.GeoIPDB // the operator's GeoIP database, or nil
	// what externaldata may fetch; nil: nothing
	externalData kql.ExternalFetcher
	metrics      *prometheus.Registry
	docsDB       kv.DB
	webhooks     *automation.Webhooks
	// automationCache keeps automation rules decoded for the API and detection.
	automationCache *automation.Cache
	server          *http.Server
	firstRun        bool
	// adminElsewhere is where another node sharing the databases wrote the
	// admin's credentials, when it made the admin application.
	adminElsewhere string
	closers        []func() error // run in reverse order by Close
}

// Open prepares every component and binds the listener; Serve starts serving.
// On error, everything opened so far is closed again.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: a data directory is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8443"
	}
	if cfg.VaultDNSSuffix == "" {
		cfg.VaultDNSSuffix = "vault.localhost"
	}
	cfg.VaultDNSSuffix = strings.ToLower(strings.Trim(cfg.VaultDNSSuffix, "."))
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := defaultQueryMemory(&cfg); err != nil {
		return nil, err
	}
	public, err := checkPublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.Storage != nil {
		if err := cfg.Storage.check(); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, log: cfg.Logger, metrics: newRegistry(), public: public, files: map[string]*boltkv.DB{}}
	defer func() {
		if err != nil {
			_ = n.Close()
		}
	}()

	_, statErr := os.Stat(filepath.Join(cfg.DataDir, "admin.json"))
	hasCredentials := !errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}

	if cfg.Root == nil {
		cfg.Root = nodeseal.File("")
		n.cfg.Root = cfg.Root
	}
	n.box, err = n.openBox(ctx)
	if err != nil {
		return nil, fmt.Errorf("unseal the node's secrets: %w", err)
	}
	// The master key is needed only while the node opens what it seals.
	defer n.box.Close()

	n.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another sealwatch running? pick another port with --addr)", cfg.Addr, err)
	}
	n.closers = append(n.closers, func() error { return ignoreClosed(n.listener.Close()) })
	n.endpoint = endpointFor(n.listener.Addr().(*net.TCPAddr))

	names, ips := n.serverNames()
	if n.box.Shared() {
		n.tls, err = pki.EnsureShared(ctx, filepath.Join(cfg.DataDir, "tls"), names, ips, n.box, n.box)
	} else {
		n.tls, err = pki.Ensure(filepath.Join(cfg.DataDir, "tls"), names, ips, n.box)
	}
	if err != nil {
		return nil, fmt.Errorf("prepare TLS certificates: %w", err)
	}

	n.identityDB, err = n.database("identity", filepath.Join(cfg.DataDir, "identity.db"))
	if err != nil {
		return nil, err
	}
	n.identity, err = identity.New(n.identityDB, "identity-signing-key.pem", identity.Options{
		Issuer:         n.publicURL(),
		VaultDNSSuffix: cfg.VaultDNSSuffix,
		TrustedIssuers: cfg.TrustedIssuers,
		Keys:           n.box,
		Logger:         n.log.With("component", "identity"),
	})
	if err != nil {
		return nil, err
	}
	// The secrets key seals the secrets kept in the shared databases: the
	// console's sessions whatever the node serves, the control plane's too.
	n.secrets, err = n.sealedKey(ctx, "workspace/secrets.key")
	if err != nil {
		return nil, fmt.Errorf("open the node's secrets key: %w", err)
	}
	n.closers = append(n.closers, func() error { n.secrets.Close(); return nil })
	if err := n.bootstrapAdmin(ctx, hasCredentials); err != nil {
		return nil, err
	}

	apiCfg := api.Config{
		Identity:       n.identity,
		Metrics:        promhttp.HandlerFor(n.metrics, promhttp.HandlerOpts{}),
		Registerer:     n.metrics,
		VaultDNSSuffix: cfg.VaultDNSSuffix,
		SessionToken:   console.TokenFor,
		Logger:         n.log.With("component", "api"),
	}
	if cfg.Services != ServeWorkspaces {
		if err := n.openVault(ctx); err != nil {
			return nil, err
		}
		apiCfg.Vault, apiCfg.Audit, apiCfg.KeyEvents = n.vault, n.audit, n.events
	}
	if cfg.Services != ServeVault {
		if err := n.openWorkspaces(ctx); err != nil {
			return nil, err
		}
		if err := n.openGeoIP(); err != nil {
			return nil, err
		}
		apiCfg.GeoIP = n.geoIP
		if len(cfg.ExternalDataAllow) > 0 {
			pol, err := extdata.New(cfg.ExternalDataAllow)
			if err != nil {
				return nil, fmt.Errorf("%w (give --externaldata-allow an http or https URL prefix such as https://example.com/feeds/)", err)
			}
			n.externalData = pol
		}
		apiCfg.ExternalData = n.externalData
		apiCfg.Workspaces, apiCfg.ClusterKeys, apiCfg.Data = n.workspaces, n.keys, n.data
		if apiCfg.CollectorReplays, err = n.collectorReplays(ctx); err != nil {
			return nil, err
		}
		apiCfg.KeyEventReceiver = n.keyEvents
		apiCfg.QueryMemory, apiCfg.MaxQueryMemory = n.queryMemoryPool(), cfg.QueryMemory
		apiCfg.MaxQueryRows, apiCfg.MaxQueryResultBytes = cfg.QueryResultRows, cfg.QueryResultBytes
		apiCfg.DeleteWorkspaceData = n.data.DeleteWorkspace
		n.webhooks = automation.NewWebhooks(automation.WebhookOptions{Client: cfg.WebhookClient, Logger: n.log.With("component", "webhooks")})
		n.closers = append(n.closers, n.webhooks.Close) // before the document store closes: deliveries record their outcome
		n.automationCache = automation.NewCache()
		apiCfg.Webhooks, apiCfg.AutomationCache = n.webhooks, n.automationCache
		if n.rules, err = n.newScheduler(); err != nil {
			return nil, err
		}
	}
	n.metrics.MustRegister(dbCollector{dbs: n.files})
	srv, err := api.New(apiCfg)
	if err != nil {
		return nil, err
	}
	web, err := console.New(console.Config{Identity: n.identity, API: srv, APIHost: srv.IsVaultHost,
		DB: n.identityDB, Secrets: n.secrets, Logger: n.log.With("component", "console")})
	if err != nil {
		return nil, err
	}
	n.server = &http.Server{
		Handler:           web,
		TLSConfig:         n.tls.ServerTLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.server.RegisterOnShutdown(srv.StopRecordings)
	return n, nil
}

// newRegistry is the registry /metrics serves, holding from the start the Go
// runtime's metrics (go_*) and the process's (process_*: CPU, memory, open
// files); the node's parts add their own as they open.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// defaultQueryMemory fills in the query memory limits left zero and refuses
// limits that cannot hold together.
func defaultQueryMemory(cfg *Config) error {
	if cfg.QueryMemory == 0 {
		cfg.QueryMemory = DefaultQueryMemory
	}
	if cfg.QueryMemoryTotal == 0 {
		cfg.QueryMemoryTotal = max(DefaultQueryMemoryTotal, cfg.QueryMemory)
	}
	if cfg.QueryMemoryWait == 0 {
		cfg.QueryMemoryWait = DefaultQueryMemoryWait
	}
	switch {
	case cfg.QueryMemory < 0 || cfg.QueryMemoryTotal < 0 || cfg.QueryMemoryWait < 0:
		return errors.New("node: query memory limits and wait must not be negative")
	case cfg.QueryMemory > cfg.QueryMemoryTotal:
		return fmt.Errorf("node: a query's memory (%d bytes) cannot exceed the memory all queries share (%d bytes)", cfg.QueryMemory, cfg.QueryMemoryTotal)
	}
	return nil
}

// queryMemoryPool is the memory the node's queries share, reported in
// /metrics as what running queries hold and the pool's size.
func (n *Node) queryMemoryPool() *kql.MemoryPool {
	pool := kql.NewMemoryPool(n.cfg.QueryMemoryTotal, n.cfg.QueryMemoryWait)
	n.queryMem = pool
	n.metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sealwatch_query_memory_reserved_bytes",
			Help: "Memory reserved by the queries running now, of the node's query memory."},
			func() float64 { return float64(pool.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sealwatch_query_memory_limit_bytes",
			Help: "The node's query memory, shared by the queries running at once."},
			func() float64 { return float64(pool.Limit()) }))
	return pool
}

func (n *Node) scrubInterval() time.Duration {
	if n.cfg.ScrubInterval > 0 {
		return n.cfg.ScrubInterval
	}
	return DefaultScrubInterval
}

// Endpoint is the base URL the node serves, such as https://127.0.0.1:8443.
func (n *Node) Endpoint() string { return n.endpoint }

// PublicURL is the base URL clients reach the service at: Config.PublicURL,
// or Endpoint.
func (n *Node) PublicURL() string { return n.publicURL() }

// FirstRun reports whether Open created the admin principal and wrote its
// credentials to this node's admin.json.
func (n *Node) FirstRun() bool { return n.firstRun }

// CAFile is the path of the local CA certificate that clients must trust.
func (n *Node) CAFile() string { return n.tls.CAFile }

// CredentialsFile is DIR/admin.json.
func (n *Node) CredentialsFile() string { return filepath.Join(n.cfg.DataDir, "admin.json") }

// TenantID is the tenant the node's identity service serves.
func (n *Node) TenantID() string { return n.identity.TenantID() }

// openVault opens the vault's store, its root key, the audit log and the
// vault service. The root key comes from a passphrase when one is configured,
// else from the key file, created on first run and sealed like the node's
// other secrets.
func (n *Node) openVault(ctx context.Context) (err error) {
	dir := filepath.Join(n.cfg.DataDir, "vault")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create vault directory: %w", err)
	}
	if len(n.cfg.VaultPassphrase) > 0 {
		n.root, err = n.vaultPassphraseKey(ctx)
	} else {
		n.root, err = n.sealedKey(ctx, "vault/root.key")
	}
	if err != nil {
		return fmt.Errorf("open the vault root key: %w", err)
	}
	n.closers = append(n.closers, func() error { n.root.Close(); return nil })
	n.vaultDB, err = n.database("vault", filepath.Join(dir, "vault.db"))
	if err != nil {
		return err
	}
	n.audit, err = audit.Open(n.vaultDB, n.root.Derive("audit-mac"), audit.Options{Logger: n.log.With("component", "audit")})
	if err != nil {
		return fmt.Errorf("open the vault audit log: %w", err)
	}
	n.closers = append(n.closers, n.audit.Close)
	pool, err := n.keyServiceCAs()
	if err != nil {
		return err
	}
	n.events, err = keyevents.NewPublisher(n.vaultDB, n.root, keyevents.PublisherOptions{
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}},
		Logger: n.log.With("component", "keyevents"),
	})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, n.events.Close) // before the vault's database closes
	// Vault URIs, and so key IDs, name the public URL's port, so that
	// every node behind it gives a key the same ID.
	n.vault, err = vault.New(n.vaultDB, n.root, vault.Options{
		DNSSuffix:      n.cfg.VaultDNSSuffix,
		Port:           n.publicPort(),
		TrustedTenants: n.identity.TrustedTenants(),
		OnEvent:        n.vaultEvent,
		Logger:         n.log.With("component", "vault"),
	})
	return err
}

// sealedKey is the 32-byte key called name (a file under the data
// directory), sealed under the node's root of trust, created on first use.
func (n *Node) sealedKey(ctx context.Context, name string) (*rootkey.Key, error) {
	raw, err := n.box.LoadOrCreateKey(ctx, name)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return rootkey.New(raw)
}

// vaultEvent takes a key event of this node's vault as it commits: to the
// vault's subscriptions, and to this node's own cluster keys in that vault.
func (n *Node) vaultEvent(ev keyevents.Event) {
	n.events.Publish(ev)
	if n.keyEvents != nil {
		n.keyEvents.own(ev)
	}
}

// Serve serves HTTPS until ctx ends, then shuts down gracefully. The vault's
// rotation and purge schedulers run while it serves.
func (n *Node) Serve(ctx context.Context) error {
	loopCtx, stopLoops := context.WithCancel(ctx)
	var loops sync.WaitGroup
	if n.vault != nil {
		for _, loop := range []func(context.Context) error{n.vault.RunRotationScheduler, n.vault.RunPurgeScheduler} {
			loops.Go(func() {
				if err := loop(loopCtx); err != nil && !errors.Is(err, context.Canceled) {
					n.log.Error("vault scheduler stopped", "err", err)
				}
			})
		}
	}
	defer func() { stopLoops(); loops.Wait() }()

	errc := make(chan error, 1)
	go func() { errc <- n.server.ServeTLS(n.listener, "", "") }()
	if n.keys != nil {
		loops.Go(func() { n.restoreClusterKeys(loopCtx) })
		loops.Go(func() { n.retentionLoop(loopCtx, time.Hour) })
		if n.data.Lineage() != "" {
			loops.Go(func() { n.lineageLoops(loopCtx) })
		}
		if n.cfg.ScrubRate > 0 {
			loops.Go(func() { n.data.Scrub(loopCtx, n.workspaces.AllWorkspaces, n.cfg.ScrubRate, n.scrubInterval()) })
		}
		loops.Go(func() { n.rules.Run(loopCtx) })
		loops.Go(func() { n.data.CloseIdleLoop(loopCtx) })
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if n.keys != nil {
		n.keys.StopProbes()
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openGeoIP opens the operator's GeoIP database, if the configuration names
// one, for the queries of the API and of analytics rules.
func (n *Node) openGeoIP() error {
	if n.cfg.GeoIPDB == "" {
		return nil
	}
	db, err := kql.OpenGeoIP(n.cfg.GeoIPDB)
	if err != nil {
		return fmt.Errorf("%w (give --geoip-db an MMDB file such as GeoLite2-City.mmdb, or leave it out)", err)
	}
	n.geoIP = db
	n.closers = append(n.closers, db.Close)
	return nil
}

// Close releases everything Open acquired, in reverse order.
func (n *Node) Close() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	n.closers = nil
	return errors.Join(errs...)
}

// bootstrapAdmin makes the admin application on a node's first run and
// writes its credentials to admin.json, or keeps an existing admin.json
// pointing at where the service is reached. Nodes sharing their databases
// make one admin application between them (claimAdmin).
func (n *Node) bootstrapAdmin(ctx context.Context, hasCredentials bool) error {
	switch {
	case hasCredentials && n.cfg.Storage == nil:
		_, err := n.refreshCredentials()
		return err
	case hasCredentials:
		creds, err := n.refreshCredentials()
		if err != nil {
			return err
		}
		return n.confirmAdminClaim(ctx, creds)
	case n.cfg.Storage == nil:
		n.firstRun = true
		return n.createAdmin(ctx)
	}
	claim, ours, err := n.claimAdmin(ctx)
	if err != nil {
		return err
	}
	n.firstRun = ours
	if !ours {
		n.adminElsewhere = claim.Credentials
		if claim.Host != "" {
			n.adminElsewhere = claim.Host + ":" + claim.Credentials
		}
		if claim.Pending {
			n.log.Info("another node is making the admin application; its credentials will be there. If it has not finished by the deadline, the next node to start makes them",
				"credentials", n.adminElsewhere, "deadline", claim.Deadline)
			return nil
		}
		n.log.Info("the admin application was made by another node; its credentials are there", "appId", claim.AppID, "credentials", n.adminElsewhere)
	}
	return nil
}

func (n *Node) createAdmin(ctx context.Context) error {
	p, secret, err := n.identity.CreateApplication(ctx, "sealwatch-admin", identity.RoleOwner)
	if err != nil {
		return fmt.Errorf("create admin principal: %w", err)
	}
	creds := Credentials{
		TenantID: n.identity.TenantID(), ClientID: p.AppID, ClientSecret: secret,
		Endpoint: n.publicURL(), CAFile: n.tls.CAFile, VaultDNSSuffix: n.cfg.VaultDNSSuffix,
	}
	if err := n.writeCredentials(creds); err != nil {
		return err
	}
	n.log.Info("admin principal created", "objectId", p.ObjectID, "appId", p.AppID, "credentials", n.CredentialsFile())
	return nil
}

// refreshCredentials keeps admin.json pointing at where this run listens: a
// run on another port or DNS suffix updates the endpoint, never the secret.
// It returns the credentials admin.json holds.
func (n *Node) refreshCredentials() (Credentials, error) {
	raw, err := os.ReadFile(n.CredentialsFile())
	if err != nil {
		return Credentials{}, fmt.Errorf("read admin credentials: %w", err)
	}
	var creds Credentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		return Credentials{}, fmt.Errorf("%s is damaged (%v); move it away to have a new admin principal created", n.CredentialsFile(), err)
	}
	if creds.Endpoint == n.publicURL() && creds.CAFile == n.tls.CAFile && creds.VaultDNSSuffix == n.cfg.VaultDNSSuffix {
		return creds, nil
	}
	creds.Endpoint, creds.CAFile, creds.VaultDNSSuffix = n.publicURL(), n.tls.CAFile, n.cfg.VaultDNSSuffix
	return creds, n.writeCredentials(creds)
}

// writeCredentials writes then renames, so a crash never leaves a
// half-written secret file.
func (n *Node) writeCredentials(creds Credentials) error {
	buf, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	tmp := n.CredentialsFile() + ".tmp"
	if err := os.WriteFile(tmp, append(buf, '\n'), 0o600); err != nil {
		return fmt.Errorf("write admin credentials: %w", err)
	}
	if err := os.Rename(tmp, n.CredentialsFile()); err != nil {
		return fmt.Errorf("write admin credentials: %w", err)
	}
	return nil
}

// endpointFor names the listener the way clients should dial it: loopback and
// unspecified addresses as 127.0.0.1, which the local certificate covers.
func endpointFor(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() || a.IP.IsLoopback() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(a.Port))
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// collectorReplays is the record of taken Data Collector signatures: on shared storage the
// one in the control database, so that a request taken by another node is refused; on a
// lone node one in memory, which costs no commit per request, as before the record was
// shared (it starts empty at each start, and refuses requests signed before it).
func (n *Node) collectorReplays(ctx context.Context) (api.ReplayGuard, error) {
	if n.cfg.Storage != nil {
		return replay.New(ctx, n.controlDB, replay.Options{})
	}
	return replay.NewMemory(replay.DefaultMemoryLimit, replay.Options{})
}
