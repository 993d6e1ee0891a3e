package pkcs11kek

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// TestModuleAnswersMapToTheKeyringsErrors covers the return codes SoftHSM2
// cannot be made to give in a test (a device pulled, a token that fails):
// each becomes the typed error its meaning asks for, and what the driver
// does next (a new session, a reload of the module) follows from it.
func TestModuleAnswersMapToTheKeyringsErrors(t *testing.T) {
	cases := []struct {
		ckr     uint
		want    error
		failure failure
	}{
		{pkcs11.CKR_DEVICE_REMOVED, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_DEVICE_ERROR, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_DEVICE_MEMORY, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_GENERAL_ERROR, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, keyring.ErrKeyUnreachable, failToken},
		{pkcs11.CKR_SESSION_HANDLE_INVALID, keyring.ErrKeyUnreachable, failSession},
		{pkcs11.CKR_SESSION_CLOSED, keyring.ErrKeyUnreachable, failSession},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, keyring.ErrKeyUnreachable, failSession},
		{pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID, keyring.ErrKeyUnreachable, failSession},
		{pkcs11.CKR_PIN_INCORRECT, keyring.ErrSignInRefused, failOther},
		{pkcs11.CKR_PIN_LOCKED, keyring.ErrSignInRefused, failOther},
		{pkcs11.CKR_PIN_EXPIRED, keyring.ErrSignInRefused, failOther},
		{pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, keyring.ErrKeyRevoked, failOther},
		{pkcs11.CKR_WRAPPED_KEY_INVALID, keyring.ErrIntegrity, failOther},
		{pkcs11.CKR_ENCRYPTED_DATA_INVALID, keyring.ErrIntegrity, failOther},
		{pkcs11.CKR_MECHANISM_INVALID, keyring.ErrKeyUnreachable, failOther},
	}
	for _, c := range cases {
		name := ckrName(pkcs11.Error(c.ckr))
		t.Run(name, func(t *testing.T) {
			err := fmt.Errorf("C_UnwrapKey: %w", pkcs11.Error(c.ckr))
			got := mapErr("unwrap", "pkcs11:token=t;object=k;type=secret-key;id=%01", err)
			if !errors.Is(got, c.want) {
				t.Fatalf("%s maps to %v, want %v", name, got, c.want)
			}
			if c.want == keyring.ErrSignInRefused && !errors.Is(got, keyring.ErrAccessDenied) {
				t.Fatalf("%s, a PIN refused, is not access denied: %v", name, got)
			}
			if errors.Is(got, keyring.ErrKeyUnreachable) && errors.Is(got, keyring.ErrKeyRevoked) {
				t.Fatalf("%s is both unreachable and revoked: %v", name, got)
			}
			if !strings.Contains(got.Error(), name) {
				t.Fatalf("the error does not name %s: %v", name, got)
			}
			if f := sortFailure(err); f != c.failure {
				t.Fatalf("%s is handled as failure %d, want %d", name, f, c.failure)
			}
		})
	}
}

func TestIDsOrderAsNumbers(t *testing.T) {
	cases := []struct {
		a, b []byte
		less bool
	}{
		{[]byte{0x09}, []byte{0x0a}, true},
		{[]byte{0xff}, []byte{0x01, 0x00}, true},
		{[]byte{0x00, 0x02}, []byte{0x03}, true},
		{[]byte{0x02}, []byte{0x02}, false},
		{[]byte{0x01, 0x00}, []byte{0xff}, false},
	}
	for _, c := range cases {
		if got := idLess(c.a, c.b); got != c.less {
			t.Errorf("idLess(%x, %x) = %v, want %v", c.a, c.b, got, c.less)
		}
	}
}
