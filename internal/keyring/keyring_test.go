package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logtest"
)

const (
	cluster  = "cluster1"
	resource = "logs"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a keyring's surroundings: a registry file, a test key service, a
// hand-driven clock, a metrics registry and a captured log.
type env struct {
	t     testing.TB
	path  string
	db    *boltkv.DB
	kek   *kektest.KEK
	clock *kektest.Clock
	reg   *prometheus.Registry
	logs  *logtest.Buffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "registry.db"), kek: kektest.New("cmk"),
		clock: kektest.NewClock(t0), reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	e.openDB()
	t.Cleanup(func() { e.db.Close() })
	return e
}

func (e *env) openDB() {
	e.t.Helper()
	db, err := boltkv.Open(e.path, boltkv.Options{Timeout: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

func (e *env) config(kek keyring.KEK) keyring.Config {
	return keyring.Config{
		DB: e.db, Cluster: cluster, Resource: resource, KEK: kek,
		UnreachableGrace: keyring.DefaultUnreachableGrace, MaxAccountKeyAge: -1,
		Clock: e.clock, Registerer: e.reg,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) open(mutate ...func(*keyring.Config)) *keyring.Keyring {
	e.t.Helper()
	cfg := e.config(e.kek)
	for _, m := range mutate {
		m(&cfg)
	}
	k, err := keyring.Open(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { k.Close() })
	return k
}

// object is something a store sealed: what its envelope records, and the
// plaintext to compare with.
type object struct {
	keyID       string
	salt, nonce []byte
	aad         []byte
	sealed      []byte
	plain       []byte
}

const purpose = "segment"

func seal(t *testing.T, keys envelope.Keys) object {
	t.Helper()
	s, err := keys.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := object{keyID: s.KeyID(), salt: make([]byte, 32), nonce: make([]byte, 12), plain: []byte("4625 failed logon for admin")}
	rand.Read(o.salt)
	rand.Read(o.nonce)
	o.aad = envelope.AAD("ws1", "SecurityEvent", "seg-1", "0", "v1", o.keyID)
	a, err := s.AEAD(o.salt, purpose)
	if err != nil {
		t.Fatal(err)
	}
	o.sealed = a.Seal(nil, o.nonce, o.plain, o.aad)
	return o
}

// open opens o as a store would: by the key ID its envelope names.
func (o object) open(keys envelope.Keys) error {
	s, err := keys.ByID(context.Background(), o.keyID)
	if err != nil {
		return err
	}
	a, err := s.AEAD(o.salt, purpose)
	if err != nil {
		return err
	}
	got, err := a.Open(nil, o.nonce, o.sealed, o.aad)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, o.plain) {
		return errors.New("opened to other bytes")
	}
	return nil
}

func mustOpen(t *testing.T, o object, keys envelope.Keys) {
	t.Helper()
	if err := o.open(keys); err != nil {
		t.Fatalf("object sealed under %s does not open: %v", o.keyID, err)
	}
}

func probe(t *testing.T, k *keyring.Keyring) keyring.State {
	t.Helper()
	st, _ := k.ProbeNow(context.Background())
	return st
}

func TestObjectKeysAreBoundToSaltPurposeAndAssociatedData(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	mustOpen(t, o, k)
	s, _ := k.ByID(context.Background(), o.keyID)
	otherSalt := bytes.Clone(o.salt)
	otherSalt[0] ^= 1
	for name, open := range map[string]func() error{
		"other salt": func() error {
			a, _ := s.AEAD(otherSalt, purpose)
			_, err := a.Open(nil, o.nonce, o.sealed, o.aad)
			return err
		},
		"other purpose": func() error {
			a, _ := s.AEAD(o.salt, "wal")
			_, err := a.Open(nil, o.nonce, o.sealed, o.aad)
			return err
		},
		"other place": func() error {
			a, _ := s.AEAD(o.salt, purpose)
			_, err := a.Open(nil, o.nonce, o.sealed, envelope.AAD("ws2", "SecurityEvent", "seg-1", "0", "v1", o.keyID))
			return err
		},
	} {
		if open() == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := s.AEAD(nil, purpose); err == nil {
		t.Error("AEAD accepted an empty salt")
	}
	if _, err := k.ByID(context.Background(), "aek-unknown"); !errors.Is(err, keyring.ErrUnknownAccountKey) {
		t.Errorf("unknown key ID: %v", err)
	}
}

func TestRevokedKeyStopsReadsWithinOneProbe(t *testing.T) {
	for _, tc := range []struct {
		name            string
		revoke, restore func(k *kektest.KEK)
	}{
		{"version disabled", func(k *kektest.KEK) { k.SetEnabled(k.Latest(), false) }, func(k *kektest.KEK) { k.SetEnabled(k.Latest(), true) }},
		{"key disabled", func(k *kektest.KEK) { k.SetEnabled("", false) }, func(k *kektest.KEK) { k.SetEnabled("", true) }},
		{"key deleted", (*kektest.KEK).Delete, (*kektest.KEK).Recover},
		{"permission removed", (*kektest.KEK).Deny, (*kektest.KEK).Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			k := e.open()
			ctx := context.Background()
			o := seal(t, k)
			held, _ := k.ByID(ctx, o.keyID)
			heldAEAD, _ := held.AEAD(o.salt, purpose)
			before := keyring.AccountKeyBytes(k, o.keyID)

			tc.revoke(e.kek)
			e.clock.Advance(keyring.DefaultKeyCheckInterval)
			if st := probe(t, k); st != keyring.Revoked {
				t.Fatalf("state after one probe = %s, want Revoked", st)
			}
			if _, err := k.Current(ctx); !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Errorf("Current: %v", err)
			}
			if _, err := k.ByID(ctx, o.keyID); !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Errorf("ByID: %v", err)
			}
			if _, err := held.AEAD(o.salt, purpose); !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Errorf("AEAD on a sealer handed out before: %v", err)
			}
			if _, err := heldAEAD.Open(nil, o.nonce, o.sealed, o.aad); !errors.Is(err, keyring.ErrKeyRevoked) {
				t.Errorf("Open on an object key derived before: %v", err)
			}
			if b := keyring.AccountKeyBytes(k, o.keyID); b != nil {
				t.Error("account key still in memory")
			}

			tc.restore(e.kek)
			e.clock.Advance(keyring.DefaultFailingCheckInterval)
			if st := probe(t, k); st != keyring.Accessible {
				t.Fatalf("state after restore = %s", st)
			}
			mustOpen(t, o, k)
			if _, err := held.AEAD(o.salt, purpose); err != nil {
				t.Errorf("sealer handed out before revocation, after restore: %v", err)
			}
			if !bytes.Equal(keyring.AccountKeyBytes(k, o.keyID), before) {
				t.Error("restore brought back another account key")
			}
		})
	}
}

