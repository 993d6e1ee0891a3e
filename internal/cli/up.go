package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/node"
)

func (a *app) upCommand() *cobra.Command {
	var dataDir, addr, suffix, logLevel string
	var keyCheck, grace time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every Sealwatch service in this process until interrupted",
		Long: "up opens (or, on first run, creates) the data directory, serves every service on one\n" +
			"HTTPS port, and runs until SIGINT or SIGTERM. On first run it writes the admin's\n" +
			"credentials to DATA/admin.json; log in with them from another terminal.\n\n" +
			"The vault's root key is kept in DATA/vault/root.key, or, when SEALWATCH_VAULT_PASSPHRASE\n" +
			"is set, derived from that passphrase (which must then be given on every start).",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return usagef("--log-level must be debug, info, warn or error, not %q", logLevel)
		}
		logger := slog.New(slog.NewTextHandler(a.env.Stderr, &slog.HandlerOptions{Level: level}))
		if keyCheck < time.Second || grace < 0 {
			return usagef("--key-check-interval must be at least 1s and --key-unreachable-grace not negative")
		}
		cfg := node.Config{DataDir: dataDir, Addr: addr, VaultDNSSuffix: suffix, Logger: logger,
			KeyCheckInterval: keyCheck, UnreachableGrace: grace}
		// The passphrase comes from the environment, never a flag, so that it
		// stays out of shell history and the process list.
		if p := a.env.Getenv("SEALWATCH_VAULT_PASSPHRASE"); p != "" {
			cfg.VaultPassphrase = []byte(p)
		}
		n, err := node.Open(ctx, cfg)
		if err != nil {
			return fmt.Errorf("start the node: %w", err)
		}
		w := cmd.OutOrStdout()
		vaultHost := "{vault}." + strings.ToLower(strings.Trim(suffix, "."))
		if u, err := url.Parse(n.Endpoint()); err == nil && u.Port() != "" && u.Port() != "443" {
			vaultHost += ":" + u.Port()
		}
		fmt.Fprintf(w, "Sealwatch is running.\n")
		fmt.Fprintf(w, "  endpoint: %s\n", n.Endpoint())
		fmt.Fprintf(w, "  vaults:   https://%s\n", vaultHost)
		fmt.Fprintf(w, "  CA file:  %s\n", n.CAFile())
		fmt.Fprintf(w, "  tenant:   %s\n", n.TenantID())
		if n.FirstRun() {
			fmt.Fprintf(w, "First run: wrote the admin's credentials to %s; keep that file secret.\n", n.CredentialsFile())
		}
		fmt.Fprintf(w, "Next, in another terminal:\n  sealwatch login --credentials %s\n", n.CredentialsFile())
		fmt.Fprintf(w, "Press Ctrl-C to stop.\n")

		serveErr := n.Serve(ctx)
		closeErr := n.Close()
		if err := errors.Join(serveErr, closeErr); err != nil {
			return fmt.Errorf("node stopped: %w", err)
		}
		logger.Info("stopped")
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./sealwatch-data", "data directory (created on first run, mode 0700)")
	f.StringVar(&addr, "addr", "127.0.0.1:8443", "address to serve HTTPS on; port 0 picks a free one")
	f.StringVar(&suffix, "vault-dns-suffix", "vault.localhost", "domain each vault is served under, as {vault}.{suffix}")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&keyCheck, "key-check-interval", keyring.DefaultKeyCheckInterval, "how often each customer-managed key is proven usable by unwrapping its account keys")
	f.DurationVar(&grace, "key-unreachable-grace", keyring.DefaultUnreachableGrace, "how long work goes on from memory while a key vault cannot be reached; 0 fails closed at once")
	return cmd
}
