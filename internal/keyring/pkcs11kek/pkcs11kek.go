// Package pkcs11kek is the keyring's driver for an AES key in a hardware
// security module, or any token a PKCS#11 module serves (SoftHSM2 in the
// tests), through github.com/miekg/pkcs11.
//
// A key is named by the token's label and the key object's label
// (CKA_LABEL); each key object with that label is a version, told apart by
// its CKA_ID. Wrap uses the object with the highest CKA_ID, so a new object
// with the same label and a higher ID rotates the key; Unwrap uses exactly
// the object the wrapping names. Account keys are wrapped with AES key wrap
// with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD) inside the module: the
// customer's key never leaves it.
//
// The module's answers become the keyring's typed errors: a key object gone
// or no longer allowed to wrap and unwrap is a revocation, and a PIN the
// token refuses is ErrAccessDenied (the HSM's way of taking access away);
// a token removed, a module failing or a session lost is unreachable, and
// the driver reloads the module and finds the token again on the next
// call. The PIN is held in memory only, no error names it, and it is never
// sent when the token says one wrong try more would lock it.
package pkcs11kek

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// Provider names wrappings made by this driver.
const Provider = "pkcs11"

// wrapMech is the one mechanism the driver wraps with.
const wrapMech = pkcs11.CKM_AES_KEY_WRAP_PAD

// Config names one key on one token and how to log in to it.
type Config struct {
	// ModulePath is the PKCS#11 library, such as
	// /usr/lib/softhsm/libsofthsm2.so.
	ModulePath string
	// TokenLabel is the token's label (CKA_LABEL of the token, as
	// `softhsm2-util --show-slots` or `pkcs11-tool -L` list it).
	TokenLabel string
	// KeyLabel is the key objects' CKA_LABEL.
	KeyLabel string
	// KeyID pins one version (its CKA_ID); nil follows the highest ID.
	KeyID []byte
	// PIN is the token's user PIN. It is kept in memory and sent to the
	// module only.
	PIN []byte
}

// KEK is one key on one token as a keyring.KEK. It is safe for concurrent
// use: each call borrows its own session from the token's pool.
type KEK struct {
	cfg Config
	mod *module
	key string // the versionless URI
}

var _ keyring.KEK = (*KEK)(nil)

// New validates cfg; it loads nothing and makes no call: a module that
// cannot be loaded is an unreachable key, found by the first call.
func New(cfg Config) (*KEK, error) {
	var missing []string
	if cfg.ModulePath == "" {
		missing = append(missing, "the PKCS#11 module path")
	}
	if cfg.TokenLabel == "" {
		missing = append(missing, "the token label")
	}
	if cfg.KeyLabel == "" {
		missing = append(missing, "the key label")
	}
	if len(cfg.PIN) == 0 {
		missing = append(missing, "the token's user PIN")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pkcs11: missing %s", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(cfg.ModulePath, "/") {
		return nil, fmt.Errorf("pkcs11: module path %q must be absolute, such as /usr/lib/softhsm/libsofthsm2.so", cfg.ModulePath)
	}
	cfg.PIN = bytes.Clone(cfg.PIN)
	cfg.KeyID = bytes.Clone(cfg.KeyID)
	return &KEK{cfg: cfg, mod: moduleFor(cfg.ModulePath), key: keyURI(cfg.TokenLabel, cfg.KeyLabel)}, nil
}

// Key is the versionless URI of the key (RFC 7512): the token and the
// label, without the module path, so that a module installed elsewhere
// still names the same key.
func (k *KEK) Key() string { return k.key }

// String names the key by its URI: a %v of the KEK never prints the PIN.
func (k *KEK) String() string { return "pkcs11 " + k.key }

// GoString is String, for %#v.
func (k *KEK) GoString() string { return k.String() }

// String is the configuration without the PIN, so that a %v of it (or of
// a struct holding it) never prints the PIN.
func (c Config) String() string {
	return fmt.Sprintf("{ModulePath:%s TokenLabel:%q KeyLabel:%q KeyID:%x PIN:[redacted]}", c.ModulePath, c.TokenLabel, c.KeyLabel, c.KeyID)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "pkcs11kek.Config" + c.String() }

