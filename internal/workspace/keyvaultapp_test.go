package workspace

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// appCertificate is a self-signed certificate with its RSA private key, as PEM.
func appCertificate(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sealwatch-cl01"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
}

func appKey() KeyVaultProperties {
	return KeyVaultProperties{KeyVaultURI: "https://contoso.vault.azure.net/", KeyName: "good-app",
		KeyVaultTenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", KeyVaultClientID: "00001111-aaaa-2222-bbbb-3333cccc4444",
		KeyVaultClientSecret: "Xy8Q~not-a-real-client-secret.0123456789"}
}

// TestKeyVaultApplicationPropertiesAreRefusedNamingWhatIsWrong: a key used
// as an application of the vault's tenant needs the tenant, the client and
// exactly one well-formed credential; each fault is named, and a secret or
// certificate is never repeated.
func TestKeyVaultApplicationPropertiesAreRefusedNamingWhatIsWrong(t *testing.T) {
	cert := appCertificate(t)
	requireKeyRefusals(t, appKey, []keyPropertiesCase{
		{"a client secret", func(*KeyVaultProperties) {}, ""},
		{"a client certificate", func(kv *KeyVaultProperties) { kv.KeyVaultClientSecret, kv.KeyVaultClientCertificate = "", cert }, ""},
		{"a federated token file", func(kv *KeyVaultProperties) {
			kv.KeyVaultClientSecret, kv.KeyVaultFederatedTokenFile = "", "/var/run/secrets/azure/tokens/azure-identity-token"
		}, ""},
		{"another authority", func(kv *KeyVaultProperties) { kv.KeyVaultAuthorityHost = "https://login.microsoftonline.us/" }, ""},
		{"the cluster's own identity", func(kv *KeyVaultProperties) {
			*kv = KeyVaultProperties{KeyVaultURI: kv.KeyVaultURI, KeyName: kv.KeyName}
		}, ""},
		{"no tenant", func(kv *KeyVaultProperties) { kv.KeyVaultTenantID = "" }, "keyVaultTenantId is required with keyVaultClientId"},
		{"no client", func(kv *KeyVaultProperties) { kv.KeyVaultClientID = "" }, "keyVaultClientId is required with keyVaultTenantId"},
		{"a credential without an application", func(kv *KeyVaultProperties) { kv.KeyVaultTenantID, kv.KeyVaultClientID = "", "" },
			"keyVaultClientSecret need keyVaultTenantId and keyVaultClientId"},
		{"an authority without an application", func(kv *KeyVaultProperties) {
			*kv = KeyVaultProperties{KeyVaultURI: kv.KeyVaultURI, KeyName: kv.KeyName, KeyVaultAuthorityHost: "https://login.microsoftonline.com/"}
		}, "keyVaultAuthorityHost need keyVaultTenantId and keyVaultClientId"},
		{"a tenant with a slash", func(kv *KeyVaultProperties) { kv.KeyVaultTenantID = "contoso/evil" }, "keyVaultTenantId must be a tenant ID"},
		{"a client with a space", func(kv *KeyVaultProperties) { kv.KeyVaultClientID = "my app" }, "keyVaultClientId must be an application (client) ID"},
		{"no credential", func(kv *KeyVaultProperties) { kv.KeyVaultClientSecret = "" }, "needs its credential: one of keyVaultClientSecret"},
		{"two credentials", func(kv *KeyVaultProperties) { kv.KeyVaultClientCertificate = cert },
			"not keyVaultClientCertificate and keyVaultClientSecret"},
		{"a secret with a newline", func(kv *KeyVaultProperties) { kv.KeyVaultClientSecret = "Xy8Q~secret\nmore" }, "keyVaultClientSecret must be the application's client secret"},
		{"a certificate without its key", func(kv *KeyVaultProperties) {
			kv.KeyVaultClientSecret, kv.KeyVaultClientCertificate = "", cert[:strings.Index(cert, "-----BEGIN PRIVATE KEY")]
		}, "keyVaultClientCertificate must be PEM holding the application's certificate and its unencrypted RSA private key"},
		{"a certificate with an EC key", func(kv *KeyVaultProperties) {
			kv.KeyVaultClientSecret, kv.KeyVaultClientCertificate = "", ecCertificate(t)
		},
			"its unencrypted RSA private key"},
		{"a relative token file", func(kv *KeyVaultProperties) { kv.KeyVaultClientSecret, kv.KeyVaultFederatedTokenFile = "", "tokens/t" },
			"keyVaultFederatedTokenFile must be an absolute, clean file path"},
		{"an http authority", func(kv *KeyVaultProperties) { kv.KeyVaultAuthorityHost = "http://login.example.com/" }, "keyVaultAuthorityHost must be the https URL"},
		{"an authority with a tenant path", func(kv *KeyVaultProperties) { kv.KeyVaultAuthorityHost = "https://login.microsoftonline.com/contoso" },
			"keyVaultAuthorityHost must be the https URL"},
		{"an application on a KMS key", func(kv *KeyVaultProperties) {
			k := awsKMSKey()
			k.KeyVaultClientID = kv.KeyVaultClientID
			*kv = k
		}, "keyVaultClientId belong to another key source than keySource aws-kms"},
	})
}

