package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/detection"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
)

// nodeFlags are the flags every serving command takes.
type nodeFlags struct {
	dataDir, addr, suffix, logLevel string
	publicURL                       string
	root                            rootFlags
}

func (nf *nodeFlags) register(cmd *cobra.Command, defaultDir, defaultAddr string) {
	f := cmd.Flags()
	f.StringVar(&nf.dataDir, "data", defaultDir, "data directory (created on first run, mode 0700)")
	f.StringVar(&nf.addr, "addr", defaultAddr, "address to serve HTTPS on; port 0 picks a free one")
	f.StringVar(&nf.suffix, "vault-dns-suffix", "vault.localhost", "domain each vault is served under, as {vault}.{suffix}")
	f.StringVar(&nf.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&nf.publicURL, "public-url", "", "https URL clients reach the service at (a load balancer's, in front of several nodes): tokens' issuer, admin.json's endpoint and the vaults' port; default the node's own address")
	nf.root.register(cmd, "root", nodeseal.SourceFile)
}

// config is the node configuration the flags describe, with a logger on
// stderr, the root of trust with its secret, and the vault passphrase from
// the environment.
func (nf *nodeFlags) config(a *app, cmd *cobra.Command) (node.Config, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(nf.logLevel)); err != nil {
		return node.Config{}, usagef("--log-level must be debug, info, warn or error, not %q", nf.logLevel)
	}
	cfg := node.Config{DataDir: nf.dataDir, Addr: nf.addr, VaultDNSSuffix: nf.suffix, PublicURL: nf.publicURL,
		Logger: slog.New(slog.NewTextHandler(a.env.Stderr, &slog.HandlerOptions{Level: level}))}
	root, err := nf.root.root(a, cmd)
	if err != nil {
		return node.Config{}, err
	}
	cfg.Root = root
	// The passphrase comes from the environment, never a flag, so that it
	// stays out of shell history and the process list.
	if p := a.env.Getenv("SEALWATCH_VAULT_PASSPHRASE"); p != "" {
		cfg.VaultPassphrase = []byte(p)
	}
	return cfg, nil
}

// serve opens a node, says where it serves, and serves until ctx ends.
func (a *app) serve(ctx context.Context, cmd *cobra.Command, cfg node.Config, what string) error {
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start the node: %w", err)
	}
	w := cmd.OutOrStdout()
	vaultHost := "{vault}." + strings.ToLower(strings.Trim(cfg.VaultDNSSuffix, "."))
	if u, err := url.Parse(n.PublicURL()); err == nil && u.Port() != "" && u.Port() != "443" {
		vaultHost += ":" + u.Port()
	}
	fmt.Fprintf(w, "%s is running.\n", what)
	fmt.Fprintf(w, "  endpoint: %s\n", n.Endpoint())
	if cfg.PublicURL != "" {
		fmt.Fprintf(w, "  public:   %s\n", cfg.PublicURL)
	}
	if cfg.Services != node.ServeWorkspaces {
		fmt.Fprintf(w, "  vaults:   https://%s\n", vaultHost)
	}
	fmt.Fprintf(w, "  CA file:  %s\n", n.CAFile())
	fmt.Fprintf(w, "  tenant:   %s\n", n.TenantID())
	for _, t := range cfg.TrustedIssuers {
		fmt.Fprintf(w, "  trusts:   %s (tenant %s) for the key vault API\n", t.Issuer, t.TenantID)
	}
	if n.FirstRun() {
		fmt.Fprintf(w, "First run: wrote the admin's credentials to %s; keep that file secret.\n", n.CredentialsFile())
	}
	if where := n.AdminCredentialsElsewhere(); where != "" {
		// Another node sharing the databases made the admin application:
		// this node has no admin.json to point at.
		fmt.Fprintf(w, "The admin's credentials are on the node that made them, at %s; log in with that file.\n", where)
	} else if cfg.Services == node.ServeVault {
		// A vault apart has its own tenant and admin: its login goes to a
		// profile of its own, beside the workspace node's.
		fmt.Fprintf(w, "Next, in another terminal:\n  sealwatch login --profile %s --credentials %s\n", vaultProfile(cfg.DataDir), n.CredentialsFile())
	} else {
		fmt.Fprintf(w, "Next, in another terminal:\n  sealwatch login --credentials %s\n", n.CredentialsFile())
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")

	serveErr := n.Serve(ctx)
	closeErr := n.Close()
	if err := errors.Join(serveErr, closeErr); err != nil {
		return fmt.Errorf("node stopped: %w", err)
	}
	cfg.Logger.Info("stopped")
	return nil
}

