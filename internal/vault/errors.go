package vault

import (
	"fmt"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// Key Vault error codes, the "code" of {"error":{"code","message","innererror"}}.
const (
	CodeBadParameter      = "BadParameter"
	CodeVaultNameNotValid = "VaultNameNotValid" // management plane
	CodeForbidden         = "Forbidden"
	CodeKeyNotFound       = "KeyNotFound"
	CodeVaultNotFound     = "VaultNotFound"
	CodeConflict          = "Conflict"
	CodeInternal          = "InternalError"
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

// Sentinels for errors.Is, matched by code (see fault.Error.Is). They are
// patterns, never returned themselves.
var (
	ErrBadParameter          = &fault.Error{Code: CodeBadParameter}
	ErrForbidden             = &fault.Error{Code: CodeForbidden}
	ErrKeyNotFound           = &fault.Error{Code: CodeKeyNotFound}
	ErrVaultNotFound         = &fault.Error{Code: CodeVaultNotFound}
	ErrConflict              = &fault.Error{Code: CodeConflict}
	ErrAccessDenied          = &fault.Error{InnerCode: InnerAccessDenied}
	ErrKeyDisabled           = &fault.Error{InnerCode: InnerKeyDisabled}
	ErrOperationForbidden    = &fault.Error{InnerCode: InnerKeyOperationForbidden}
	ErrKeyNotYetValid        = &fault.Error{InnerCode: InnerKeyNotYetValid}
	ErrKeyExpired            = &fault.Error{InnerCode: InnerKeyExpired}
	ErrDeletedButRecoverable = &fault.Error{InnerCode: InnerObjectIsDeletedButRecoverable}
	ErrPurgeProtected        = &fault.Error{InnerCode: InnerPurgeProtectionEnabled}
	ErrUnsupportedAlg        = &fault.Error{InnerCode: InnerUnsupportedAlgorithm}
	ErrDecryptionFailed      = &fault.Error{InnerCode: InnerDecryptionFailed}
	ErrValueTooLarge         = &fault.Error{InnerCode: InnerValueTooLarge}
	ErrKeyIntegrity          = &fault.Error{InnerCode: InnerKeyMaterialIntegrity}
)

func newError(kind fault.Kind, code, inner, format string, args ...any) *fault.Error {
	return &fault.Error{Kind: kind, Code: code, InnerCode: inner, Message: fmt.Sprintf(format, args...)}
}

func badParam(inner, format string, args ...any) *fault.Error {
	return newError(fault.Invalid, CodeBadParameter, inner, format, args...)
}

func forbidden(inner, format string, args ...any) *fault.Error {
	return newError(fault.Forbidden, CodeForbidden, inner, format, args...)
}

func conflict(inner, format string, args ...any) *fault.Error {
	return newError(fault.Conflict, CodeConflict, inner, format, args...)
}

func vaultNotFound(name string) *fault.Error {
	return newError(fault.NotFound, CodeVaultNotFound, "",
		"vault '%s' was not found; list vaults with `sealwatch keyvault list`", name)
}

func keyNotFound(name, version string) *fault.Error {
	if version == "" {
		return newError(fault.NotFound, CodeKeyNotFound, "",
			"key '%s' was not found in this vault; list keys with `sealwatch keyvault key list`", name)
	}
	return newError(fault.NotFound, CodeKeyNotFound, "",
		"key '%s' version '%s' was not found; list its versions with `sealwatch keyvault key list-versions --name %s`",
		name, version, name)
}

func deletedKeyNotFound(name string) *fault.Error {
	return newError(fault.NotFound, CodeKeyNotFound, InnerDeletedObjectNotFound,
		"deleted key '%s' was not found; list deleted keys with `sealwatch keyvault key list-deleted`", name)
}

// internalError hides its cause from the message but keeps it for errors.Is
// and for the server log.
func internalError(inner, msg string, cause error) *fault.Error {
	return &fault.Error{Kind: fault.Internal, Code: CodeInternal, InnerCode: inner, Message: msg, Err: cause}
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

// As lets errors.As(err, &*fault.Error) see a ForbiddenError as a Forbidden
// refusal, so the HTTP layer needs one mapping for every refusal.
func (e *ForbiddenError) As(target any) bool {
	t, ok := target.(**fault.Error)
	if !ok {
		return false
	}
	*t = forbidden(InnerAccessDenied, "%s", e.Error())
	return true
}

// Is makes errors.Is(err, ErrForbidden) and errors.Is(err, ErrAccessDenied) hold.
func (e *ForbiddenError) Is(target error) bool {
	var self *fault.Error
	e.As(&self)
	return self.Is(target)
}
