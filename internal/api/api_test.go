package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/audit"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
	"github.com/sealwatch/sealwatch/internal/vault"
)

// testEnv is a Server on 127.0.0.1 behind TLS, and a client that dials every
// host name at it, as the CLI does for *.vault.localhost.
type testEnv struct {
	t        testing.TB
	db       *boltkv.DB
	srv      *httptest.Server
	client   *http.Client
	identity *identity.Service
	adminID  string
	adminSec string
}

// testDNSSuffix is covered by httptest's certificate (*.example.com).
const testDNSSuffix = "example.com"

// testSub is the subscription the tests' resources live in.
const testSub = "6b1f3c7e-2a4d-4e8f-9c0b-1d2e3f4a5b6c"

func newTestEnv(t testing.TB, extra func(*Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "identity.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewUnstartedServer(nil)
	ids, err := identity.New(db, filepath.Join(dir, "signing.pem"), identity.Options{
		Issuer: "https://" + srv.Listener.Addr().String(), VaultDNSSuffix: testDNSSuffix,
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(root.Close)
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	vs, err := vault.New(db, root, vault.Options{DNSSuffix: testDNSSuffix, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	auditLog, err := audit.Open(db, root.Derive("audit"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	cfg := Config{Identity: ids, Vault: vs, Audit: auditLog, VaultDNSSuffix: testDNSSuffix}
	if extra != nil {
		extra(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Config.RegisterOnShutdown(h.StopRecordings) // as the node does
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	admin, secret, err := ids.CreateApplication(context.Background(), "admin", identity.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, db: db, srv: srv, client: client, identity: ids, adminID: admin.AppID, adminSec: secret}
}

// url returns the server URL for path, on host (empty = the server's address).
func (e *testEnv) url(host, path string) string {
	if host == "" {
		return e.srv.URL + path
	}
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	return "https://" + host + ":" + port + path
}

func (e *testEnv) tokenFor(clientID, secret, scope string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	resp, err := e.client.PostForm(e.url("", "/"+e.identity.TenantID()+"/oauth2/v2.0/token"), form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func (e *testEnv) token(clientID, secret, scope string) string {
	e.t.Helper()
	status, body := e.tokenFor(clientID, secret, scope)
	if status != http.StatusOK {
		e.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

func (e *testEnv) adminToken(scope string) string { return e.token(e.adminID, e.adminSec, scope) }

// do sends a request and decodes a JSON response into out (when not nil).
func (e *testEnv) do(method, url, token string, body string, out any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %v: %s", method, url, err, raw)
		}
	}
	return resp
}

type errResp struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

func TestTokenEndpointIssuesAndRefuses(t *testing.T) {
	e := newTestEnv(t, nil)
	status, body := e.tokenFor(e.adminID, e.adminSec, "https://vault.azure.net/.default")
	if status != 200 || body["token_type"] != "Bearer" || body["access_token"] == "" || body["expires_in"].(float64) < 3500 {
		t.Fatalf("good request: %d %v", status, body)
	}
	cases := []struct {
		name, client, secret, scope string
		status                      int
		code                        string
	}{
		{"wrong secret", e.adminID, "sws~wrong", "https://vault.azure.net/.default", 401, "invalid_client"},
		{"unknown client", "00000000-0000-0000-0000-000000000000", e.adminSec, "https://vault.azure.net/.default", 401, "invalid_client"},
		{"missing secret", e.adminID, "", "https://vault.azure.net/.default", 400, "invalid_request"},
		{"unknown resource", e.adminID, e.adminSec, "https://graph.example/.default", 400, "invalid_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.tokenFor(tc.client, tc.secret, tc.scope)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if d, _ := body["error_description"].(string); d == "" || strings.Contains(d, e.adminSec) {
				t.Fatalf("error_description %q must explain, and never echo the secret", d)
			}
		})
	}
	t.Run("unsupported grant", func(t *testing.T) {
		resp, err := e.client.PostForm(e.url("", "/"+e.identity.TenantID()+"/oauth2/v2.0/token"), url.Values{"grant_type": {"password"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("HTTP Basic client authentication", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.url("", "/"+e.identity.TenantID()+"/oauth2/v2.0/token"),
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"https://management.azure.com/.default"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.adminID, e.adminSec)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestDiscoveryDocumentsAreServed(t *testing.T) {
	e := newTestEnv(t, nil)
	var cfg map[string]any
	if resp := e.do("GET", e.url("", "/"+e.identity.TenantID()+"/v2.0/.well-known/openid-configuration"), "", "", &cfg); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if cfg["issuer"] != e.identity.IssuerURL() || cfg["token_endpoint"] != e.identity.AuthorityURL()+"/oauth2/v2.0/token" {
		t.Fatalf("openid configuration %v", cfg)
	}
	var jwks struct{ Keys []identity.JWK }
	if resp := e.do("GET", cfg["jwks_uri"].(string), "", "", &jwks); resp.StatusCode != 200 || len(jwks.Keys) != 1 || jwks.Keys[0].Alg != "ES256" {
		t.Fatalf("jwks %d %+v", resp.StatusCode, jwks)
	}
	var er errResp
	if resp := e.do("GET", e.url("", "/not-a-tenant/v2.0/.well-known/openid-configuration"), "", "", &er); resp.StatusCode != 404 || er.Error.Code != "TenantNotFound" {
		t.Fatalf("unknown tenant: %d %+v", resp.StatusCode, er)
	}
}

func TestManagementRefusesWithoutTheRightToken(t *testing.T) {
	e := newTestEnv(t, nil)
	app, secret, err := e.identity.CreateApplication(context.Background(), "reader")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "Unauthorized"},
		{"garbage token", "abc.def.ghi", 401, "Unauthorized"},
		{"vault token", e.adminToken("https://vault.azure.net/.default"), 401, "Unauthorized"},
		{"not an Owner", e.token(app.AppID, secret, "https://management.azure.com/.default"), 403, "AuthorizationFailed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var er errResp
			resp := e.do("GET", e.url("", "/v1.0/applications"), tc.token, "", &er)
			if resp.StatusCode != tc.status || er.Error.Code != tc.code || er.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, er, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `authorization="`+e.identity.AuthorityURL()+`"`) {
				t.Fatalf("401 without a challenge naming the authority: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestApplicationsLifecycleOverHTTP(t *testing.T) {
	e := newTestEnv(t, nil)
	mgmt := e.adminToken("https://management.azure.com/.default")
	var created applicationBody
	if resp := e.do("POST", e.url("", "/v1.0/applications"), mgmt, `{"displayName":"shipper"}`, &created); resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	if created.ClientSecret == "" || created.AppID == "" || created.ID == "" {
		t.Fatalf("create returned %+v", created)
	}
	e.token(created.AppID, created.ClientSecret, "https://vault.azure.net/.default")

	var list struct{ Value []applicationBody }
	e.do("GET", e.url("", "/v1.0/applications"), mgmt, "", &list)
	if len(list.Value) != 2 {
		t.Fatalf("list: %+v", list)
	}
	for _, a := range list.Value {
		if a.ClientSecret != "" {
			t.Fatal("list shows a secret")
		}
	}

	var reset applicationBody
	if resp := e.do("POST", e.url("", "/v1.0/applications/"+created.AppID+"/resetSecret"), mgmt, "", &reset); resp.StatusCode != 200 || reset.ClientSecret == created.ClientSecret {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if status, _ := e.tokenFor(created.AppID, created.ClientSecret, "https://vault.azure.net/.default"); status != 401 {
		t.Fatalf("old secret after reset: %d", status)
	}
	e.token(created.AppID, reset.ClientSecret, "https://vault.azure.net/.default")

	if resp := e.do("DELETE", e.url("", "/v1.0/applications/"+created.ID), mgmt, "", nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	var er errResp
	if resp := e.do("GET", e.url("", "/v1.0/applications/"+created.ID), mgmt, "", &er); resp.StatusCode != 404 || er.Error.Code != "NotFound" {
		t.Fatalf("get deleted: %d %+v", resp.StatusCode, er)
	}
	bad := map[string]string{
		"malformed JSON":  `{"displayName":`,
		"wrong type":      `{"displayName":5}`,
		"trailing data":   `{"displayName":"a"}{}`,
		"empty body":      ``,
		"empty name":      `{"displayName":""}`,
		"unknown role":    `{"displayName":"a","roles":["Root"]}`,
		"control in name": `{"displayName":"a\u0000b"}`,
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			var er errResp
			resp := e.do("POST", e.url("", "/v1.0/applications"), mgmt, body, &er)
			if resp.StatusCode != 400 || er.Error.Message == "" {
				t.Fatalf("got %d %+v, want 400 with a message", resp.StatusCode, er)
			}
		})
	}
}

func TestVaultHostsRouteToTheDataPlane(t *testing.T) {
	s := &Server{cfg: Config{VaultDNSSuffix: "vault.localhost"}}
	cases := map[string]string{
		"v1.vault.localhost:8443": "v1",
		"V1.Vault.Localhost":      "v1",
		"v1.vault.localhost.":     "v1",
		"vault.localhost:8443":    "",
		"a.b.vault.localhost":     "",
		"127.0.0.1:8443":          "",
		"v1.vault.localhostx":     "",
	}
	for host, want := range cases {
		got, ok := s.vaultFromHost(host)
		if got != want || ok != (want != "") {
			t.Errorf("vaultFromHost(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}
