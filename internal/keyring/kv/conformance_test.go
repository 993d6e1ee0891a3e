package kv_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
)

// vaultTarget makes conformance keys in Sealwatch's own vault: each key in a
// vault of its own (so that removing the cluster identity's access policy
// touches that key alone), used by a cluster identity holding get, wrapKey
// and unwrapKey, and reached through a proxy the test can cut.
type vaultTarget struct {
	rn      *running
	admin   azcore.TokenCredential
	cluster application
	policy  map[string]any
	proxy   *kekconformance.Proxy
	vaultTr *http.Client // the driver's transport: every vault call through the proxy
	n       atomic.Int64
}

func newVaultTarget(t *testing.T, rn *running) *vaultTarget {
	vt := &vaultTarget{rn: rn, admin: rn.Credential(rn.Creds.ClientID, rn.Creds.ClientSecret)}
	vt.cluster = rn.createApplication("conformance-cluster")
	vt.policy = rn.policy(vt.cluster.ID, "get", "wrapKey", "unwrapKey")
	vt.proxy = kekconformance.NewProxy(t, "127.0.0.1:"+rn.Port)
	base := rn.Client.Transport.(*http.Transport)
	tr := &http.Transport{
		TLSClientConfig:   base.TLSClientConfig.Clone(),
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, vt.proxy.Addr())
		},
	}
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	t.Cleanup(tr.CloseIdleConnections)
	vt.vaultTr = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return vt
}

func (vt *vaultTarget) target() kekconformance.Target {
	return kekconformance.Target{
		NewKey:       vt.newKey,
		Recoverable:  true,
		AccessDenied: true,
		Secrets:      []string{vt.cluster.ClientSecret, vt.rn.Creds.ClientSecret},
	}
}

type vaultKey struct {
	vt       *vaultTarget
	vault    string
	name     string
	admin    *azkeys.Client
	versions []string
}

func (vt *vaultTarget) newKey(t *testing.T) kekconformance.Key {
	t.Helper()
	k := &vaultKey{vt: vt, vault: fmt.Sprintf("conf%d", vt.n.Add(1)), name: "cmk"}
	vt.rn.t = t
	vt.rn.createVault(k.vault, vt.rn.policy(vt.rn.objectIDOf(vt.rn.Creds.ClientID), "all"), vt.policy)
	k.admin = vt.rn.keysClient(k.vault, vt.admin)
	k.Rotate(t)
	return k
}

func (k *vaultKey) KEK(t *testing.T) keyring.KEK {
	t.Helper()
	d, err := kv.New(kv.Config{VaultURL: k.vt.rn.VaultURL(k.vault), KeyName: k.name,
		Credential: k.vt.rn.Credential(k.vt.cluster.AppID, k.vt.cluster.ClientSecret),
		Transport:  k.vt.vaultTr, Retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Rotate creates a new version (the first, when there is none).
func (k *vaultKey) Rotate(t *testing.T) {
	t.Helper()
	resp, err := k.admin.CreateKey(context.Background(), k.name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr(int32(256))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k.versions = append(k.versions, resp.Key.KID.Version())
}

func (k *vaultKey) setVersion(t *testing.T, version string, enabled bool) {
	t.Helper()
	_, err := k.admin.UpdateKey(context.Background(), k.name, version, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(enabled)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func (k *vaultKey) SetEnabled(t *testing.T, enabled bool) {
	for _, v := range k.versions {
		k.setVersion(t, v, enabled)
	}
}

func (k *vaultKey) Retire(t *testing.T, keyURI string) {
	k.setVersion(t, keyURI[strings.LastIndexByte(keyURI, '/')+1:], false)
}

func (k *vaultKey) Destroy(t *testing.T) {
	if _, err := k.admin.DeleteKey(context.Background(), k.name, nil); err != nil {
		t.Fatal(err)
	}
}

func (k *vaultKey) SetAccess(t *testing.T, allowed bool) {
	k.vt.rn.t = t
	kind := "remove"
	if allowed {
		kind = "add"
	}
	k.vt.rn.setPolicy(k.vault, kind, k.vt.policy)
}

func (k *vaultKey) SetAvailable(t *testing.T, available bool) { k.vt.proxy.SetUp(t, available) }

// TestKeyVaultDriverKeepsTheKEKContract runs the conformance suite against
// the Key Vault driver over this node's own vault.
func TestKeyVaultDriverKeepsTheKEKContract(t *testing.T) {
	rn := startNode(t)
	kekconformance.Run(t, newVaultTarget(t, rn).target())
}

// TestKeyVaultReplacementAcrossDrivers moves a keyring from a key in
// Sealwatch's vault to a key of another driver — the test service, a
// PKCS#11 token (SoftHSM2), AWS KMS (Local KMS) — and back.
func TestKeyVaultReplacementAcrossDrivers(t *testing.T) {
	rn := startNode(t)
	vault := newVaultTarget(t, rn).target()
	hsm := softhsmtest.New(t, "sealwatch-replacement").Target()
	t.Run("vault to vault", func(t *testing.T) { kekconformance.RunReplacement(t, vault, vault) })
	t.Run("vault to another driver", func(t *testing.T) { kekconformance.RunReplacement(t, vault, kektest.Target()) })
	t.Run("another driver to vault", func(t *testing.T) { kekconformance.RunReplacement(t, kektest.Target(), vault) })
	t.Run("vault to a PKCS#11 token", func(t *testing.T) { kekconformance.RunReplacement(t, vault, hsm) })
	t.Run("a PKCS#11 token to vault", func(t *testing.T) { kekconformance.RunReplacement(t, hsm, vault) })
	kms := localkms.Start(t).Target(t)
	t.Run("vault to AWS KMS", func(t *testing.T) { kekconformance.RunReplacement(t, vault, kms) })
	t.Run("AWS KMS to vault", func(t *testing.T) { kekconformance.RunReplacement(t, kms, vault) })
}
