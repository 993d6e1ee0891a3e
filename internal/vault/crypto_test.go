package vault

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

func TestEveryAlgorithmRoundTripsAndNamesTheVersionUsed(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-crypto", true, 90)
	rsaKey := e.createKey("kv-crypto", "rsa", CreateKeyParameters{Kty: "RSA"})
	octKey := e.createKey("kv-crypto", "aes", CreateKeyParameters{Kty: "oct-HSM"})
	cek := bytes.Repeat([]byte{0x42}, 32)

	tests := []struct {
		name, key, alg       string
		protect, recoverFrom func(vault, name, version string, p KeyOperationParameters) (*KeyOperationResult, error)
		kid                  string
		aad                  []byte
	}{
		{"RSA-OAEP wrap", "rsa", AlgRSAOAEP, e.wrap, e.unwrap, rsaKey.Key.KID, nil},
		{"RSA-OAEP-256 wrap", "rsa", AlgRSAOAEP256, e.wrap, e.unwrap, rsaKey.Key.KID, nil},
		{"RSA-OAEP encrypt", "rsa", AlgRSAOAEP, e.encrypt, e.decrypt, rsaKey.Key.KID, nil},
		{"RSA-OAEP-256 encrypt", "rsa", AlgRSAOAEP256, e.encrypt, e.decrypt, rsaKey.Key.KID, nil},
		{"A256KW wrap", "aes", AlgA256KW, e.wrap, e.unwrap, octKey.Key.KID, nil},
		{"A256GCM encrypt", "aes", AlgA256GCM, e.encrypt, e.decrypt, octKey.Key.KID, nil},
		{"A256GCM encrypt with aad", "aes", AlgA256GCM, e.encrypt, e.decrypt, octKey.Key.KID, []byte("workspace=w1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Versionless: the answer must still name the version that did it.
			out, err := tc.protect("kv-crypto", tc.key, "", KeyOperationParameters{Algorithm: tc.alg, Value: cek, AAD: tc.aad})
			if err != nil {
				t.Fatal(err)
			}
			if out.KID != tc.kid {
				t.Fatalf("kid = %s, want %s", out.KID, tc.kid)
			}
			if bytes.Equal(out.Value, cek) {
				t.Fatal("protected value equals the plaintext")
			}
			back, err := tc.recoverFrom("kv-crypto", tc.key, versionOf(out.KID),
				KeyOperationParameters{Algorithm: tc.alg, Value: out.Value, IV: out.IV, Tag: out.Tag, AAD: out.AAD})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Value, cek) || back.KID != tc.kid {
				t.Fatalf("round trip gave %x from %s", back.Value, back.KID)
			}
		})
	}
}

func (e *env) wrap(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return e.svc.Wrap(e.ctx, v, n, ver, p)
}
func (e *env) unwrap(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return e.svc.Unwrap(e.ctx, v, n, ver, p)
}
func (e *env) encrypt(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return e.svc.Encrypt(e.ctx, v, n, ver, p)
}
func (e *env) decrypt(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error) {
	return e.svc.Decrypt(e.ctx, v, n, ver, p)
}

func TestA256GCMReturnsIVTagAndAADLikeTheCloud(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-gcm", false, 90)
	e.createKey("kv-gcm", "aes", CreateKeyParameters{Kty: "oct"})
	out, err := e.svc.Encrypt(e.ctx, "kv-gcm", "aes", "", KeyOperationParameters{Algorithm: AlgA256GCM, Value: []byte("secret"), AAD: []byte("ctx")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.IV) != 12 || len(out.Tag) != 16 || string(out.AAD) != "ctx" || len(out.Value) != len("secret") {
		t.Fatalf("iv %d bytes, tag %d bytes, aad %q, value %d bytes", len(out.IV), len(out.Tag), out.AAD, len(out.Value))
	}
	_, err = e.svc.Encrypt(e.ctx, "kv-gcm", "aes", "", KeyOperationParameters{Algorithm: AlgA256GCM, Value: []byte("x"), IV: out.IV})
	wantErr(t, err, ErrBadParameter)
}

func TestDisabledVersionRefusesAllCryptoButOtherVersionsWork(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-disable", true, 90)
	v1 := e.createKey("kv-disable", "cmk", CreateKeyParameters{Kty: "RSA"})
	v2 := e.createKey("kv-disable", "cmk", CreateKeyParameters{Kty: "RSA"}) // create again = new version
	wrapped, err := e.svc.Wrap(e.ctx, "kv-disable", "cmk", versionOf(v1.Key.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateKey(e.ctx, "kv-disable", "cmk", versionOf(v1.Key.KID), UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error){
		"wrap": e.wrap, "unwrap": e.unwrap, "encrypt": e.encrypt, "decrypt": e.decrypt,
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			_, err := op("kv-disable", "cmk", versionOf(v1.Key.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: wrapped.Value})
			wantErr(t, err, ErrForbidden, ErrKeyDisabled)
			if !strings.Contains(err.Error(), "set-attributes") || !strings.Contains(err.Error(), versionOf(v1.Key.KID)) {
				t.Errorf("message does not name the version and the fix: %v", err)
			}
		})
	}
	if _, err := e.svc.Wrap(e.ctx, "kv-disable", "cmk", versionOf(v2.Key.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: make([]byte, 32)}); err != nil {
		t.Fatalf("the other version stopped working: %v", err)
	}
	if _, err := e.svc.Wrap(e.ctx, "kv-disable", "cmk", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: make([]byte, 32)}); err != nil {
		t.Fatalf("the latest version stopped working: %v", err)
	}
}

