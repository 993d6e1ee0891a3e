package pkcs11kek_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek/softhsmtest"
)

// softhsmTarget makes conformance keys on one SoftHSM2 token, each under a
// label of its own, with the switches an HSM administrator has: CKA_WRAP
// and CKA_UNWRAP for enabling, a new key object for rotation, destroying
// objects, changing the user PIN for access, and taking the token out.
type softhsmTarget struct {
	tok  *softhsmtest.Token
	pin  string // the PIN the driver is given
	keys int
}

func (st *softhsmTarget) target() kekconformance.Target {
	return kekconformance.Target{
		NewKey:       st.newKey,
		Recoverable:  false, // the objects can be destroyed (CKA_DESTROYABLE)
		AccessDenied: true,  // a refused PIN is told apart from an unusable key
		Secrets:      []string{st.pin},
	}
}

type softhsmKey struct {
	st       *softhsmTarget
	label    string
	versions [][]byte // CKA_IDs, oldest first
}

func (st *softhsmTarget) newKey(t *testing.T) kekconformance.Key {
	st.keys++
	k := &softhsmKey{st: st, label: fmt.Sprintf("cmk-%d", st.keys)}
	k.Rotate(t)
	return k
}

func (k *softhsmKey) KEK(t *testing.T) keyring.KEK {
	kek, err := pkcs11kek.New(pkcs11kek.Config{ModulePath: k.st.tok.Module, TokenLabel: k.st.tok.Label, KeyLabel: k.label, PIN: []byte(k.st.pin)})
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func (k *softhsmKey) SetEnabled(t *testing.T, enabled bool) {
	for _, id := range k.versions {
		k.st.tok.SetUsable(k.label, id, enabled)
	}
}

func (k *softhsmKey) Rotate(t *testing.T) {
	id := []byte{byte(len(k.versions) + 1)}
	k.st.tok.AddKey(k.label, id)
	k.versions = append(k.versions, id)
}

func (k *softhsmKey) Retire(t *testing.T, keyURI string) {
	_, enc, ok := strings.Cut(keyURI, ";id=")
	id, err := url.PathUnescape(enc)
	if !ok || err != nil {
		t.Fatalf("key URI %s names no CKA_ID", keyURI)
	}
	k.st.tok.SetUsable(k.label, []byte(id), false)
}

func (k *softhsmKey) Destroy(t *testing.T) {
	for _, id := range k.versions {
		k.st.tok.Destroy(k.label, id)
	}
}

// SetAccess changes the token's user PIN away from the node's and closes
// the sessions logged in with it, as an administrator taking the node's
// access away does; giving it back sets the node's PIN again.
func (k *softhsmKey) SetAccess(t *testing.T, allowed bool) {
	if allowed {
		k.st.tok.SetPIN(k.st.pin)
		return
	}
	k.st.tok.SetPIN("changed-" + k.st.pin)
	k.st.tok.CloseSessions()
}

func (k *softhsmKey) SetAvailable(t *testing.T, available bool) {
	if available {
		k.st.tok.Insert()
	} else {
		k.st.tok.Remove()
	}
}

func TestConformance(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-conformance")
	st := &softhsmTarget{tok: tok, pin: tok.PIN}
	kekconformance.Run(t, st.target())
}

func TestReplacementToAndFromAnotherDriver(t *testing.T) {
	tok := softhsmtest.New(t, "sealwatch-conformance")
	st := &softhsmTarget{tok: tok, pin: tok.PIN}
	kekconformance.RunReplacement(t, kektest.Target(), st.target())
	kekconformance.RunReplacement(t, st.target(), kektest.Target())
}
