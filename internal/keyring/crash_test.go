package keyring_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

var errCrash = errors.New("simulated crash")

// switchCase is a change of KEK: the key in force before and after.
type switchCase struct {
	name     string
	old, new func(e *env) keyring.KEK
}

var switchCases = []switchCase{
	{
		name: "replacement",
		old:  func(e *env) keyring.KEK { return e.kek },
		new:  func(e *env) keyring.KEK { return kektest.New("cmk-replacement") },
	},
	{
		name: "pinned version",
		old:  func(e *env) keyring.KEK { return e.kek.Pin(e.kek.Latest()) },
		new:  func(e *env) keyring.KEK { return e.kek.Pin(e.kek.Rotate()) },
	},
}

// TestCrashAtEveryStepOfTheSwitchLeavesOldOrNewWrapping stops a KEK switch
// at every step in turn. At the stop it copies the registry file as a crash
// would leave it (nothing in memory survives), then reopens the copy: it
// must open with the old key before the commit and with the new one after,
// every object sealed before must open, and it must never open with neither.
// The keyring that saw the failure must still work with the old key.
func TestCrashAtEveryStepOfTheSwitchLeavesOldOrNewWrapping(t *testing.T) {
	for _, sc := range switchCases {
		t.Run(sc.name, func(t *testing.T) {
			steps := crashAt(t, sc, -1)
			if !slices.Contains(steps, "committed") || len(steps) < 8 {
				t.Fatalf("steps: %v", steps)
			}
			for i, step := range steps {
				t.Run(fmt.Sprintf("%02d-%s", i, step), func(t *testing.T) {
					crashAt(t, sc, i)
				})
			}
		})
	}
}

// crashAt runs one switch, crashing at the stop'th step (none when
// negative), and returns the steps it went through.
func crashAt(t *testing.T, sc switchCase, stop int) []string {
	e := newEnv(t)
	oldKEK := sc.old(e)
	k := e.open(func(c *keyring.Config) { c.KEK = oldKEK })
	o1 := seal(t, k)
	if _, err := k.RotateAccountKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	o2 := seal(t, k)
	newKEK := sc.new(e)
	oldURI := k.AccountKeys()[0].KeyURI
	snapshot := filepath.Join(t.TempDir(), "crashed.db")

	var steps []string
	committed := false
	keyring.SetRewrapHook(k, func(step string) error {
		steps = append(steps, step)
		if step == "committed" {
			committed = true
		}
		if len(steps)-1 != stop {
			return nil
		}
		raw, err := os.ReadFile(e.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(snapshot, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return errCrash
	})
	err := k.SetKEK(context.Background(), newKEK, "")
	if stop < 0 {
		if err != nil {
			t.Fatalf("switch without a crash: %v", err)
		}
		newURI := k.AccountKeys()[0].KeyURI
		if newURI == oldURI {
			t.Fatal("switch did not rewrap")
		}
		mustOpen(t, o1, k)
		mustOpen(t, o2, k)
		return steps
	}
	if !errors.Is(err, errCrash) {
		t.Fatalf("SetKEK = %v, want the crash", err)
	}
	if !committed {
		// A failed switch changes nothing: the running keyring goes on with the old key.
		if got := k.AccountKeys()[0].KeyURI; got != oldURI {
			t.Fatalf("failed switch left %s in memory", got)
		}
		mustOpen(t, o1, k)
		mustOpen(t, o2, k)
		if st := probe(t, k); st != keyring.Accessible {
			t.Fatalf("state after a failed switch: %s", st)
		}
	}

	db, err := boltkv.Open(snapshot, boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("crashed registry does not open: %v", err)
	}
	defer db.Close()
	ref, err := keyring.InForce(context.Background(), db, cluster, resource)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.KeyURIs) != 1 {
		t.Fatalf("crashed registry mixes wrappings: %v", ref.KeyURIs)
	}
	isNew := ref.KeyURIs[0] != oldURI
	if isNew != committed {
		t.Fatalf("after a crash at %q the registry has the %s wrapping (%s)", steps[stop], map[bool]string{true: "new", false: "old"}[isNew], ref.KeyURIs[0])
	}
	inForce, other := oldKEK, newKEK
	if isNew {
		inForce, other = newKEK, oldKEK
	}
	cfg := e.config(inForce)
	cfg.DB = db
	cfg.Registerer = nil
	reopened, err := keyring.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("crashed registry does not open with the key in force: %v", err)
	}
	defer reopened.Close()
	if reopened.State() != keyring.Accessible {
		t.Fatalf("reopened state %s", reopened.State())
	}
	mustOpen(t, o1, reopened)
	mustOpen(t, o2, reopened)
	if sc.name == "replacement" {
		cfg.KEK = other
		if k, err := keyring.Open(context.Background(), cfg); !errors.Is(err, keyring.ErrWrongKEK) {
			if k != nil {
				k.Close()
			}
			t.Fatalf("crashed registry with the key not in force: %v", err)
		}
	}
	return steps
}
