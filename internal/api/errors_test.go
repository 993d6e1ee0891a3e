package api

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
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
		{fmt.Errorf("scan: %w", &logstore.LineageUnreachableError{Workspace: "ws", Table: "T", Lineage: "n1", Object: "n1/manifest-3",
			Err: fmt.Errorf("secret detail that must not leak: %w", objstore.ErrUnreachable)}), 503, "ObjectStoreUnreachable", "10"},
		{fmt.Errorf("secret detail that must not leak: %w", objstore.ErrUnreachable), 503, "ObjectStoreUnreachable", "10"},
		{fmt.Errorf("publish manifest 4: %w", logstore.ErrLineageAdopted), 503, "ServiceUnavailable", "5"},
		{fmt.Errorf("publish manifest 4: %w", logstore.ErrLineageConflict), 503, "ServiceUnavailable", "5"},
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

// TestKeyInaccessibleRefusalIsWrittenOnce: the 403 a request meets when the
// customer took the key away reads the same from the data plane (a keyring
// error) and the control plane (a domain refusal of kind KeyInaccessible),
// because the source spells it in one place; the 503 of a vault unreachable
// past the grace reads the same from both too.
func TestKeyInaccessibleRefusalIsWrittenOnce(t *testing.T) {
	render := func(err error) string {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), err)
		return fmt.Sprintf("%d %s", rec.Code, rec.Body)
	}
	data := render(fmt.Errorf("cluster c1: %w", keyring.ErrKeyRevoked))
	control := render(&fault.Error{Kind: fault.KeyInaccessible, Err: errors.New("the customer-managed key of cluster 'c1' is revoked")})
	if !strings.HasPrefix(data, `403 {"error":{"code":"CustomerManagedKeyInaccessible","message":"`) || data != control {
		t.Fatalf("data plane: %s\ncontrol plane: %s", data, control)
	}
	// So does the 503 of a vault unreachable past the grace.
	data = render(fmt.Errorf("cluster c1: %w", keyring.ErrLocked))
	control = render(&fault.Error{Kind: fault.KeyUnreachable, Err: errors.New("the key vault of cluster 'c1' cannot be reached")})
	if !strings.HasPrefix(data, `503 {"error":{"code":"KeyVaultUnreachable","message":"`) || data != control {
		t.Fatalf("data plane: %s\ncontrol plane: %s", data, control)
	}

	var places []string
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && strings.Contains(lit.Value, "CustomerManagedKeyInaccessible") {
				places = append(places, path)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(places) != 1 {
		t.Fatalf("the CustomerManagedKeyInaccessible refusal is spelled in %d places, want 1: %v", len(places), places)
	}
}

// TestDamageIsRefusedNamingWorkspaceTableAndObject: a request that needs
// damaged data answers 409 DataIntegrityError, whose message names the
// workspace, where the damage is, what failed and, for rows, the time range a
// query can avoid.
func TestDamageIsRefusedNamingWorkspaceTableAndObject(t *testing.T) {
	const ws = "39dde91d-f25c-4c10-b8f7-eb541d26f795"
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"a segment, wrapped", fmt.Errorf("scan Events_CL: %w", &logstore.IntegrityError{Workspace: ws, Table: "Events_CL", Object: "x_0.seg",
			Problem: logstore.ProblemMissing, Detail: "the file is gone", MinT: 1796518800e9, MaxT: 1796521797e9}),
			[]string{"workspace " + ws, "object x_0.seg of table Events_CL", "missing: the file is gone", "ends before 2026-12-06T01:00:00Z or starts after 2026-12-06T01:49:57Z"}},
		{"a manifest, the whole table", &logstore.IntegrityError{Workspace: ws, Table: "Events_CL", Object: "manifest", Problem: logstore.ProblemRolledBack},
			[]string{"workspace " + ws, "object manifest of table Events_CL", "rolled back"}},
		{"a document", &docstore.IntegrityError{Workspace: ws, Collection: "incidents", ID: "i1", Detail: "authentication failed"},
			[]string{"workspace " + ws, "document i1 of incidents", "authentication failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := toAPIError(tc.err)
			if e.Status != http.StatusConflict || e.Code != "DataIntegrityError" {
				t.Fatalf("got %d %s, want 409 DataIntegrityError", e.Status, e.Code)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message does not say %q: %s", w, e.Message)
				}
			}
		})
	}
}

