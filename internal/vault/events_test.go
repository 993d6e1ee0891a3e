package vault

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyevents"
)

// TestEveryChangeToAKeysUseIsAnEvent: each operation that can change what a
// principal may do with a key tells OnEvent once it is committed, in the
// Event Grid shape, naming the vault, the key and its version; reads and
// crypto operations tell nothing, and a refused operation tells nothing.
func TestEveryChangeToAKeysUseIsAnEvent(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []keyevents.Event
	e.opts.OnEvent = func(ev keyevents.Event) { mu.Lock(); got = append(got, ev); mu.Unlock() }
	e.reopen()
	take := func() []keyevents.Event {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	e.vault("ev1", false, 7)
	take() // creating a vault changes no key's use
	b := e.createKey("ev1", "cmk", CreateKeyParameters{Kty: "oct"})
	v1 := versionOf(b.Key.KID)
	if evs := take(); len(evs) != 1 || evs[0].EventType != keyevents.KeyNewVersionCreated || evs[0].Data.Version != v1 {
		t.Fatalf("creating a key: %+v", evs)
	}
	steps := []struct {
		name    string
		do      func() error
		types   []string
		version string
	}{
		{"a read", func() error { _, err := e.svc.GetKey(e.ctx, "ev1", "cmk", ""); return err }, nil, ""},
		{"disable", func() error {
			_, err := e.svc.UpdateKey(e.ctx, "ev1", "cmk", v1, UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(false)}})
			return err
		}, []string{keyevents.KeyDisabled}, v1},
		{"tags only", func() error {
			_, err := e.svc.UpdateKey(e.ctx, "ev1", "cmk", v1, UpdateKeyParameters{Tags: map[string]string{"a": "b"}})
			return err
		}, nil, ""},
		{"enable", func() error {
			_, err := e.svc.UpdateKey(e.ctx, "ev1", "cmk", v1, UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(true)}})
			return err
		}, []string{keyevents.KeyEnabled}, v1},
		{"rotate", func() error { _, err := e.svc.RotateKey(e.ctx, "ev1", "cmk"); return err }, []string{keyevents.KeyNewVersionCreated}, "*"},
		{"policy removed", func() error {
			_, err := e.svc.UpdateAccessPolicies(e.ctx, "ev1", PolicyRemove, []AccessPolicy{{ObjectID: clusterOID}})
			return err
		}, []string{keyevents.VaultAccessPolicyChanged}, ""},
		{"delete", func() error { _, err := e.svc.DeleteKey(e.ctx, "ev1", "cmk"); return err }, []string{keyevents.KeyDeleted}, ""},
		{"refused: delete again", func() error { _, err := e.svc.DeleteKey(e.ctx, "ev1", "cmk"); _ = err; return nil }, nil, ""},
		{"recover", func() error { _, err := e.svc.RecoverDeletedKey(e.ctx, "ev1", "cmk"); return err }, []string{keyevents.KeyRecovered}, ""},
		{"delete and purge", func() error {
			if _, err := e.svc.DeleteKey(e.ctx, "ev1", "cmk"); err != nil {
				return err
			}
			return e.svc.PurgeDeletedKey(e.ctx, "ev1", "cmk")
		}, []string{keyevents.KeyDeleted, keyevents.KeyPurged}, ""},
		{"vault deleted", func() error { return e.svc.DeleteVault(e.ctx, "ev1") }, []string{keyevents.VaultDeleted}, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		evs := take()
		var types []string
		for _, ev := range evs {
			types = append(types, ev.EventType)
			wantTopic := "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.KeyVault/vaults/ev1"
			if ev.Topic != wantTopic || ev.Data.VaultName != "ev1" || ev.ID == "" || ev.DataVersion != "1" || ev.EventTime.IsZero() {
				t.Errorf("%s: event %+v", st.name, ev)
			}
			if ev.WholeVault() {
				if ev.Data.ObjectType != "Vault" || ev.Subject != "ev1" {
					t.Errorf("%s: vault event %+v", st.name, ev)
				}
				continue
			}
			if ev.Data.ObjectType != "Key" || ev.Subject != "cmk" || ev.Data.ObjectName != "cmk" || !strings.HasPrefix(ev.Data.ID, "https://ev1.vault.localhost:8443/keys/cmk") {
				t.Errorf("%s: key event %+v", st.name, ev)
			}
			switch st.version {
			case "*":
				if ev.Data.Version == "" || ev.Data.Version == v1 || !strings.HasSuffix(ev.Data.ID, "/"+ev.Data.Version) {
					t.Errorf("%s: a new version's event names version %q, id %q", st.name, ev.Data.Version, ev.Data.ID)
				}
			default:
				if ev.Data.Version != st.version {
					t.Errorf("%s: version %q, want %q", st.name, ev.Data.Version, st.version)
				}
			}
		}
		if !slices.Equal(types, st.types) {
			t.Errorf("%s: events %v, want %v", st.name, types, st.types)
		}
	}
}
