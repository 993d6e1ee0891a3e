package vault

import (
	"fmt"
	"net/http"
)

// Key Vault error codes, the "code" of {"error":{"code","message","innererror"}}.
// Each maps to one HTTP status, so Error carries the status with the code.
const (
	CodeBadParameter      = "BadParameter"      // 400
	CodeVaultNameNotValid = "VaultNameNotValid" // 400, management plane
	CodeUnauthorized      = "Unauthorized"      // 401
	CodeForbidden         = "Forbidden"         // 403
	CodeKeyNotFound       = "KeyNotFound"       // 404
	CodeVaultNotFound     = "VaultNotFound"     // 404
	CodeConflict          = "Conflict"          // 409
	CodeInternal          = "InternalError"     // 500
)

// Inner codes refine a code, the way the cloud's innererror does.
const (
	InnerAccessDenied                  = "AccessDenied"
	InnerKeyDisabled                   = "KeyDisabled"
	InnerKeyOperationForbidden         = "KeyOperationForbidden"
	InnerKeyNotYetValid                = "KeyNotYetValid"
	InnerKeyExpired                    = "KeyExpired"
	InnerObjectIsDeletedButRecoverable = "ObjectIsDeletedButRecoverable"
	InnerDeletedObjectNotFound         = "DeletedObjectNotFound"
	InnerPurgeProtectionEnabled        = "PurgeProtectionEnabled"
	InnerVaultAlreadyExists            = "VaultAlreadyExists"
	InnerUnsupportedAlgorithm          = "UnsupportedAlgorithm"
	InnerAlgorithmKeyTypeMismatch      = "AlgorithmNotSupportedForKeyType"
	InnerDecryptionFailed              = "DecryptionFailed"
	InnerValueTooLarge                 = "ValueTooLarge"
	InnerInvalidValue                  = "InvalidValue"
	InnerInvalidName                   = "InvalidName"
	InnerInvalidPermission             = "InvalidPermission"
	InnerSoftDeleteRequired            = "SoftDeleteCannotBeDisabled"
	InnerPurgeProtectionIrreversible   = "PurgeProtectionCannotBeDisabled"
	InnerRetentionOutOfRange           = "RetentionOutOfRange"
	InnerRetentionImmutable            = "RetentionCannotChange"
	InnerKeyMaterialIntegrity          = "KeyMaterialIntegrityFailure"
)

// Error is a refusal the HTTP layer renders as Status and
// {"error":{"code":Code,"message":Message,"innererror":{"code":InnerCode}}}.
// Messages name the object and say what to do; they never hold key material.
type Error struct {
	Status    int
	Code      string
	InnerCode string
	Message   string
	err       error // cause, kept for errors.Is/As but never shown to callers
}

func (e *Error) Error() string {
	if e.InnerCode != "" {
		return e.Code + " (" + e.InnerCode + "): " + e.Message
	}
	return e.Code + ": " + e.Message
}

// Unwrap exposes the cause, so errors.Is(err, rootkey.ErrIntegrity) works.
func (e *Error) Unwrap() error { return e.err }

// Is matches the sentinel values below by code: a sentinel's empty Code or
// InnerCode matches any, so errors.Is(err, ErrForbidden) holds for every 403
// and errors.Is(err, ErrKeyDisabled) only for a disabled key.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || (t.Code == "" && t.InnerCode == "") {
		return false
	}
	return (t.Code == "" || t.Code == e.Code) && (t.InnerCode == "" || t.InnerCode == e.InnerCode)
}

