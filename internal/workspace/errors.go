package workspace

import (
	"fmt"
	"net/http"
)

// Error is a refusal with the status and code the management API answers.
// Messages name the resource and say what to do; they hold no secrets.
type Error struct {
	Status  int
	Code    string
	Message string
	err     error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.err }

// Is matches sentinels by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// Codes, and sentinels for errors.Is.
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
	CodeCMKInaccessible         = "CustomerManagedKeyInaccessible"
	CodeKeyVaultUnreachable     = "KeyVaultUnreachable"
)

var (
	ErrNotFound                = &Error{Code: CodeNotFound}
	ErrConflict                = &Error{Code: CodeConflict}
	ErrWorkspaceNotCmkEligible = &Error{Code: CodeWorkspaceNotCmkEligible}
	ErrKeyNotRecoverable       = &Error{Code: CodeKeyNotRecoverable}
	ErrInvalidCapacity         = &Error{Code: CodeInvalidCapacity}
)

func newErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func conflict(code, format string, args ...any) *Error {
	return newErr(http.StatusConflict, code, format, args...)
}

func notFound(kind, name string) *Error {
	return newErr(http.StatusNotFound, CodeNotFound, "%s '%s' was not found in this resource group", kind, name)
}
