package node

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// assertionAuthority is a tenant's sign-in service on 127.0.0.1 that
// records the client assertions of client-credentials token requests.
type assertionAuthority struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // client_assertion of each token request
}

func newAssertionAuthority(t *testing.T, tenant string) *assertionAuthority {
	a := &assertionAuthority{}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := a.srv.URL + "/" + tenant
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/" + tenant + "/v2.0/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": base + "/v2.0", "token_endpoint": base + "/oauth2/v2.0/token",
				"authorization_endpoint": base + "/oauth2/v2.0/authorize"})
		case "/" + tenant + "/oauth2/v2.0/token":
			if r.PostFormValue("grant_type") != "client_credentials" ||
				r.PostFormValue("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": "unsupported_grant_type"})
				return
			}
			a.mu.Lock()
			a.got = append(a.got, r.PostFormValue("client_assertion"))
			a.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": "t" + r.PostFormValue("scope")})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *assertionAuthority) assertions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

// TestApplicationCertificateAndFederatedTokenSignInWithAClientAssertion: a
// Key Vault application's certificate signs its client assertion (the
// certificate's thumbprint in its header, its key's signature valid), a
// federated token file is sent as the assertion and read again at each
// sign-in, and a token file the node was not started to allow is refused
// naming the flag.
func TestApplicationCertificateAndFederatedTokenSignInWithAClientAssertion(t *testing.T) {
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	auth := newAssertionAuthority(t, tenant)
	client := auth.srv.Client()
	base := workspace.KeyVaultProperties{KeyVaultURI: "https://contoso.vault.azure.net/", KeyName: "k1",
		KeyVaultTenantID: tenant, KeyVaultClientID: "00001111-aaaa-2222-bbbb-3333cccc4444", KeyVaultAuthorityHost: auth.srv.URL}
	vaultScope := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, TenantID: tenant}

	t.Run("certificate", func(t *testing.T) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sealwatch-cl01"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
		k := base
		k.KeyVaultClientCertificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
			string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
		cred, err := vaultAppCredential(k, client, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		got := auth.assertions()
		if len(got) != 1 {
			t.Fatalf("%d token requests, want 1", len(got))
		}
		parts := strings.Split(got[0], ".")
		if len(parts) != 3 {
			t.Fatalf("the client assertion is not a JWT: %q", got[0])
		}
		var header struct {
			Alg     string `json:"alg"`
			X5t     string `json:"x5t"`
			X5tS256 string `json:"x5t#S256"`
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
		json.Unmarshal(raw, &header)
		s1, s256 := sha1.Sum(der), sha256.Sum256(der)
		thumbprints := []string{base64.StdEncoding.EncodeToString(s256[:]), base64.RawURLEncoding.EncodeToString(s256[:]),
			base64.StdEncoding.EncodeToString(s1[:]), base64.RawURLEncoding.EncodeToString(s1[:])}
		if !slices.Contains(thumbprints, header.X5tS256) && !slices.Contains(thumbprints, header.X5t) {
			t.Fatalf("the assertion's header names no thumbprint of the certificate: %s", raw)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		var verr error
		switch header.Alg {
		case "RS256":
			verr = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig)
		case "PS256":
			verr = rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, digest[:], sig, nil)
		default:
			verr = fmt.Errorf("algorithm %q", header.Alg)
		}
		if verr != nil {
			t.Fatalf("the assertion (alg %s) is not signed by the certificate's key", header.Alg)
		}
	})

	t.Run("federated token file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "azure-identity-token")
		if err := os.WriteFile(file, []byte("federated-token-one\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		k := base
		k.KeyVaultFederatedTokenFile = file
		if _, err := vaultAppCredential(k, client, []string{"/elsewhere"}); err == nil || !strings.Contains(err.Error(), "--vault-federated-token-file "+file) {
			t.Fatalf("a token file the node was not started to allow: %v", err)
		}
		cred, err := vaultAppCredential(k, client, []string{file})
		if err != nil {
			t.Fatal(err)
		}
		before := len(auth.assertions())
		// Two resources: two sign-ins, the token rotated on disk in between.
		for i, tok := range []string{"federated-token-one", "federated-token-two"} {
			if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			scope := []string{"https://vault.azure.net/.default", "https://managedhsm.azure.net/.default"}[i]
			if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}, TenantID: tenant}); err != nil {
				t.Fatal(err)
			}
		}
		if got := auth.assertions()[before:]; len(got) != 2 || got[0] != "federated-token-one" || got[1] != "federated-token-two" {
			t.Fatalf("assertions sent %q, want the file's content at each sign-in", got)
		}
	})
}