func (a *app) upCommand() *cobra.Command {
	return a.workspaceNodeCommand("up", node.ServeAll, "Sealwatch",
		"Run every Sealwatch service in this process until interrupted",
		"up opens (or, on first run, creates) the data directory, serves every service on one\n"+
			"HTTPS port, and runs until SIGINT or SIGTERM. On first run it writes the admin's\n"+
			"credentials to DATA/admin.json; log in with them from another terminal.\n\n"+
			"The vault's root key is kept in DATA/vault/root.key, or, when SEALWATCH_VAULT_PASSPHRASE\n"+
			"is set, derived from that passphrase (which must then be given on every start).\n\n"+
			"The node's own secrets (signing and TLS keys, the platform key, stored key-service\n"+
			"credentials) are sealed under --root-of-trust: passphrase (SEALWATCH_ROOT_PASSPHRASE or\n"+
			"--root-passphrase-fd), pkcs11, aws-kms or keyvault. The default, file, keeps a generated root\n"+
			"key in DATA/seal/root.key: a development default that protects against nothing while it sits\n"+
			"beside the data; move to a real root with `sealwatch operator rekey`.\n\n"+
			"A cluster's key may live in a vault served elsewhere, such as a customer's own\n"+
			"`sealwatch vault serve`: --key-vault-ca trusts that vault's certificate authority.")
}

func (a *app) serveCommand() *cobra.Command {
	return a.workspaceNodeCommand("serve", node.ServeWorkspaces, "Sealwatch workspaces",
		"Run the workspace services without a key vault, until interrupted",
		"serve is up without the key vault: the operator's side of a deployment in which every\n"+
			"cluster's key lives in a vault elsewhere, such as the key owner's `sealwatch vault serve`\n"+
			"(trust its certificate authority with --key-vault-ca) or any vault speaking the Key Vault\n"+
			"keys API whose certificate the system trusts.\n\n"+
			"With --postgres and --object-store, serve is one of several nodes behind a load balancer at\n"+
			"--public-url: they share their databases and sealed log data, and any node answers any\n"+
			"request. Give every node the same root of trust. See \"Running several nodes\" in\n"+
			"docs/guide.md.")
}