func keyURI(token, label string) string {
	return "pkcs11:token=" + pathEscape(token) + ";object=" + pathEscape(label) + ";type=secret-key"
}

// versionURI names one key object: the key's URI with its CKA_ID.
func (k *KEK) versionURI(id []byte) string {
	var b strings.Builder
	b.WriteString(k.key + ";id=")
	for _, c := range id {
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return b.String()
}

// pathEscape percent-encodes what RFC 7512 does not allow in a path
// attribute's value: url.PathEscape leaves "=" as it is.
func pathEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "=", "%3D")
}

// versionOf reads the CKA_ID a version URI of this key names.
func (k *KEK) versionOf(uri string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(uri, k.key+";id=")
	if !ok || rest == "" {
		return nil, false
	}
	id, err := url.PathUnescape(rest)
	if err != nil || strings.ContainsAny(rest, ";?") {
		return nil, false
	}
	return []byte(id), true
}

// Wrap wraps aek with the pinned key object, or the one with the highest
// CKA_ID.
func (k *KEK) Wrap(ctx context.Context, aek []byte) (keyring.Wrapped, error) {
	var w keyring.Wrapped
	err := k.call(ctx, "wrap", k.key, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		obj, err := k.current(lib, s)
		if err != nil {
			return err
		}
		if !obj.wrap {
			return fmt.Errorf("key object %s has CKA_WRAP false: %w", k.versionURI(obj.id), keyring.ErrKeyRevoked)
		}
		ct, err := wrapSecret(lib, s, obj.h, aek)
		if err != nil {
			return err
		}
		w = keyring.Wrapped{Provider: Provider, KeyURI: k.versionURI(obj.id), Algorithm: keyring.AlgAESKWP, Ciphertext: ct}
		return nil
	})
	if err != nil {
		// On a timeout the module call may still write w: it is not read.
		return keyring.Wrapped{}, err
	}
	return w, nil
}

// Unwrap unwraps with exactly the key object w names. A wrapping of
// another key is refused without a call.
func (k *KEK) Unwrap(ctx context.Context, w keyring.Wrapped) ([]byte, error) {
	if w.Provider == Provider && w.KeyURI == k.key {
		return nil, fmt.Errorf("pkcs11 unwrap: wrapping names no key object ID (%s); nothing is unwrapped with the newest: %w", w.KeyURI, keyring.ErrIntegrity)
	}
	id, ok := k.versionOf(w.KeyURI)
	if w.Provider != Provider || !ok {
		return nil, fmt.Errorf("pkcs11 key %s cannot unwrap a wrapping by %s %s: %w", k.key, w.Provider, w.KeyURI, keyring.ErrWrongKEK)
	}
	if w.Algorithm != keyring.AlgAESKWP {
		return nil, fmt.Errorf("pkcs11 unwrap %s: algorithm %q: %w", w.KeyURI, w.Algorithm, keyring.ErrIntegrity)
	}
	if n := len(w.Ciphertext); n < 16 || n%8 != 0 {
		// RFC 5649 output is whole 64-bit blocks, two at least.
		return nil, fmt.Errorf("pkcs11 unwrap %s: a wrapping of %d bytes is no AES-KWP output: %w", w.KeyURI, n, keyring.ErrIntegrity)
	}
	var aek []byte
	err := k.call(ctx, "unwrap", w.KeyURI, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		// The module itself refuses an object with CKA_UNWRAP false
		// (CKR_KEY_FUNCTION_NOT_PERMITTED): no attribute is read first,
		// which would cost as much again as the unwrap.
		h, err := k.versionHandle(lib, s, id)
		if err != nil {
			return err
		}
		aek, err = unwrapSecret(lib, s, h, w.Ciphertext)
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && ckr == pkcs11.CKR_GENERAL_ERROR {
			// SoftHSM2 (and other modules) answer a blob that fails its
			// integrity check with CKR_GENERAL_ERROR, which also means a
			// failing module. A wrap and unwrap of a throwaway key with the
			// same object tells them apart: if it works, the blob is bad.
			if selfTest(lib, s, h) == nil {
				return fmt.Errorf("the module refused the wrapping (not wrapped by this key object, or damaged): %w", keyring.ErrIntegrity)
			}
		}
		return err
	})
	if err != nil {
		return nil, err // on a timeout the module call may still write aek
	}
	return aek, nil
}

