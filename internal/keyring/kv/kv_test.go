package kv_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/node/nodetest"
)

// running is a node for the driver to reach, with helpers for its vaults.
type running struct {
	*nodetest.Node
	t testing.TB
}

func startNode(t testing.TB) *running {
	t.Helper()
	return &running{Node: nodetest.Start(t, node.Config{}), t: t}
}

func (rn *running) mgmtToken() string {
	rn.t.Helper()
	return rn.AdminToken("https://management.azure.com/.default")
}

func (rn *running) call(method, url string, in, out any) int {
	rn.t.Helper()
	var body io.Reader
	if in != nil {
		buf, _ := json.Marshal(in)
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		rn.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+rn.mgmtToken())
	resp, err := rn.Client.Do(req)
	if err != nil {
		rn.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			rn.t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

func (rn *running) vaultResource(name, suffix string) string {
	return fmt.Sprintf("%s/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/%s%s?api-version=2023-07-01",
		rn.Creds.Endpoint, rn.Creds.TenantID, name, suffix)
}

func (rn *running) policy(oid string, perms ...string) map[string]any {
	return map[string]any{"tenantId": rn.Creds.TenantID, "objectId": oid, "permissions": map[string]any{"keys": perms}}
}

// createVault makes a vault with soft delete and purge protection.
func (rn *running) createVault(name string, policies ...map[string]any) {
	rn.t.Helper()
	body := map[string]any{"location": "local", "properties": map[string]any{
		"tenantId": rn.Creds.TenantID, "sku": map[string]string{"family": "A", "name": "standard"},
		"accessPolicies": policies, "enableSoftDelete": true, "softDeleteRetentionInDays": 7, "enablePurgeProtection": true,
	}}
	var out map[string]any
	if st := rn.call("PUT", rn.vaultResource(name, ""), body, &out); st != 201 && st != 200 {
		rn.t.Fatalf("create vault: %d %v", st, out)
	}
}

func (rn *running) setPolicy(vault, kind string, p map[string]any) {
	rn.t.Helper()
	body := map[string]any{"properties": map[string]any{"accessPolicies": []map[string]any{p}}}
	var out map[string]any
	if st := rn.call("PUT", rn.vaultResource(vault, "/accessPolicies/"+kind), body, &out); st != 200 {
		rn.t.Fatalf("access policy %s: %d %v", kind, st, out)
	}
}

// application is a principal such as a cluster's identity.
type application struct {
	ID           string `json:"id"`
	AppID        string `json:"appId"`
	ClientSecret string `json:"clientSecret"`
}

func (rn *running) createApplication(name string) application {
	rn.t.Helper()
	var app application
	if st := rn.call("POST", rn.Creds.Endpoint+"/v1.0/applications", map[string]any{"displayName": name}, &app); st != 201 {
		rn.t.Fatalf("create application: %d", st)
	}
	return app
}

func (rn *running) objectIDOf(clientID string) string {
	rn.t.Helper()
	var app application
	if st := rn.call("GET", rn.Creds.Endpoint+"/v1.0/applications/"+clientID, nil, &app); st != 200 {
		rn.t.Fatalf("get application: %d", st)
	}
	return app.ID
}

func (rn *running) keysClient(vault string, cred azcore.TokenCredential) *azkeys.Client {
	rn.t.Helper()
	c, err := azkeys.NewClient(rn.VaultURL(vault), cred, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: rn.Client, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		rn.t.Fatal(err)
	}
	return c
}

func (rn *running) driver(vault, key, version string, cred azcore.TokenCredential) *kv.KEK {
	rn.t.Helper()
	k, err := kv.New(kv.Config{VaultURL: rn.VaultURL(vault), KeyName: key, KeyVersion: version, Credential: cred,
		Transport: rn.Client, Retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		rn.t.Fatal(err)
	}
	return k
}

// errorLog collects every error the driver returns, to check that none
// leaks a secret, a token or key bytes.
type errorLog []error

func (l *errorLog) add(err error) error {
	if err != nil {
		*l = append(*l, err)
	}
	return err
}

// TestKeyVaultDriverAgainstARealNode drives the driver with a cluster
// identity that holds only get, wrapKey and unwrapKey, through a key's life
// in Sealwatch's own vault: wrap and unwrap, rotation, a disabled version,
// a removed access policy, a deleted key, and a stopped node.
func TestKeyVaultDriverAgainstARealNode(t *testing.T) {
	rn := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminOID := rn.objectIDOf(rn.Creds.ClientID)
	cluster := rn.createApplication("cluster-identity")
	clusterPolicy := rn.policy(cluster.ID, "get", "wrapKey", "unwrapKey")
	rn.createVault("cmkvault", rn.policy(adminOID, "all"), clusterPolicy)
	admin := rn.keysClient("cmkvault", rn.Credential(rn.Creds.ClientID, rn.Creds.ClientSecret))
	clusterCred := rn.Credential(cluster.AppID, cluster.ClientSecret)
	var errs errorLog
	aek := make([]byte, 32)
	rand.Read(aek)

	for _, tc := range []struct {
		name string
		kty  azkeys.KeyType
		size int32
		alg  string
	}{
		{"cmk-rsa", azkeys.KeyTypeRSA, 2048, keyring.AlgRSAOAEP256},
		{"cmk-oct", azkeys.KeyTypeOctHSM, 256, keyring.AlgA256KW},
	} {
		if _, err := admin.CreateKey(ctx, tc.name, azkeys.CreateKeyParameters{Kty: to.Ptr(tc.kty), KeySize: to.Ptr(tc.size)}, nil); err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name+"/wrap and unwrap", func(t *testing.T) {
			k := rn.driver("cmkvault", tc.name, "", clusterCred)
			st, err := k.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Enabled || !st.Recoverable || st.Provider != kv.Provider || st.KeyURI != st.Key+"/"+st.Version || len(st.Version) != 32 {
				t.Fatalf("describe: %+v", st)
			}
			w, err := k.Wrap(ctx, aek)
			if err != nil {
				t.Fatal(err)
			}
			if w.KeyURI != st.KeyURI || w.Algorithm != tc.alg || w.Provider != kv.Provider {
				t.Fatalf("wrapped: %s %s %s", w.Provider, w.KeyURI, w.Algorithm)
			}
			back, err := k.Unwrap(ctx, w)
			if err != nil || !bytes.Equal(back, aek) {
				t.Fatalf("unwrap: %v", err)
			}
			bad := w
			bad.Ciphertext = bytes.Clone(w.Ciphertext)
			bad.Ciphertext[len(bad.Ciphertext)/2] ^= 1
			if _, err := k.Unwrap(ctx, bad); !errors.Is(errs.add(err), keyring.ErrIntegrity) {
				t.Fatalf("damaged wrapping: %v", err)
			}
			other := w
			other.KeyURI = strings.Replace(w.KeyURI, "/keys/"+tc.name+"/", "/keys/another/", 1)
			if _, err := k.Unwrap(ctx, other); !errors.Is(errs.add(err), keyring.ErrWrongKEK) {
				t.Fatalf("another key's wrapping: %v", err)
			}
			versionless := w
			versionless.KeyURI = st.Key
			if _, err := k.Unwrap(ctx, versionless); err == nil || errors.Is(errs.add(err), keyring.ErrKeyRevoked) {
				t.Fatalf("versionless wrapping: %v", err)
			}
		})
	}

	const key = "cmk-oct"
	t.Run("rotation and pinned versions", func(t *testing.T) {
		latest := rn.driver("cmkvault", key, "", clusterCred)
		st1, err := latest.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w1, err := latest.Wrap(ctx, aek)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RotateKey(ctx, key, nil); err != nil {
			t.Fatal(err)
		}
		st2, err := latest.Describe(ctx)
		if err != nil || st2.Version == st1.Version || st2.Key != st1.Key {
			t.Fatalf("after rotation: %+v %v", st2, err)
		}
		w2, _ := latest.Wrap(ctx, aek)
		if w2.KeyURI != st2.KeyURI {
			t.Fatalf("follow-latest wrapped with %s, want %s", w2.KeyURI, st2.KeyURI)
		}
		if back, err := latest.Unwrap(ctx, w1); err != nil || !bytes.Equal(back, aek) {
			t.Fatalf("old version's wrapping after rotation: %v", err)
		}
		pinned := rn.driver("cmkvault", key, st1.Version, clusterCred)
		if w, err := pinned.Wrap(ctx, aek); err != nil || w.KeyURI != st1.KeyURI {
			t.Fatalf("pinned wrap: %s %v", w.KeyURI, err)
		}
		if st, _ := pinned.Describe(ctx); st.KeyURI != st1.KeyURI {
			t.Fatalf("pinned describe: %s", st.KeyURI)
		}
	})

	k := rn.driver("cmkvault", key, "", clusterCred)
	w, err := k.Wrap(ctx, aek)
	if err != nil {
		t.Fatal(err)
	}
	version := w.KeyURI[strings.LastIndexByte(w.KeyURI, '/')+1:]
	setEnabled := func(v string, on bool) {
		t.Helper()
		if _, err := admin.UpdateKey(ctx, key, v, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	works := func(t *testing.T) {
		t.Helper()
		if back, err := k.Unwrap(ctx, w); err != nil || !bytes.Equal(back, aek) {
			t.Fatalf("unwrap after restore: %v", err)
		}
	}

	t.Run("disabled version is revoked", func(t *testing.T) {
		setEnabled(version, false)
		_, err := k.Unwrap(ctx, w)
		if !errors.Is(errs.add(err), keyring.ErrKeyRevoked) || errors.Is(err, keyring.ErrAccessDenied) || !strings.Contains(err.Error(), "KeyDisabled") {
			t.Fatalf("unwrap with a disabled version: %v", err)
		}
		if st, err := k.Describe(ctx); err != nil || st.Enabled {
			t.Fatalf("describe of a disabled version: %+v %v", st, err)
		}
		setEnabled(version, true)
		works(t)
	})

	t.Run("removed access policy is revoked and access denied", func(t *testing.T) {
		rn.setPolicy("cmkvault", "remove", clusterPolicy)
		if _, err := k.Unwrap(ctx, w); !errors.Is(errs.add(err), keyring.ErrKeyRevoked) || !errors.Is(err, keyring.ErrAccessDenied) {
			t.Fatalf("unwrap without permission: %v", err)
		}
		if _, err := k.Wrap(ctx, aek); !errors.Is(errs.add(err), keyring.ErrKeyRevoked) || !errors.Is(err, keyring.ErrAccessDenied) {
			t.Fatalf("wrap without permission: %v", err)
		}
		rn.setPolicy("cmkvault", "add", clusterPolicy)
		works(t)
	})

	t.Run("deleted key is revoked", func(t *testing.T) {
		if _, err := admin.DeleteKey(ctx, key, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Unwrap(ctx, w); !errors.Is(errs.add(err), keyring.ErrKeyRevoked) {
			t.Fatalf("unwrap with a deleted key: %v", err)
		}
		if _, err := admin.RecoverDeletedKey(ctx, key, nil); err != nil {
			t.Fatal(err)
		}
		works(t)
	})

	t.Run("keyring over the driver", func(t *testing.T) {
		db, err := boltkv.Open(t.TempDir()+"/registry.db", boltkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ring, err := keyring.Open(ctx, keyring.Config{DB: db, Cluster: "c1", Resource: "logs", KEK: k,
			UnreachableGrace: keyring.DefaultUnreachableGrace, RequireRecoverable: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ring.Close()
		s, _ := ring.Current(ctx)
		salt := make([]byte, 32)
		nonce := make([]byte, 12)
		a, _ := s.AEAD(salt, "doc")
		sealed := a.Seal(nil, nonce, []byte("incident 42"), envelope.AAD("ws", "incidents", "42"))
		reopen := func() error {
			s, err := ring.ByID(ctx, s.KeyID())
			if err != nil {
				return err
			}
			a, err := s.AEAD(salt, "doc")
			if err != nil {
				return err
			}
			_, err = a.Open(nil, nonce, sealed, envelope.AAD("ws", "incidents", "42"))
			return err
		}
		setEnabled("", false)
		if st, _ := ring.ProbeNow(ctx); st != keyring.Revoked {
			t.Fatalf("state after disabling the key = %s", st)
		}
		if err := reopen(); !errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("open while revoked: %v", err)
		}
		setEnabled("", true)
		if st, _ := ring.ProbeNow(ctx); st != keyring.Accessible {
			t.Fatalf("state after enabling = %s", st)
		}
		if err := reopen(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stopped node is unreachable", func(t *testing.T) {
		rn.Stop()
		_, err := k.Unwrap(ctx, w)
		if !errors.Is(errs.add(err), keyring.ErrKeyUnreachable) || errors.Is(err, keyring.ErrKeyRevoked) {
			t.Fatalf("unwrap with the node stopped: %v", err)
		}
		if _, err := k.Describe(ctx); !errors.Is(errs.add(err), keyring.ErrKeyUnreachable) {
			t.Fatalf("describe with the node stopped: %v", err)
		}
	})

	if len(errs) < 8 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	for _, err := range errs {
		msg := err.Error()
		t.Log(msg)
		for name, secret := range map[string]string{
			"client secret": cluster.ClientSecret, "admin secret": rn.Creds.ClientSecret,
			"key hex": hex.EncodeToString(aek), "key base64": base64.RawURLEncoding.EncodeToString(aek)[:20],
			"bearer token": "Bearer", "JWT": "eyJ",
		} {
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the %s: %s", name, msg)
			}
		}
	}
}
