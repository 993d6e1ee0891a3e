package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestAPIVersionRule is the rule of docs/api.md "API versions", case by
// case, on each kind of surface: every version implemented and every later
// one accepted; missing, malformed and too old refused with the range.
func TestAPIVersionRule(t *testing.T) {
	kv, ingest, collector := keyVaultKeysAPI, logsIngestionAPI, dataCollectorAPI
	vaults := managementAPI("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1")
	for _, tc := range []struct {
		name    string
		surface *apiSurface
		version string // "" sends none
		code    string // "" accepts
	}{
		{"Key Vault: the version azkeys v1.6.0 sends", kv, "2026-04-01", ""},
		{"Key Vault: the version azkeys v1.5.0 and keyvault-keys 4.10 send", kv, "2025-07-01", ""},
		{"Key Vault: the oldest numbered version", kv, "7.4", ""},
		{"Key Vault: a numbered preview", kv, "7.6-preview.2", ""},
		{"Key Vault: a dated preview", kv, "2026-01-01-preview", ""},
		{"Key Vault: a date not yet released", kv, "2031-01-01", ""},
		{"Key Vault: a date between two it implements", kv, "2025-10-01", ""},
		{"Key Vault: missing", kv, "", "BadParameter"},
		{"Key Vault: an older numbered version", kv, "7.3", "BadParameter"},
		{"Key Vault: the first version, 2016-10-01, older than the first dated one it implements", kv, "2016-10-01", "BadParameter"},
		{"Key Vault: a word", kv, "latest", "BadParameter"},
		{"Key Vault: a number without a minor version", kv, "7", "BadParameter"},
		{"Key Vault: a preview with text after it", kv, "7.6-preview.x", "BadParameter"},
		{"Logs Ingestion: the version monitor-ingestion sends", ingest, "2023-01-01", ""},
		{"Logs Ingestion: the first preview", ingest, "2021-11-01-preview", ""},
		{"Logs Ingestion: a later date", ingest, "2027-01-01", ""},
		{"Logs Ingestion: missing", ingest, "", "MissingApiVersionParameter"},
		{"Logs Ingestion: older than the first preview", ingest, "2021-01-01", "InvalidApiVersionParameter"},
		{"Logs Ingestion: a Key Vault number", ingest, "7.6", "InvalidApiVersionParameter"},
		{"Data Collector: the one version", collector, "2016-04-01", ""},
		{"Data Collector: older", collector, "2015-04-01", "InvalidApiVersionParameter"},
		{"management: the CLI's version", vaults, "2023-07-01", ""},
		{"management: the vault API's newest", vaults, "2026-02-01", ""},
		{"management: a later preview", vaults, "2027-03-01-preview", ""},
		{"management: missing", vaults, "", "MissingApiVersionParameter"},
		{"management: older than soft-delete retention", vaults, "2018-02-14", "InvalidApiVersionParameter"},
		{"management: month 13", vaults, "2026-13-01", "InvalidApiVersionParameter"},
		{"management: 30 February", vaults, "2026-02-30", "InvalidApiVersionParameter"},
		{"management: no hyphens", vaults, "20260201", "InvalidApiVersionParameter"},
		{"management: a beta suffix", vaults, "2026-02-01-beta", "InvalidApiVersionParameter"},
		{"management: a dated preview with a number, which only numbered versions have", vaults, "2023-07-01-preview.1", "InvalidApiVersionParameter"},
		{"management: a space after it", vaults, "2026-02-01 ", "InvalidApiVersionParameter"},
		{"management: a control character", vaults, "2026-02-01\n", "InvalidApiVersionParameter"},
		{"management: 10,000 characters", vaults, strings.Repeat("2", 10000), "InvalidApiVersionParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "https://127.0.0.1/x"
			if tc.version != "" {
				target += "?api-version=" + url.QueryEscape(tc.version)
			}
			err := tc.surface.check(httptest.NewRequest("GET", target, nil))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := toAPIError(err)
			if e == nil || e.Status != http.StatusBadRequest || e.Code != tc.code {
				t.Fatalf("got %v, want 400 %s", err, tc.code)
			}
			newest := tc.surface.versions[len(tc.surface.versions)-1]
			if !strings.Contains(e.Message, tc.surface.versions[0]) || !strings.Contains(e.Message, newest) || !strings.Contains(e.Message, tc.surface.name) {
				t.Fatalf("the message does not name the %s and its range %s–%s: %s", tc.surface.name, tc.surface.versions[0], newest, e.Message)
			}
			if len(e.Message) > 400 || strings.ContainsFunc(e.Message, func(r rune) bool { return r == '\n' }) {
				t.Fatalf("the message repeats the bad version unbounded or raw: %q", e.Message)
			}
		})
	}
}

