package clusterkeys

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestAKeyWatchHoldsOnlyWhileTheKeyStaysAccessible: a watch taken while a
// cluster's key is Accessible holds until its state changes — revoked,
// unreachable, or access removed from the document-store principal alone
// — and never again, even once the key is back; none is given while the
// key is not Accessible; a forgotten cluster's watch does not hold.
func TestAKeyWatchHoldsOnlyWhileTheKeyStaysAccessible(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		spoil, restore func(*kektest.KEK)
	}{
		{"key disabled", func(k *kektest.KEK) { k.SetEnabled(k.Latest(), false) }, func(k *kektest.KEK) { k.SetEnabled(k.Latest(), true) }},
		{"access removed", (*kektest.KEK).Deny, (*kektest.KEK).Allow},
		{"vault unreachable", func(k *kektest.KEK) { k.SetUnreachable(true) }, func(k *kektest.KEK) { k.SetUnreachable(false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			kek := kektest.New("cmk")
			m, err := New(Config{
				DB:               db,
				NewKEK:           func(KEKRequest) (keyring.KEK, error) { return kek, nil },
				DocumentStore:    workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
				Platform:         kektest.New("platform"),
				UnreachableGrace: time.Hour,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			kv := workspace.KeyVaultProperties{KeyVaultURI: "https://v.vault.localhost/", KeyName: "cmk"}
			if err := m.SetClusterKey(ctx, "c1", workspace.Principal{ObjectID: "cl", AppID: "cl-app"}, kv); err != nil {
				t.Fatal(err)
			}
			ws := &workspace.WorkspaceInfo{ClusterID: "c1", CMK: true}
			w, ok := m.WatchKeys(ws)
			if !ok || !w.Holds() {
				t.Fatalf("a watch of an Accessible key: given %v, holds %v", ok, w.Holds())
			}
			m.ProbeNow(ctx, "c1")
			if !w.Holds() {
				t.Fatal("a probe that found the key Accessible again ended the watch")
			}
			tc.spoil(kek)
			m.ProbeNow(ctx, "c1")
			if w.Holds() {
				t.Fatalf("the watch holds with the key %s", m.KeyState("c1"))
			}
			if _, ok := m.WatchKeys(ws); ok {
				t.Fatalf("a watch was given with the key %s", m.KeyState("c1"))
			}
			tc.restore(kek)
			m.ProbeNow(ctx, "c1")
			if m.KeyState("c1") != keyring.Accessible.String() {
				t.Fatalf("key state after restore: %s", m.KeyState("c1"))
			}
			if w.Holds() {
				t.Fatal("a watch taken before the key's state changed holds again after it came back")
			}
			again, ok := m.WatchKeys(ws)
			if !ok || !again.Holds() {
				t.Fatal("no watch was given once the key was back")
			}
			if err := m.ForgetCluster(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			if again.Holds() {
				t.Fatal("the watch of a forgotten cluster's keys holds")
			}
		})
	}
	var zero KeyWatch
	if zero.Holds() {
		t.Fatal("the zero watch holds")
	}
}

// TestAPlatformKeyWatchNeedsBothKeyringsOpen: a platform workspace's watch
// is given once its log and document keyrings are open.
func TestAPlatformKeyWatchNeedsBothKeyringsOpen(t *testing.T) {
	ctx := context.Background()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := New(Config{
		DB: db,
		NewKEK: func(KEKRequest) (keyring.KEK, error) {
			return kektest.New("cmk"), nil
		},
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:      kektest.New("platform"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ws := &workspace.WorkspaceInfo{}
	for _, res := range []string{Logs, Documents} {
		if _, ok := m.WatchKeys(ws); ok {
			t.Fatalf("a watch was given before the %s keyring opened", res)
		}
		if _, err := m.Keys(ctx, ws, res); err != nil {
			t.Fatal(err)
		}
	}
	if w, ok := m.WatchKeys(ws); !ok || !w.Holds() {
		t.Fatalf("platform watch: given %v, holds %v", ok, w.Holds())
	}
}