// TestAStoreClosedUnderARequestIsRetried: a workspace's log store closed
// while a request used it (deleted, or closed to bound open stores) is a 503
// to send again, not a 500.
func TestAStoreClosedUnderARequestIsRetried(t *testing.T) {
	e := toAPIError(fmt.Errorf("scan Events_CL: %w", logstore.ErrClosed))
	if e.Status != http.StatusServiceUnavailable || e.RetryAfter == 0 {
		t.Fatalf("got %d %s (Retry-After %d), want 503 with a Retry-After", e.Status, e.Code, e.RetryAfter)
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
	e := newFullEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"a path no route has", "GET", "/nope", 404, "NotFound", ""},
		{"a provider no route has", "GET", "/subscriptions/s/resourceGroups/rg/providers/X/y", 404, "NotFound", ""},
		{"a POST of the metrics", "POST", "/metrics", 405, "MethodNotAllowed", "GET, HEAD"},
		{"a PATCH of the applications", "PATCH", "/v1.0/applications", 405, "MethodNotAllowed", "GET, HEAD, POST"},
		{"a PUT of one application", "PUT", "/v1.0/applications/a1", 405, "MethodNotAllowed", "DELETE, GET, HEAD"},
		{"a PATCH of a workspace", "PATCH", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w", 405, "MethodNotAllowed", "DELETE, GET, HEAD, PUT"},
		// Role assignments' PUT and DELETE take any path under /subscriptions/: no reason to name them.
		{"a GET of a path under a workspace no route has", "GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w/nonsense", 404, "NotFound", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var er errResp
			resp := e.do(c.method, e.url("", c.path), "", "", &er)
			if resp.StatusCode != c.status || er.Error.Code != c.code || resp.Header.Get("Allow") != c.allow {
				t.Fatalf("%s %s: %d Allow=%q %+v, want %d %s Allow=%q",
					c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), er, c.status, c.code, c.allow)
			}
			if !strings.Contains(er.Error.Message, c.method+" "+c.path) {
				t.Errorf("message %q does not name the request", er.Error.Message)
			}
			if c.allow != "" && !strings.Contains(er.Error.Message, "use "+strings.ReplaceAll(c.allow, ", ", " or ")) {
				t.Errorf("message %q does not say which methods to use", er.Error.Message)
			}
		})
	}
}

// TestAnInternalErrorOfAManagementCallIsLoggedWithItsCause: the audited
// routes map the error for their record first; the log must still get the
// cause, not the generic message the caller sees.
func TestAnInternalErrorOfAManagementCallIsLoggedWithItsCause(t *testing.T) {
	var logged strings.Builder
	e := newTestEnv(t, func(cfg *Config) { cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	s := e.srv.Config.Handler.(*Server)
	s.mgmt("GET /subscriptions/{sub}/providers/Microsoft.KeyVault/boom", "VaultGet", func(*http.Request, *identity.Claims) (int, any, error) {
		return 0, nil, errors.New("bbolt: key too large")
	})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "https://127.0.0.1/subscriptions/"+testSub+"/providers/Microsoft.KeyVault/boom?api-version=2023-07-01", nil)
	req.Header.Set("Authorization", "Bearer "+e.adminToken("https://management.azure.com/.default"))
	s.ServeHTTP(rec, req)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "bbolt") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logged.String(), "bbolt: key too large") {
		t.Fatalf("the cause is not in the log: %s", logged.String())
	}
}

// TestACallCancelledWhileItWaitsForTheFirstKeyCheckIsACancellation: after a
// start, a query or an ingest waits for its cluster's first key check; its
// client going away meanwhile ends the wait with the context's error, which
// is answered 499 ClientClosedRequest, never 500, and not logged as the
// server's failure.
func TestACallCancelledWhileItWaitsForTheFirstKeyCheckIsACancellation(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, filepath.Join(dir, "control.db"))
	keys, err := clusterkeys.New(clusterkeys.Config{
		DB: db, Platform: kektest.New("platform"), DocumentStore: workspace.Principal{ObjectID: "doc", AppID: "doc"},
		NewKEK: func(clusterkeys.KEKRequest) (keyring.KEK, error) {
			return kektest.New("cmk"), nil
		},
		RestoreAtStart: true, FirstCheckWait: time.Hour, // the stored keys are not reopened yet
	})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	data, err := wsdata.New(filepath.Join(dir, "logs"), db, keys, wsdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	ws := &workspace.WorkspaceInfo{ClusterID: "c1", CMK: true}
	ws.Workspace.Properties.CustomerID = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away
	_, sourceErr := data.Source(ctx, ws)
	_, logsErr := data.Logs(ctx, ws)
	for name, err := range map[string]error{"query": sourceErr, "ingest": logsErr} {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the wait for the first key check ended with %v, want the cancellation", err)
			}
			var logged strings.Builder
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("POST", "/v1/workspaces/x/query", nil), slog.New(slog.NewTextHandler(&logged, nil)), err)
			if rec.Code != statusClientClosedRequest || !strings.Contains(rec.Body.String(), `"code":"ClientClosedRequest"`) {
				t.Fatalf("answered %d %s, want 499 ClientClosedRequest", rec.Code, rec.Body)
			}
			if logged.Len() > 0 {
				t.Fatalf("a cancelled call was logged: %s", logged.String())
			}
		})
	}
}

// TestAnIngestPostgreSQLDidNotConfirmSaysItsRowsMayBeKept: a commit whose
// answer was lost may have stored the rows, which a replay of the node's
// log or another node's read may then serve: the 503 must not tell the
// client that nothing was taken, or it would count on no duplicate.
func TestAnIngestPostgreSQLDidNotConfirmSaysItsRowsMayBeKept(t *testing.T) {
	e := toAPIError(fmt.Errorf("ingest into ws/T_CL: %w", logstore.ErrSharedWALUnavailable))
	if e.Status != http.StatusServiceUnavailable || e.RetryAfter == 0 {
		t.Fatalf("got %d, Retry-After %d; want 503 with Retry-After", e.Status, e.RetryAfter)
	}
	if !strings.Contains(e.Message, "may or may not be kept") || strings.Contains(e.Message, "none of the body was taken") {
		t.Fatalf("the message promises what it cannot: %s", e.Message)
	}
}
