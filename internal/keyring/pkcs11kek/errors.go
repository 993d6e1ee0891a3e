package pkcs11kek

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// Failures found before the module answers for the key, sorted by mapErr.
var (
	errUnavailable = errors.New("module unavailable")
	errTokenAbsent = errors.New("token not present")
	errPIN         = errors.New("PIN refused")
)

// failure is how a failed call is handled.
type failure int

const (
	// failSession: the session is gone (closed, or the module was
	// reloaded); the call is tried once more on a new session.
	failSession failure = iota + 1
	// failToken: the token or the module failed or went away; the module is
	// reloaded before the next call, which finds the token again.
	failToken
	// failOther: the module answered for the key; nothing to repair.
	failOther
)

// sortFailure says what a failed call needs.
func sortFailure(err error) failure {
	if errors.Is(err, errModuleReset) {
		return failSession
	}
	if errors.Is(err, errTokenAbsent) {
		return failToken
	}
	var ckr pkcs11.Error
	if !errors.As(err, &ckr) {
		return failOther
	}
	switch ckr {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID,
		pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID, pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID:
		// Handles die with their session, and a module that reloaded its
		// token store hands out new ones: a fresh session finds the key
		// again by label and ID.
		return failSession
	case pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_DEVICE_MEMORY, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_SLOT_ID_INVALID, pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_FUNCTION_FAILED:
		return failToken
	}
	return failOther
}

// mapErr turns a failed call into the keyring's typed errors: a key that
// is gone or may not wrap, and a refused PIN, are revocations; a broken
// blob is an integrity failure; a module, token or session that failed is
// unreachable, since it may come back. Errors name the operation, the key
// and the module's return code — never the PIN or key bytes.
func mapErr(op, target string, err error) error {
	switch {
	case errors.Is(err, keyring.ErrKeyRevoked), errors.Is(err, keyring.ErrIntegrity),
		errors.Is(err, keyring.ErrWrongKEK), errors.Is(err, keyring.ErrKeyUnreachable):
		return fmt.Errorf("pkcs11 %s %s: %w", op, target, err)
	case errors.Is(err, errPIN):
		return fmt.Errorf("pkcs11 %s %s: %v: %w (%w)", op, target, err, keyring.ErrAccessDenied, keyring.ErrSignInRefused)
	case errors.Is(err, errUnavailable), errors.Is(err, errTokenAbsent), errors.Is(err, errModuleReset):
		return fmt.Errorf("pkcs11 %s %s: %v: %w", op, target, err, keyring.ErrKeyUnreachable)
	}
	var ckr pkcs11.Error
	if !errors.As(err, &ckr) {
		return fmt.Errorf("pkcs11 %s %s: %v: %w", op, target, err, keyring.ErrKeyUnreachable)
	}
	switch ckr {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_EXPIRED,
		pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		// The node's PIN no longer opens the token: access was taken away
		// (or the PIN was set wrong), which the customer undoes.
		return fmt.Errorf("pkcs11 %s %s: the token refused the PIN (%s): set the key's PIN again: %w (%w)", op, target, ckrName(ckr), keyring.ErrAccessDenied, keyring.ErrSignInRefused)
	case pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, pkcs11.CKR_KEY_TYPE_INCONSISTENT:
		return fmt.Errorf("pkcs11 %s %s: %s: the key object may not wrap and unwrap (CKA_WRAP, CKA_UNWRAP): %w", op, target, ckrName(ckr), keyring.ErrKeyRevoked)
	case pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE, pkcs11.CKR_ENCRYPTED_DATA_INVALID,
		pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:
		return fmt.Errorf("pkcs11 %s %s: %s (not wrapped by this key object, or damaged): %w", op, target, ckrName(ckr), keyring.ErrIntegrity)
	}
	return fmt.Errorf("pkcs11 %s %s: %s: %w", op, target, ckrName(ckr), keyring.ErrKeyUnreachable)
}

// ckrName is a module error's return code by name, such as
// CKR_DEVICE_REMOVED, without the library's prefix.
func ckrName(err error) string {
	var ckr pkcs11.Error
	if !errors.As(err, &ckr) {
		return err.Error()
	}
	s := ckr.Error() // "pkcs11: 0x32: CKR_DEVICE_REMOVED"
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