func TestUnreachableWorksWithinGraceThenLocks(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	ctx := context.Background()
	o := seal(t, k)
	e.kek.SetUnreachable(true)
	if st := probe(t, k); st != keyring.Unreachable {
		t.Fatalf("state = %s, want Unreachable", st)
	}
	e.clock.Advance(keyring.DefaultUnreachableGrace - time.Second)
	mustOpen(t, o, k)
	seal(t, k)
	if st := probe(t, k); st != keyring.Unreachable {
		t.Fatalf("state within the grace = %s", st)
	}
	e.clock.Advance(time.Second)
	// No probe needed: the grace ends on the clock.
	if _, err := k.Current(ctx); !errors.Is(err, keyring.ErrLocked) {
		t.Fatalf("Current past the grace: %v", err)
	}
	if err := o.open(k); !errors.Is(err, keyring.ErrLocked) {
		t.Fatalf("open past the grace: %v", err)
	}
	if k.State() != keyring.Locked {
		t.Fatalf("state = %s", k.State())
	}
	if errors.Is(o.open(k), keyring.ErrKeyRevoked) {
		t.Fatal("unreachable treated as revoked")
	}
	e.kek.SetUnreachable(false)
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state after the key service came back = %s", st)
	}
	mustOpen(t, o, k)
}

