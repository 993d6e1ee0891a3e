package clusterkeys

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// heldKEK is a key service whose unwraps wait until the test releases them:
// a key check that is under way for as long as the test wants.
type heldKEK struct {
	keyring.KEK
	entered     chan struct{} // closed by the first unwrap
	enteredOnce *sync.Once
	release     chan struct{}
}

func holdKEK(kek keyring.KEK) heldKEK {
	return heldKEK{KEK: kek, entered: make(chan struct{}), enteredOnce: new(sync.Once), release: make(chan struct{})}
}

func (k heldKEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	k.enteredOnce.Do(func() { close(k.entered) })
	select {
	case <-k.release:
	case <-ctx.Done():
		return nil, fmt.Errorf("held unwrap: %v: %w", ctx.Err(), keyring.ErrKeyUnreachable)
	}
	return k.KEK.Unwrap(ctx, w)
}

// restartedManager sets a cluster's key with one Manager, then starts
// another over the same registry whose key service holds every unwrap, and
// reopens the cluster's keys in the background as a node does once it
// serves. It returns the second Manager, the held key service, the key's
// switches, and the channel Restore's error arrives on.
func restartedManager(t *testing.T, ctx context.Context, firstCheckWait time.Duration) (*Manager, heldKEK, *kektest.KEK, <-chan error) {
	t.Helper()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek := kektest.New("cmk")
	cfg := Config{
		DB:             db,
		NewKEK:         func(KEKRequest) (keyring.KEK, error) { return kek, nil },
		DocumentStore:  workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:       kektest.New("platform"),
		FirstCheckWait: firstCheckWait,
	}
	m1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.SetClusterKey(ctx, "c1", testCluster, testKV); err != nil {
		t.Fatal(err)
	}
	m1.Close()

	held := holdKEK(kek)
	cfg.NewKEK = func(KEKRequest) (keyring.KEK, error) { return held, nil }
	cfg.RestoreAtStart = true
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	restored, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		defer m2.Restored()
		restored <- m2.Restore(ctx, "c1", testCluster, testKV)
	}()
	t.Cleanup(func() {
		select {
		case <-held.release:
		default:
			close(held.release)
		}
		<-done
		m2.Close()
	})
	select {
	case <-held.entered:
	case <-ctx.Done():
		t.Fatal("the first key check never began")
	}
	return m2, held, kek, restored
}

var (
	testCluster = workspace.Principal{ObjectID: "cl", AppID: "cl-app"}
	testKV      = workspace.KeyVaultProperties{KeyVaultURI: "https://cmkvault.vault.localhost:8443", KeyName: "cmk"}
	testWS      = &workspace.WorkspaceInfo{ClusterID: "c1", CMK: true}
)

// sealWith asks for the workspace's log keys and derives an object key from
// the current one, as a query or an ingest does.
func sealWith(ctx context.Context, m *Manager) error {
	keys, err := m.Keys(ctx, testWS, Logs)
	if err != nil {
		return err
	}
	s, err := keys.Current(ctx)
	if err != nil {
		return err
	}
	_, err = s.AEAD(make([]byte, 32), "test")
	return err
}

