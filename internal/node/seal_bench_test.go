package node

import (
	"context"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
)

// BenchmarkNodeRestart opens and closes a node on a data directory made by
// an earlier start: the start-up a restart pays, with the auto-unseal of
// the node's secrets under each root of trust.
func BenchmarkNodeRestart(b *testing.B) {
	roots := []struct {
		name string
		root func(b *testing.B) nodeseal.Root
	}{
		{"file", func(*testing.B) nodeseal.Root { return nodeseal.File("") }},
		{"passphrase", func(*testing.B) nodeseal.Root { return nodeseal.Passphrase([]byte("correct horse battery staple")) }},
		{"pkcs11", func(b *testing.B) nodeseal.Root {
			tok := softhsmtest.New(b, "sealwatch-bench")
			tok.AddProtectedKey("node-root", []byte{1})
			k, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: tok.Module, TokenLabel: tok.Label, KeyLabel: "node-root", PIN: []byte(tok.PIN)})
			if err != nil {
				b.Fatal(err)
			}
			return nodeseal.KEK(nodeseal.SourcePKCS11, k)
		}},
	}
	for _, tc := range roots {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{DataDir: b.TempDir(), Addr: "127.0.0.1:0", Root: tc.root(b)}
			restart := func() {
				n, err := Open(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := n.Close(); err != nil {
					b.Fatal(err)
				}
			}
			restart() // the first start creates the data directory
			for b.Loop() {
				restart()
			}
		})
	}
}