func TestExpAndNbfStopProtectingButNotRecovering(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-dates", false, 90)
	e.createKey("kv-dates", "k", CreateKeyParameters{Kty: "oct"})
	cek := make([]byte, 32)
	wrapped, err := e.svc.Wrap(e.ctx, "kv-dates", "k", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: cek})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().Unix()
	tests := []struct {
		name      string
		nbf, exp  *int64
		wrapErr   error // nil = allowed
		unwrapsOK bool
	}{
		{"expired refuses wrap", nil, ptr(now), ErrKeyExpired, true},
		{"expired a second ago refuses wrap", nil, ptr(now - 1), ErrKeyExpired, true},
		{"not yet valid refuses wrap", ptr(now + 1), nil, ErrKeyNotYetValid, true},
		{"valid window allows wrap", ptr(now), ptr(now + 1), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.UpdateKey(e.ctx, "kv-dates", "k", "", UpdateKeyParameters{Attributes: &KeyAttributes{NotBefore: tc.nbf, Expires: tc.exp}}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Wrap(e.ctx, "kv-dates", "k", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: cek})
			if tc.wrapErr == nil && err != nil {
				t.Fatalf("wrap refused: %v", err)
			}
			if tc.wrapErr != nil {
				wantErr(t, err, ErrForbidden, tc.wrapErr)
			}
			if _, err := e.svc.Unwrap(e.ctx, "kv-dates", "k", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: wrapped.Value}); err != nil {
				t.Fatalf("unwrap refused: %v", err)
			}
			// Reset both dates for the next case: a far window around now.
			if _, err := e.svc.UpdateKey(e.ctx, "kv-dates", "k", "", UpdateKeyParameters{Attributes: &KeyAttributes{NotBefore: ptr(now - 1000), Expires: ptr(now + 1000)}}); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, err = e.svc.UpdateKey(e.ctx, "kv-dates", "k", "", UpdateKeyParameters{Attributes: &KeyAttributes{NotBefore: ptr(now + 10), Expires: ptr(now + 5)}})
	wantErr(t, err, ErrBadParameter)
}

