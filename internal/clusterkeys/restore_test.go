package clusterkeys

import (
	"context"
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

// gate holds every call to the key service until calls of `want` clusters
// are under way at once, and records the most clusters it saw with calls
// under way together.
type gate struct {
	want int
	open chan struct{}

	mu     sync.Mutex
	inside map[string]int // cluster → its calls under way
	most   int
	opened bool
}

func (g *gate) enter(ctx context.Context, cluster string) error {
	g.mu.Lock()
	g.inside[cluster]++
	g.most = max(g.most, len(g.inside))
	if len(g.inside) == g.want && !g.opened {
		close(g.open)
		g.opened = true
	}
	g.mu.Unlock()
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		g.leave(cluster)
		return fmt.Errorf("gate: %w: %w", ctx.Err(), keyring.ErrKeyUnreachable)
	}
}

func (g *gate) leave(cluster string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inside[cluster]--; g.inside[cluster] == 0 {
		delete(g.inside, cluster)
	}
}

// gatedKEK is a cluster's key whose calls pass the gate.
type gatedKEK struct {
	*kektest.KEK
	cluster string
	g       *gate
}

func (k gatedKEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if err := k.g.enter(ctx, k.cluster); err != nil {
		return nil, err
	}
	defer k.g.leave(k.cluster)
	return k.KEK.Unwrap(ctx, w)
}

func (k gatedKEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	if err := k.g.enter(ctx, k.cluster); err != nil {
		return keyring.KeyState{}, err
	}
	defer k.g.leave(k.cluster)
	return k.KEK.Describe(ctx)
}

// TestManyClustersKeysAreReopenedAtOnceAndNoMoreThanTheBound: at a start,
// the keys of three times restoreParallel clusters are reopened with the
// first restoreParallel clusters' key checks under way together — the key
// service answers none until they all are, so one cluster after another
// would never finish — and never more clusters than that at once; every
// cluster ends Accessible.
func TestManyClustersKeysAreReopenedAtOnceAndNoMoreThanTheBound(t *testing.T) {
	ctx := context.Background()
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 3 * restoreParallel
	keks := map[string]*kektest.KEK{}
	var stored []StoredKey
	for i := range n {
		name := fmt.Sprintf("k%d", i)
		keks[name] = kektest.New(name)
		stored = append(stored, StoredKey{ClusterID: fmt.Sprintf("c%d", i),
			Identity: workspace.Principal{ObjectID: "cl" + name, AppID: "app" + name},
			Key:      workspace.KeyVaultProperties{KeyVaultURI: "https://v.vault.localhost/", KeyName: name}})
	}
	cfg := Config{
		DB: db,
		NewKEK: func(r KEKRequest) (keyring.KEK, error) {
			kv := r.Key
			return keks[kv.KeyName], nil
		},
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:      kektest.New("platform"),
	}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if err := first.SetClusterKey(ctx, k.ClusterID, k.Identity, k.Key); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()

	g := &gate{want: restoreParallel, open: make(chan struct{}), inside: map[string]int{}}
	cfg.RestoreAtStart = true
	cfg.NewKEK = func(r KEKRequest) (keyring.KEK, error) {
		kv := r.Key
		return gatedKEK{KEK: keks[kv.KeyName], cluster: kv.KeyName, g: g}, nil
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.RestoreAll(bounded, stored); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.open:
	default:
		t.Fatalf("the key checks of %d clusters were never under way at once", restoreParallel)
	}
	if g.most > restoreParallel {
		t.Errorf("%d clusters' key checks under way at once, over the bound of %d", g.most, restoreParallel)
	}
	for _, k := range stored {
		if st := m.KeyState(k.ClusterID); st != keyring.Accessible.String() {
			t.Errorf("cluster %s is %s after the restore", k.ClusterID, st)
		}
	}
}
