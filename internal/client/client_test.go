package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/pki"
)

const testSecret = "s3cret-never-printed"

func TestDialTargetSendsLocalhostAndVaultHostsToTheEndpoint(t *testing.T) {
	const endpoint = "127.0.0.1:8443"
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"vault host keeps its port", "v1.vault.localhost:8443", "127.0.0.1:8443"},
		{"vault host with another port keeps that port", "v1.vault.localhost:9000", "127.0.0.1:9000"},
		{"upper case vault host", "V1.VAULT.LOCALHOST:8443", "127.0.0.1:8443"},
		{"fully qualified vault host", "v1.vault.localhost.:8443", "127.0.0.1:8443"},
		{"the suffix itself", "vault.localhost:8443", "127.0.0.1:8443"},
		{"localhost", "localhost:8443", "127.0.0.1:8443"},
		{"a look-alike suffix is not ours", "evilvault.localhost:8443", "evilvault.localhost:8443"},
		{"a suffix inside another domain is not ours", "v1.vault.localhost.example.com:443", "v1.vault.localhost.example.com:443"},
		{"other hosts are left alone", "example.com:443", "example.com:443"},
		{"IP addresses are left alone", "10.0.0.1:443", "10.0.0.1:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dialTarget(tc.addr, endpoint, "vault.localhost")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("dialTarget(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
	t.Run("IPv6 endpoint", func(t *testing.T) {
		got, err := dialTarget("v1.vault.localhost:8443", "[::1]:8443", "vault.localhost")
		if err != nil || got != "[::1]:8443" {
			t.Errorf("got %q, %v; want [::1]:8443", got, err)
		}
	})
}

// tlsNode is a test server with a certificate from the local CA for
// localhost and *.vault.localhost, as a node has; it records the Host of
// each request and issues counted tokens.
type tlsNode struct {
	srv         *httptest.Server
	caFile      string
	tokenCalls  atomic.Int64
	mu          sync.Mutex
	hosts       []string
	handler     http.HandlerFunc // answers everything but the token endpoint
	tokenExpiry int
}

func newTLSNode(t *testing.T) *tlsNode {
	t.Helper()
	n := &tlsNode{tokenExpiry: 3600}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.hosts = append(n.hosts, r.Host)
		n.mu.Unlock()
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			n.serveToken(w, r)
			return
		}
		if n.handler != nil {
			n.handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"auth":%q}`, r.Header.Get("Authorization"))
	}))
	bundle, err := pki.Ensure(t.TempDir(), []string{"localhost", "vault.localhost", "*.vault.localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = bundle.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n.srv, n.caFile = srv, bundle.CAFile
	return n
}

func (n *tlsNode) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("client_secret") != testSecret || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"the client secret is wrong"}`)
		return
	}
	call := n.tokenCalls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	// A real token is a JWT; the client only reads the claims for WhoAmI.
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"access_token":"tok-%d-%s"}`,
		n.tokenExpiry, call, r.PostForm.Get("scope"))
}

func (n *tlsNode) creds() Credentials {
	return Credentials{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: testSecret,
		Endpoint: n.srv.URL, CAFile: n.caFile, VaultDNSSuffix: "vault.localhost"}
}

func TestVaultHostsAreReachedAtTheEndpointWithVerifiedTLS(t *testing.T) {
	n := newTLSNode(t)
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(n.srv.Listener.Addr().String())
	if got, want := c.VaultURL("Keys1"), "https://keys1.vault.localhost:"+port; got != want {
		t.Fatalf("VaultURL = %q, want %q", got, want)
	}
	if err := c.Do(context.Background(), http.MethodGet, c.VaultURL("keys1")+"/keys?api-version=7.6", AudienceVault, nil, nil); err != nil {
		t.Fatalf("GET on the vault host: %v", err)
	}
	if err := c.Do(context.Background(), http.MethodGet, "https://localhost:"+port+"/x", AudienceVault, nil, nil); err != nil {
		t.Fatalf("GET on localhost: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if got := n.hosts[len(n.hosts)-2]; got != "keys1.vault.localhost:"+port {
		t.Errorf("the server saw Host %q, want the vault's host name", got)
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	n := newTLSNode(t)
	creds := n.creds()
	other, err := pki.Ensure(t.TempDir(), []string{"localhost"}, nil, nil) // another CA
	if err != nil {
		t.Fatal(err)
	}
	creds.CAFile = other.CAFile
	c, err := New(creds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/x", AudienceManagement, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate verification error", err)
	}
}

func TestOneTokenPerAudienceIsFetchedAndReused(t *testing.T) {
	n := newTLSNode(t)
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var first, second struct{ Auth string }
	if err := c.Do(ctx, http.MethodGet, "/a", AudienceManagement, nil, &first); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, http.MethodGet, "/b", AudienceManagement, nil, &second); err != nil {
		t.Fatal(err)
	}
	if got := n.tokenCalls.Load(); got != 1 {
		t.Fatalf("two management calls made %d token requests, want 1", got)
	}
	if first.Auth != second.Auth || !strings.Contains(first.Auth, "management.azure.com/.default") {
		t.Fatalf("calls sent %q and %q; want the same management token", first.Auth, second.Auth)
	}
	var vault struct{ Auth string }
	if err := c.Do(ctx, http.MethodGet, "/c", AudienceVault, nil, &vault); err != nil {
		t.Fatal(err)
	}
	if got := n.tokenCalls.Load(); got != 2 || !strings.Contains(vault.Auth, "vault.azure.net/.default") {
		t.Fatalf("a vault call made the token count %d with %q; want a second token, for the vault", got, vault.Auth)
	}
}

func TestConcurrentCallersShareOneTokenRequest(t *testing.T) {
	n := newTLSNode(t)
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := c.Do(context.Background(), http.MethodGet, "/a", AudienceManagement, nil, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := n.tokenCalls.Load(); got != 1 {
		t.Fatalf("8 concurrent calls made %d token requests, want 1", got)
	}
}

func TestTokenIsRenewedAMinuteBeforeItExpires(t *testing.T) {
	n := newTLSNode(t)
	n.tokenExpiry = 300
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, err := New(n.creds(), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func() {
		t.Helper()
		if err := c.Do(ctx, http.MethodGet, "/a", AudienceManagement, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	call()
	mu.Lock()
	now = now.Add(238 * time.Second) // 62s left: still good
	mu.Unlock()
	call()
	if got := n.tokenCalls.Load(); got != 1 {
		t.Fatalf("token requests = %d with 62s left, want 1", got)
	}
	mu.Lock()
	now = now.Add(2 * time.Second) // 60s left: renew
	mu.Unlock()
	call()
	if got := n.tokenCalls.Load(); got != 2 {
		t.Fatalf("token requests = %d with 60s left, want 2", got)
	}
}

func TestRefusedTokenIsDroppedFromTheCache(t *testing.T) {
	n := newTLSNode(t)
	var refuse atomic.Bool
	n.handler = func(w http.ResponseWriter, r *http.Request) {
		if refuse.Swap(false) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":"Unauthorized","message":"the token's principal no longer exists"}}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	refuse.Store(true)
	err = c.Do(ctx, http.MethodGet, "/a", AudienceManagement, nil, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("got %v, want a 401 APIError", err)
	}
	if err := c.Do(ctx, http.MethodGet, "/a", AudienceManagement, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := n.tokenCalls.Load(); got != 2 {
		t.Fatalf("token requests = %d, want a fresh token after the 401", got)
	}
}

func TestWrongSecretIsAnAPIErrorThatDoesNotQuoteTheSecret(t *testing.T) {
	n := newTLSNode(t)
	creds := n.creds()
	creds.ClientSecret = "wrong-secret-value"
	c, err := New(creds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/a", AudienceManagement, nil, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "invalid_client" || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("got %v, want invalid_client 401", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("the error quotes the secret: %v", err)
	}
}

func TestListAllFollowsNextLinkOnTheSameHostOnly(t *testing.T) {
	n := newTLSNode(t)
	var foreign atomic.Bool
	n.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("page") {
		case "":
			fmt.Fprintf(w, `{"value":[{"n":1},{"n":2}],"nextLink":"https://%s/list?page=2"}`, r.Host)
		case "2":
			next := "null"
			if foreign.Load() {
				next = `"https://elsewhere.example:443/list?page=3"`
			}
			fmt.Fprintf(w, `{"value":[{"n":3}],"nextLink":%s}`, next)
		}
	}
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, err := c.ListAll(context.Background(), c.VaultURL("v1")+"/list", AudienceVault)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3 across two pages", len(items))
	}
	foreign.Store(true)
	if _, err := c.ListAll(context.Background(), c.VaultURL("v1")+"/list", AudienceVault); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("got %v, want a refusal to follow a nextLink to another host", err)
	}
}

func TestErrorBodiesDecodeIntoAPIError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   APIError
		text   string // the whole of Error()
	}{
		{
			name: "key vault error with inner code", status: 403,
			body: `{"error":{"code":"Forbidden","message":"The user does not have key permission wrapKey on key k1.","innererror":{"code":"AccessDenied"}}}`,
			want: APIError{Status: 403, Code: "Forbidden", InnerCode: "AccessDenied", Message: "The user does not have key permission wrapKey on key k1."},
			text: "Forbidden/AccessDenied (HTTP 403): The user does not have key permission wrapKey on key k1.",
		},
		{
			name: "management error", status: 404,
			body: `{"error":{"code":"ResourceNotFound","message":"vault \"v\" was not found"}}`,
			want: APIError{Status: 404, Code: "ResourceNotFound", Message: `vault "v" was not found`},
			text: `ResourceNotFound (HTTP 404): vault "v" was not found`,
		},
		{
			name: "OAuth2 token error", status: 401,
			body: `{"error":"invalid_client","error_description":"the client secret is wrong","trace_id":"x"}`,
			want: APIError{Status: 401, Code: "invalid_client", Message: "the client secret is wrong"},
			text: "invalid_client (HTTP 401): the client secret is wrong",
		},
		{
			name: "multi-line message stays on one line", status: 400,
			body: `{"error":{"code":"BadParameter","message":"first line\nsecond line"}}`,
			want: APIError{Status: 400, Code: "BadParameter", Message: "first line\nsecond line"},
			text: "BadParameter (HTTP 400): first line second line",
		},
		{
			name: "server error names the request ID", status: 500,
			header: http.Header{"X-Ms-Request-Id": {"req-42"}},
			body:   `{"error":{"code":"InternalError","message":"see the server log"}}`,
			want:   APIError{Status: 500, Code: "InternalError", Message: "see the server log", RequestID: "req-42"},
			text:   "InternalError (HTTP 500): see the server log [request ID req-42]",
		},
		{
			name: "HTML from a proxy is not quoted", status: 502,
			body: `<html><body>Bad gateway: token=abc</body></html>`,
			want: APIError{Status: 502, Code: "BadGateway", Message: "the server gave no explanation"},
			text: "BadGateway (HTTP 502): the server gave no explanation",
		},
		{
			name: "empty body", status: 404, body: ``,
			want: APIError{Status: 404, Code: "NotFound", Message: "the server gave no explanation"},
			text: "NotFound (HTTP 404): the server gave no explanation",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: tc.header}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			got := decodeError(resp, []byte(tc.body))
			if *got != tc.want {
				t.Errorf("decoded %+v, want %+v", *got, tc.want)
			}
			if got.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", got.Error(), tc.text)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("the admin.json shape loads, and a relative CA file is beside it", func(t *testing.T) {
		p := write("admin.json", `{"tenantId":"t","clientId":"c","clientSecret":"s","endpoint":"https://127.0.0.1:8443","caFile":"tls/ca.pem","vaultDnsSuffix":"vault.localhost"}`)
		c, err := LoadCredentials(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.CAFile != filepath.Join(dir, "tls", "ca.pem") {
			t.Errorf("CAFile = %q", c.CAFile)
		}
	})
	t.Run("a damaged file is refused without quoting it", func(t *testing.T) {
		p := write("bad.json", `{"clientSecret":"`+testSecret+`" "oops"}`)
		_, err := LoadCredentials(p)
		if err == nil || strings.Contains(err.Error(), testSecret) {
			t.Fatalf("got %v; want an error that does not quote the file", err)
		}
	})
	t.Run("a missing field is named", func(t *testing.T) {
		p := write("partial.json", `{"tenantId":"t","clientId":"c","endpoint":"https://127.0.0.1:8443"}`)
		if _, err := LoadCredentials(p); err == nil || !strings.Contains(err.Error(), "clientSecret") {
			t.Fatalf("got %v, want an error naming clientSecret", err)
		}
	})
	t.Run("an endpoint must be an https base URL", func(t *testing.T) {
		p := write("http.json", `{"tenantId":"t","clientId":"c","clientSecret":"s","endpoint":"http://127.0.0.1:8443/x"}`)
		if _, err := LoadCredentials(p); err == nil || !strings.Contains(err.Error(), "endpoint") {
			t.Fatalf("got %v, want an endpoint error", err)
		}
	})
}

func TestWhoAmIReadsTheTokenClaims(t *testing.T) {
	n := newTLSNode(t)
	payload, _ := json.Marshal(map[string]any{"tid": "tenant-1", "oid": "obj-1", "appid": "app-1", "roles": []string{"Owner"}, "exp": 2000000000})
	jwt := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
	n.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":%q}`, jwt)
	})
	c, err := New(n.creds(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if id.ObjectID != "obj-1" || id.AppID != "app-1" || id.TenantID != "tenant-1" || len(id.Roles) != 1 || id.Roles[0] != "Owner" {
		t.Fatalf("WhoAmI = %+v", id)
	}
}
