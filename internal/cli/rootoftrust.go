package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
)

// rootFlags choose the root of trust the node's own secrets are sealed
// under: the flags --root-* (or, for the root a rekey moves to, --new-root-*).
// Secrets — a passphrase, a PIN, a client secret — come from the
// environment or a file descriptor, never from a flag, which every user of
// the machine sees in the process list.
type rootFlags struct {
	prefix  string // "root" or "new-root"
	source  string
	keyFile string
	// passphraseFD, when not -1, is the file descriptor the passphrase is
	// read from (0: standard input).
	passphraseFD                    int
	pkcs11                          pkcs11Flags
	kmsKey, kmsRegion, kmsEndpoint  string
	kvURL, kvKey, kvTenant, kvAppID string
	kvAuthority, kvCA               string
}

// env is the environment variable a root's secret comes from, such as
// SEALWATCH_ROOT_PASSPHRASE or SEALWATCH_NEW_ROOT_PASSPHRASE.
func (r *rootFlags) env(what string) string {
	return "SEALWATCH_" + strings.ToUpper(strings.ReplaceAll(r.prefix, "-", "_")) + "_" + what
}

func (r *rootFlags) register(cmd *cobra.Command, prefix, defaultSource string) {
	r.prefix = prefix
	f := cmd.Flags()
	f.StringVar(&r.source, prefix+"-of-trust", defaultSource, "root of trust sealing the node's own secrets: file (the development default), passphrase, pkcs11, aws-kms or keyvault")
	f.StringVar(&r.keyFile, prefix+"-key-file", "", "file: the root key file (32 random bytes, mode 0600), created if missing; default DATA/seal/root.key, beside the data it seals")
	f.IntVar(&r.passphraseFD, prefix+"-passphrase-fd", -1, "passphrase: read the passphrase from this file descriptor (0: standard input) instead of "+r.env("PASSPHRASE"))
	f.StringVar(&r.pkcs11.module, prefix+"-pkcs11-module", "", "pkcs11: the PKCS#11 library, an absolute path; the PIN comes from "+r.env("PKCS11_PIN"))
	f.StringVar(&r.pkcs11.token, prefix+"-pkcs11-token", "", "pkcs11: the token's label")
	f.StringVar(&r.pkcs11.label, prefix+"-pkcs11-key-label", "", "pkcs11: the AES key's label (CKA_LABEL), made with `sealwatch pkcs11 key create`")
	f.StringVar(&r.kmsKey, prefix+"-aws-kms-key", "", "aws-kms: the key's ARN or alias; the access key comes from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	f.StringVar(&r.kmsRegion, prefix+"-aws-region", "", "aws-kms: the key's region")
	f.StringVar(&r.kmsEndpoint, prefix+"-aws-kms-endpoint", "", "aws-kms: an endpoint other than the region's (a VPC endpoint)")
	f.StringVar(&r.kvURL, prefix+"-keyvault-url", "", "keyvault: the vault's URL, such as https://contoso.vault.azure.net")
	f.StringVar(&r.kvKey, prefix+"-keyvault-key", "", "keyvault: the key's name")
	f.StringVar(&r.kvTenant, prefix+"-keyvault-tenant", "", "keyvault: the tenant the node signs in at")
	f.StringVar(&r.kvAppID, prefix+"-keyvault-client-id", "", "keyvault: the client ID the node signs in as; its secret comes from "+r.env("CLIENT_SECRET"))
	f.StringVar(&r.kvAuthority, prefix+"-keyvault-authority", "", "keyvault: the identity service to sign in at, when not the cloud's (another Sealwatch node's endpoint)")
	f.StringVar(&r.kvCA, prefix+"-keyvault-ca", "", "keyvault: PEM file of a certificate authority to trust for the vault and its identity service")
}

// root is the root of trust the flags name, its secret read.
func (r *rootFlags) root(a *app, cmd *cobra.Command) (nodeseal.Root, error) {
	p := "--" + r.prefix
	switch r.source {
	case nodeseal.SourceFile:
		if r.keyFile != "" && !filepath.IsAbs(r.keyFile) {
			abs, err := filepath.Abs(r.keyFile)
			if err != nil {
				return nil, err
			}
			r.keyFile = abs
		}
		return nodeseal.File(r.keyFile), nil
	case nodeseal.SourcePassphrase:
		pass, err := r.secret(a, cmd, "PASSPHRASE", r.passphraseFD, p+"-passphrase-fd")
		if err != nil {
			return nil, err
		}
		return nodeseal.Passphrase([]byte(pass)), nil
	case nodeseal.SourcePKCS11:
		if err := r.pkcs11.missing(r.prefix + "-pkcs11-"); err != nil {
			return nil, err
		}
		pin, err := r.secret(a, cmd, "PKCS11_PIN", -1, "")
		if err != nil {
			return nil, err
		}
		k, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: r.pkcs11.module, TokenLabel: r.pkcs11.token, KeyLabel: r.pkcs11.label, PIN: []byte(pin)})
		if err != nil {
			return nil, err
		}
		return nodeseal.KEK(r.source, k), nil
	case nodeseal.SourceAWSKMS:
		id, secret := a.env.Getenv("AWS_ACCESS_KEY_ID"), a.env.Getenv("AWS_SECRET_ACCESS_KEY")
		switch {
		case r.kmsKey == "" || r.kmsRegion == "":
			return nil, usagef("%s-of-trust aws-kms needs %s-aws-kms-key (the key's ARN or alias) and %s-aws-region", p, p, p)
		case id == "" || secret == "":
			return nil, usagef("%s-of-trust aws-kms needs the access key the node signs its KMS calls with, in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", p)
		}
		k, err := awskms.New(awskms.Config{KeyID: r.kmsKey, Region: r.kmsRegion, Endpoint: r.kmsEndpoint,
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), Cluster: "node", Resource: "node-master-key"})
		if err != nil {
			return nil, err
		}
		return nodeseal.KEK(r.source, k), nil
	case nodeseal.SourceKeyVault:
		return r.keyVaultRoot(a, cmd)
	}
	return nil, usagef("%s-of-trust must be file, passphrase, pkcs11, aws-kms or keyvault, not %q", p, r.source)
}