func TestSlowKeyServiceCountsAsUnreachable(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	e.kek.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	st, err := k.ProbeNow(ctx)
	if st != keyring.Unreachable || !errors.Is(err, keyring.ErrKeyUnreachable) {
		t.Fatalf("slow key service: %s %v", st, err)
	}
}

func TestNoGraceFailsClosedAtOnce(t *testing.T) {
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.UnreachableGrace = 0 })
	o := seal(t, k)
	e.kek.SetUnreachable(true)
	if st := probe(t, k); st != keyring.Locked {
		t.Fatalf("state = %s, want Locked", st)
	}
	if err := o.open(k); !errors.Is(err, keyring.ErrLocked) {
		t.Fatalf("open: %v", err)
	}
	e.kek.SetUnreachable(false)
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state = %s", st)
	}
	mustOpen(t, o, k)
}

func TestOpeningWhileRevokedOrUnreachableGivesAStateNotAnError(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	k.Close()
	for _, tc := range []struct {
		name       string
		set, unset func()
		want       keyring.State
	}{
		{"revoked", e.kek.Deny, e.kek.Allow, keyring.Revoked},
		{"unreachable", func() { e.kek.SetUnreachable(true) }, func() { e.kek.SetUnreachable(false) }, keyring.Locked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set()
			k := e.open()
			if k.State() != tc.want {
				t.Fatalf("state at open = %s, want %s", k.State(), tc.want)
			}
			if o.open(k) == nil {
				t.Fatal("opened without the key")
			}
			tc.unset()
			if st := probe(t, k); st != keyring.Accessible {
				t.Fatalf("state = %s", st)
			}
			mustOpen(t, o, k)
			k.Close()
		})
	}
}

