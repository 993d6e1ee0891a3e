package keyring_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// BenchmarkAEAD is the cost of deriving an object key: HKDF-SHA256 and
// AES-256-GCM setup, with no KEK call.
func BenchmarkAEAD(b *testing.B) {
	s := benchSealer(b)
	salt := make([]byte, 32)
	rand.Read(salt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AEAD(salt, "segment"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal64KiB seals a 64 KiB block through the keyring, deriving the
// object key per block (the worst case: stores derive once per object), and
// with a bare AES-256-GCM under a fixed key; "ratio" runs both in turn in the
// same run and reports keyring time / bare time.
func BenchmarkSeal64KiB(b *testing.B) {
	s := benchSealer(b)
	block := make([]byte, 64<<10)
	rand.Read(block)
	salt, nonce := make([]byte, 32), make([]byte, 12)
	aad := envelope.AAD("ws", "SecurityEvent", "seg-1", "0", "v1", s.KeyID())
	key := make([]byte, 32)
	rand.Read(key)
	c, _ := aes.NewCipher(key)
	bare, _ := cipher.NewGCM(c)
	out := make([]byte, 0, len(block)+16)

	viaKeyring := func() {
		a, err := s.AEAD(salt, "segment")
		if err != nil {
			b.Fatal(err)
		}
		out = a.Seal(out[:0], nonce, block, aad)
	}
	viaBare := func() { out = bare.Seal(out[:0], nonce, block, aad) }

	b.Run("keyring", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		for b.Loop() {
			viaKeyring()
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		for b.Loop() {
			viaBare()
		}
	})
	b.Run("ratio", func(b *testing.B) {
		var tk, tb time.Duration
		for b.Loop() {
			t := time.Now()
			viaKeyring()
			tk += time.Since(t)
			t = time.Now()
			viaBare()
			tb += time.Since(t)
		}
		b.ReportMetric(float64(tk)/float64(tb), "keyring/bare")
	})
}

func benchSealer(b *testing.B) envelope.Sealer {
	b.Helper()
	k := newEnv(b).open()
	s, err := k.Current(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return s
}