func TestKeyOpsLimitOperations(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-ops", false, 90)
	e.createKey("kv-ops", "wrap-only", CreateKeyParameters{Kty: "oct", KeyOps: []string{"WRAPKEY", "unwrapKey"}})
	b, _ := e.svc.GetKey(e.ctx, "kv-ops", "wrap-only", "")
	if strings.Join(b.Key.KeyOps, ",") != "wrapKey,unwrapKey" {
		t.Fatalf("key_ops = %v, want canonical spelling", b.Key.KeyOps)
	}
	if _, err := e.svc.Wrap(e.ctx, "kv-ops", "wrap-only", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Encrypt(e.ctx, "kv-ops", "wrap-only", "", KeyOperationParameters{Algorithm: AlgA256GCM, Value: []byte("x")})
	wantErr(t, err, ErrForbidden, ErrOperationForbidden)

	if _, err := e.svc.UpdateKey(e.ctx, "kv-ops", "wrap-only", "", UpdateKeyParameters{KeyOps: []string{"unwrapKey"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Wrap(e.ctx, "kv-ops", "wrap-only", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)})
	wantErr(t, err, ErrOperationForbidden)

	_, err = e.svc.CreateKey(e.ctx, "kv-ops", "bad", CreateKeyParameters{Kty: "oct", KeyOps: []string{"sign"}})
	wantErr(t, err, ErrBadParameter)
}

func TestAlgorithmMustFitKeyType(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-alg", false, 90)
	e.createKey("kv-alg", "rsa", CreateKeyParameters{Kty: "RSA"})
	e.createKey("kv-alg", "aes", CreateKeyParameters{Kty: "oct"})
	tests := []struct {
		name, key, alg string
		op             func(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error)
		want           error
	}{
		{"A256KW on RSA", "rsa", AlgA256KW, e.wrap, &fault.Error{InnerCode: InnerAlgorithmKeyTypeMismatch}},
		{"RSA-OAEP on oct", "aes", AlgRSAOAEP, e.wrap, &fault.Error{InnerCode: InnerAlgorithmKeyTypeMismatch}},
		{"A256GCM for wrapKey on oct", "aes", AlgA256GCM, e.wrap, &fault.Error{InnerCode: InnerAlgorithmKeyTypeMismatch}},
		{"A256KW for encrypt on oct", "aes", AlgA256KW, e.encrypt, &fault.Error{InnerCode: InnerAlgorithmKeyTypeMismatch}},
		{"RSA1_5 is refused", "rsa", "RSA1_5", e.wrap, ErrUnsupportedAlg},
		{"unknown algorithm", "rsa", "RSA-OAEP-512", e.wrap, ErrUnsupportedAlg},
		{"missing algorithm", "rsa", "", e.wrap, ErrUnsupportedAlg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.op("kv-alg", tc.key, "", KeyOperationParameters{Algorithm: tc.alg, Value: make([]byte, 32)})
			wantErr(t, err, ErrBadParameter, tc.want)
			if tc.alg != "" && !strings.Contains(err.Error(), tc.alg) {
				t.Errorf("message does not name the algorithm: %v", err)
			}
		})
	}
}

func TestOversizeAndMisshapenInputIsRefused(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-size", false, 90)
	e.createKey("kv-size", "rsa", CreateKeyParameters{Kty: "RSA"}) // 2048 bits: k = 256
	e.createKey("kv-size", "aes", CreateKeyParameters{Kty: "oct"})
	tests := []struct {
		name, key, alg string
		op             func(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error)
		value, aad     []byte
		want           error
	}{
		{"RSA-OAEP plaintext over k-2hLen-2", "rsa", AlgRSAOAEP, e.wrap, make([]byte, 256-2*20-2+1), nil, ErrValueTooLarge},
		{"RSA-OAEP-256 plaintext over k-2hLen-2", "rsa", AlgRSAOAEP256, e.encrypt, make([]byte, 256-2*32-2+1), nil, ErrValueTooLarge},
		{"RSA ciphertext shorter than the modulus", "rsa", AlgRSAOAEP256, e.unwrap, make([]byte, 255), nil, ErrBadParameter},
		{"RSA ciphertext longer than the modulus", "rsa", AlgRSAOAEP256, e.decrypt, make([]byte, 257), nil, ErrBadParameter},
		{"A256KW input not a multiple of 8", "aes", AlgA256KW, e.wrap, make([]byte, 20), nil, ErrBadParameter},
		{"A256KW input under 16 bytes", "aes", AlgA256KW, e.wrap, make([]byte, 8), nil, ErrBadParameter},
		{"A256KW wrapped input under 24 bytes", "aes", AlgA256KW, e.unwrap, make([]byte, 16), nil, ErrBadParameter},
		{"value over 64 KiB", "aes", AlgA256GCM, e.encrypt, make([]byte, 64<<10+1), nil, ErrValueTooLarge},
		{"aad over 64 KiB", "aes", AlgA256GCM, e.encrypt, []byte("x"), make([]byte, 64<<10+1), ErrValueTooLarge},
		{"empty value", "aes", AlgA256KW, e.wrap, nil, nil, ErrBadParameter},
		{"aad with a non-GCM algorithm", "aes", AlgA256KW, e.wrap, make([]byte, 16), []byte("a"), ErrBadParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.op("kv-size", tc.key, "", KeyOperationParameters{Algorithm: tc.alg, Value: tc.value, AAD: tc.aad})
			wantErr(t, err, tc.want)
		})
	}
	// The exact limits pass.
	if _, err := e.svc.Wrap(e.ctx, "kv-size", "rsa", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: make([]byte, 256-2*32-2)}); err != nil {
		t.Fatalf("plaintext at the limit refused: %v", err)
	}
}

