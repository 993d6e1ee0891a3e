package workspace

import "github.com/sealwatch/sealwatch/internal/fault"

// The management API's error codes. Refusals are *fault.Error values whose
// messages name the resource and say what to do; they hold no secrets.
const (
	CodeBadRequest              = "BadRequest"
	CodeInvalidName             = "InvalidResourceName"
	CodeInvalidCapacity         = "InvalidCapacity"
	CodeInvalidIdentity         = "InvalidIdentityType"
	CodeNotFound                = "ResourceNotFound"
	CodeConflict                = "Conflict"
	CodeWorkspaceNotCmkEligible = "WorkspaceNotCmkEligible"
	CodeKeyNotRecoverable       = "KeyNotRecoverable"
	CodeForbidden               = "Forbidden"
	CodeFeatureNotSupported     = "FeatureNotSupportedWithCmk"
	CodeTooManyWorkspaces       = "ClusterWorkspaceLimitReached"
	CodeKeyVaultUnreachable     = "KeyVaultUnreachable"
	CodeWorkspaceKeyChanged     = "WorkspaceKeyChanged"
)

// Sentinels for errors.Is, matched by code.
var (
	ErrNotFound                = &fault.Error{Code: CodeNotFound}
	ErrConflict                = &fault.Error{Code: CodeConflict}
	ErrWorkspaceNotCmkEligible = &fault.Error{Code: CodeWorkspaceNotCmkEligible}
	ErrKeyNotRecoverable       = &fault.Error{Code: CodeKeyNotRecoverable}
	ErrInvalidCapacity         = &fault.Error{Code: CodeInvalidCapacity}
	// ErrWorkspaceKeyChanged: the workspace moved under another key since the
	// caller looked it up; look it up again.
	ErrWorkspaceKeyChanged = &fault.Error{Code: CodeWorkspaceKeyChanged}
)

func badRequest(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, CodeBadRequest, format, args...)
}

func conflict(code, format string, args ...any) *fault.Error {
	return fault.New(fault.Conflict, code, format, args...)
}

func notFound(kind, name string) *fault.Error {
	return fault.New(fault.NotFound, CodeNotFound, "%s '%s' was not found in this resource group", kind, name)
}