func (r *rootFlags) keyVaultRoot(a *app, cmd *cobra.Command) (nodeseal.Root, error) {
	p := "--" + r.prefix
	if r.kvURL == "" || r.kvKey == "" || r.kvTenant == "" || r.kvAppID == "" {
		return nil, usagef("%s-of-trust keyvault needs %s-keyvault-url, %s-keyvault-key, %s-keyvault-tenant and %s-keyvault-client-id", p, p, p, p, p)
	}
	secret, err := r.secret(a, cmd, "CLIENT_SECRET", -1, "")
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.kvCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(r.kvCA)
		if err != nil {
			return nil, fmt.Errorf("read %s-keyvault-ca: %w", p, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("%s-keyvault-ca %s holds no PEM certificate", p, r.kvCA)
		}
		tlsCfg.RootCAs = pool
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}, Timeout: 30 * time.Second}
	opts := &azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: httpClient}}
	if r.kvAuthority != "" {
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(r.kvAuthority, "/") + "/"}
		opts.DisableInstanceDiscovery = true
	}
	cred, err := azidentity.NewClientSecretCredential(r.kvTenant, r.kvAppID, secret, opts)
	if err != nil {
		return nil, err
	}
	k, err := kv.New(kv.Config{VaultURL: r.kvURL, KeyName: r.kvKey, Credential: cred, Transport: httpClient})
	if err != nil {
		return nil, err
	}
	return nodeseal.KEK(r.source, k), nil
}

