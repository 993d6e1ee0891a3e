package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/replay"
	"github.com/sealwatch/sealwatch/internal/rootkey"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// fullEnv is a testEnv that serves every route: identity, vault, workspace
// management, ingestion, Data Collector, query, incidents and metrics, with
// one onboarded workspace under the platform key and a DCR into it.
type fullEnv struct {
	*testEnv
	server                    *Server
	mgmt, query, ingest, vtok string // the admin's tokens per API
	customerID, immutableID   string
	adminOID                  string
	logsDir                   string // the workspaces' log stores
	control                   *boltkv.DB
}

func newFullEnv(t testing.TB) *fullEnv {
	t.Helper()
	dir := t.TempDir()
	var control *boltkv.DB
	e := newTestEnv(t, func(cfg *Config) {
		ctx := context.Background()
		db := openTestDB(t, filepath.Join(dir, "control.db"))
		control = db
		docsDB := openTestDB(t, filepath.Join(dir, "documents.db"))
		doc, secret, err := cfg.Identity.CreateManagedIdentity(ctx, "sealwatch-document-store")
		if err != nil {
			t.Fatal(err)
		}
		platform, err := keyring.NewPlatformKEK(bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := clusterkeys.New(clusterkeys.Config{
			DB: db, Platform: platform,
			DocumentStore: workspace.Principal{ObjectID: doc.ObjectID, AppID: doc.AppID, Secret: secret},
			NewKEK: func(clusterkeys.KEKRequest) (keyring.KEK, error) {
				return nil, errors.New("this test serves no customer-managed key")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keys.Close() })
		secrets, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "secrets.key"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(secrets.Close)
		ws, err := workspace.New(db, cfg.Identity, keys, secrets, workspace.Options{DocumentStorePrincipalID: doc.ObjectID})
		if err != nil {
			t.Fatal(err)
		}
		data, err := wsdata.New(filepath.Join(dir, "logs"), docsDB, keys, wsdata.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { data.Close() })
		replays, err := replay.New(ctx, db, replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Workspaces, cfg.ClusterKeys, cfg.Data, cfg.DeleteWorkspaceData = ws, keys, data, data.DeleteWorkspace
		cfg.CollectorReplays = replays
		cfg.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# no metrics\n") })
	})
	f := &fullEnv{testEnv: e, server: e.srv.Config.Handler.(*Server), logsDir: filepath.Join(dir, "logs"), control: control,
		mgmt:   e.adminToken("https://management.azure.com/.default"),
		query:  e.adminToken("https://api.loganalytics.io/.default"),
		ingest: e.adminToken("https://monitor.azure.com//.default"),
		vtok:   e.adminToken("https://vault.azure.net/.default"),
	}
	admin, err := e.identity.Get(context.Background(), e.adminID)
	if err != nil {
		t.Fatal(err)
	}
	f.adminOID = admin.ObjectID
	var ws struct {
		ID         string `json:"id"`
		Properties struct {
			CustomerID string `json:"customerId"`
		} `json:"properties"`
	}
	f.mustDo(201, "PUT", f.arm("Microsoft.OperationalInsights/workspaces/secops"), `{"location":"local"}`, &ws)
	f.customerID = ws.Properties.CustomerID
	f.mustDo(200, "PUT", f.arm("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/onboardingStates/default"),
		`{"properties":{"customerManagedKey":false}}`, nil)
	var dcr struct {
		Properties struct {
			ImmutableID string `json:"immutableId"`
		} `json:"properties"`
	}
	f.mustDo(201, "PUT", f.arm("Microsoft.Insights/dataCollectionRules/events-dcr"), `{"location":"local","properties":{
		"streamDeclarations":{"Custom-Events":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Message","type":"string"}]}},
		"destinations":{"logAnalytics":[{"workspaceResourceId":"`+ws.ID+`","name":"ws"}]},
		"dataFlows":[{"streams":["Custom-Events"],"destinations":["ws"],"transformKql":"source","outputStream":"Custom-Events_CL"}]}}`, &dcr)
	f.immutableID = dcr.Properties.ImmutableID
	f.mustDo(200, "PUT", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1?api-version=2023-07-01",
		`{"location":"local","properties":{"enablePurgeProtection":true,"accessPolicies":[{"objectId":"`+f.adminOID+`","permissions":{"keys":["all"]}}]}}`, nil)
	return f
}

func openTestDB(t testing.TB, path string) *boltkv.DB {
	t.Helper()
	db, err := boltkv.Open(path, boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// arm is the management path of a resource in the test's resource group.
func (f *fullEnv) arm(resource string) string {
	return "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/" + resource + "?api-version=2023-07-01"
}

// serve sends a request straight to the handler, as host.
func (f *fullEnv) serve(method, host, target, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://"+host+target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.server.ServeHTTP(rec, req)
	return rec
}

func (f *fullEnv) mustDo(status int, method, target, body string, out any) {
	f.t.Helper()
	rec := f.serve(method, "127.0.0.1", target, f.mgmt, body)
	if rec.Code != status && !(status == 200 && rec.Code == 201) {
		f.t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			f.t.Fatal(err)
		}
	}
}

// refusal checks that rec is a 4xx with a code and a message, in the API's
// error shape (or OAuth2's, for the token endpoint), and returns the code.
func refusal(t *testing.T, rec *httptest.ResponseRecorder, oauth bool) string {
	t.Helper()
	if rec.Code < 400 || rec.Code >= 500 {
		t.Fatalf("got %d %s, want a 4xx refusal", rec.Code, truncate(rec.Body.String(), 300))
	}
	if oauth {
		var body oauthError
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" || body.Description == "" {
			t.Fatalf("not an OAuth2 error body: %s", truncate(rec.Body.String(), 300))
		}
		return body.Error
	}
	var body errResp
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("not an error body with code and message: %s", truncate(rec.Body.String(), 300))
	}
	return body.Error.Code
}

// badNames are path values no route may accept, escaped as they travel.
var badNames = []struct{ name, escaped string }{
	{"100,000 characters", strings.Repeat("a", 100000)},
	{"encoded dot-dot-slash", "..%2F.."},
	{"invalid UTF-8", "ab%FFcd"},
	{"control character", "ab%01cd"},
	{"space", "ab%20cd"},
	{"empty", ""},
}

// badBodies are request bodies no route may store.
var badBodies = []struct{ name, body string }{
	{"invalid UTF-8", "{\"properties\":{\"title\":\"caf\xe9\",\"message\":\"caf\xe9\"},\"displayName\":\"caf\xe9\",\"query\":\"print '\xff'\"}"},
	{"unpaired surrogate escape", `{"properties":{"title":"\ud800","message":"\ud800"},"displayName":"\ud800","query":"print '\ud800'"}`},
	{"malformed JSON", `{"properties":`},
	{"wrong type", `[1,2]`},
	{"over the size limit", `{"properties":{"title":"` + strings.Repeat("x", 2<<20) + `"}}`},
	{"empty", ""},
}

// validPath gives each wildcard, keyed as routeRules keys it, a value that
// names an existing or at least well-formed resource. A route with a
// wildcard missing here fails the test: it would have no bad-input cases.
func (f *fullEnv) validPath() map[string]string {
	return map[string]string{
		"/{tenant}":                     f.identity.TenantID(),
		"subscriptions/{sub}":           testSub,
		"resourceGroups/{rg}":           "rg1",
		"clusters/{name}":               "cluster1",
		"workspaces/{name}":             "secops",
		"workspaces/{id}":               f.customerID,
		"dataCollectionRules/{name}":    "events-dcr",
		"dataCollectionRules/{id}":      f.immutableID,
		"streams/{stream}":              "Custom-Events",
		"vaults/{name}":                 "kv1",
		"deletedVaults/{name}":          "kv1",
		"locations/{loc}":               "westeurope",
		"accessPolicies/{kind}":         "add",
		"keys/{key}":                    "cmk",
		"applications/{id}":             f.adminOID,
		"incidents/{id}":                "5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1a",
		"comments/{cid}":                "c1",
		"alertRules/{ruleId}":           "5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1b",
		"automationRules/{ruleId}":      "5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1d",
		"tasks/{taskId}":                "t1",
		"watchlists/{alias}":            "vips",
		"watchlistItems/{itemId}":       "5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1c",
		"tables/{table}":                "Events_CL",
		"savedSearches/{id}":            "vimDnsTest",
		"eventSubscriptions/{eventSub}": "node-1",
		"subscriptions/{scope...}":      testSub + "/resourceGroups/rg1/providers/Microsoft.Authorization/roleAssignments/a1",
	}
}

// ignoresBody lists the routes that read no request body, so a bad one
// changes nothing: they may succeed, never fail with 5xx.
var ignoresBody = map[string]bool{
	"POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}/sharedKeys":           true,
	"POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}/verify":               true,
	"POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}/flush":                true,
	"POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}/tables/{table}/flush": true,
	"POST /v1.0/applications/{id}/resetSecret":                                                          true,
	"POST /subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}/purge": true,
}

// routeToken is the admin's token for the API a route belongs to.
func (f *fullEnv) routeToken(path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/workspaces/"):
		return f.query
	case strings.HasPrefix(path, "/dataCollectionRules/"):
		return f.ingest
	case strings.HasPrefix(path, "/{tenant}/"), path == "/api/logs":
		return ""
	}
	return f.mgmt
}

// fill builds a route's path with each wildcard's value, the one at bad
// (an index into the wildcards, or -1) replaced by badValue.
func fill(path string, values map[string]string, bad int, badValue string) (string, bool) {
	segs := strings.Split(path, "/")
	prev, n := "", 0
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") {
			v, ok := values[prev+"/"+seg]
			if !ok {
				return prev + "/" + seg, false
			}
			if n == bad {
				v = badValue
				if strings.HasSuffix(seg, "...}") {
					// A scope: the bad value takes the subscription's place.
					v = badValue + "/resourceGroups/rg1/providers/Microsoft.Authorization/roleAssignments/a1"
				}
			}
			segs[i] = v
			n++
		}
		prev = seg
	}
	return strings.Join(segs, "/"), true
}

