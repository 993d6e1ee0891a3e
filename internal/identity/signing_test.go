package identity

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// memKeys is a KeyStore several services share, as nodes share theirs.
type memKeys struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memKeys) LoadOrCreate(_ context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.data[name]; ok {
		return v, nil
	}
	v, err := create()
	if err == nil {
		m.data[name] = v
	}
	return v, err
}

func TestServicesSharingTheirStoresVerifyEachOthersTokens(t *testing.T) {
	ctx := context.Background()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "identity.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := &memKeys{data: map[string][]byte{}}
	open := func() *Service {
		svc, err := New(db, "identity-signing-key.pem", Options{Issuer: "https://sealwatch.example", Keys: keys,
			Now: func() time.Time { return fixtureNow }, argon: cheapArgon})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := open(), open()
	p, secret, err := a.CreateApplication(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.IssueToken(ctx, b.TenantID(), p.AppID, secret, "https://vault.azure.net/.default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, tok.AccessToken, AudienceVault); err != nil {
		t.Fatalf("a token B signed does not verify on A: %v", err)
	}
}

func TestAPreviousSigningKeyStillVerifiesAndIsPublished(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, secret := f.app(t)
	old := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	oldKid := f.svc.signers[0].kid

	// A rotation puts a new key in front of the previous one.
	path := filepath.Join(f.dir, "signing.pem")
	previous, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	current, err := newSigningKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(current, previous...), 0o600); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.open(t)

	if _, err := f.svc.Verify(ctx, old, AudienceVault); err != nil {
		t.Fatalf("a token of the previous key no longer verifies: %v", err)
	}
	var kids []string
	for _, k := range f.svc.JWKS()["keys"] {
		kids = append(kids, k.Kid)
	}
	if len(kids) != 2 || kids[1] != oldKid || kids[0] == oldKid {
		t.Fatalf("JWKS lists %v; want the new key, then %s", kids, oldKid)
	}
	tok := f.token(t, p.AppID, secret, "https://vault.azure.net/.default")
	if _, err := f.svc.Verify(ctx, tok, AudienceVault); err != nil {
		t.Fatal(err)
	}
	if f.svc.signers[0].kid == oldKid || !slices.Contains(kids, f.svc.signers[0].kid) {
		t.Fatal("new tokens are not signed with the new key")
	}
}

func TestADamagedSigningKeyListIsRefused(t *testing.T) {
	good, err := newSigningKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no PEM block", []byte("not a key")},
		{"a damaged second key", append(slices.Clone(good), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := &memKeys{data: map[string][]byte{"k": tc.data}}
			db, err := boltkv.Open(filepath.Join(t.TempDir(), "identity.db"), boltkv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = New(db, "k", Options{Issuer: "https://sealwatch.example", Keys: keys})
			if err == nil {
				t.Fatal("a damaged signing key list was taken")
			}
		})
	}
}
