package keyring_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Two keyrings of one ring over one registry are two nodes sharing it.

// TestRingRemovedByAnotherNodeLocksAtTheNextProbe: a cluster deleted on
// one node takes its ring out of the registry; the other node's keyring
// drops its account keys at its next probe rather than serving them on.
func TestRingRemovedByAnotherNodeLocksAtTheNextProbe(t *testing.T) {
	e := newEnv(t)
	a, b := e.open(), e.open()
	o := seal(t, b)
	a.Close()
	if err := keyring.Remove(context.Background(), e.db, cluster, resource); err != nil {
		t.Fatal(err)
	}
	if st := probe(t, b); st != keyring.Locked {
		t.Fatalf("the other node's keyring is %s after the ring was removed", st)
	}
	if err := o.open(b); !errors.Is(err, keyring.ErrLocked) {
		t.Fatalf("open after the ring was removed: err = %v", err)
	}
}

// TestKeyPutInForceElsewhereIsFollowedOrNotTrusted: node A replaces the
// key. Node B, told how to open a key by its ref, switches to it at its
// next probe and rewraps nothing back; without that, it cannot check the
// key in force, and works from memory only within the grace.
func TestKeyPutInForceElsewhereIsFollowedOrNotTrusted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resolve bool
		want    keyring.State
	}{
		{"resolved from its ref", true, keyring.Accessible},
		{"no way to open it", false, keyring.Unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			second := kektest.New("second")
			a := e.open(func(c *keyring.Config) { c.KEKRef = "first" })
			b := e.open(func(c *keyring.Config) {
				c.KEKRef = "first"
				if tc.resolve {
					c.ResolveKEK = func(_ context.Context, ref string) (keyring.KEK, error) {
						if ref != "second" {
							return nil, errors.New("no such key")
						}
						return second, nil
					}
				}
			})
			if err := a.SetKEK(context.Background(), second, "second"); err != nil {
				t.Fatal(err)
			}
			o := seal(t, a) // under the new epoch the replacement started
			e.kek.ResetCalls()
			if st := probe(t, b); st != tc.want {
				t.Fatalf("node B is %s after node A replaced the key, want %s", st, tc.want)
			}
			if e.kek.Calls().Total() != 0 {
				t.Fatalf("node B still calls the replaced key: %+v", e.kek.Calls())
			}
			if !tc.resolve {
				if _, why := b.LastCheck(); !strings.Contains(why, "another node put a key in force") {
					t.Fatalf("node B's last check says %q", why)
				}
				return
			}
			mustOpen(t, o, b)
			second.SetEnabled(second.Latest(), false)
			if st := probe(t, b); st != keyring.Revoked {
				t.Fatalf("node B is %s once the key in force is disabled", st)
			}
		})
	}
}

// countingDB counts the read-write transactions made on a kv.DB.
type countingDB struct {
	kv.DB
	updates atomic.Int64
}

func (c *countingDB) Update(ctx context.Context, fn func(kv.Tx) error) error {
	c.updates.Add(1)
	return c.DB.Update(ctx, fn)
}

// TestProbesWriteTheRegistryOnlyWhenUsageMovesFar: every kv Update is
// serialized across the nodes sharing the database, so a probe that finds
// nothing changed must not write; the key usage report is refreshed once
// its last unwrap moved by ten minutes.
func TestProbesWriteTheRegistryOnlyWhenUsageMovesFar(t *testing.T) {
	e := newEnv(t)
	db := &countingDB{DB: e.db}
	k := e.open(func(c *keyring.Config) { c.DB = db })
	db.updates.Store(0)
	for range 5 {
		e.clock.Advance(keyring.DefaultKeyCheckInterval)
		if st := probe(t, k); st != keyring.Accessible {
			t.Fatalf("state %s", st)
		}
	}
	if n := db.updates.Load(); n != 0 {
		t.Fatalf("five probes within ten minutes made %d registry writes, want none", n)
	}
	e.clock.Advance(10 * time.Minute)
	probe(t, k)
	if n := db.updates.Load(); n != 1 {
		t.Fatalf("a probe ten minutes after the last stored unwrap made %d registry writes, want 1", n)
	}
}
