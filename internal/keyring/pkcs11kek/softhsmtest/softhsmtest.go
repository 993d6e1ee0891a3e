// Package softhsmtest gives tests a SoftHSM2 token of their own: a token
// directory in t.TempDir, initialized through PKCS#11, with a random user
// PIN, and the operations a customer's HSM administrator would do to its
// keys — make a version, destroy one, forbid wrapping, take the token away
// and put it back. scripts/test.sh installs SoftHSM2 (Debian's softhsm2)
// and exports its module's path in SEALWATCH_TEST_SOFTHSM2_MODULE.
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
)

// ModuleEnv names the environment variable that holds the module's path.
const ModuleEnv = "SEALWATCH_TEST_SOFTHSM2_MODULE"

// Token is one initialized SoftHSM2 token.
type Token struct {
	t      testing.TB
	Module string // the PKCS#11 module's path
	Label  string
	PIN    string
	dir    string            // the token's directory under the token store
	away   string            // where Remove puts it
	files  map[string]string // label/hex(id) → object file, of AddProtectedKey's keys
}

// New makes a token labelled label in a new token store in t.TempDir. It
// points SOFTHSM2_CONF at the store for the rest of the test (so the test
// may not be parallel: SoftHSM2 reads it per process) and reloads the
// module so that it reads it. It fails the test, naming scripts/test.sh,
// when SoftHSM2 is missing.
func New(t testing.TB, label string) *Token {
	t.Helper()
	module := os.Getenv(ModuleEnv)
	if module == "" {
		t.Fatalf("%s is not set: run the tests with scripts/test.sh, which installs SoftHSM2 (Debian's softhsm2) and sets it", ModuleEnv)
	}
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("SoftHSM2 module %s: %v: run scripts/test.sh, which installs SoftHSM2 (Debian's softhsm2)", module, err)
	}
	root := t.TempDir()
	store := filepath.Join(root, "tokens")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "softhsm2.conf")
	body := "directories.tokendir = " + store + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	pkcs11kek.Reload(module)
	t.Cleanup(func() { pkcs11kek.Reload(module) }) // let go of the store before it is removed

	return initToken(t, module, root, label)
}

// AddToken makes another token labelled label in the same store: the
// module then serves both, as an HSM serves several partitions.
func (tok *Token) AddToken(label string) *Token {
	tok.t.Helper()
	return initToken(tok.t, tok.Module, filepath.Dir(filepath.Dir(tok.dir)), label)
}

// initToken initializes a token labelled label on a free slot of the
// store under root, with a random user PIN.
func initToken(t testing.TB, module, root, label string) *Token {
	t.Helper()
	store := filepath.Join(root, "tokens")
	before, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	tok := &Token{t: t, Module: module, Label: label, PIN: randomHex(8), away: filepath.Join(root, "removed-"+randomHex(4))}
	lib := tok.lib()
	slots, err := lib.GetSlotList(false)
	if err != nil {
		t.Fatalf("list SoftHSM2 slots: %v", err)
	}
	free := -1
	for _, s := range slots {
		ti, err := lib.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free = int(s)
			break
		}
	}
	if free < 0 {
		t.Fatal("SoftHSM2 offers no free slot")
	}
	so := randomHex(8)
	if err := lib.InitToken(uint(free), so, label); err != nil {
		t.Fatalf("initialize token %q: %v", label, err)
	}
	tok.session(func(s pkcs11.SessionHandle) error {
		if err := lib.Login(s, pkcs11.CKU_SO, so); err != nil {
			return err
		}
		if err := lib.InitPIN(s, tok.PIN); err != nil {
			return err
		}
		return lib.Logout(s)
	}, false)
	after, err := os.ReadDir(store)
	if err != nil || len(after) != len(before)+1 {
		t.Fatalf("token store %s holds %d entries after a token was added to %d (%v)", store, len(after), len(before), err)
	}
	known := map[string]bool{}
	for _, e := range before {
		known[e.Name()] = true
	}
	for _, e := range after {
		if !known[e.Name()] {
			tok.dir = filepath.Join(store, e.Name())
		}
	}
	return tok
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lib is a handle on the module, initialized. It shares the library's
// state with the driver's handle (the library is loaded once per process).
func (tok *Token) lib() *pkcs11.Ctx {
	tok.t.Helper()
	lib := pkcs11.New(tok.Module)
	if lib == nil {
		tok.t.Fatalf("load SoftHSM2 module %s", tok.Module)
	}
	if err := lib.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		tok.t.Fatalf("initialize SoftHSM2: %v", err)
	}
	return lib
}

// session runs f on a new read-write session of the token, logged in as
// the user when login is set.
func (tok *Token) session(f func(s pkcs11.SessionHandle) error, login bool) {
	tok.t.Helper()
	lib := tok.lib()
	slots, err := lib.GetSlotList(true)
	if err != nil {
		tok.t.Fatal(err)
	}
	for _, slot := range slots {
		ti, err := lib.GetTokenInfo(slot)
		if err != nil || ti.Label != tok.Label {
			continue
		}
		s, err := lib.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			tok.t.Fatal(err)
		}
		defer lib.CloseSession(s)
		if login {
			if err := lib.Login(s, pkcs11.CKU_USER, tok.PIN); err != nil && err != pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
				tok.t.Fatal(err)
			}
		}
		if err := f(s); err != nil {
			tok.t.Fatal(err)
		}
		return
	}
	tok.t.Fatalf("token %q is not in SoftHSM2's slots", tok.Label)
}

