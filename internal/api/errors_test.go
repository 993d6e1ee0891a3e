package api

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

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
