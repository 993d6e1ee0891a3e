package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

func TestKeyErrorsMapToTheirStatusesInOnePlace(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{fmt.Errorf("ingest: %w", keyring.ErrKeyRevoked), 403, "CustomerManagedKeyInaccessible", ""},
		{fmt.Errorf("ingest: %w", keyring.ErrLocked), 503, "KeyVaultUnreachable", "10"},
		{fmt.Errorf("probe: %w", keyring.ErrKeyUnreachable), 503, "KeyVaultUnreachable", "10"},
		{&logstore.RowError{Index: 3, Reason: "TimeGenerated is not a date"}, 400, "InvalidPayload", ""},
		{fmt.Errorf("secret detail that must not leak"), 500, "InternalError", ""},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), tc.err)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) || rec.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %d %s Retry-After=%q", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
			}
			if strings.Contains(rec.Body.String(), "secret detail") {
				t.Fatal("an internal error's detail reached the caller")
			}
		})
	}
}

func TestDomainRefusalsMapByKindInOneTable(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{"invalid", fault.New(fault.Invalid, "BadParameter", "kty is required"), 400,
			`{"error":{"code":"BadParameter","message":"kty is required"}}`, ""},
		{"forbidden with inner code", &fault.Error{Kind: fault.Forbidden, Code: "Forbidden", InnerCode: "AccessDenied", Message: "grant get"}, 403,
			`{"error":{"code":"Forbidden","message":"grant get","innererror":{"code":"AccessDenied"}}}`, ""},
		{"not found, wrapped", fmt.Errorf("get: %w", fault.New(fault.NotFound, "KeyNotFound", "key 'k' was not found")), 404,
			`{"error":{"code":"KeyNotFound","message":"key 'k' was not found"}}`, ""},
		{"conflict", fault.New(fault.Conflict, "Conflict", "in use"), 409,
			`{"error":{"code":"Conflict","message":"in use"}}`, ""},
		{"precondition failed", fault.New(fault.PreconditionFailed, "PreconditionFailed", "read it again"), 412,
			`{"error":{"code":"PreconditionFailed","message":"read it again"}}`, ""},
		{"key unreachable", fault.New(fault.KeyUnreachable, "KeyVaultUnreachable", "try again"), 503,
			`{"error":{"code":"KeyVaultUnreachable","message":"try again"}}`, "10"},
		{"internal hides its message", &fault.Error{Code: "InternalError", Message: "secret detail", Err: errors.New("cause")}, 500,
			`{"error":{"code":"InternalError","message":"the server failed to handle the request; the error is in the server log under this request's x-ms-request-id"}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), tc.err)
			if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.body || rec.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %d %s Retry-After=%q, want %d %s Retry-After=%q",
					rec.Code, rec.Body, rec.Header().Get("Retry-After"), tc.status, tc.body, tc.retryAfter)
			}
		})
	}
}

func TestUnknownRoutesAnswerInTheAPIsErrorShape(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"PATCH", "/v1.0/applications"}, {"GET", "/subscriptions/s/resourceGroups/rg/providers/X/y"}} {
		var er errResp
		resp := e.do(c.method, e.url("", c.path), "", "", &er)
		if resp.StatusCode != 404 || er.Error.Code != "NotFound" || !strings.Contains(er.Error.Message, c.method) {
			t.Errorf("%s %s: %d %+v", c.method, c.path, resp.StatusCode, er)
		}
	}
}