func TestManagementVersionsAreThoseOfTheAddressedProvider(t *testing.T) {
	for path, want := range map[string]string{
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1":                                                                "Microsoft.KeyVault",
		"/subscriptions/s/resourceGroups/rg/providers/microsoft.operationalinsights/workspaces/w":                                                   "Microsoft.OperationalInsights",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w/providers/Microsoft.SecurityInsights/incidents":    "Microsoft.SecurityInsights",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/d/providers/Microsoft.Authorization/roleAssignments/a": "Microsoft.Authorization",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Nope/things/t":                                                                      "Microsoft.Authorization",
		"/subscriptions/s": "Microsoft.Authorization",
	} {
		if got := managementAPI(path).name; got != "management API of "+want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

// TestEveryVersionedRouteAppliesTheOneRule walks every route the server
// registers (a new route is walked too) and sends it no version, a
// malformed one and one older than any API implements: each route that
// takes an api-version refuses all three with 400 before it acts, and the
// routes that take none are exactly those listed here.
func TestEveryVersionedRouteAppliesTheOneRule(t *testing.T) {
	takesNone := func(path string) bool {
		return strings.HasPrefix(path, "/{tenant}/") || strings.HasPrefix(path, "/v1.0/applications") ||
			strings.HasPrefix(path, "/v1/workspaces/") || path == "/metrics" || strings.HasPrefix(path, "/debug/pprof/")
	}
	f := newFullEnv(t)
	values := f.validPath()
	for _, pattern := range f.server.patterns {
		method, path, _ := strings.Cut(pattern, " ")
		if takesNone(path) {
			continue
		}
		target, ok := fill(path, values, -1, "")
		if !ok {
			t.Fatalf("route %s: the test has no valid path for it", pattern)
		}
		for _, bad := range []struct{ name, query, code string }{
			{"missing", "", "Missing"},
			{"malformed", "?api-version=latest", "Invalid"},
			{"too old", "?api-version=2001-01-01", "Invalid"},
		} {
			t.Run(pattern+"/"+bad.name, func(t *testing.T) {
				rec := f.serve(method, "127.0.0.1", target+bad.query, f.routeToken(path), `{}`)
				code := refusal(t, rec, false)
				if rec.Code != http.StatusBadRequest || !strings.HasPrefix(code, bad.code) || !strings.HasSuffix(code, "ApiVersionParameter") {
					t.Fatalf("got %d %s, want 400 %s…ApiVersionParameter: %s", rec.Code, code, bad.code, truncate(rec.Body.String(), 300))
				}
			})
		}
	}
	t.Run("Key Vault data plane", func(t *testing.T) {
		for _, q := range []string{"", "?api-version=latest", "?api-version=2001-01-01", "?api-version=7.3"} {
			rec := f.serve("GET", "kv1."+testDNSSuffix, "/keys"+q, f.vtok, "")
			if code := refusal(t, rec, false); rec.Code != http.StatusBadRequest || code != "BadParameter" || !strings.Contains(rec.Body.String(), "2026-04-01") {
				t.Errorf("%q: %d %s", q, rec.Code, rec.Body)
			}
		}
		if rec := f.serve("GET", "kv1."+testDNSSuffix, "/keys?api-version=2030-01-01", f.vtok, ""); rec.Code != http.StatusOK {
			t.Errorf("a version later than the newest: %d %s", rec.Code, rec.Body)
		}
	})
}