// Describe reports the pinned key object, or the one with the highest
// CKA_ID. Enabled says it may wrap and unwrap. Recoverable says the object
// cannot be destroyed through PKCS#11 (CKA_DESTROYABLE false): a token has
// no soft delete, so that is the only protection the driver can see.
func (k *KEK) Describe(ctx context.Context) (keyring.KeyState, error) {
	var st keyring.KeyState
	err := k.call(ctx, "get", k.key, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		obj, err := k.current(lib, s)
		if err != nil {
			return err
		}
		st = keyring.KeyState{Provider: Provider, Key: k.key, KeyURI: k.versionURI(obj.id), Version: hex.EncodeToString(obj.id),
			Enabled: obj.wrap && obj.unwrap, Recoverable: !obj.destroyable, RecoveryLevel: "Destroyable"}
		if !obj.destroyable {
			st.RecoveryLevel = "NotDestroyable"
		}
		return nil
	})
	if err != nil {
		return keyring.KeyState{}, err // on a timeout the module call may still write st
	}
	return st, nil
}

// call runs f on a logged-in session of the token. A lost session is
// replaced and f tried once more; a failed token or module is reloaded
// before the next call. PKCS#11 calls cannot be cancelled, so call returns
// when ctx ends and leaves the module call to finish on its own.
func (k *KEK) call(ctx context.Context, op, target string, f func(*pkcs11.Ctx, pkcs11.SessionHandle) error) error {
	return k.callOn(ctx, false, op, target, f)
}

// callOn is call on a read-write session when rw.
func (k *KEK) callOn(ctx context.Context, rw bool, op, target string, f func(*pkcs11.Ctx, pkcs11.SessionHandle) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pkcs11 %s %s: %v: %w", op, target, err, keyring.ErrKeyUnreachable)
	}
	done := make(chan error, 1)
	go func() {
		err := k.attempt(rw, f)
		if err != nil && sortFailure(err) == failSession {
			err = k.attempt(rw, f)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return mapErr(op, target, err)
	case <-ctx.Done():
		return fmt.Errorf("pkcs11 %s %s: the module did not answer in time (%v): %w", op, target, ctx.Err(), keyring.ErrKeyUnreachable)
	}
}

// attempt runs f once on a borrowed session.
func (k *KEK) attempt(rw bool, f func(*pkcs11.Ctx, pkcs11.SessionHandle) error) error {
	var failedGen uint64
	var fail failure
	err := k.mod.use(func(lib *pkcs11.Ctx, gen uint64) error {
		s, err := k.mod.acquire(lib, k.cfg.TokenLabel, k.cfg.PIN, rw)
		if err == nil {
			err = f(lib, s.h)
			switch sortFailure(err) {
			case 0, failOther:
				k.mod.release(lib, k.cfg.TokenLabel, s)
			case failSession:
				k.mod.discard(lib, k.cfg.TokenLabel, s, false)
			case failToken:
				k.mod.discard(lib, k.cfg.TokenLabel, s, true)
			}
		}
		if err != nil {
			failedGen, fail = gen, sortFailure(err)
		}
		return err
	})
	if fail == failToken {
		k.mod.reset(failedGen)
	}
	return err
}

// notFound is the error for a key object that is not on the token, once
// the session's slot is seen to still hold the token: SoftHSM2, for one,
// keeps answering on a slot whose token was taken away, as an empty token,
// and a key that is missing only because its token is must read as
// unreachable, not destroyed.
func (k *KEK) notFound(lib *pkcs11.Ctx, s pkcs11.SessionHandle, missing error) error {
	info, err := lib.GetSessionInfo(s)
	if err != nil {
		return fmt.Errorf("read the session's state: %w", err)
	}
	ti, err := lib.GetTokenInfo(info.SlotID)
	if err != nil {
		return fmt.Errorf("read the token's information: %w", err)
	}
	if ti.Label != k.cfg.TokenLabel {
		return fmt.Errorf("the slot no longer holds token %q: %w", k.cfg.TokenLabel, errTokenAbsent)
	}
	return missing
}