// runProbeLoop runs k's probe loop and returns once it waits for its first
// check; stop closes k and checks that Run returned cleanly.
func runProbeLoop(t *testing.T, e *env, k *keyring.Keyring) (context.Context, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	waitTimers(t, ctx, e, 1)
	return ctx, func() {
		t.Helper()
		k.Close()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

// waitTimers waits until n timers of e's clock are armed.
func waitTimers(t *testing.T, ctx context.Context, e *env, n int) {
	t.Helper()
	if err := e.clock.WaitForTimers(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// waitState waits until k is in state st.
func waitState(t *testing.T, ctx context.Context, k *keyring.Keyring, st keyring.State) {
	t.Helper()
	if err := k.WaitState(ctx, st); err != nil {
		t.Fatal(err)
	}
}

func TestProbeLoopChecksEveryIntervalAndFasterWhileFailing(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	ctx, stop := runProbeLoop(t, e, k)
	e.kek.Deny()
	e.kek.ResetCalls()
	e.clock.Advance(keyring.DefaultKeyCheckInterval - time.Second)
	if e.kek.Calls().Total() != 0 {
		t.Fatal("probed before the interval")
	}
	e.clock.Advance(time.Second)
	waitState(t, ctx, k, keyring.Revoked)
	e.kek.Allow()
	waitTimers(t, ctx, e, 1)
	e.clock.Advance(keyring.DefaultFailingCheckInterval)
	waitState(t, ctx, k, keyring.Accessible)
	stop()
}

func TestVersionlessRotationRewrapsWithoutChangingTheAccountKey(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	v1 := e.kek.Latest()
	before := keyring.AccountKeyBytes(k, o.keyID)

	v2 := e.kek.Rotate()
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state = %s", st)
	}
	for _, a := range k.AccountKeys() {
		if a.KeyURI != e.kek.KeyURI(v2) {
			t.Fatalf("account key %s still wrapped by %s", a.ID, a.KeyURI)
		}
	}
	if !bytes.Equal(keyring.AccountKeyBytes(k, o.keyID), before) {
		t.Fatal("rotation changed the account key")
	}
	if len(k.AccountKeys()) != 1 {
		t.Fatal("a version rotation started a new epoch")
	}
	assertRetired(t, k, e.kek.KeyURI(v1))
	mustOpen(t, o, k)

	// The report said v1 wraps nothing: disabling it changes nothing.
	e.kek.SetEnabled(v1, false)
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("after disabling the retired version: %s", st)
	}
	mustOpen(t, o, k)
}

// assertRetired checks that the usage report shows uri wrapping nothing,
// and that it was used before.
func assertRetired(t *testing.T, k *keyring.Keyring, uri string) {
	t.Helper()
	for _, u := range k.KeyUsage() {
		if u.KeyURI == uri {
			if len(u.AccountKeys) != 0 {
				t.Fatalf("usage report: %s still wraps %d account keys", uri, len(u.AccountKeys))
			}
			if u.LastUnwrap.IsZero() {
				t.Fatalf("usage report: %s has no last unwrap", uri)
			}
			return
		}
	}
	t.Fatalf("usage report does not list %s: %+v", uri, k.KeyUsage())
}

func TestPinnedVersionRewrapsOnlyWhenThePinChanges(t *testing.T) {
	e := newEnv(t)
	v1 := e.kek.Latest()
	k := e.open(func(c *keyring.Config) { c.KEK = e.kek.Pin(v1) })
	o := seal(t, k)
	before := keyring.AccountKeyBytes(k, o.keyID)

	v2 := e.kek.Rotate()
	probe(t, k)
	if got := k.AccountKeys()[0].KeyURI; got != e.kek.KeyURI(v1) {
		t.Fatalf("pinned keyring followed the latest version: %s", got)
	}
	if err := k.SetKEK(context.Background(), e.kek.Pin(v2), ""); err != nil {
		t.Fatal(err)
	}
	if got := k.AccountKeys(); len(got) != 1 || got[0].KeyURI != e.kek.KeyURI(v2) {
		t.Fatalf("after pinning v2: %+v", got)
	}
	if !bytes.Equal(keyring.AccountKeyBytes(k, o.keyID), before) {
		t.Fatal("rewrap changed the account key")
	}
	assertRetired(t, k, e.kek.KeyURI(v1))
	e.kek.SetEnabled(v1, false)
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state = %s", st)
	}
	mustOpen(t, o, k)
}

func TestReplacementRewrapsAndStartsANewEpoch(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	before := keyring.AccountKeyBytes(k, o.keyID)
	oldURI := e.kek.KeyURI(e.kek.Latest())
	other := kektest.New("cmk-2")
	if err := k.SetKEK(context.Background(), other, ""); err != nil {
		t.Fatal(err)
	}
	aeks := k.AccountKeys()
	if len(aeks) != 2 || aeks[0].ID != o.keyID || aeks[0].Current || !aeks[1].Current || aeks[1].Epoch != 2 {
		t.Fatalf("account keys after replacement: %+v", aeks)
	}
	for _, a := range aeks {
		if a.KeyURI != other.KeyURI(other.Latest()) {
			t.Fatalf("%s wrapped by %s", a.ID, a.KeyURI)
		}
	}
	if !bytes.Equal(keyring.AccountKeyBytes(k, o.keyID), before) {
		t.Fatal("replacement changed the old account key")
	}
	cur, _ := k.Current(context.Background())
	if cur.KeyID() == o.keyID {
		t.Fatal("new objects are still sealed under the old epoch")
	}
	ref, err := keyring.InForce(context.Background(), e.db, cluster, resource)
	if err != nil || ref.Key != other.Key() || len(ref.KeyURIs) != 1 {
		t.Fatalf("InForce = %+v, %v", ref, err)
	}
	assertRetired(t, k, oldURI)

	// The old key may go now.
	e.kek.Delete()
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state = %s", st)
	}
	mustOpen(t, o, k)
	o2 := seal(t, k)
	mustOpen(t, o2, k)

	// A restart with the new key opens both epochs.
	k.Close()
	k2 := e.open(func(c *keyring.Config) { c.KEK = other })
	mustOpen(t, o, k2)
	mustOpen(t, o2, k2)
}