// AddKey makes a 256-bit AES key object labelled label with CKA_ID id on
// the token, allowed to wrap and unwrap and never to leave the token: a
// new version of that key when the label is taken.
func (tok *Token) AddKey(label string, id []byte) { tok.addKey(label, id, true) }

// AddProtectedKey is AddKey with CKA_DESTROYABLE false: PKCS#11 cannot
// destroy it, as the node asks of a cluster's key; Zeroize can.
func (tok *Token) AddProtectedKey(label string, id []byte) {
	tok.t.Helper()
	before := tok.objectFiles()
	tok.addKey(label, id, false)
	var added []string
	for name := range tok.objectFiles() {
		if !before[name] {
			added = append(added, name)
		}
	}
	if len(added) != 1 {
		tok.t.Fatalf("making key %q/%x added %d object files to the token", label, id, len(added))
	}
	if tok.files == nil {
		tok.files = map[string]string{}
	}
	tok.files[label+"/"+hex.EncodeToString(id)] = added[0]
}

// Zeroize wipes a key object made by AddProtectedKey from the token behind
// the module's back, as an HSM administrator zeroizing it would: the one
// way to destroy an object PKCS#11 may not destroy.
func (tok *Token) Zeroize(label string, id []byte) {
	tok.t.Helper()
	name, ok := tok.files[label+"/"+hex.EncodeToString(id)]
	if !ok {
		tok.t.Fatalf("key %q/%x was not made by AddProtectedKey", label, id)
	}
	if err := os.Remove(filepath.Join(tok.dir, name)); err != nil {
		tok.t.Fatal(err)
	}
}

// objectFiles lists the token directory's object files.
func (tok *Token) objectFiles() map[string]bool {
	tok.t.Helper()
	ents, err := os.ReadDir(tok.dir)
	if err != nil {
		tok.t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".object") {
			names[e.Name()] = true
		}
	}
	return names
}

func (tok *Token) addKey(label string, id []byte, destroyable bool) {
	tok.t.Helper()
	lib := tok.lib()
	tok.session(func(s pkcs11.SessionHandle) error {
		_, err := lib.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_DESTROYABLE, destroyable),
		})
		if err != nil {
			return fmt.Errorf("generate key %q/%x: %w", label, id, err)
		}
		return nil
	}, true)
}

// each runs f on the key object labelled label with CKA_ID id.
func (tok *Token) each(label string, id []byte, f func(lib *pkcs11.Ctx, s pkcs11.SessionHandle, h pkcs11.ObjectHandle) error) {
	tok.t.Helper()
	lib := tok.lib()
	tok.session(func(s pkcs11.SessionHandle) error {
		if err := lib.FindObjectsInit(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}); err != nil {
			return err
		}
		hs, _, err := lib.FindObjects(s, 16)
		_ = lib.FindObjectsFinal(s)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return fmt.Errorf("no key object %q/%x on token %q", label, id, tok.Label)
		}
		for _, h := range hs {
			if err := f(lib, s, h); err != nil {
				return err
			}
		}
		return nil
	}, true)
}

// Destroy destroys the key object labelled label with CKA_ID id.
func (tok *Token) Destroy(label string, id []byte) {
	tok.t.Helper()
	tok.each(label, id, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		return lib.DestroyObject(s, h)
	})
}

// SetUsable allows or forbids the key object to wrap and unwrap (CKA_WRAP,
// CKA_UNWRAP): the HSM's way of disabling a key.
func (tok *Token) SetUsable(label string, id []byte, usable bool) {
	tok.t.Helper()
	tok.each(label, id, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		return lib.SetAttributeValue(s, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, usable), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, usable),
		})
	})
}

// SetPIN changes the token's user PIN: the node's PIN stops working, as
// when an administrator takes the node's access away. SetPIN(tok.PIN)
// after it gives it back.
func (tok *Token) SetPIN(pin string) {
	tok.t.Helper()
	old := tok.PIN
	tok.session(func(s pkcs11.SessionHandle) error {
		return tok.lib().SetPIN(s, old, pin)
	}, true)
	tok.PIN = pin
}

// Remove takes the token out of the module, as pulling a USB token or
// losing the network HSM would: its directory leaves the token store.
func (tok *Token) Remove() {
	tok.t.Helper()
	if err := os.Rename(tok.dir, tok.away); err != nil {
		tok.t.Fatal(err)
	}
}

// Insert puts a removed token back.
func (tok *Token) Insert() {
	tok.t.Helper()
	if err := os.Rename(tok.away, tok.dir); err != nil {
		tok.t.Fatal(err)
	}
}

// CloseSessions closes every session of the token in this process, the
// driver's included, as a module that lost its sessions would.
func (tok *Token) CloseSessions() {
	tok.t.Helper()
	lib := tok.lib()
	slots, err := lib.GetSlotList(true)
	if err != nil {
		tok.t.Fatal(err)
	}
	for _, slot := range slots {
		if ti, err := lib.GetTokenInfo(slot); err == nil && ti.Label == tok.Label {
			if err := lib.CloseAllSessions(slot); err != nil {
				tok.t.Fatal(err)
			}
			return
		}
	}
	tok.t.Fatalf("token %q is not in SoftHSM2's slots", tok.Label)
}

// WhileLoggedIn runs f while a session of the test's own handle on the
// module is logged in to the token with its PIN: as another user of the
// module in the process would be.
func (tok *Token) WhileLoggedIn(f func()) {
	tok.t.Helper()
	tok.session(func(pkcs11.SessionHandle) error { f(); return nil }, true)
}