// keyObject is one version of the key: a secret-key object with the label.
type keyObject struct {
	h           pkcs11.ObjectHandle
	id          []byte
	wrap        bool
	unwrap      bool
	destroyable bool
}

// current is the pinned version, or the one with the highest CKA_ID.
func (k *KEK) current(lib *pkcs11.Ctx, s pkcs11.SessionHandle) (keyObject, error) {
	if k.cfg.KeyID != nil {
		return k.version(lib, s, k.cfg.KeyID)
	}
	objs, err := findKeyObjects(lib, s, k.cfg.KeyLabel)
	if err != nil {
		return keyObject{}, err
	}
	if len(objs) == 0 {
		return keyObject{}, k.notFound(lib, s, fmt.Errorf("no AES key object labelled %q on token %q (destroyed, or never made): %w", k.cfg.KeyLabel, k.cfg.TokenLabel, keyring.ErrKeyRevoked))
	}
	best := objs[0]
	for _, o := range objs[1:] {
		if idLess(best.id, o.id) {
			best = o
		}
	}
	if len(best.id) == 0 {
		return keyObject{}, fmt.Errorf("the key object labelled %q on token %q has no CKA_ID; give each version an ID (a new, higher one rotates the key): %w", k.cfg.KeyLabel, k.cfg.TokenLabel, keyring.ErrKeyRevoked)
	}
	for _, o := range objs {
		if o.h != best.h && bytes.Equal(o.id, best.id) {
			return keyObject{}, fmt.Errorf("two key objects labelled %q on token %q share the CKA_ID %x; give each version its own: %w", k.cfg.KeyLabel, k.cfg.TokenLabel, best.id, keyring.ErrKeyRevoked)
		}
	}
	return best, nil
}

// version is the key object with the label and exactly id.
func (k *KEK) version(lib *pkcs11.Ctx, s pkcs11.SessionHandle, id []byte) (keyObject, error) {
	h, err := k.versionHandle(lib, s, id)
	if err != nil {
		return keyObject{}, err
	}
	return readKeyObject(lib, s, h)
}

// versionHandle finds the one key object with the label and exactly id.
func (k *KEK) versionHandle(lib *pkcs11.Ctx, s pkcs11.SessionHandle, id []byte) (pkcs11.ObjectHandle, error) {
	hs, err := findHandles(lib, s, k.cfg.KeyLabel, id)
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, k.notFound(lib, s, fmt.Errorf("no AES key object labelled %q with CKA_ID %x on token %q (destroyed): %w", k.cfg.KeyLabel, id, k.cfg.TokenLabel, keyring.ErrKeyRevoked))
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("%d key objects labelled %q on token %q share the CKA_ID %x; give each version its own: %w", len(hs), k.cfg.KeyLabel, k.cfg.TokenLabel, id, keyring.ErrKeyRevoked)
}

// idLess orders CKA_IDs as unsigned big-endian numbers, so that 0x0a
// follows 0x09 and 0x0100 follows 0xff.
func idLess(a, b []byte) bool {
	a, b = bytes.TrimLeft(a, "\x00"), bytes.TrimLeft(b, "\x00")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return bytes.Compare(a, b) < 0
}

