package kv_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
)

// BenchmarkUnwrapByDriver is one account key's unwrap through each KEK
// driver in the same run, as a keyring's open and key check make it: the
// Key Vault driver over HTTPS to this node's own vault on loopback (token
// cached, one keep-alive connection), and the PKCS#11 driver into SoftHSM2
// in-process (a pooled, logged-in session; the key object found by label
// and ID, unwrapped into a session object, read and destroyed), and the AWS
// KMS driver through the SDK over HTTP to Local KMS on loopback (Decrypt
// with the key ARN and the encryption context).
func BenchmarkUnwrapByDriver(b *testing.B) {
	ctx := context.Background()
	rn := startNode(b)
	adminOID := rn.objectIDOf(rn.Creds.ClientID)
	cluster := rn.createApplication("bench-cluster")
	rn.createVault("benchvault", rn.policy(adminOID, "all"), rn.policy(cluster.ID, "get", "wrapKey", "unwrapKey"))
	admin := rn.keysClient("benchvault", rn.Credential(rn.Creds.ClientID, rn.Creds.ClientSecret))
	if _, err := admin.CreateKey(ctx, "cmk-oct", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr(int32(256))}, nil); err != nil {
		b.Fatal(err)
	}
	vault := rn.driver("benchvault", "cmk-oct", "", rn.Credential(cluster.AppID, cluster.ClientSecret))

	tok := softhsmtest.New(b, "sealwatch-bench")
	tok.AddKey("cmk", []byte{1})
	hsm, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: "cmk", PIN: []byte(tok.PIN)})
	if err != nil {
		b.Fatal(err)
	}

	srv := localkms.Start(b)
	kms, err := awskms.New(awskms.Config{KeyID: srv.CreateKey(b), Region: localkms.Region, Endpoint: srv.Endpoint,
		Credentials: localkms.Credentials("AKIABENCHMARK0001", "bench-secret"), Cluster: "c1", Resource: "logs"})
	if err != nil {
		b.Fatal(err)
	}

	for _, d := range []struct {
		name string
		kek  keyring.KEK
	}{{"keyvault-oct-256", vault}, {"pkcs11-softhsm2-aes-256", hsm}, {"aws-kms-local", kms}} {
		aek := make([]byte, 32)
		rand.Read(aek)
		w, err := d.kek.Wrap(ctx, aek)
		if err != nil {
			b.Fatalf("%s: wrap: %v", d.name, err)
		}
		b.Run("driver="+d.name, func(b *testing.B) {
			for b.Loop() {
				got, err := d.kek.Unwrap(ctx, w)
				if err != nil || !bytes.Equal(got, aek) {
					b.Fatalf("unwrap: %v", err)
				}
			}
		})
	}
}
