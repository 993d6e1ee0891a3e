package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// errTestIntegrity stands in for rootkey.ErrIntegrity.
var errTestIntegrity = errors.New("sealed data failed its integrity check")

// testSealer is a stand-in for *rootkey.Key: AES-256-GCM under a random key,
// nonce prefixed. It remembers what it sealed so the canary test knows which
// bytes must never reach the disk.
type testSealer struct {
	aead   cipher.AEAD
	mu     sync.Mutex
	sealed [][]byte
}

func newTestSealer(t testing.TB) *testSealer {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &testSealer{aead: aead}
}

func (s *testSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	s.mu.Lock()
	s.sealed = append(s.sealed, bytes.Clone(plaintext))
	s.mu.Unlock()
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (s *testSealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("open: %w", errTestIntegrity)
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("open: %w", errTestIntegrity)
	}
	return pt, nil
}

// fakeClock is the injected clock; tests move it, nothing sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t      testing.TB
	ctx    context.Context
	dir    string
	db     *boltkv.DB
	sealer *testSealer
	clock  *fakeClock
	opts   Options
	svc    *Service
}

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testSub    = "00000000-0000-0000-0000-000000000001"
	testRG     = "rg-sec"
	adminOID   = "11111111-1111-1111-1111-111111111111"
	clusterOID = "22222222-2222-2222-2222-222222222222"
)

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), dir: t.TempDir(), sealer: newTestSealer(t),
		clock: &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.opts = Options{DNSSuffix: "vault.localhost", Port: 8443, Now: e.clock.Now}
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			_ = e.db.Close()
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := boltkv.Open(filepath.Join(e.dir, "vault.db"), boltkv.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	if e.svc, err = New(db, e.sealer, e.opts); err != nil {
		e.t.Fatal(err)
	}
}

// reopen closes the database and opens it again with a new Service, as a
// restart does.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func ptr[T any](v T) *T { return &v }

// vault creates a vault whose admin holds every permission.
func (e *env) vault(name string, purgeProtection bool, retentionDays int) *Vault {
	e.t.Helper()
	v, err := e.svc.CreateOrUpdateVault(e.ctx, testSub, testRG, name, VaultParameters{
		Location: "westeurope",
		Properties: VaultCreateProperties{
			TenantID: testTenant, SKU: &SKU{Family: "A", Name: "standard"},
			AccessPolicies:            []AccessPolicy{{TenantID: testTenant, ObjectID: adminOID, Permissions: Permissions{Keys: []string{"all"}}}},
			SoftDeleteRetentionInDays: ptr(retentionDays), EnablePurgeProtection: ptr(purgeProtection),
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) createKey(vault, name string, p CreateKeyParameters) *KeyBundle {
	e.t.Helper()
	b, err := e.svc.CreateKey(e.ctx, vault, name, p)
	if err != nil {
		e.t.Fatalf("create key %s: %v", name, err)
	}
	return b
}

func versionOf(kid string) string { return kid[len(kid)-32:] }

// wantErr fails unless err matches every sentinel.
func wantErr(t testing.TB, err error, sentinels ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want %v", sentinels)
	}
	for _, s := range sentinels {
		if !errors.Is(err, s) {
			t.Fatalf("error %v is not %v", err, s)
		}
	}
	var ve *fault.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *fault.Error", err)
	}
}

// rsaJWK exports a private key as an import JWK.
func rsaJWK(k *rsa.PrivateKey) ImportJSONWebKey {
	return ImportJSONWebKey{
		Kty: "RSA", N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes(), D: k.D.Bytes(),
		P: k.Primes[0].Bytes(), Q: k.Primes[1].Bytes(),
		DP: k.Precomputed.Dp.Bytes(), DQ: k.Precomputed.Dq.Bytes(), QI: k.Precomputed.Qinv.Bytes(),
	}
}

func genRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
