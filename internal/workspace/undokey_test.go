package workspace

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// failingUpdates is a database whose next Update fails once armed, as a
// lost connection to PostgreSQL makes it.
type failingUpdates struct {
	kv.DB
	armed atomic.Bool
}

var errSaveLost = errors.New("connection to the database lost")

func (d *failingUpdates) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if d.armed.CompareAndSwap(true, false) {
		return errSaveLost
	}
	return d.DB.Update(ctx, fn)
}

// TestAKeyWhoseClusterSaveFailsIsNotLeftInForce sets a cluster's key with
// the save of the cluster's record failing after the key layer put the new
// key in force: the key in force must be the one the record stores (the
// previous key, or none for a first key), since every node reopens a
// cluster's keyrings with the stored key.
func TestAKeyWhoseClusterSaveFailsIsNotLeftInForce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before string // the key set before the failing PATCH; "" for none
	}{
		{"a replaced key goes back to the previous one", "good-1"},
		{"a first key is forgotten", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bolt, err := boltkv.Open(filepath.Join(dir, "control.db"), boltkv.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bolt.Close() })
			root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "platform.key"))
			if err != nil {
				t.Fatal(err)
			}
			db := &failingUpdates{DB: bolt}
			f := &fixture{ids: &fakeIdentities{}, keys: &fakeKeys{}, g: ResourceGroup{"sub1", "rg1"}}
			f.svc, err = New(db, f.ids, f.keys, root, Options{Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }})
			if err != nil {
				t.Fatal(err)
			}
			c := f.cluster(t, "cluster1")
			if tc.before != "" {
				if err := f.setKey(t, "cluster1", tc.before); err != nil {
					t.Fatal(err)
				}
			}
			f.keys.onSet = func() { db.armed.Store(true) }
			if err := f.setKey(t, "cluster1", "good-2"); !errors.Is(err, errSaveLost) {
				t.Fatalf("PATCH with the save failing: %v, want %v", err, errSaveLost)
			}
			f.keys.onSet = nil

			got, err := f.svc.GetCluster(context.Background(), f.g, "cluster1")
			if err != nil {
				t.Fatal(err)
			}
			stored := got.Properties.KeyVaultProperties
			f.keys.mu.Lock()
			inForce, ok := f.keys.set[c.Properties.ClusterID]
			f.keys.mu.Unlock()
			switch {
			case tc.before == "" && (stored.IsSet() || ok):
				t.Fatalf("the record stores %+v, the key layer holds %+v (%v); want neither", stored, inForce, ok)
			case tc.before != "" && (stored == nil || stored.KeyName != tc.before || inForce.KeyName != tc.before):
				t.Fatalf("the record stores %+v, the key layer holds %+v; want both %s", stored, inForce, tc.before)
			}
		})
	}
}
