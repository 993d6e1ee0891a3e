package softhsmtest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
)

// Target is the token as a kekconformance target: each key under a label
// of its own, with the switches an HSM administrator has — CKA_WRAP and
// CKA_UNWRAP for enabling, a new key object for rotation, destroying
// objects, changing the user PIN for access, taking the token out. Other
// drivers' tests use it as the other side of a replacement.
func (tok *Token) Target() kekconformance.Target {
	pin := tok.PIN
	keys := 0
	return kekconformance.Target{
		NewKey: func(t *testing.T) kekconformance.Key {
			keys++
			k := &conformanceKey{tok: tok, pin: pin, label: fmt.Sprintf("cmk-%d", keys)}
			k.Rotate(t)
			return k
		},
		Recoverable:  false, // the objects can be destroyed (CKA_DESTROYABLE), as Destroy needs
		AccessDenied: true,  // a refused PIN is told apart from an unusable key
		Secrets:      []string{pin},
	}
}

type conformanceKey struct {
	tok      *Token
	pin      string   // the PIN the driver is given
	label    string   // the key objects' label
	versions [][]byte // CKA_IDs, oldest first
}

func (k *conformanceKey) KEK(t *testing.T) keyring.KEK {
	kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: k.tok.Module, TokenLabel: k.tok.Label, KeyLabel: k.label, PIN: []byte(k.pin)})
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func (k *conformanceKey) SetEnabled(_ *testing.T, enabled bool) {
	for _, id := range k.versions {
		k.tok.SetUsable(k.label, id, enabled)
	}
}

func (k *conformanceKey) Rotate(*testing.T) {
	id := []byte{byte(len(k.versions) + 1)}
	k.tok.AddKey(k.label, id)
	k.versions = append(k.versions, id)
}

func (k *conformanceKey) Retire(t *testing.T, keyURI string) {
	_, enc, ok := strings.Cut(keyURI, ";id=")
	id, err := url.PathUnescape(enc)
	if !ok || err != nil {
		t.Fatalf("key URI %s names no CKA_ID", keyURI)
	}
	k.tok.SetUsable(k.label, []byte(id), false)
}

func (k *conformanceKey) Destroy(*testing.T) {
	for _, id := range k.versions {
		k.tok.Destroy(k.label, id)
	}
}

// SetAccess changes the token's user PIN away from the node's and closes
// the sessions logged in with it, as an administrator taking the node's
// access away does; giving it back sets the node's PIN again.
func (k *conformanceKey) SetAccess(_ *testing.T, allowed bool) {
	if allowed {
		k.tok.SetPIN(k.pin)
		return
	}
	k.tok.SetPIN("changed-" + k.pin)
	k.tok.CloseSessions()
}

func (k *conformanceKey) SetAvailable(_ *testing.T, available bool) {
	if available {
		k.tok.Insert()
	} else {
		k.tok.Remove()
	}
}
