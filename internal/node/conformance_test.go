package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// keysClient is the official Key Vault keys client, unchanged but for where
// it connects: challenge-based auth, resource verification on.
func (rn *running) keysClient(vaultName string, cred azcore.TokenCredential) *azkeys.Client {
	rn.t.Helper()
	c, err := azkeys.NewClient(rn.vaultURL(vaultName), cred, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: rn.client, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		rn.t.Fatal(err)
	}
	return c
}

func respErr(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a service error", err)
	}
	return re
}

// TestOfficialKeyClientConformance drives the vault with the official Go key
// client through a key's whole life.
func TestOfficialKeyClientConformance(t *testing.T) {
	rn := startNode(t, t.TempDir())
	adminOID := rn.objectIDOf(rn.creds.ClientID)
	rn.createVault("conform", map[string][]string{adminOID: {"all"}})
	kc := rn.keysClient("conform", rn.credential(rn.creds.ClientID, rn.creds.ClientSecret))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name string
		kty  azkeys.KeyType
		size *int32
		alg  azkeys.EncryptionAlgorithm
	}{
		{"cmk-rsa", azkeys.KeyTypeRSA, to.Ptr[int32](3072), azkeys.EncryptionAlgorithmRSAOAEP256},
		{"cmk-oct", azkeys.KeyTypeOctHSM, to.Ptr[int32](256), azkeys.EncryptionAlgorithmA256KW},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, err := kc.CreateKey(ctx, tc.name, azkeys.CreateKeyParameters{Kty: to.Ptr(tc.kty), KeySize: tc.size}, nil)
			if err != nil {
				t.Fatal(err)
			}
			v1 := created.Key.KID.Version()
			if created.Key.KID.Name() != tc.name || len(v1) != 32 {
				t.Fatalf("KID %s: Name()=%q Version()=%q", *created.Key.KID, created.Key.KID.Name(), v1)
			}
			got, err := kc.GetKey(ctx, tc.name, "", nil)
			if err != nil || got.Key.KID.Version() != v1 {
				t.Fatalf("get latest: %v %v", err, got.Key.KID)
			}

			aek := make([]byte, 32)
			rand.Read(aek)
			wrapped, err := kc.WrapKey(ctx, tc.name, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(tc.alg), Value: aek}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if wrapped.KID.Version() != v1 {
				t.Fatalf("wrap kid names version %q, want %q", wrapped.KID.Version(), v1)
			}

			rotated, err := kc.RotateKey(ctx, tc.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			v2 := rotated.Key.KID.Version()
			if v2 == v1 || v2 == "" {
				t.Fatalf("rotate gave version %q", v2)
			}
			// The old version still unwraps what it wrapped: nothing decrypts against "latest".
			un, err := kc.UnwrapKey(ctx, tc.name, v1, azkeys.KeyOperationParameters{Algorithm: to.Ptr(tc.alg), Value: wrapped.Result}, nil)
			if err != nil || !bytes.Equal(un.Result, aek) {
				t.Fatalf("unwrap with v1 after rotation: %v", err)
			}
			if un.KID.Version() != v1 {
				t.Fatalf("unwrap kid %q", un.KID.Version())
			}
			if _, err := kc.UnwrapKey(ctx, tc.name, v2, azkeys.KeyOperationParameters{Algorithm: to.Ptr(tc.alg), Value: wrapped.Result}, nil); err == nil {
				t.Fatal("v2 unwrapped what v1 wrapped")
			}

			versions := 0
			pager := kc.NewListKeyPropertiesVersionsPager(tc.name, nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				versions += len(page.Value)
			}
			if versions != 2 {
				t.Fatalf("%d versions, want 2", versions)
			}

			upd, err := kc.UpdateKey(ctx, tc.name, v1, azkeys.UpdateKeyParameters{
				KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)},
				Tags:          map[string]*string{"purpose": to.Ptr("cmk")},
			}, nil)
			if err != nil || *upd.Attributes.Enabled || *upd.Tags["purpose"] != "cmk" {
				t.Fatalf("update: %v %+v", err, upd.Attributes)
			}
			_, err = kc.UnwrapKey(ctx, tc.name, v1, azkeys.KeyOperationParameters{Algorithm: to.Ptr(tc.alg), Value: wrapped.Result}, nil)
			if re := respErr(t, err); re.StatusCode != http.StatusForbidden {
				t.Fatalf("unwrap with disabled version: %d %s", re.StatusCode, re.ErrorCode)
			}

			del, err := kc.DeleteKey(ctx, tc.name, nil)
			if err != nil || del.RecoveryID == nil || del.ScheduledPurgeDate == nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := kc.GetKey(ctx, tc.name, "", nil); respErr(t, err).StatusCode != 404 {
				t.Fatal("deleted key still readable")
			}
			_, err = kc.CreateKey(ctx, tc.name, azkeys.CreateKeyParameters{Kty: to.Ptr(tc.kty), KeySize: tc.size}, nil)
			if re := respErr(t, err); re.StatusCode != http.StatusConflict {
				t.Fatalf("reuse of a deleted name: %d", re.StatusCode)
			}
			// Purge protection: purge refused until the retention ends.
			_, err = kc.PurgeDeletedKey(ctx, tc.name, nil)
			if re := respErr(t, err); re.StatusCode != http.StatusForbidden {
				t.Fatalf("purge under purge protection: %d", re.StatusCode)
			}
			if _, err := kc.RecoverDeletedKey(ctx, tc.name, nil); err != nil {
				t.Fatal(err)
			}
			back, err := kc.UnwrapKey(ctx, tc.name, v2, azkeys.KeyOperationParameters{Algorithm: to.Ptr(tc.alg),
				Value: mustWrap(t, ctx, kc, tc.name, v2, tc.alg, aek)}, nil)
			if err != nil || !bytes.Equal(back.Result, aek) {
				t.Fatalf("after recover: %v", err)
			}
		})
	}

	keys := 0
	for pager := kc.NewListKeyPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys += len(page.Value)
	}
	if keys != 2 {
		t.Fatalf("listed %d keys, want 2", keys)
	}
}