func TestSetKEKRefusesADisabledOrUnrecoverableKey(t *testing.T) {
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.RequireRecoverable = true })
	o := seal(t, k)
	disabled := kektest.New("disabled")
	disabled.SetEnabled("", false)
	if err := k.SetKEK(context.Background(), disabled, ""); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Errorf("disabled key: %v", err)
	}
	purgeable := kektest.New("purgeable")
	purgeable.SetRecoverable(false)
	if err := k.SetKEK(context.Background(), purgeable, ""); !errors.Is(err, keyring.ErrNotRecoverable) {
		t.Errorf("unrecoverable key: %v", err)
	}
	unreachable := kektest.New("down")
	unreachable.SetUnreachable(true)
	if err := k.SetKEK(context.Background(), unreachable, ""); !errors.Is(err, keyring.ErrKeyUnreachable) {
		t.Errorf("unreachable key: %v", err)
	}
	ref, _ := keyring.InForce(context.Background(), e.db, cluster, resource)
	if ref.Key != e.kek.Key() {
		t.Fatalf("a refused key was put in force: %+v", ref)
	}
	mustOpen(t, o, k)
}

func TestNoKEKCallsPerSealOrOpenAfterWarmUp(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	e.kek.ResetCalls()
	for range 1000 {
		seal(t, k)
		mustOpen(t, o, k)
	}
	if c := e.kek.Calls(); c.Total() != 0 {
		t.Fatalf("KEK calls during 1000 seals and opens: %+v", c)
	}
}

func TestAccountKeyEpochStartsOnAge(t *testing.T) {
	e := newEnv(t)
	k := e.open(func(c *keyring.Config) { c.MaxAccountKeyAge = 24 * time.Hour })
	o := seal(t, k)
	e.clock.Advance(23 * time.Hour)
	probe(t, k)
	if len(k.AccountKeys()) != 1 {
		t.Fatal("new epoch before the age")
	}
	e.clock.Advance(time.Hour)
	probe(t, k)
	aeks := k.AccountKeys()
	if len(aeks) != 2 || !aeks[1].Current {
		t.Fatalf("no new epoch at the age: %+v", aeks)
	}
	if o2 := seal(t, k); o2.keyID == o.keyID {
		t.Fatal("still sealing under the old epoch")
	}
	mustOpen(t, o, k)
}

func TestOpeningWithAnotherKeyIsRefused(t *testing.T) {
	e := newEnv(t)
	e.open().Close()
	_, err := keyring.Open(context.Background(), e.config(kektest.New("someone-else")))
	if !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("open with another key: %v", err)
	}
}

// TestFlippedBitInAStoredRecordIsAnErrorNeverAWrongKey flips bits in the
// wrapped account key's record inside the registry file, and tampers with
// it behind the checksum: every variant fails to open, clearly.
func TestFlippedBitInAStoredRecordIsAnErrorNeverAWrongKey(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	k.Close()
	raw := keyring.StoredRecord(e.db, cluster, resource, o.keyID)
	e.db.Close()
	pristine, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt may keep stale copies in free pages: damage every copy, so the
	// live one is damaged whichever it is.
	var copies []int
	for i := 0; raw != nil; {
		j := bytes.Index(pristine[i:], raw)
		if j < 0 {
			break
		}
		copies = append(copies, i+j)
		i += j + 1
	}
	if len(copies) == 0 {
		t.Fatal("record not found in the registry file")
	}
	js := raw[32:]
	ctField := []byte(`"ciphertext":"`)
	positions := map[string]int{
		"checksum":   0,
		"id":         32 + bytes.Index(js, []byte(o.keyID)) + 5,
		"key URI":    32 + bytes.Index(js, []byte("kektest://")) + 12,
		"ciphertext": 32 + bytes.Index(js, ctField) + len(ctField) + 4,
		"check":      32 + bytes.Index(js, []byte(`"check":"`)) + 12,
		"epoch":      32 + bytes.Index(js, []byte(`"epoch":`)) + 8,
	}
	for name, off := range positions {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(pristine)
			for _, at := range copies {
				bad[at+off] ^= 0x01
			}
			if err := os.WriteFile(e.path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			e.openDB()
			defer e.db.Close()
			k, err := keyring.Open(context.Background(), e.config(e.kek))
			if err == nil {
				k.Close()
				t.Fatal("opened a registry with a damaged record")
			}
			if !errors.Is(err, keyring.ErrIntegrity) {
				t.Fatalf("error does not say the record is damaged: %v", err)
			}
		})
	}
	if err := os.WriteFile(e.path, pristine, 0o600); err != nil {
		t.Fatal(err)
	}
	e.openDB()

	// Behind a recomputed checksum: a flipped ciphertext bit fails the
	// unwrap, another account key's valid wrapping fails the check value.
	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	foreign, err := e.kek.Wrap(context.Background(), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*keyring.Wrapped){
		"ciphertext bit":         func(w *keyring.Wrapped) { w.Ciphertext[3] ^= 0x80 },
		"another key's wrapping": func(w *keyring.Wrapped) { *w = foreign },
	} {
		t.Run("tampered "+name, func(t *testing.T) {
			good := keyring.StoredRecord(e.db, cluster, resource, o.keyID)
			defer e.db.Update(context.Background(), func(tx kv.Tx) error { return restoreRecord(tx, o.keyID, good) })
			if err := keyring.RewriteWrapping(e.db, cluster, resource, o.keyID, f); err != nil {
				t.Fatal(err)
			}
			k, err := keyring.Open(context.Background(), e.config(e.kek))
			if err == nil {
				k.Close()
				t.Fatal("opened with a tampered wrapping")
			}
			if !errors.Is(err, keyring.ErrIntegrity) {
				t.Fatalf("error: %v", err)
			}
		})
	}
	k = e.open()
	mustOpen(t, o, k)
}

