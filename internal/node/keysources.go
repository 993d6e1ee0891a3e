package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// keySources open a cluster's key by the key service its properties name
// (workspace.KeyVaultProperties.Source): one entry per driver.
type keySources map[string]clusterkeys.KEKFactory

func (s keySources) open(r clusterkeys.KEKRequest) (keyring.KEK, error) {
	open, ok := s[r.Key.Source()]
	if !ok {
		names := make([]string, 0, len(s))
		for name := range s {
			names = append(names, name)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("key source %q is not served by this node; use one of %s", r.Key.Source(), strings.Join(names, ", "))
	}
	return open(r)
}

// keyVaultKEK opens Key Vault keys over vaultHTTP: as the application in
// the vault's tenant the key names, or else signing in at this node's
// tenant as the request's principal (the cluster's identity or the
// document-store principal).
func (n *Node) keyVaultKEK(vaultHTTP *http.Client, tokenFiles []string) clusterkeys.KEKFactory {
	return func(r clusterkeys.KEKRequest) (keyring.KEK, error) {
		k := r.Key
		if k.KeyVaultClientID != "" {
			cred, err := vaultAppCredential(k, vaultHTTP, tokenFiles)
			if err != nil {
				return nil, err
			}
			return kv.New(kv.Config{VaultURL: k.KeyVaultURI, KeyName: k.KeyName, KeyVersion: k.KeyVersion, Credential: cred, Transport: vaultHTTP,
				SignInAs: fmt.Sprintf("application %s of tenant %s", k.KeyVaultClientID, k.KeyVaultTenantID)})
		}
		cred, err := azidentity.NewClientSecretCredential(n.identity.TenantID(), r.Principal.AppID, r.Principal.Secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: n.publicURL() + "/"}, Transport: vaultHTTP},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			return nil, err
		}
		return kv.New(kv.Config{VaultURL: k.KeyVaultURI, KeyName: k.KeyName, KeyVersion: k.KeyVersion, Credential: homeTenantCredential{cred}, Transport: vaultHTTP})
	}
}

// vaultAppCredential is the official credential of the application a Key
// Vault key names in the vault's tenant: client secret, client certificate
// or federated token file (a client assertion read from the file at each
// sign-in, as workload identity rotates it). It signs in at the key's
// authority host, the public cloud's by default; the vault's challenge
// names the tenant and the resource the token is asked for, and a
// challenge naming another tenant than the key's is refused by the SDK.
func vaultAppCredential(k workspace.KeyVaultProperties, transport policy.Transporter, tokenFiles []string) (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{Cloud: cloud.AzurePublic, Transport: transport}
	// Instance discovery asks the public cloud about the authority: only
	// for the public cloud's own.
	custom := k.KeyVaultAuthorityHost != ""
	if custom {
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimSuffix(k.KeyVaultAuthorityHost, "/") + "/"}
	}
	tenant, client := k.KeyVaultTenantID, k.KeyVaultClientID
	switch {
	case k.KeyVaultClientSecret != "":
		return azidentity.NewClientSecretCredential(tenant, client, k.KeyVaultClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	case k.KeyVaultClientCertificate != "":
		certs, key, err := azidentity.ParseCertificates([]byte(k.KeyVaultClientCertificate), nil)
		if err != nil {
			// The PEM holds a private key: the parser's message is not repeated.
			return nil, fmt.Errorf("the client certificate of application %s is not PEM with a certificate and its unencrypted private key", client)
		}
		return azidentity.NewClientCertificateCredential(tenant, client, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	case k.KeyVaultFederatedTokenFile != "":
		file := k.KeyVaultFederatedTokenFile
		if !slices.Contains(tokenFiles, file) {
			return nil, fmt.Errorf("federated token file %s is not one this node reads: start the node with --vault-federated-token-file %s "+
				"(the node sends the file's content to the key's authority, so the node's operator names the files)", file, file)
		}
		assertion := func(context.Context) (string, error) {
			raw, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("read federated token file: %w", err)
			}
			tok := strings.TrimSpace(string(raw))
			if tok == "" {
				return "", fmt.Errorf("federated token file %s is empty", file)
			}
			return tok, nil
		}
		return azidentity.NewClientAssertionCredential(tenant, client, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	}
	return nil, fmt.Errorf("application %s of tenant %s has no credential: set a client secret, a client certificate or a federated token file with `sealwatch cluster update`", client, tenant)
}

// awsKMSKEK opens AWS KMS keys with the cluster's access key, for both of
// its keyrings; the encryption context names the cluster and the resource.
func awsKMSKEK(client *http.Client) clusterkeys.KEKFactory {
	return func(r clusterkeys.KEKRequest) (keyring.KEK, error) {
		k := r.Key
		if k.AWSAccessKeyID == "" || k.AWSSecretAccessKey == "" {
			return nil, fmt.Errorf("the AWS KMS key %s has no access key ID or secret: set them with `sealwatch cluster update --key-source aws-kms`", k.KMSKeyARN)
		}
		return awskms.New(awskms.Config{KeyID: k.KMSKeyARN, Region: k.AWSRegion, Endpoint: k.KMSEndpoint,
			Credentials: credentials.NewStaticCredentialsProvider(k.AWSAccessKeyID, k.AWSSecretAccessKey, ""),
			Cluster:     r.ClusterID, Resource: r.Resource, HTTPClient: client})
	}
}

// pkcs11KEK opens keys on PKCS#11 tokens, through the modules the node was
// started to allow, with the token PIN held (sealed) with the cluster's
// key; both of a cluster's keyrings use the one key object.
func pkcs11KEK(allowed []string) clusterkeys.KEKFactory {
	return func(r clusterkeys.KEKRequest) (keyring.KEK, error) {
		k := r.Key
		if !slices.Contains(allowed, k.PKCS11ModulePath) {
			return nil, fmt.Errorf("PKCS#11 module %s is not one this node loads: start the node with --pkcs11-module %s (loading a library runs its code in the node, so the node's operator names the modules)",
				k.PKCS11ModulePath, k.PKCS11ModulePath)
		}
		if k.PKCS11PIN == "" {
			return nil, fmt.Errorf("the key on PKCS#11 token %q has no PIN: set it with `sealwatch cluster update --key-source pkcs11 … --pkcs11-pin-stdin`", k.PKCS11TokenLabel)
		}
		return pkcs11kek.New(pkcs11kek.Config{ModulePath: k.PKCS11ModulePath, TokenLabel: k.PKCS11TokenLabel, KeyLabel: k.PKCS11KeyLabel, PIN: []byte(k.PKCS11PIN)})
	}
}

func cleanPaths(paths []string) []string {
	clean := make([]string, len(paths))
	for i, p := range paths {
		clean[i] = filepath.Clean(p)
	}
	return clean
}

// kmsHTTPClient reaches AWS KMS as the SDK's default client would — the
// environment's proxy, its dial and handshake timeouts — trusting the
// system's CAs and those the node was given for key services.
func kmsHTTPClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
