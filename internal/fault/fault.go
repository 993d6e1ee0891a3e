// Package fault is the error vocabulary of Sealwatch's domain packages: an
// Error says what kind of refusal it is, carries the cloud's error code and a
// message that says what to do, and knows nothing of HTTP. The API layer alone
// turns a Kind into a status, in one table (internal/api/errors.go).
package fault

import (
	"errors"
	"fmt"
)

// Kind is what sort of refusal an error is. Each Kind has one HTTP status,
// chosen by the API layer, so that a domain package decides what went wrong
// and never how it is spelled on the wire.
type Kind uint8

const (
	// Internal is the zero Kind: not a refusal but a failure of the server.
	// Its message and cause go to the log, never to the caller.
	Internal Kind = iota
	// Invalid: the request is malformed, or names something that cannot be
	// used as asked (a bad name, an unsupported algorithm, a disabled key).
	Invalid
	// Forbidden: the caller lacks a permission.
	Forbidden
	// NotFound: the resource does not exist.
	NotFound
	// Conflict: the resource's state does not allow the change.
	Conflict
	// PreconditionFailed: an If-Match etag no longer matches.
	PreconditionFailed
	// KeyInaccessible: the customer-managed key is disabled or deleted, or
	// its access was removed; the data it seals cannot be read. The API
	// layer words this refusal itself, so that it reads the same wherever
	// it is met: such an Error needs no Code or Message, only Err for the log.
	KeyInaccessible
	// KeyUnreachable: the key service cannot be reached; the request may be
	// retried once it is back. Without a Message, the API layer words it as
	// it does the data plane's refusal.
	KeyUnreachable
)

var kindNames = [...]string{
	Internal:           "Internal",
	Invalid:            "Invalid",
	Forbidden:          "Forbidden",
	NotFound:           "NotFound",
	Conflict:           "Conflict",
	PreconditionFailed: "PreconditionFailed",
	KeyInaccessible:    "KeyInaccessible",
	KeyUnreachable:     "KeyUnreachable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Error is a refusal. Code and InnerCode are the cloud's error code and its
// refinement ({"error":{"code","message","innererror":{"code"}}}); Message
// names the object and says what to do, and never holds key material,
// secrets or customer rows.
type Error struct {
	Kind      Kind
	Code      string
	InnerCode string
	Message   string
	Err       error // the cause, for errors.Is/As and the log; never shown to callers
}

// New returns a refusal of kind with code and a formatted message.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	code, msg := e.Code, e.Message
	if code == "" {
		code = e.Kind.String()
	}
	if e.InnerCode != "" {
		code += " (" + e.InnerCode + ")"
	}
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return code + ": " + msg
}

// Unwrap exposes the cause, so errors.Is(err, rootkey.ErrIntegrity) works.
func (e *Error) Unwrap() error { return e.Err }

// Is matches patterns by code: a pattern is an *Error whose non-empty Code
// and InnerCode must both equal e's, so &Error{Code: "Forbidden"} matches
// every Forbidden and &Error{InnerCode: "KeyDisabled"} only a disabled key.
// A pattern with neither matches nothing.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || (t.Code == "" && t.InnerCode == "") {
		return false
	}
	return (t.Code == "" || t.Code == e.Code) && (t.InnerCode == "" || t.InnerCode == e.InnerCode)
}

// KindOf is the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Shorten cuts a caller-supplied name to 64 bytes for a message, so that a
// refusal never repeats an oversized input whole.
func Shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
