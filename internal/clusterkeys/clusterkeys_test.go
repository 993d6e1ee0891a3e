package clusterkeys

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// TestKeyChangeAfterARestartWaitsForTheStoredKey restarts a Manager over a
// registry whose account keys the first key wraps, and replaces the key
// before the stored one is reopened: the change must wait, then rewrap the
// existing account keys — not start a keyring under the new key without them.
func TestKeyChangeAfterARestartWaitsForTheStoredKey(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keks := map[string]*kektest.KEK{"first": kektest.New("first"), "second": kektest.New("second")}
	cfg := Config{
		DB: db,
		NewKEK: func(r KEKRequest) (keyring.KEK, error) {
			kv := r.Key
			return keks[kv.KeyName], nil
		},
		DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
		Platform:      kektest.New("platform"),
	}
	ctx := context.Background()
	cluster := workspace.Principal{ObjectID: "cl", AppID: "cl-app"}
	first := workspace.KeyVaultProperties{KeyVaultURI: "https://v1.vault.localhost/", KeyName: "first"}
	second := workspace.KeyVaultProperties{KeyVaultURI: "https://v2.vault.localhost/", KeyName: "second"}

	m1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.SetClusterKey(ctx, "c1", cluster, first); err != nil {
		t.Fatal(err)
	}
	before := m1.Keyring("c1", Logs).AccountKeys()
	m1.Close()

	cfg.RestoreAtStart = true
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	early, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := m2.SetClusterKey(early, "c1", cluster, second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a key change before the stored keys are reopened: err = %v, want it to wait", err)
	}
	if err := m2.Restore(ctx, "c1", cluster, first); err != nil {
		t.Fatal(err)
	}
	m2.Restored()
	if err := m2.SetClusterKey(ctx, "c1", cluster, second); err != nil {
		t.Fatal(err)
	}
	after := m2.Keyring("c1", Logs).AccountKeys()
	for _, old := range before {
		found := false
		for _, ak := range after {
			if ak.ID == old.ID {
				found = true
				if !strings.HasPrefix(ak.KeyURI, keks["second"].Key()) {
					t.Fatalf("account key %s is wrapped by %s after the replacement", ak.ID, ak.KeyURI)
				}
			}
		}
		if !found {
			t.Fatalf("account key %s was lost in the replacement: %+v", old.ID, after)
		}
	}
}

// TestKeyCheckRefusalsNameTheCauseAndTheFix: a principal without a
// permission is told which permission on which key is missing and how to grant
// it, as a command that runs as printed; a key the vault reports deleted or
// disabled is not mistaken for a missing permission.
func TestKeyCheckRefusalsNameTheCauseAndTheFix(t *testing.T) {
	grant := "`sealwatch keyvault set-policy --name cmkvault --object-id cl --key-permissions get wrapKey unwrapKey`"
	for _, tc := range []struct {
		name    string
		spoil   func(*kektest.KEK)
		kind    fault.Kind
		code    string
		want    []string
		notWant []string
	}{
		{"access policy lacks the permission", (*kektest.KEK).Deny, fault.Forbidden, workspace.CodeForbidden,
			[]string{"the cluster's identity (object ID cl) lacks the get permission on key 'cmk' in key vault 'cmkvault'", "access-policy problem", grant},
			[]string{"revoked"}},
		{"key deleted", (*kektest.KEK).Delete, fault.Invalid, workspace.CodeBadRequest,
			[]string{"cannot use key 'cmk' in key vault 'cmkvault'", "missing, deleted or disabled", "`sealwatch keyvault key show --vault-name cmkvault --name cmk`"},
			[]string{"set-policy", "lacks"}},
		{"key disabled", func(k *kektest.KEK) { k.SetEnabled(k.Latest(), false) }, fault.Invalid, workspace.CodeBadRequest,
			[]string{"key 'cmk'", "disabled", "enable it and set it again"},
			[]string{"set-policy", "lacks"}},
		{"not recoverable", func(k *kektest.KEK) { k.SetRecoverable(false) }, fault.Invalid, workspace.CodeKeyNotRecoverable,
			[]string{"purge protection"}, nil},
		{"vault unreachable", func(k *kektest.KEK) { k.SetUnreachable(true) }, fault.KeyUnreachable, workspace.CodeKeyVaultUnreachable,
			[]string{"could not be reached"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			kek := kektest.New("cmk")
			tc.spoil(kek)
			m, err := New(Config{
				DB:            db,
				NewKEK:        func(KEKRequest) (keyring.KEK, error) { return kek, nil },
				DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc-app"},
				Platform:      kektest.New("platform"),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			kv := workspace.KeyVaultProperties{KeyVaultURI: "https://cmkvault.vault.localhost:8443", KeyName: "cmk"}
			err = m.CheckKey(context.Background(), "c1", workspace.Principal{ObjectID: "cl", AppID: "cl-app"}, kv)
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != tc.kind || fe.Code != tc.code {
				t.Fatalf("err = %v, want a %v refusal with code %s", err, tc.kind, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(fe.Message, w) {
					t.Errorf("message does not say %q:\n%s", w, fe.Message)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(fe.Message, w) {
					t.Errorf("message says %q:\n%s", w, fe.Message)
				}
			}
		})
	}
}