func wildcards(path string) int { return strings.Count(path, "{") }

// TestEveryRouteRefusesBadNamesAndBodies walks every route the server
// registers — the list comes from the registration, so a new route is
// walked too — and sends it bad path values and bad bodies. Every one is a
// 4xx with a code and a message; none is a 500.
func TestEveryRouteRefusesBadNamesAndBodies(t *testing.T) {
	f := newFullEnv(t)
	values := f.validPath()
	if len(f.server.patterns) < 55 {
		t.Fatalf("only %d routes registered: the environment does not serve every API", len(f.server.patterns))
	}
	for _, pattern := range f.server.patterns {
		method, path, _ := strings.Cut(pattern, " ")
		oauth := strings.HasSuffix(path, "/oauth2/v2.0/token")
		if missing, ok := fill(path, values, -1, ""); !ok {
			t.Fatalf("route %s: the test has no valid value for %s, so no bad-name cases; add one to validPath", pattern, missing)
		}
		for w := range wildcards(path) {
			for _, bad := range badNames {
				t.Run(pattern+"/wildcard "+string(rune('1'+w))+"/"+bad.name, func(t *testing.T) {
					target, _ := fill(path, values, w, bad.escaped)
					rec := f.serve(method, "127.0.0.1", target+"?api-version=2023-07-01", f.routeToken(path), "")
					// An empty segment is refused before routing, so in the
					// API's shape even on the token endpoint's path.
					code := refusal(t, rec, oauth && bad.name != "empty")
					if bad.name != "empty" && rec.Code != http.StatusBadRequest {
						t.Fatalf("got %d %s, want 400", rec.Code, code)
					}
					if strings.Contains(rec.Body.String(), strings.Repeat("a", 200)) {
						t.Fatal("the refusal echoes the whole 100,000-character name")
					}
				})
			}
		}
		if method != http.MethodPost && method != http.MethodPut && method != http.MethodPatch {
			continue
		}
		target, _ := fill(path, values, -1, "")
		for _, bad := range badBodies {
			t.Run(pattern+"/body/"+bad.name, func(t *testing.T) {
				rec := f.serve(method, "127.0.0.1", target+"?api-version=2023-07-01", f.routeToken(path), bad.body)
				if ignoresBody[pattern] && rec.Code < 300 {
					return
				}
				refusal(t, rec, oauth)
				// `"caf`: the bad value as a JSON string starts; a bare "caf" turns
				// up in the hex of a random trace ID one run in a few hundred.
				if strings.Contains(rec.Body.String(), `"caf`) || strings.Contains(rec.Body.String(), "\uFFFD") {
					t.Fatalf("the refusal repeats or repairs the body: %s", truncate(rec.Body.String(), 300))
				}
			})
		}
	}
}