func restoreRecord(tx kv.Tx, id string, raw []byte) error {
	return tx.Bucket([]byte("keyring.rings")).Bucket([]byte(cluster+"\x00"+resource)).Bucket([]byte("aeks")).Put([]byte(id), raw)
}

func TestRegistryFileHoldsNoAccountKeyBytes(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	id2, err := k.RotateAccountKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for _, a := range k.AccountKeys() {
		keys = append(keys, keyring.AccountKeyBytes(k, a.ID))
	}
	if len(keys) != 2 || keys[1] == nil || k.AccountKeys()[1].ID != id2 {
		t.Fatal("expected two account keys in memory")
	}
	probe(t, k)
	k.Close()
	e.db.Close()
	file, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.openDB()
	for _, key := range keys {
		for name, form := range map[string][]byte{
			"raw": key, "first half": key[:16], "second half": key[16:],
			"hex": []byte(hex.EncodeToString(key)), "base64": []byte(base64.StdEncoding.EncodeToString(key)[:40]),
			"base64url": []byte(base64.RawURLEncoding.EncodeToString(key)[:40]),
		} {
			if bytes.Contains(file, form) {
				t.Errorf("registry file holds an account key (%s)", name)
			}
		}
	}
	if !strings.Contains(string(file), "keyring.rings") {
		t.Fatal("not the registry file")
	}
}