// findKeyObjects lists the AES secret-key objects labelled label, with
// their attributes.
func findKeyObjects(lib *pkcs11.Ctx, s pkcs11.SessionHandle, label string) ([]keyObject, error) {
	handles, err := findHandles(lib, s, label, nil)
	if err != nil {
		return nil, err
	}
	objs := make([]keyObject, 0, len(handles))
	for _, h := range handles {
		o, err := readKeyObject(lib, s, h)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// findHandles finds the AES secret-key objects labelled label (and with
// CKA_ID id, when id is not nil).
func findHandles(lib *pkcs11.Ctx, s pkcs11.SessionHandle, label string, id []byte) ([]pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if id != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	if err := lib.FindObjectsInit(s, tmpl); err != nil {
		return nil, fmt.Errorf("find key objects: %w", err)
	}
	var handles []pkcs11.ObjectHandle
	for {
		hs, _, err := lib.FindObjects(s, 16)
		if err != nil {
			_ = lib.FindObjectsFinal(s)
			return nil, fmt.Errorf("find key objects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		handles = append(handles, hs...)
	}
	if err := lib.FindObjectsFinal(s); err != nil {
		return nil, fmt.Errorf("find key objects: %w", err)
	}
	return handles, nil
}

func readKeyObject(lib *pkcs11.Ctx, s pkcs11.SessionHandle, h pkcs11.ObjectHandle) (keyObject, error) {
	want := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, nil),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, nil),
		pkcs11.NewAttribute(pkcs11.CKA_DESTROYABLE, nil),
	}
	attrs, err := lib.GetAttributeValue(s, h, want)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_TYPE_INVALID)) {
		// CKA_DESTROYABLE is PKCS#11 2.40; a module that does not know it
		// refuses the read, and its objects can be destroyed.
		attrs, err = lib.GetAttributeValue(s, h, want[:3])
	}
	if err != nil {
		return keyObject{}, fmt.Errorf("read a key object's attributes: %w", err)
	}
	o := keyObject{h: h, destroyable: true}
	for _, a := range attrs {
		switch a.Type {
		case pkcs11.CKA_ID:
			o.id = a.Value
		case pkcs11.CKA_WRAP:
			o.wrap = isTrue(a.Value)
		case pkcs11.CKA_UNWRAP:
			o.unwrap = isTrue(a.Value)
		case pkcs11.CKA_DESTROYABLE:
			o.destroyable = isTrue(a.Value)
		}
	}
	return o, nil
}

func isTrue(v []byte) bool { return len(v) > 0 && v[0] != 0 }

// secretTemplate describes the throwaway session object that carries an
// account key into the module for wrapping, or out of it after unwrapping:
// a session object (never on the token), extractable and not sensitive, or
// the module would not let its value be read.
func secretTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
	}
}

// wrapSecret wraps secret with the key object kek: it enters the module as
// a session object, which is destroyed again whatever happens.
func wrapSecret(lib *pkcs11.Ctx, s pkcs11.SessionHandle, kek pkcs11.ObjectHandle, secret []byte) ([]byte, error) {
	tmp, err := lib.CreateObject(s, append(secretTemplate(), pkcs11.NewAttribute(pkcs11.CKA_VALUE, secret)))
	if err != nil {
		return nil, fmt.Errorf("load the account key into a session object: %w", err)
	}
	defer lib.DestroyObject(s, tmp)
	ct, err := lib.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(wrapMech, nil)}, kek, tmp)
	if err != nil {
		return nil, fmt.Errorf("C_WrapKey: %w", err)
	}
	return ct, nil
}

// unwrapSecret unwraps ct with kek into a session object, reads its value
// and destroys it.
func unwrapSecret(lib *pkcs11.Ctx, s pkcs11.SessionHandle, kek pkcs11.ObjectHandle, ct []byte) ([]byte, error) {
	tmp, err := lib.UnwrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(wrapMech, nil)}, kek, ct, secretTemplate())
	if err != nil {
		return nil, fmt.Errorf("C_UnwrapKey: %w", err)
	}
	defer lib.DestroyObject(s, tmp)
	attrs, err := lib.GetAttributeValue(s, tmp, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("read the unwrapped account key: %w", err)
	}
	if len(attrs) != 1 {
		return nil, errors.New("the module did not return the unwrapped account key")
	}
	return attrs[0].Value, nil
}

// selfTest wraps and unwraps a throwaway key with kek.
func selfTest(lib *pkcs11.Ctx, s pkcs11.SessionHandle, kek pkcs11.ObjectHandle) error {
	probe := make([]byte, 32)
	rand.Read(probe)
	ct, err := wrapSecret(lib, s, kek, probe)
	if err != nil {
		return err
	}
	back, err := unwrapSecret(lib, s, kek, ct)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(back, probe) != 1 {
		return errors.New("the module unwrapped a throwaway key to other bytes")
	}
	return nil
}