func mustWrap(t *testing.T, ctx context.Context, kc *azkeys.Client, name, version string, alg azkeys.EncryptionAlgorithm, v []byte) []byte {
	t.Helper()
	w, err := kc.WrapKey(ctx, name, version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.Result
}

// TestPurgeWithoutPurgeProtection covers the purge path the client can take
// when the vault allows it.
func TestOfficialClientPurgeWithoutProtection(t *testing.T) {
	rn := startNode(t, t.TempDir())
	adminOID := rn.objectIDOf(rn.creds.ClientID)
	mgmt := rn.adminToken("https://management.azure.com/.default")
	body := map[string]any{"location": "local", "properties": map[string]any{
		"tenantId": rn.creds.TenantID, "sku": map[string]string{"family": "A", "name": "standard"},
		"accessPolicies": []map[string]any{{"tenantId": rn.creds.TenantID, "objectId": adminOID, "permissions": map[string]any{"keys": []string{"all"}}}},
	}}
	if st := rn.call("PUT", rn.vaultResource("scratch"), mgmt, body, nil); st != 201 {
		t.Fatalf("create: %d", st)
	}
	kc := rn.keysClient("scratch", rn.credential(rn.creds.ClientID, rn.creds.ClientSecret))
	ctx := context.Background()
	if _, err := kc.CreateKey(ctx, "tmp", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.DeleteKey(ctx, "tmp", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.PurgeDeletedKey(ctx, "tmp", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.GetDeletedKey(ctx, "tmp", nil); respErr(t, err).StatusCode != 404 {
		t.Fatal("purged key still listed as deleted")
	}
	if _, err := kc.CreateKey(ctx, "tmp", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatalf("name reuse after purge: %v", err)
	}
}