func TestStateChangesAreLoggedOnceAndExportedWithoutKeyMaterial(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	aek := keyring.AccountKeyBytes(k, o.keyID)
	e.kek.SetEnabled("", false)
	probe(t, k)
	probe(t, k) // still revoked: no second line
	e.kek.SetEnabled("", true)
	probe(t, k)

	var changes []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "account key state changed" {
			changes = append(changes, rec)
		}
	}
	if len(changes) != 3 { // created → Accessible, → Revoked, → Accessible
		t.Fatalf("%d state-change lines, want 3: %s", len(changes), e.logs.String())
	}
	rev := changes[1]
	if rev["level"] != "INFO" || rev["cluster"] != cluster || rev["resource"] != resource ||
		rev["from"] != "Accessible" || rev["to"] != "Revoked" || rev["keyVersion"] != e.kek.Latest() ||
		!strings.Contains(rev["reason"].(string), "KeyDisabled") {
		t.Fatalf("revocation line: %v", rev)
	}
	logs := e.logs.String()
	for _, form := range []string{hex.EncodeToString(aek), base64.StdEncoding.EncodeToString(aek)[:40], string(aek)} {
		if strings.Contains(logs, form) {
			t.Fatal("an account key reached the log")
		}
	}

	if v := metricValue(t, e.reg, "sealwatch_keyring_state", map[string]string{"state": "Accessible"}); v != 1 {
		t.Errorf("state gauge Accessible = %v", v)
	}
	if v := metricValue(t, e.reg, "sealwatch_keyring_state", map[string]string{"state": "Revoked"}); v != 0 {
		t.Errorf("state gauge Revoked = %v", v)
	}
	if v := metricValue(t, e.reg, "sealwatch_keyring_probes_total", map[string]string{"result": "revoked"}); v != 2 {
		t.Errorf("revoked probes = %v", v)
	}
	if v := metricValue(t, e.reg, "sealwatch_keyring_probe_duration_seconds", map[string]string{"result": "revoked"}); v != 2 {
		t.Errorf("timed revoked probes = %v", v)
	}
	if v := metricValue(t, e.reg, "sealwatch_keyring_kek_calls_total", map[string]string{"op": "unwrap", "result": "ok"}); v < 2 {
		t.Errorf("unwrap calls = %v", v)
	}

	// A second keyring shares the registry's collectors; closing one
	// removes only its own series.
	k2 := e.open(func(c *keyring.Config) { c.Resource = "documents" })
	k.Close()
	if v := metricValue(t, e.reg, "sealwatch_keyring_state", map[string]string{"resource": "documents", "state": "Accessible"}); v != 1 {
		t.Errorf("second keyring's gauge = %v", v)
	}
	if v := metricValue(t, e.reg, "sealwatch_keyring_state", map[string]string{"resource": resource, "state": "Accessible"}); v != -1 {
		t.Errorf("closed keyring still exported: %v", v)
	}
	k2.Close()
}

// metricValue is the value of the series of name whose labels include want,
// or -1 if there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			return value(m)
		}
	}
	return -1
}

// value is a gauge's or counter's value, a histogram's count of observations.
func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return m.Counter.GetValue()
}

func TestClosedKeyringRefusesAndDropsKeys(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	s, _ := k.ByID(context.Background(), o.keyID)
	k.Close()
	if _, err := s.AEAD(o.salt, purpose); !errors.Is(err, keyring.ErrClosed) {
		t.Fatalf("AEAD after Close: %v", err)
	}
	if keyring.AccountKeyBytes(k, o.keyID) != nil {
		t.Fatal("key kept after Close")
	}
}

// TestConcurrentOpensDuringRevocationNeverYieldWrongData races readers
// against probes that revoke and restore: every open either returns the
// sealed bytes or the revoked error, nothing else.
func TestConcurrentOpensDuringRevocationNeverYieldWrongData(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	o := seal(t, k)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := o.open(k); err != nil && !errors.Is(err, keyring.ErrKeyRevoked) {
					t.Errorf("open during revocation: %v", err)
					return
				}
				if err := trySeal(k); err != nil && !errors.Is(err, keyring.ErrKeyRevoked) {
					t.Errorf("seal during revocation: %v", err)
					return
				}
			}
		})
	}
	for range 50 {
		e.kek.Deny()
		probe(t, k)
		e.kek.Allow()
		probe(t, k)
	}
	cancel()
	wg.Wait()
	mustOpen(t, o, k)
}

func trySeal(keys envelope.Keys) error {
	s, err := keys.Current(context.Background())
	if err != nil {
		return err
	}
	salt := make([]byte, 32)
	a, err := s.AEAD(salt, purpose)
	if err != nil {
		return err
	}
	a.Seal(nil, make([]byte, 12), []byte("row"), nil)
	return nil
}

