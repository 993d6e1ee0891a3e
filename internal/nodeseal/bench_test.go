package nodeseal

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkUnsealSixSecrets is the auto-unseal a node start pays with the
// development default root: unwrap the master key, then open the six
// secrets a node holds (the two TLS keys, the signing key, secrets.key,
// the platform key, the vault's root key).
func BenchmarkUnsealSixSecrets(b *testing.B) {
	dir := b.TempDir()
	names := []string{"identity-signing-key.pem", "tls/ca-key.pem", "tls/server-key.pem",
		"workspace/secrets.key", "workspace/platform/platform.key", "vault/root.key"}
	box, err := Open(context.Background(), dir, File(""))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		if _, err := box.LoadOrCreateKey(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
	box.Close()
	for b.Loop() {
		box, err := Open(context.Background(), dir, File(""))
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range names {
			if _, err := box.ReadFile(filepath.Join(dir, n)); err != nil {
				b.Fatal(err)
			}
		}
		box.Close()
	}
}