// Sentinels for errors.Is. They are patterns, never returned themselves.
var (
	ErrBadParameter          = &Error{Code: CodeBadParameter}
	ErrForbidden             = &Error{Code: CodeForbidden}
	ErrKeyNotFound           = &Error{Code: CodeKeyNotFound}
	ErrVaultNotFound         = &Error{Code: CodeVaultNotFound}
	ErrConflict              = &Error{Code: CodeConflict}
	ErrAccessDenied          = &Error{InnerCode: InnerAccessDenied}
	ErrKeyDisabled           = &Error{InnerCode: InnerKeyDisabled}
	ErrOperationForbidden    = &Error{InnerCode: InnerKeyOperationForbidden}
	ErrKeyNotYetValid        = &Error{InnerCode: InnerKeyNotYetValid}
	ErrKeyExpired            = &Error{InnerCode: InnerKeyExpired}
	ErrDeletedButRecoverable = &Error{InnerCode: InnerObjectIsDeletedButRecoverable}
	ErrPurgeProtected        = &Error{InnerCode: InnerPurgeProtectionEnabled}
	ErrUnsupportedAlg        = &Error{InnerCode: InnerUnsupportedAlgorithm}
	ErrDecryptionFailed      = &Error{InnerCode: InnerDecryptionFailed}
	ErrValueTooLarge         = &Error{InnerCode: InnerValueTooLarge}
	ErrKeyIntegrity          = &Error{InnerCode: InnerKeyMaterialIntegrity}
)

func newError(status int, code, inner, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, InnerCode: inner, Message: fmt.Sprintf(format, args...)}
}

func badParam(inner, format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeBadParameter, inner, format, args...)
}

func forbidden(inner, format string, args ...any) *Error {
	return newError(http.StatusForbidden, CodeForbidden, inner, format, args...)
}

func conflict(inner, format string, args ...any) *Error {
	return newError(http.StatusConflict, CodeConflict, inner, format, args...)
}

func vaultNotFound(name string) *Error {
	return newError(http.StatusNotFound, CodeVaultNotFound, "",
		"vault '%s' was not found; list vaults with `sealwatch keyvault list`", name)
}

func keyNotFound(name, version string) *Error {
	if version == "" {
		return newError(http.StatusNotFound, CodeKeyNotFound, "",
			"key '%s' was not found in this vault; list keys with `sealwatch keyvault key list`", name)
	}
	return newError(http.StatusNotFound, CodeKeyNotFound, "",
		"key '%s' version '%s' was not found; list its versions with `sealwatch keyvault key list-versions --name %s`",
		name, version, name)
}

func deletedKeyNotFound(name string) *Error {
	return newError(http.StatusNotFound, CodeKeyNotFound, InnerDeletedObjectNotFound,
		"deleted key '%s' was not found; list deleted keys with `sealwatch keyvault key list-deleted`", name)
}

// internalError hides its cause from the message but keeps it for errors.Is
// and for the server log.
func internalError(inner, msg string, cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, InnerCode: inner, Message: msg, err: cause}
}

// ForbiddenError is Authorize's refusal: the caller lacks a key permission on
// a vault. The HTTP layer may set Key to name the key the request touched.
type ForbiddenError struct {
	Vault      string
	TenantID   string
	ObjectID   string
	Permission string
	Key        string
}

func (e *ForbiddenError) Error() string {
	on := fmt.Sprintf("key vault '%s'", e.Vault)
	if e.Key != "" {
		on = fmt.Sprintf("key '%s' in key vault '%s'", e.Key, e.Vault)
	}
	return fmt.Sprintf("the caller (oid=%s; tid=%s) does not have keys %s permission on %s; "+
		"grant it with `sealwatch keyvault set-policy --name %s --object-id %s --key-permissions %s`",
		e.ObjectID, e.TenantID, e.Permission, on, e.Vault, e.ObjectID, e.Permission)
}

// As lets errors.As(err, &*Error) see a ForbiddenError as a 403 Forbidden, so
// the HTTP layer needs one mapping for every refusal.
func (e *ForbiddenError) As(target any) bool {
	t, ok := target.(**Error)
	if !ok {
		return false
	}
	*t = forbidden(InnerAccessDenied, "%s", e.Error())
	return true
}

// Is makes errors.Is(err, ErrForbidden) and errors.Is(err, ErrAccessDenied) hold.
func (e *ForbiddenError) Is(target error) bool {
	var self *Error
	e.As(&self)
	return self.Is(target)
}