func TestCheckKEKProvesWrapAndUnwrapBeforeAnythingIsStored(t *testing.T) {
	ctx := context.Background()
	ok := kektest.New("good")
	if st, err := keyring.CheckKEK(ctx, ok, true); err != nil || st.KeyURI != ok.KeyURI(ok.Latest()) {
		t.Fatalf("usable key: %+v %v", st, err)
	}
	if c := ok.Calls(); c.Wrap != 1 || c.Unwrap != 1 || c.Describe != 1 {
		t.Fatalf("calls: %+v", c)
	}
	for name, tc := range map[string]struct {
		set  func(*kektest.KEK)
		want error
	}{
		"disabled":      {func(k *kektest.KEK) { k.SetEnabled("", false) }, keyring.ErrKeyRevoked},
		"denied":        {(*kektest.KEK).Deny, keyring.ErrKeyRevoked},
		"unreachable":   {func(k *kektest.KEK) { k.SetUnreachable(true) }, keyring.ErrKeyUnreachable},
		"unrecoverable": {func(k *kektest.KEK) { k.SetRecoverable(false) }, keyring.ErrNotRecoverable},
	} {
		k := kektest.New(name)
		tc.set(k)
		if _, err := keyring.CheckKEK(ctx, k, true); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestRemoveForgetsTheRing(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	first := k.AccountKeys()[0].ID
	k.Close()
	if err := keyring.Remove(context.Background(), e.db, cluster, resource); err != nil {
		t.Fatal(err)
	}
	if ref, err := keyring.InForce(context.Background(), e.db, cluster, resource); err != nil || ref.Key != "" {
		t.Fatalf("after Remove: %+v %v", ref, err)
	}
	if err := keyring.Remove(context.Background(), e.db, cluster, resource); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if k := e.open(); k.AccountKeys()[0].ID == first {
		t.Fatal("a removed ring came back")
	}
}

// After a restore found by another probe (ProbeNow after the customer fixed
// the key), the loop goes back to the healthy pace at once rather than
// finishing a failing-pace wait; and while failing it never probes less often
// than when healthy.
func TestProbeLoopFollowsStateChangesMadeElsewhere(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	ctx, stop := runProbeLoop(t, e, k)
	// The loop finds the key revoked and waits at the failing pace.
	e.kek.Deny()
	e.clock.Advance(keyring.DefaultKeyCheckInterval)
	waitState(t, ctx, k, keyring.Revoked)
	waitTimers(t, ctx, e, 1)
	// Another probe sees the key restored.
	e.kek.Allow()
	if st := probe(t, k); st != keyring.Accessible {
		t.Fatalf("state %s", st)
	}
	waitTimers(t, ctx, e, 2) // the loop re-armed at the healthy pace
	e.kek.Deny()
	e.kek.ResetCalls()
	e.clock.Advance(keyring.DefaultFailingCheckInterval)
	if e.kek.Calls().Total() != 0 {
		t.Fatal("probed at the failing pace although the key is accessible again")
	}
	e.clock.Advance(keyring.DefaultKeyCheckInterval - keyring.DefaultFailingCheckInterval)
	waitState(t, ctx, k, keyring.Revoked)
	stop()
}

// TestLastCheckSaysWhenAndWhyTheKeyWasLastProbed: each probe records when it
// ended and, when it failed, its error naming the key; a success clears the
// error.
func TestLastCheckSaysWhenAndWhyTheKeyWasLastProbed(t *testing.T) {
	e := newEnv(t)
	k := e.open()
	if at, why := k.LastCheck(); !at.Equal(t0) || why != "" {
		t.Fatalf("after opening: checked %v, error %q; want %v and none", at, why, t0)
	}
	steps := []struct {
		name    string
		change  func()
		wantErr string
	}{
		{"revoked", func() { e.kek.SetEnabled(e.kek.Latest(), false) }, e.kek.Key()},
		{"unreachable", func() { e.kek.SetEnabled(e.kek.Latest(), true); e.kek.SetUnreachable(true) }, "unreachable"},
		{"restored", func() { e.kek.SetUnreachable(false) }, ""},
	}
	for _, s := range steps {
		s.change()
		e.clock.Advance(time.Minute)
		probe(t, k)
		at, why := k.LastCheck()
		if !at.Equal(e.clock.Now()) {
			t.Errorf("%s: checked at %v, want %v", s.name, at, e.clock.Now())
		}
		if (s.wantErr == "") != (why == "") || !strings.Contains(why, s.wantErr) {
			t.Errorf("%s: the last check's error is %q, want one naming %q", s.name, why, s.wantErr)
		}
	}
}