// secret reads what from the file descriptor fd when it is not -1, else
// from its environment variable.
func (r *rootFlags) secret(a *app, cmd *cobra.Command, what string, fd int, fdFlag string) (string, error) {
	if fd < 0 {
		if v := a.env.Getenv(r.env(what)); v != "" {
			return v, nil
		}
		if fdFlag != "" {
			return "", usagef("the root of trust needs its %s: set %s, or give %s", strings.ToLower(strings.ReplaceAll(what, "_", " ")), r.env(what), fdFlag)
		}
		return "", usagef("the root of trust needs its %s: set %s", strings.ToLower(strings.ReplaceAll(what, "_", " ")), r.env(what))
	}
	var in io.Reader = cmd.InOrStdin()
	if fd != 0 {
		f := os.NewFile(uintptr(fd), fdFlag+"="+strconv.Itoa(fd))
		if f == nil {
			return "", usagef("%s %d is not an open file descriptor", fdFlag, fd)
		}
		defer f.Close()
		in = f
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the root of trust's %s from %s %d: %w", strings.ToLower(what), fdFlag, fd, err)
	}
	v := strings.TrimRight(line, "\r\n")
	if v == "" {
		return "", usagef("%s %d gave no %s", fdFlag, fd, strings.ToLower(what))
	}
	return v, nil
}

func (a *app) operatorCommand() *cobra.Command {
	return a.group("operator", "Look after a node's own data directory", a.operatorRekeyCommand())
}

func (a *app) operatorRekeyCommand() *cobra.Command {
	var (
		dataDir  string
		from, to rootFlags
	)
	cmd := &cobra.Command{
		Use:   "rekey --data DIR [--root-of-trust …] --new-root-of-trust …",
		Short: "Rotate the root of trust the node's own secrets are sealed under",
		Long: "rekey makes a new master key for the node's own secrets (the identity signing key, the TLS\n" +
			"keys, the platform key, secrets.key, the vault's root key file), wraps it under the new root\n" +
			"of trust — the same source with a new master key, or another source — and reseals every\n" +
			"secret with it. The --root-* flags name the root the node runs with now, the --new-root-*\n" +
			"flags the one it will run with; secrets come from SEALWATCH_ROOT_* and SEALWATCH_NEW_ROOT_*.\n" +
			"Stop the node first. A rekey that stops midway (a crash) leaves a node that starts with\n" +
			"either root: with the old one it undoes the rekey, with the new one it finishes it.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := stopped(dataDir); err != nil {
			return err
		}
		oldRoot, err := from.root(a, cmd)
		if err != nil {
			return err
		}
		newRoot, err := to.root(a, cmd)
		if err != nil {
			return err
		}
		if err := nodeseal.Rekey(ctx, dataDir, oldRoot, newRoot); err != nil {
			return fmt.Errorf("rekey the node's secrets: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Resealed the node's secrets in %s under a new master key wrapped by the %s root of trust.\nStart the node with --root-of-trust %s from now on.\n",
			dataDir, newRoot.Source(), newRoot.Source())
		return nil
	})
	cmd.Flags().StringVar(&dataDir, "data", "./sealwatch-data", "the node's data directory")
	from.register(cmd, "root", nodeseal.SourceFile)
	to.register(cmd, "new-root", "")
	_ = cmd.MarkFlagRequired("new-root-of-trust")
	return cmd
}

// stopped refuses a data directory that a running node holds: rekeying
// under it would race with a node writing a secret.
func stopped(dataDir string) error {
	path := filepath.Join(dataDir, "identity.db")
	if _, err := os.Stat(path); err != nil {
		return usagef("%s is not a node's data directory (%v)", dataDir, err)
	}
	db, err := boltkv.Open(path, boltkv.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, boltkv.ErrLocked) {
		return usagef("a node is running on %s: stop it first", dataDir)
	}
	if err != nil {
		return err // names the file
	}
	return db.Close()
}