func TestBadCiphertextIsOneTypedErrorWhateverTheCause(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-bad", false, 90)
	e.createKey("kv-bad", "rsa", CreateKeyParameters{Kty: "RSA"})
	e.createKey("kv-bad", "aes", CreateKeyParameters{Kty: "oct"})
	gcm, err := e.svc.Encrypt(e.ctx, "kv-bad", "aes", "", KeyOperationParameters{Algorithm: AlgA256GCM, Value: []byte("hello"), AAD: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	kw, err := e.svc.Wrap(e.ctx, "kv-bad", "aes", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	oaep, err := e.svc.Wrap(e.ctx, "kv-bad", "rsa", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 0x80; return c }
	tests := []struct {
		name string
		key  string
		op   func(v, n, ver string, p KeyOperationParameters) (*KeyOperationResult, error)
		p    KeyOperationParameters
	}{
		{"RSA random bytes", "rsa", e.unwrap, KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: bytes.Repeat([]byte{0x5a}, 256)}},
		{"RSA flipped bit", "rsa", e.unwrap, KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: flip(oaep.Value)}},
		{"RSA wrong hash", "rsa", e.unwrap, KeyOperationParameters{Algorithm: AlgRSAOAEP, Value: oaep.Value}},
		{"A256KW flipped bit", "aes", e.unwrap, KeyOperationParameters{Algorithm: AlgA256KW, Value: flip(kw.Value)}},
		{"A256GCM flipped ciphertext", "aes", e.decrypt, KeyOperationParameters{Algorithm: AlgA256GCM, Value: flip(gcm.Value), IV: gcm.IV, Tag: gcm.Tag, AAD: gcm.AAD}},
		{"A256GCM wrong aad", "aes", e.decrypt, KeyOperationParameters{Algorithm: AlgA256GCM, Value: gcm.Value, IV: gcm.IV, Tag: gcm.Tag, AAD: []byte("b")}},
		{"A256GCM flipped tag", "aes", e.decrypt, KeyOperationParameters{Algorithm: AlgA256GCM, Value: gcm.Value, IV: gcm.IV, Tag: flip(gcm.Tag), AAD: gcm.AAD}},
	}
	messages := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.op("kv-bad", tc.key, "", tc.p)
			wantErr(t, err, ErrBadParameter, ErrDecryptionFailed)
			var ve *fault.Error
			errors.As(err, &ve)
			messages[tc.key+strings.ReplaceAll(ve.Message, tc.key, "")] = true
		})
	}
	if len(messages) != 2 { // one message per key, whatever went wrong
		t.Fatalf("failures are distinguishable by message: %v", messages)
	}
}

func TestNotFoundNamesKeyAndVersion(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-nf", false, 90)
	e.createKey("kv-nf", "k", CreateKeyParameters{Kty: "oct"})
	missing := strings.Repeat("ab", 16)
	_, err := e.svc.Unwrap(e.ctx, "kv-nf", "k", missing, KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 24)})
	wantErr(t, err, ErrKeyNotFound)
	if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "'k'") {
		t.Fatalf("message does not name key and version: %v", err)
	}
	_, err = e.svc.Unwrap(e.ctx, "kv-nf", "nope", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 24)})
	wantErr(t, err, ErrKeyNotFound)
	_, err = e.svc.Unwrap(e.ctx, "kv-none", "k", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 24)})
	wantErr(t, err, ErrVaultNotFound)
}

func TestOpenedKeysAreDroppedFromMemoryOnDisableAndDelete(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-cache", false, 90)
	e.createKey("kv-cache", "k", CreateKeyParameters{Kty: "oct"})
	use := func() {
		t.Helper()
		if _, err := e.svc.Wrap(e.ctx, "kv-cache", "k", "", KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 16)}); err != nil {
			t.Fatal(err)
		}
	}
	use()
	if e.svc.cache.len() != 1 {
		t.Fatalf("cache holds %d keys after use, want 1", e.svc.cache.len())
	}
	if _, err := e.svc.UpdateKey(e.ctx, "kv-cache", "k", "", UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	if e.svc.cache.len() != 0 {
		t.Fatal("disabling did not drop the opened key")
	}
	if _, err := e.svc.UpdateKey(e.ctx, "kv-cache", "k", "", UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	use()
	if _, err := e.svc.DeleteKey(e.ctx, "kv-cache", "k"); err != nil {
		t.Fatal(err)
	}
	if e.svc.cache.len() != 0 {
		t.Fatal("deleting did not drop the opened key")
	}
}

func TestEncryptRefusedAfterExpiryEvenWithFakeClockAdvance(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-exp", false, 90)
	exp := e.clock.Now().Add(time.Hour).Unix()
	e.createKey("kv-exp", "k", CreateKeyParameters{Kty: "oct", Attributes: &KeyAttributes{Expires: &exp}})
	p := KeyOperationParameters{Algorithm: AlgA256GCM, Value: []byte("x")}
	out, err := e.svc.Encrypt(e.ctx, "kv-exp", "k", "", p)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	_, err = e.svc.Encrypt(e.ctx, "kv-exp", "k", "", p)
	wantErr(t, err, ErrKeyExpired)
	if _, err := e.svc.Decrypt(e.ctx, "kv-exp", "k", "", KeyOperationParameters{Algorithm: AlgA256GCM, Value: out.Value, IV: out.IV, Tag: out.Tag}); err != nil {
		t.Fatalf("decrypt after expiry refused: %v", err)
	}
}