// TestARequestBeforeTheFirstKeyCheckIsAnsweredByIt restarts a Manager whose
// key service holds the first check, sends a request for the cluster's keys
// while it is under way, then lets the check end: the request waits for it
// and is answered by its outcome — the keys when the key is accessible, the
// typed refusal when it is revoked or its vault unreachable — not refused as
// locked because it came early.
func TestARequestBeforeTheFirstKeyCheckIsAnsweredByIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome func(*kektest.KEK)
		want    error // nil: the keys are usable
	}{
		{"key accessible: the keys", func(*kektest.KEK) {}, nil},
		{"key deleted: revoked", (*kektest.KEK).Delete, keyring.ErrKeyRevoked},
		{"version disabled: revoked", func(k *kektest.KEK) { k.SetEnabled("", false) }, keyring.ErrKeyRevoked},
		{"vault unreachable: locked", func(k *kektest.KEK) { k.SetUnreachable(true) }, keyring.ErrLocked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m, held, kek, restored := restartedManager(t, ctx, time.Minute)
			waiting := make(chan struct{})
			m.firstCheckHook = func(string) { close(waiting) }

			answer := make(chan error, 1)
			go func() { answer <- sealWith(ctx, m) }()
			select {
			case <-waiting:
			case err := <-answer:
				t.Fatalf("a request during the first key check was answered before it ended: %v", err)
			case <-ctx.Done():
				t.Fatal("the request neither waited nor was answered")
			}

			tc.outcome(kek)
			close(held.release)
			if err := <-restored; err != nil {
				t.Fatalf("restore: %v", err)
			}
			select {
			case err := <-answer:
				if !errors.Is(err, tc.want) { // with want nil: err is nil
					t.Fatalf("the request after the first key check: err = %v, want %v", err, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("the request was not answered once the first key check ended")
			}
		})
	}
}

// TestTheWaitForTheFirstKeyCheckIsBounded: a first check that does not end
// leaves a request waiting only FirstCheckWait, then it is refused as locked
// (503 KeyVaultUnreachable), as it was before the wait; a request whose
// context ends meanwhile gets the context's error.
func TestTheWaitForTheFirstKeyCheckIsBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, _, _, _ := restartedManager(t, ctx, 50*time.Millisecond)
	if err := sealWith(ctx, m); !errors.Is(err, keyring.ErrLocked) {
		t.Fatalf("a request past the wait for a first check that never ends: err = %v, want ErrLocked", err)
	}

	m.cfg.FirstCheckWait = time.Minute
	short, cancelShort := context.WithCancel(ctx)
	m.firstCheckHook = func(string) { cancelShort() }
	if err := sealWith(short, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request cancelled while it waits: err = %v, want context.Canceled", err)
	}
}

// TestARequestWhileAClusterKeyedElsewhereOpensWaitsForBothKeyrings: node B
// opens a cluster keyed on node A — the log store's keyring, then the
// document store's, each with a check of the key — and a request comes
// while the second check is under way. It waits for it and gets the keys,
// rather than be refused as locked because one keyring of two was open.
func TestARequestWhileAClusterKeyedElsewhereOpensWaitsForBothKeyrings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek := kektest.New("cmk")
	cfg := Config{
		DB:            db,
		NewKEK:        func(KEKRequest) (keyring.KEK, error) { return kek, nil },
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:      kektest.New("platform"),
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.SetClusterKey(ctx, "c1", testCluster, testKV); err != nil {
		t.Fatal(err)
	}

	held := holdKEK(kek)
	cfg.NewKEK = func(r KEKRequest) (keyring.KEK, error) {
		if r.Resource == Documents {
			return held, nil
		}
		return kek, nil
	}
	cfg.StoredKeys = func(context.Context) ([]StoredKey, error) {
		return []StoredKey{{ClusterID: "c1", Identity: testCluster, Key: testKV}}, nil
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reconciled := make(chan error, 1)
	go func() { reconciled <- b.Reconcile(ctx) }()
	t.Cleanup(func() { b.Close() })
	select {
	case <-held.entered: // the log store's keyring is open; the document store's check is under way
	case err := <-reconciled:
		t.Fatalf("node B reconciled without checking the document store's key: %v", err)
	case <-ctx.Done():
		t.Fatal("node B never checked the document store's key")
	}
	if b.Keyring("c1", Logs) == nil || b.Keyring("c1", Documents) != nil {
		t.Fatal("node B does not have the log store's keyring alone open while the document store's is checked")
	}

	// The check ends a moment after the request came: until then, nothing
	// makes the document store's keyring open.
	release := time.AfterFunc(50*time.Millisecond, func() { close(held.release) })
	defer release.Stop()
	if err := sealWith(ctx, b); err != nil {
		t.Fatalf("a request while the cluster's keyrings open: %v", err)
	}
	if err := <-reconciled; err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}