// TestTheReportedBadInputIsRefused replays the cases found by hand: a
// resource group ..%2F.. (was 201 and listed), a 100,000-character name
// (was 500), and invalid UTF-8 in ingested rows, column names, Data
// Collector bodies, incident titles and KQL literals (was stored as U+FFFD).
func TestTheReportedBadInputIsRefused(t *testing.T) {
	f := newFullEnv(t)
	t.Run("resource group ..%2F..", func(t *testing.T) {
		rec := f.serve("PUT", "127.0.0.1", "/subscriptions/"+testSub+"/resourceGroups/..%2F../providers/Microsoft.OperationalInsights/workspaces/evil1?api-version=2023-07-01", f.mgmt, `{"location":"local"}`)
		if code := refusal(t, rec, false); rec.Code != 400 || code != "InvalidResourceName" || !strings.Contains(rec.Body.String(), "resource group name '../..'") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		list := f.serve("GET", "127.0.0.1", "/subscriptions/"+testSub+"/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01", f.mgmt, "")
		if list.Code != 200 || strings.Contains(list.Body.String(), "evil1") {
			t.Fatalf("listing: %d %s", list.Code, list.Body)
		}
	})
	t.Run("100,000-character workspace name", func(t *testing.T) {
		rec := f.serve("PUT", "127.0.0.1", "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.OperationalInsights/workspaces/"+strings.Repeat("w", 100000)+"?api-version=2023-07-01", f.mgmt, `{"location":"local"}`)
		if code := refusal(t, rec, false); rec.Code != 400 || code != "InvalidResourceName" || !strings.Contains(rec.Body.String(), "longer than 63 characters") || rec.Body.Len() > 1000 {
			t.Fatalf("%d %s", rec.Code, truncate(rec.Body.String(), 300))
		}
	})
	t.Run("ingested value and column name", func(t *testing.T) {
		for body, want := range map[string]string{
			"[{\"Message\":\"ok\"},{\"Message\":\"caf\xe9\"}]": `row 1: the value of column \"Message\" is not valid UTF-8`,
			"[{\"Mess\xffage\":\"ok\"}]":                       "row 0: a column name is not valid UTF-8",
			`[{"Message":"\udc00"}]`:                           `half a UTF-16 surrogate pair`,
		} {
			rec := f.serve("POST", "127.0.0.1", "/dataCollectionRules/"+f.immutableID+"/streams/Custom-Events?api-version=2023-01-01", f.ingest, body)
			if code := refusal(t, rec, false); rec.Code != 400 || code != "InvalidPayload" || !strings.Contains(rec.Body.String(), want) {
				t.Errorf("%q: %d %s", body, rec.Code, rec.Body)
			}
		}
	})
	t.Run("Data Collector body", func(t *testing.T) {
		var keys struct{ PrimarySharedKey string }
		f.mustDo(200, "POST", f.arm("Microsoft.OperationalInsights/workspaces/secops/sharedKeys"), "", &keys)
		key, _ := base64.StdEncoding.DecodeString(keys.PrimarySharedKey)
		body := "[{\"Message\":\"caf\xe9\"}]"
		date := time.Now().UTC().Format(http.TimeFormat)
		req := httptest.NewRequest("POST", "https://127.0.0.1/api/logs?api-version=2016-04-01", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Log-Type", "Events")
		req.Header.Set("x-ms-date", date)
		req.Header.Set("Authorization", "SharedKey "+f.customerID+":"+base64.StdEncoding.EncodeToString(collectorSignature(key, len(body), "application/json", date)))
		rec := httptest.NewRecorder()
		f.server.ServeHTTP(rec, req)
		if code := refusal(t, rec, false); rec.Code != 400 || code != "InvalidPayload" || !strings.Contains(rec.Body.String(), "field [0].Message") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("incident title", func(t *testing.T) {
		rec := f.serve("PUT", "127.0.0.1", f.arm("Microsoft.OperationalInsights/workspaces/secops/providers/Microsoft.SecurityInsights/incidents/i1"), f.mgmt,
			"{\"properties\":{\"title\":\"Brute force on dc\xff1\",\"severity\":\"High\"}}")
		if code := refusal(t, rec, false); rec.Code != 400 || code != "BadParameter" || !strings.Contains(rec.Body.String(), "field properties.title") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("KQL literal", func(t *testing.T) {
		for name, target := range map[string]string{
			"GET with %FF": "/v1/workspaces/" + f.customerID + "/query?query=print%20x%3D%27caf%E9%27",
			"POST escape":  "/v1/workspaces/" + f.customerID + "/query",
		} {
			method, body := "GET", ""
			if strings.HasPrefix(name, "POST") {
				method, body = "POST", `{"query":"print x='\\ud800'"}`
			}
			rec := f.serve(method, "127.0.0.1", target, f.query, body)
			var er errResp
			json.Unmarshal(rec.Body.Bytes(), &er)
			if refusal(t, rec, false); rec.Code != 400 || er.Error.InnerError == nil || er.Error.InnerError.Code != "SyntaxError" {
				t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
			}
		}
	})
}

// TestVaultDataPlaneRefusesBadNames covers the routes the vault host serves,
// which ServeMux does not route: key names, versions and vault host names.
func TestVaultDataPlaneRefusesBadNames(t *testing.T) {
	f := newFullEnv(t)
	version := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ name, host, method, path, code string }{
		{"key name too long", "kv1", "GET", "/keys/" + strings.Repeat("k", 128), "BadParameter"},
		{"key name with an encoded slash", "kv1", "GET", "/keys/..%2F..", "BadParameter"},
		{"key name with invalid UTF-8", "kv1", "POST", "/keys/c%FFmk/create", "BadParameter"},
		{"key name with a control character", "kv1", "DELETE", "/keys/c%00mk", "BadParameter"},
		{"key name with an underscore", "kv1", "GET", "/deletedkeys/c_mk", "BadParameter"},
		{"key version not hex", "kv1", "POST", "/keys/cmk/" + strings.Repeat("z", 32) + "/wrapkey", "BadParameter"},
		{"key version too long", "kv1", "GET", "/keys/cmk/" + version + "00", "BadParameter"},
		{"vault host with consecutive hyphens", "kv--1", "GET", "/keys", "VaultNameNotValid"},
		{"vault host too long", strings.Repeat("v", 25), "GET", "/keys", "VaultNameNotValid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.serve(tc.method, tc.host+"."+testDNSSuffix, tc.path+"?api-version=7.6", f.vtok, `{"kty":"oct","key_size":256}`)
			if code := refusal(t, rec, false); rec.Code != 400 || code != tc.code {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestNamesInQueryParametersAndHeadersAreChecked(t *testing.T) {
	f := newFullEnv(t)
	audit := "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1/auditRecords?api-version=2023-07-01&key="
	for _, key := range []string{"c%FFmk", "c%0Amk", strings.Repeat("k", 128)} {
		rec := f.serve("GET", "127.0.0.1", audit+key, f.mgmt, "")
		if code := refusal(t, rec, false); rec.Code != 400 || code != "BadParameter" {
			t.Errorf("key=%s: %d %s", truncate(key, 20), rec.Code, rec.Body)
		}
	}
	for id, echoed := range map[string]bool{
		"5f0c9a8e-1b2d-4c3e-8f7a-6b5c4d3e2f1a": true,
		"caf\xe9":                              false,
		"a b":                                  false,
		strings.Repeat("x", 65):                false,
	} {
		req := httptest.NewRequest("GET", "https://127.0.0.1/nope", nil)
		req.Header.Set("x-ms-client-request-id", id)
		rec := httptest.NewRecorder()
		f.server.ServeHTTP(rec, req)
		if got := rec.Header().Get("x-ms-request-id"); (got == id) != echoed || got == "" {
			t.Errorf("client request ID %q answered as %q", id, got)
		}
	}
}

// FuzzEveryRoute sends any value in any wildcard of any route (DELETE aside,
// to keep the workspace the other routes need), with any body: nothing
// panics and nothing is a 5xx.
func FuzzEveryRoute(f *testing.F) {
	env := newFullEnv(f)
	values := env.validPath()
	for i := range env.server.patterns {
		f.Add(uint8(i), uint8(0), "..%2F..", []byte(`{"properties":{}}`))
		f.Add(uint8(i), uint8(1), "caf\xe9", []byte("{\"a\":\"\xff\"}"))
	}
	f.Fuzz(func(t *testing.T, route, wildcard uint8, value string, body []byte) {
		pattern := env.server.patterns[int(route)%len(env.server.patterns)]
		method, path, _ := strings.Cut(pattern, " ")
		if method == http.MethodDelete || len(value) > 1<<12 {
			return
		}
		n := max(wildcards(path), 1)
		target, _ := fill(path, values, int(wildcard)%n, url.PathEscape(value))
		req := httptest.NewRequest(method, "https://127.0.0.1"+target+"?api-version=2023-07-01", bytes.NewReader(body))
		if tok := env.routeToken(path); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		env.server.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, truncate(target, 200), rec.Code, truncate(rec.Body.String(), 300))
		}
	})
}