// workspaceNodeCommand is up or serve: a node with the workspace services.
func (a *app) workspaceNodeCommand(use string, services node.Services, what, short, long string) *cobra.Command {
	var (
		nf            nodeFlags
		keyCheck      time.Duration
		grace         time.Duration
		keyVaultCAs   []string
		pkcs11Modules []string
		tokenFiles    []string
		flushSize     = byteSize(logstore.DefaultFlushBytes)
		flushInterval time.Duration
		memoryBudget  = byteSize(node.DefaultLogMemoryBudget)
		idleClose     time.Duration
		queryMemory   = byteSize(node.DefaultQueryMemory)
		queryTotal    = byteSize(node.DefaultQueryMemoryTotal)
		scrubRate     = byteSize(node.DefaultScrubRate)
		scrubInterval time.Duration
		nrtInterval   time.Duration
		maxAlerts     int
		maxOpenStores int
		geoIPDB       string
		externalAllow []string
	)
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.NoArgs}
	// Only serve runs as one of several nodes: up is the embedded node.
	var shared *sharedFlags
	if services == node.ServeWorkspaces {
		shared = new(sharedFlags)
		shared.register(cmd)
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if keyCheck < time.Second || grace < 0 {
			return usagef("--key-check-interval must be at least 1s and --key-unreachable-grace not negative")
		}
		if flushSize < minLogFlushSize || flushSize > maxLogFlushSize {
			return usagef("--log-flush-size must be between %s and %s, not %s", byteSize(minLogFlushSize), byteSize(maxLogFlushSize), flushSize)
		}
		if flushInterval < time.Second {
			return usagef("--log-flush-interval must be at least 1s")
		}
		if memoryBudget != 0 && memoryBudget < flushSize {
			return usagef("--log-memory-budget (%s) must be 0 (none) or at least --log-flush-size (%s)", memoryBudget, flushSize)
		}
		if idleClose != 0 && idleClose < time.Minute {
			return usagef("--log-store-idle-close must be 0 (never) or at least 1m, not %s", idleClose)
		}
		if maxOpenStores < 0 {
			return usagef("--log-max-open-stores must be 0 (no bound) or more, not %d", maxOpenStores)
		}
		if queryMemory <= 0 || queryMemory > queryTotal {
			return usagef("--query-memory (%s) must be above 0 and not exceed --query-memory-total (%s)", queryMemory, queryTotal)
		}
		if scrubInterval < time.Minute {
			return usagef("--scrub-interval must be at least 1m, not %s", scrubInterval)
		}
		if nrtInterval < detection.MinNRTInterval {
			return usagef("--nrt-interval must be at least %s, not %s", detection.MinNRTInterval, nrtInterval)
		}
		if maxAlerts < 1 {
			return usagef("--max-alerts-per-run must be at least 1, not %d", maxAlerts)
		}
		for _, f := range tokenFiles {
			if !filepath.IsAbs(f) {
				return usagef("--vault-federated-token-file must be an absolute path, such as /var/run/secrets/azure/tokens/azure-identity-token, not %q", f)
			}
		}
		for _, m := range pkcs11Modules {
			if !filepath.IsAbs(m) {
				return usagef("--pkcs11-module must be an absolute path, such as /usr/lib/softhsm/libsofthsm2.so, not %q", m)
			}
		}
		cfg, err := nf.config(a, cmd)
		if err != nil {
			return err
		}
		cfg.Services, cfg.KeyCheckInterval, cfg.UnreachableGrace, cfg.KeyVaultCAFiles = services, keyCheck, grace, keyVaultCAs
		cfg.PKCS11Modules = pkcs11Modules
		cfg.FederatedTokenFiles = tokenFiles
		cfg.LogFlushBytes, cfg.LogFlushInterval = int64(flushSize), flushInterval
		cfg.LogMemoryBudget, cfg.LogStoreIdleClose, cfg.LogMaxOpenStores = int64(memoryBudget), idleClose, maxOpenStores
		cfg.QueryMemory, cfg.QueryMemoryTotal = int64(queryMemory), int64(queryTotal)
		cfg.ScrubRate, cfg.ScrubInterval = int64(scrubRate), scrubInterval
		cfg.NRTInterval, cfg.MaxAlertsPerRun = nrtInterval, maxAlerts
		cfg.GeoIPDB = geoIPDB
		cfg.ExternalDataAllow = externalAllow
		if shared != nil {
			closeStorage, err := shared.open(ctx, a, cmd, &cfg)
			if err != nil {
				return err
			}
			defer closeStorage()
		}
		return a.serve(ctx, cmd, cfg, what)
	})
	nf.register(cmd, "./sealwatch-data", "127.0.0.1:8443")
	f := cmd.Flags()
	f.DurationVar(&keyCheck, "key-check-interval", keyring.DefaultKeyCheckInterval, "how often each customer-managed key is proven usable by unwrapping its account keys")
	f.DurationVar(&grace, "key-unreachable-grace", keyring.DefaultUnreachableGrace, "how long work goes on from memory while a key vault cannot be reached; 0 fails closed at once")
	f.StringArrayVar(&keyVaultCAs, "key-vault-ca", nil, "PEM file of a certificate authority to trust for key vaults served elsewhere (repeatable)")
	f.StringArrayVar(&pkcs11Modules, "pkcs11-module", nil, "absolute path of a PKCS#11 library that clusters' keys may use (keySource pkcs11; repeatable)")
	f.StringArrayVar(&tokenFiles, "vault-federated-token-file", nil, "absolute path of a federated token file that clusters' Key Vault applications may sign in with (keyVaultFederatedTokenFile; repeatable)")
	f.Var(&flushSize, "log-flush-size", "size at which a table's write-ahead log is sealed into segments, such as 32MiB; the rows of about three such logs per table being written are held in memory, with the columns queries build from them (about 0.4 times their size)")
	f.DurationVar(&flushInterval, "log-flush-interval", logstore.DefaultFlushInterval, "age at which a table's write-ahead log is sealed into segments even if smaller")
	f.Var(&memoryBudget, "log-memory-budget", "memory the rows not yet sealed into segments may hold, all workspaces together, such as 256MiB; over it the largest write-ahead log is sealed at once; 0: no bound but --log-flush-size per table")
	f.DurationVar(&idleClose, "log-store-idle-close", node.DefaultLogStoreIdleClose, "how long a workspace's log store stays open unused before it is sealed and closed, giving back its files and memory (the next request reopens it); 0: never")
	f.IntVar(&maxOpenStores, "log-max-open-stores", node.DefaultLogMaxOpenStores, "workspace log stores open at once; opening one more seals and closes the least recently used that no ingest, query or verification is using (the next request reopens it), so open files and memory do not grow with the workspaces; while more are in use, more stay open; 0: no bound")
	f.Var(&queryMemory, "query-memory", "memory one query's operators may hold (joins, summarize, sort, ...); beyond it the query is refused with 400 QueryLimitExceeded")
	f.Var(&queryTotal, "query-memory-total", "memory the queries running at once share; a query that finds it in use waits briefly, then is refused with 429 and Retry-After")
	f.Var(&scrubRate, "scrub-rate", "bytes a second the background scrub reads to authenticate every workspace's sealed data, such as 16MiB; 0 turns it off (sealwatch verify still works)")
	f.DurationVar(&scrubInterval, "scrub-interval", node.DefaultScrubInterval, "pause between two rounds of the background scrub over every workspace")
	f.DurationVar(&nrtInterval, "nrt-interval", detection.DefaultNRTInterval, "how often NRT analytics rules run over the rows ingested since their last run; at least 10s")
	f.StringArrayVar(&externalAllow, "externaldata-allow", nil, "URL prefix (http or https, such as https://example.com/feeds/) that externaldata may fetch from in queries and analytics rules; repeat for more; without one externaldata fetches nothing")
	f.StringVar(&geoIPDB, "geoip-db", "", "GeoIP database in MMDB format (such as GeoLite2-City.mmdb) that geo_info_from_ip_address() reads in queries and analytics rules; without one it answers null")
	f.IntVar(&maxAlerts, "max-alerts-per-run", detection.DefaultMaxAlertsPerRun, "safety limit on the alerts one analytics rule raises at once; a run that reaches it records a warning in SentinelHealth and the next run raises the rest")
	return cmd
}

// The range of flush sizes accepted. A WAL smaller than 64 KiB would make a segment of every few batches; one
// over 4 GiB would hold its rows in memory three times over, and 0.4 times that again in columns.
const (
	minLogFlushSize = 64 << 10
	maxLogFlushSize = 4 << 30
)

// byteSize is a flag holding a number of bytes, written as a whole number
// with an optional KiB, MiB or GiB unit.
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

func (b byteSize) String() string {
	for _, u := range byteUnits {
		if int64(b) >= u.n && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size: write bytes as a whole number with an optional KiB, MiB or GiB, such as 32MiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (*byteSize) Type() string { return "size" }

// vaultProfile is the profile `vault serve` suggests logging in to: the data
// directory's name (customer-vault), or "vault" when that is no profile name.
func vaultProfile(dataDir string) string {
	if name := filepath.Base(dataDir); profileName.MatchString(name) && name != defaultProfile {
		return name
	}
	return "vault"
}
