package keyring_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
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
