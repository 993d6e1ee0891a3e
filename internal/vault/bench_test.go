package vault

import (
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keywrap"
)

// BenchmarkUnwrap compares Service.Unwrap with the bare algorithm on the same
// key, so the ratio is what the vault adds (database read, checks, cache):
// the goal is at most +50% for RSA-3072.
func BenchmarkUnwrap(b *testing.B) {
	cek := make([]byte, 32)
	_, _ = rand.Read(cek)

	b.Run("RSA-3072", func(b *testing.B) {
		e := newEnv(b)
		e.vault("kv-bench", false, 90)
		priv := genRSA(b, 3072)
		if _, err := e.svc.ImportKey(e.ctx, "kv-bench", "rsa", ImportKeyParameters{Key: rsaJWK(priv)}); err != nil {
			b.Fatal(err)
		}
		w, err := e.svc.Wrap(e.ctx, "kv-bench", "rsa", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: cek})
		if err != nil {
			b.Fatal(err)
		}
		version := versionOf(w.KID)
		priv.Precompute()
		b.Run("bare", func(b *testing.B) {
			for b.Loop() {
				if _, err := rsa.DecryptOAEP(sha256.New(), nil, priv, w.Value, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("service", func(b *testing.B) {
			p := KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: w.Value}
			for b.Loop() {
				if _, err := e.svc.Unwrap(e.ctx, "kv-bench", "rsa", version, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("oct-256", func(b *testing.B) {
		e := newEnv(b)
		e.vault("kv-bench", false, 90)
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if _, err := e.svc.ImportKey(e.ctx, "kv-bench", "aes", ImportKeyParameters{Key: ImportJSONWebKey{Kty: "oct", K: k}}); err != nil {
			b.Fatal(err)
		}
		w, err := e.svc.Wrap(e.ctx, "kv-bench", "aes", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: cek})
		if err != nil {
			b.Fatal(err)
		}
		version := versionOf(w.KID)
		block, err := aes.NewCipher(k)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("bare", func(b *testing.B) {
			for b.Loop() {
				if _, err := keywrap.Unwrap(block, w.Value); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("service", func(b *testing.B) {
			p := KeyOperationParameters{Algorithm: AlgA256KW, Value: w.Value}
			for b.Loop() {
				if _, err := e.svc.Unwrap(e.ctx, "kv-bench", "aes", version, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
