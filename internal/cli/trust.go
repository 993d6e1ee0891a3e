package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/node"
)

// clusterIdentity is what a workspace operator hands a customer whose vault
// holds the cluster's key: which issuer signs the cluster's tokens, the CA to
// reach it by, and the two principals to grant. Nothing in it is secret.
type clusterIdentity struct {
	Cluster       string              `json:"cluster"`
	Issuer        string              `json:"issuer"`
	TenantID      string              `json:"tenantId"`
	CACertificate string              `json:"caCertificate,omitempty"`
	Principals    []identityPrincipal `json:"principals"`
}

type identityPrincipal struct {
	ObjectID string `json:"objectId"`
	Role     string `json:"role"`
}

func loadClusterIdentity(path string) (*clusterIdentity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the cluster identity file: %w", err)
	}
	var ci clusterIdentity
	if err := json.Unmarshal(raw, &ci); err != nil {
		return nil, fmt.Errorf("%s is not a cluster identity file (%v); write one with `sealwatch cluster export-identity`", path, err)
	}
	if !strings.HasPrefix(ci.Issuer, "https://") || ci.TenantID == "" || len(ci.Principals) == 0 {
		return nil, fmt.Errorf("%s lacks the issuer, tenant or principals; write it again with `sealwatch cluster export-identity`", path)
	}
	for _, p := range ci.Principals {
		if p.ObjectID == "" {
			return nil, fmt.Errorf("%s names a principal without an object ID", path)
		}
	}
	return &ci, nil
}

// trustedIssuer is the issuer the file names, reached over HTTPS with the
// system's CAs and the file's.
func (ci *clusterIdentity) trustedIssuer() (identity.TrustedIssuer, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if ci.CACertificate != "" && !pool.AppendCertsFromPEM([]byte(ci.CACertificate)) {
		return identity.TrustedIssuer{}, fmt.Errorf("the cluster identity file's caCertificate is not a PEM certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, TLSHandshakeTimeout: 10 * time.Second}
	return identity.TrustedIssuer{Issuer: ci.Issuer, TenantID: ci.TenantID, Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (a *app) clusterExportIdentityCommand(subscription *string) *cobra.Command {
	var (
		rf   resourceFlags
		file string
	)
	cmd := &cobra.Command{
		Use:   "export-identity --name C --file F",
		Short: "Write what a customer's vault needs to trust and grant this cluster's identities",
		Long: "export-identity writes a file naming the issuer of this node's tokens, its CA certificate,\n" +
			"and the cluster's two principals (its identity and the document-store principal). Give it\n" +
			"to whoever runs the vault that holds the cluster's key: `sealwatch vault serve --trust F`\n" +
			"trusts the issuer, and `sealwatch keyvault set-policy --identity-file F` grants both\n" +
			"principals. The file holds no secret.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		c, _, _, err := m.findCluster(ctx, rf.name, rf.resourceGroup, "-g")
		if err != nil {
			return err
		}
		var meta struct {
			Issuer string `json:"issuer"`
		}
		if err := m.cl.Do(ctx, http.MethodGet, "/"+m.cl.TenantID()+"/v2.0/.well-known/openid-configuration", client.AudienceManagement, nil, &meta); err != nil {
			return fmt.Errorf("read the node's OpenID metadata: %w", err)
		}
		ci := clusterIdentity{Cluster: c.Name, Issuer: meta.Issuer, TenantID: m.cl.TenantID(), Principals: []identityPrincipal{
			{ObjectID: c.Identity.PrincipalID, Role: "cluster identity"},
			{ObjectID: c.Properties.DocumentStorePrincipalID, Role: "document store"},
		}}
		if caFile := m.cl.Credentials().CAFile; caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("read the node's CA certificate: %w", err)
			}
			ci.CACertificate = string(pem)
		}
		buf, err := json.MarshalIndent(ci, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, append(buf, '\n'), 0o644); err != nil {
			return fmt.Errorf("write the cluster identity file: %w", err)
		}
		if a.output == outputJSON {
			return writeJSON(cmd.OutOrStdout(), buf)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Wrote the identity of cluster %s to %s: issuer %s, principals %s and %s.\n",
			c.Name, file, ci.Issuer, ci.Principals[0].ObjectID, ci.Principals[1].ObjectID)
		return nil
	})
	rf.register(cmd, kindCluster.noun)
	cmd.Flags().StringVar(&file, "file", "", "file to write")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (a *app) vaultCommand() *cobra.Command {
	return a.group("vault", "Run a key vault on its own, in the key owner's trust domain", a.vaultServeCommand())
}

func (a *app) vaultServeCommand() *cobra.Command {
	var (
		nf                nodeFlags
		trust, webhookCAs []string
	)
	cmd := &cobra.Command{
		Use:   "serve [--trust CLUSTER-IDENTITY-FILE]...",
		Short: "Serve the identity service and key vaults only, until interrupted",
		Long: "vault serve runs the key vault in its own process and data directory, with its own tenant\n" +
			"and admin: the customer's side of a deployment in which the workspaces run on an operator's\n" +
			"node. --trust names a file written by `sealwatch cluster export-identity` on that node: the\n" +
			"vault then accepts that node's tokens for the key vault API (and for nothing else), so\n" +
			"access policies can grant its cluster identities the use of a key. The operator's node\n" +
			"trusts this vault's CA with `sealwatch up --key-vault-ca DATA/tls/ca.pem`.\n\n" +
			"Its own secrets, the vault's root key file among them, are sealed under --root-of-trust as\n" +
			"with `sealwatch up` (the development default, file, keeps the root key in DATA/seal/root.key).",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		cfg, err := nf.config(a, cmd)
		if err != nil {
			return err
		}
		cfg.Services, cfg.KeyVaultCAFiles = node.ServeVault, webhookCAs
		for _, f := range trust {
			ci, err := loadClusterIdentity(f)
			if err != nil {
				return err
			}
			ti, err := ci.trustedIssuer()
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			cfg.TrustedIssuers = append(cfg.TrustedIssuers, ti)
		}
		return a.serve(ctx, cmd, cfg, "Sealwatch vault")
	})
	nf.register(cmd, "./sealwatch-vault", "127.0.0.1:9443")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "cluster identity file whose issuer to trust for the key vault API (repeatable)")
	cmd.Flags().StringArrayVar(&webhookCAs, "webhook-ca", nil, "PEM file of a certificate authority to trust for the endpoints of key event subscriptions, such as a workspace node's DATA/tls/ca.pem (repeatable)")
	return cmd
}
