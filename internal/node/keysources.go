package node

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
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

// keyVaultKEK opens Key Vault keys, signing in at this node's tenant as the
// request's principal (the cluster's identity or the document-store
// principal), over vaultHTTP.
func (n *Node) keyVaultKEK(vaultHTTP *http.Client) clusterkeys.KEKFactory {
	return func(r clusterkeys.KEKRequest) (keyring.KEK, error) {
		cred, err := azidentity.NewClientSecretCredential(n.identity.TenantID(), r.Principal.AppID, r.Principal.Secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: n.endpoint + "/"}, Transport: vaultHTTP},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			return nil, err
		}
		return kv.New(kv.Config{VaultURL: r.Key.KeyVaultURI, KeyName: r.Key.KeyName, KeyVersion: r.Key.KeyVersion, Credential: homeTenantCredential{cred}, Transport: vaultHTTP})
	}
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