// TestAnApplicationsCertificateIsSealedAndComesBackAsACertificate: of a
// source with two secret properties, the one given is sealed, never shown,
// and reopened as the same property; a PATCH to another key of the same
// vault keeps it, while another authority or vault needs it sent again.
func TestAnApplicationsCertificateIsSealedAndComesBackAsACertificate(t *testing.T) {
	f := newFixture(t)
	c := f.cluster(t, "appcluster")
	id := c.Properties.ClusterID
	patch := func(kv KeyVaultProperties) (*Cluster, error) { return f.patchKey("appcluster", kv) }
	cert := appCertificate(t)
	kv := appKey()
	kv.KeyVaultClientSecret, kv.KeyVaultClientCertificate = "", cert
	shown, err := patch(kv)
	if err != nil {
		t.Fatal(err)
	}
	if p := shown.Properties.KeyVaultProperties; p.KeyVaultClientCertificate != "" || p.KeyVaultClientSecret != "" || p.KeyVaultClientID != kv.KeyVaultClientID {
		t.Fatalf("the cluster shows %+v", p)
	}
	privateKey := cert[strings.Index(cert, "-----BEGIN PRIVATE KEY"):]
	for _, v := range f.clusterRecords(t) {
		if bytes.Contains(v, []byte(privateKey[30:90])) {
			t.Error("the cluster record holds the private key in the clear")
		}
	}
	if restored := f.reopenedKey(t); restored.KeyVaultClientCertificate != cert || restored.KeyVaultClientSecret != "" {
		t.Fatalf("the stored key reopens with certificate %v and secret %q", restored.KeyVaultClientCertificate == cert, restored.KeyVaultClientSecret)
	}

	// Another key in the same vault, as the same application: kept.
	other := kv
	other.KeyName, other.KeyVaultClientCertificate = "good-other", ""
	if _, err := patch(other); err != nil {
		t.Fatal(err)
	}
	if k := f.keys.set[id]; k.KeyVaultClientCertificate != cert || k.KeyName != "good-other" {
		t.Fatalf("the key layer got key %s, with the certificate: %v", k.KeyName, k.KeyVaultClientCertificate == cert)
	}
	// Sent elsewhere, the credential is needed again.
	f.requireSentAgain(t, "appcluster", other, map[string]func(kv *KeyVaultProperties){
		"another authority": func(kv *KeyVaultProperties) { kv.KeyVaultAuthorityHost = "https://login.attacker.example/" },
		"another vault":     func(kv *KeyVaultProperties) { kv.KeyVaultURI = "https://attacker.vault.azure.net/" },
		"another client":    func(kv *KeyVaultProperties) { kv.KeyVaultClientID = "99990000-aaaa-2222-bbbb-3333cccc4444" },
	}, "needs its credential")
}

// ecCertificate is a self-signed certificate with an EC private key, which
// the SDK cannot sign client assertions with.
func ecCertificate(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
}
