package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// Error is a refusal: an HTTP status and the body {"error":{"code","message"}},
// with an optional inner error as the Key Vault and query APIs return.
type Error struct {
	Status     int
	Code       string
	Message    string
	InnerCode  string
	RetryAfter int // seconds; sets Retry-After when > 0
	// Line and Column place a query's syntax or semantic error (1-based) in
	// innererror, so that an editor can put the caret there; 0 when none.
	Line, Column int
	Header       http.Header // extra headers, such as a 401 challenge
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// kindStatus is the one table from a domain refusal's kind to its HTTP
// status. A kind not here (fault.Internal) is the server's failure: a 500
// whose detail goes to the log.
var kindStatus = map[fault.Kind]int{
	fault.Invalid:            http.StatusBadRequest,
	fault.Forbidden:          http.StatusForbidden,
	fault.NotFound:           http.StatusNotFound,
	fault.Conflict:           http.StatusConflict,
	fault.PreconditionFailed: http.StatusPreconditionFailed,
	fault.KeyInaccessible:    http.StatusForbidden,
	fault.KeyUnreachable:     http.StatusServiceUnavailable,
}

// keyRetryAfter is the Retry-After, in seconds, of a refusal because the key
// vault cannot be reached: the keyring probes it every 10 s.
const keyRetryAfter = 10

// faultError renders a domain package's refusal, or returns nil for one of
// kind Internal.
func faultError(err error) *Error {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return nil
	}
	switch {
	case fe.Kind == fault.KeyInaccessible:
		return keyInaccessible()
	case fe.Kind == fault.KeyUnreachable && fe.Message == "":
		return keyVaultUnreachable()
	}
	status, ok := kindStatus[fe.Kind]
	if !ok {
		return nil
	}
	e := &Error{Status: status, Code: fe.Code, InnerCode: fe.InnerCode, Message: fe.Message}
	if fe.Kind == fault.KeyUnreachable {
		e.RetryAfter = keyRetryAfter
	}
	return e
}

// keyInaccessible is the one refusal of a request that needs a
// customer-managed key the customer took away, whether the data plane found
// it (keyring.ErrKeyRevoked) or the control plane did (fault.KeyInaccessible):
// it reads the same wherever it is met.
func keyInaccessible() *Error {
	return &Error{Status: kindStatus[fault.KeyInaccessible], Code: "CustomerManagedKeyInaccessible",
		Message: "the workspace's customer-managed key is not accessible: it was disabled or deleted, or its access policy removed; restore access in the key vault and retry (stored data is kept)"}
}

// keyVaultUnreachable is the refusal of a request that needs a
// customer-managed key whose vault has not answered for longer than the
// grace, from the data plane (keyring.ErrLocked) or the control plane (a
// fault.KeyUnreachable without words of its own).
func keyVaultUnreachable() *Error {
	return &Error{Status: kindStatus[fault.KeyUnreachable], Code: "KeyVaultUnreachable", RetryAfter: keyRetryAfter,
		Message: "the key vault holding the workspace's customer-managed key cannot be reached; the request can be retried when it is back"}
}

func badRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string       `json:"code"`
	Message    string       `json:"message"`
	InnerError *innerDetail `json:"innererror,omitempty"`
}

type innerDetail struct {
	Code   string `json:"code"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// writeError is the one place an error becomes a response. Errors the
// services define map to their status; anything else is a 500 whose detail
// goes to the log, never to the caller.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := toAPIError(err)
	if e.Status >= 500 && e.RetryAfter == 0 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "requestId", requestID(r), "err", err)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}}
	if e.InnerCode != "" {
		body.Error.InnerError = &innerDetail{Code: e.InnerCode, Line: e.Line, Column: e.Column}
	}
	writeJSON(w, e.Status, body)
}

func toAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if e := faultError(err); e != nil {
		return e
	}
	if e := integrityError(err); e != nil {
		return e
	}
	if e := dataError(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, identity.ErrTokenMissing), errors.Is(err, identity.ErrTokenExpired),
		errors.Is(err, identity.ErrTokenInvalid), errors.Is(err, identity.ErrWrongAudience),
		errors.Is(err, identity.ErrPrincipalGone), errors.Is(err, identity.ErrInvalidClient):
		return &Error{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: err.Error()}
	case errors.Is(err, identity.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "NotFound", Message: err.Error()}
	case errors.Is(err, identity.ErrIssuerUnreachable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "IssuerUnreachable", RetryAfter: 10,
			Message: err.Error() + "; the token can be checked once the issuer's keys can be read"}
	case errors.Is(err, identity.ErrInvalidRequest):
		return badRequest("BadRequest", err.Error())
	case errors.Is(err, kv.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 5,
			Message: "the node cannot reach its database, so nothing of the request was done; send it again once the database answers"}
	case errors.Is(err, context.Canceled):
		// The client went away, and the call stopped wherever it was (a
		// query's scan, the wait for a cluster's first key check after a
		// start): nobody reads this answer, and it is no failure of the
		// server's to log.
		return &Error{Status: statusClientClosedRequest, Code: "ClientClosedRequest",
			Message: "the client closed the request before it was answered"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "the server failed to handle the request; the error is in the server log under this request's x-ms-request-id"}
}
