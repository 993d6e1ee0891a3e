package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/spf13/cobra"
)

// vaultAppFlags name the application a Key Vault key is used as in the
// vault's own tenant, and its credential. A secret never comes from a flag:
// the client secret is read from standard input, the certificate (which
// holds its private key) from a file.
type vaultAppFlags struct {
	tenant, client, authority string
	secretStdin               bool
	certFile, tokenFile       string
}

func (v *vaultAppFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&v.tenant, "vault-tenant", "", "keyvault: the vault's tenant, where the application the key is used as is registered")
	f.StringVar(&v.client, "vault-client-id", "", "keyvault: the application (client) ID the key is used as, in --vault-tenant")
	f.BoolVar(&v.secretStdin, "vault-client-secret-stdin", false, "keyvault: read the application's client secret from standard input")
	f.StringVar(&v.certFile, "vault-client-cert", "", "keyvault: PEM file with the application's certificate and its unencrypted RSA private key")
	f.StringVar(&v.tokenFile, "vault-federated-token-file", "", "keyvault: federated token file on the node the application signs in with (workload identity)")
	f.StringVar(&v.authority, "vault-authority", "", "keyvault: the tenant's sign-in service, default the cloud's (https://login.microsoftonline.com/); a Sealwatch node's endpoint for its vaults")
}

func (v *vaultAppFlags) set() bool {
	return v.tenant != "" || v.client != "" || v.authority != "" || v.secretStdin || v.certFile != "" || v.tokenFile != ""
}

// fill puts the application and its credential into kv, reading the secret
// or the certificate. No credential is right when the cluster's key already
// uses this application: the node keeps its sealed one.
func (a *app) fillVaultApp(cmd *cobra.Command, v *vaultAppFlags, kv *workspace.KeyVaultProperties) error {
	given := 0
	for _, set := range []bool{v.secretStdin, v.certFile != "", v.tokenFile != ""} {
		if set {
			given++
		}
	}
	switch {
	case v.tenant == "" || v.client == "":
		return usagef("a key used as an application of the vault's tenant needs both --vault-tenant and --vault-client-id")
	case given > 1:
		return usagef("give one credential: --vault-client-secret-stdin, --vault-client-cert or --vault-federated-token-file")
	case v.tokenFile != "" && !filepath.IsAbs(v.tokenFile):
		return usagef("--vault-federated-token-file must be an absolute path on the node, not %q", v.tokenFile)
	}
	kv.KeyVaultTenantID, kv.KeyVaultClientID, kv.KeyVaultAuthorityHost = v.tenant, v.client, v.authority
	kv.KeyVaultFederatedTokenFile = v.tokenFile
	switch {
	case v.secretStdin:
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the client secret from standard input: %w", err)
		}
		kv.KeyVaultClientSecret = strings.TrimRight(line, "\r\n")
		if kv.KeyVaultClientSecret == "" {
			return usagef("--vault-client-secret-stdin read no secret from standard input")
		}
	case v.certFile != "":
		pem, err := os.ReadFile(v.certFile)
		if err != nil {
			return fmt.Errorf("read the client certificate: %w", err)
		}
		kv.KeyVaultClientCertificate = string(pem)
	}
	return nil
}
