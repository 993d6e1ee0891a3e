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

// TestCheckSoonChecksAtOnceAndCoalescesABurst: at an interval of an hour, a
// CheckSoon finds the disabled key at once; a burst of a hundred, with the
// key service slow, costs at most two checks (the one running and one
// after it), and the check, not the call, sets the state.
func TestCheckSoonChecksAtOnceAndCoalescesABurst(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kek := kektest.New("k")
	m, err := New(Config{DB: db, NewKEK: func(KEKRequest) (keyring.KEK, error) { return kek, nil },
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"}, Platform: kektest.New("platform"),
		KeyCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.SetClusterKey(ctx, "c1", workspace.Principal{ObjectID: "cl", AppID: "cl-app"},
		workspace.KeyVaultProperties{KeyVaultURI: "https://v1.vault.localhost/", KeyName: "k"}); err != nil {
		t.Fatal(err)
	}
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for m.KeyState("c1") != want {
			if time.Now().After(deadline) {
				t.Fatalf("key state %s, want %s", m.KeyState("c1"), want)
			}
			time.Sleep(time.Millisecond) // polling a state no channel announces
		}
	}
	kek.SetEnabled("", false)
	m.CheckSoon("c1")
	waitState(keyring.Revoked.String())

	kek.SetEnabled("", true)
	kek.SetDelay(50 * time.Millisecond)
	kek.ResetCalls()
	for range 100 {
		m.CheckSoon("c1")
	}
	waitState(keyring.Accessible.String())
	m.mu.Lock()
	for len(m.soon) > 0 { // the coalesced check still running
		m.mu.Unlock()
		time.Sleep(time.Millisecond)
		m.mu.Lock()
	}
	m.mu.Unlock()
	// One check unwraps each ring's account key and describes the key:
	// two rings, so at most 2 checks × 2 rings unwraps.
	if u := kek.Calls().Unwrap; u < 2 || u > 4 {
		t.Fatalf("a burst of 100 made %d unwraps, want those of one or two checks (2 to 4)", u)
	}
}
