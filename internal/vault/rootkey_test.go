package vault

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"

	"github.com/sealwatch/sealwatch/internal/rootkey"
)

var _ sealer = (*rootkey.Key)(nil)

func TestRealRootKeyRefusesMaterialMovedToAnotherKey(t *testing.T) {
	dir := t.TempDir()
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(root.Close)
	db, err := boltkv.Open(filepath.Join(dir, "vault.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	svc, err := New(db, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), svc: svc}
	e.vault("kv-root", false, 90)
	a := e.createKey("kv-root", "a", CreateKeyParameters{Kty: "oct"})
	b := e.createKey("kv-root", "b", CreateKeyParameters{Kty: "oct"})
	p := KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)}
	if _, err := svc.Wrap(e.ctx, "kv-root", "a", "", p); err != nil {
		t.Fatal(err)
	}
	err = db.Update(e.ctx, func(tx kv.Tx) error {
		m := tx.Bucket(bucketMaterial)
		return m.Put(versionID("kv-root", "b", versionOf(b.Key.KID)), append([]byte(nil), m.Get(versionID("kv-root", "a", versionOf(a.Key.KID)))...))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Wrap(e.ctx, "kv-root", "b", "", p)
	wantErr(t, err, ErrKeyIntegrity)
	if !errors.Is(err, rootkey.ErrIntegrity) {
		t.Fatalf("rootkey.ErrIntegrity not in the chain: %v", err)
	}
}
