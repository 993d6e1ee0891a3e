package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/replay"
)

// TestACollectorRequestTakenOnOneNodeIsRefusedOnAnother: two API servers whose records of
// signatures share one control database, as two nodes do, take a captured Data Collector
// request once between them.
func TestACollectorRequestTakenOnOneNodeIsRefusedOnAnother(t *testing.T) {
	f := newFullEnv(t)
	ctx := context.Background()
	cfgB := f.server.cfg
	var err error
	if cfgB.CollectorReplays, err = replay.New(ctx, f.control, replay.Options{}); err != nil {
		t.Fatal(err)
	}
	nodeB, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]http.Handler{"a": f.server, "b": nodeB}

	_, keys, err := f.server.cfg.Workspaces.CollectorWorkspace(ctx, f.customerID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(keys.PrimarySharedKey)
	date := time.Now().UTC().Format(http.TimeFormat)
	send := func(node, body string) (int, string) {
		sig := base64.StdEncoding.EncodeToString(collectorSignature(key, len(body), "application/json", date))
		req := httptest.NewRequest("POST", "/api/logs?api-version=2016-04-01", strings.NewReader(body))
		req.Header.Set("Authorization", "SharedKey "+f.customerID+":"+sig)
		req.Header.Set("x-ms-date", date)
		req.Header.Set("Log-Type", "Replayed")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		nodes[node].ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, step := range []struct {
		node, body string
		want       int
	}{
		{"a", `[{"Name":"first"}]`, http.StatusOK},
		{"b", `[{"Name":"first"}]`, http.StatusConflict}, // captured and sent to the other node
		{"b", `[{"Name":"FIRST"}]`, http.StatusConflict}, // the signature does not cover the body
		{"b", `[{"Name":"second"}, {"Name":"third"}]`, http.StatusOK},
		{"a", `[{"Name":"second"}, {"Name":"third"}]`, http.StatusConflict},
	} {
		status, body := send(step.node, step.body)
		if status != step.want || (status == http.StatusConflict && !strings.Contains(body, "DuplicateRequest")) {
			t.Fatalf("%s sent to node %s: %d %s, want %d", step.body, step.node, status, body, step.want)
		}
	}
	if _, rows := f.queryRows("Replayed_CL | project Name_s"); len(rows) != 3 {
		t.Fatalf("%d rows stored, want the two requests' 3 once: %v", len(rows), rows)
	}
}

func TestReplayRefusalsAreWorded(t *testing.T) {
	f := newFullEnv(t)
	failure := errors.New("database unreachable")
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"signed outside the window", replay.ErrOutsideWindow, 403, "InvalidAuthorization"},
		{"signed before the record began", replay.ErrBeforeRecord, 403, "InvalidAuthorization"},
		{"signature taken", fmt.Errorf("reserve: %w", replay.ErrSeen), 409, "DuplicateRequest"},
		{"a lone node's record is full", &replay.FullError{Limit: 3, RetryAfter: 90 * time.Second}, 429, "ThrottledError"},
		{"the record cannot be written", failure, 500, "InternalError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := toAPIError(f.server.replayError(tc.err))
			if e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("answered %d %s, want %d %s", e.Status, e.Code, tc.status, tc.code)
			}
			if tc.status == 429 && e.RetryAfter != 90 {
				t.Fatalf("Retry-After = %d, want 90", e.RetryAfter)
			}
			if tc.status == 500 && strings.Contains(e.Message, failure.Error()) {
				t.Fatalf("the database's failure is shown to the caller: %s", e.Message)
			}
		})
	}
}
