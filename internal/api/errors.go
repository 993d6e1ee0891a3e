package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/vault"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Error is a refusal: an HTTP status and the body {"error":{"code","message"}},
// with an optional inner error as the Key Vault and query APIs return.
type Error struct {
	Status     int
	Code       string
	Message    string
	InnerCode  string
	RetryAfter int         // seconds; sets Retry-After when > 0
	Header     http.Header // extra headers, such as a 401 challenge
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

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
	Code string `json:"code"`
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
		body.Error.InnerError = &innerDetail{Code: e.InnerCode}
	}
	writeJSON(w, e.Status, body)
}

func toAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ve *vault.Error
	if errors.As(err, &ve) && ve.Status < 500 {
		return &Error{Status: ve.Status, Code: ve.Code, InnerCode: ve.InnerCode, Message: ve.Message}
	}
	if e := dataError(err); e != nil {
		return e
	}
	if e := incidentError(err); e != nil {
		return e
	}
	var we *workspace.Error
	if errors.As(err, &we) && (we.Status < 500 || we.Status == http.StatusServiceUnavailable) {
		e := &Error{Status: we.Status, Code: we.Code, Message: we.Message}
		if we.Status == http.StatusServiceUnavailable {
			e.RetryAfter = 10
		}
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
	}
	return &Error{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "the server failed to handle the request; the error is in the server log under this request's x-ms-request-id"}
}
