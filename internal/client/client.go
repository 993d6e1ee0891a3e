// Package client talks to a Sealwatch node over HTTPS as one principal: it
// signs in with client credentials, keeps a token per API, reaches every vault
// host at the node's own address, and turns refusals into *APIError values.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Audience names the API a token is good for. The values are the resources
// the node's identity service issues tokens for; a token's scope is the
// audience followed by "/.default".
type Audience string

const (
	AudienceManagement Audience = "https://management.azure.com"
	AudienceVault      Audience = "https://vault.azure.net"
	AudienceIngestion  Audience = "https://monitor.azure.com"   // the Logs Ingestion API
	AudienceQuery      Audience = "https://api.loganalytics.io" // the Log Analytics query API
)

// Scope is the client-credentials scope that asks for a token for a.
func (a Audience) Scope() string { return string(a) + "/.default" }

// Credentials is a principal's sign-in file. It has the JSON shape of the
// node's DIR/admin.json, so that file can be used as it is.
type Credentials struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Endpoint     string `json:"endpoint"`
	CAFile       string `json:"caFile"`
	// VaultDNSSuffix is the domain vault hosts live under, such as vault.localhost.
	VaultDNSSuffix string `json:"vaultDnsSuffix"`
}

// LoadCredentials reads and checks a credentials file. A relative CA file is
// taken relative to the credentials file, so a copied data directory keeps working.
func LoadCredentials(path string) (*Credentials, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(buf, &c); err != nil {
		// The decoder's message may quote the file, which holds a secret: keep only the position.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("read credentials %s: not valid JSON at byte %d", path, syn.Offset)
		}
		return nil, fmt.Errorf("read credentials %s: not a Sealwatch credentials file", path)
	}
	if c.CAFile != "" && !filepath.IsAbs(c.CAFile) {
		c.CAFile = filepath.Join(filepath.Dir(path), c.CAFile)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("read credentials %s: %w", path, err)
	}
	return &c, nil
}

// Validate reports the first field a client cannot work without.
func (c *Credentials) Validate() error {
	missing := func(field string) error {
		return fmt.Errorf("the credentials have no %q; use the admin.json that `sealwatch up` wrote, or a copy of it", field)
	}
	switch {
	case c.TenantID == "":
		return missing("tenantId")
	case c.ClientID == "":
		return missing("clientId")
	case c.ClientSecret == "":
		return missing("clientSecret")
	case c.Endpoint == "":
		return missing("endpoint")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("the endpoint %q must be a base URL such as https://127.0.0.1:8443", c.Endpoint)
	}
	return nil
}

// Options adjusts a Client. Zero values take the defaults.
type Options struct {
	// Endpoint overrides the credentials' endpoint (the CLI's --endpoint).
	Endpoint string
	// Timeout bounds one HTTP exchange; default 60s.
	Timeout time.Duration
	// Now is the clock token expiry is judged by; default time.Now.
	Now func() time.Time
	// UserAgent is sent with every request; default "sealwatch-client".
	UserAgent string
}

// Client is one principal's connection to a node. It is safe for concurrent use.
type Client struct {
	creds    Credentials
	endpoint *url.URL
	http     *http.Client
	now      func() time.Time
	ua       string

	// tokenSem serialises token requests so that concurrent callers share one
	// fetch per audience; a channel rather than a mutex so waiting honours ctx.
	tokenSem chan struct{}
	tokens   map[Audience]cachedToken
}

type cachedToken struct {
	raw     string
	expires time.Time
}

// tokenSlack is how long before its expiry a cached token is replaced, so a
// token never expires between being picked and reaching the server.
const tokenSlack = time.Minute

// maxResponseBytes bounds what the client reads from one response.
const maxResponseBytes = 64 << 20

// New builds a client for creds, trusting only the CA in creds.CAFile (or the
// system roots when it is empty, for a node behind a public certificate).
func New(creds Credentials, opts Options) (*Client, error) {
	if opts.Endpoint != "" {
		creds.Endpoint = opts.Endpoint
	}
	creds.Endpoint = strings.TrimRight(creds.Endpoint, "/")
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	endpoint, _ := url.Parse(creds.Endpoint) // Validate parsed it
	creds.VaultDNSSuffix = strings.ToLower(strings.Trim(creds.VaultDNSSuffix, "."))
	if creds.VaultDNSSuffix == "" {
		creds.VaultDNSSuffix = "vault.localhost"
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if creds.CAFile != "" {
		pem, err := os.ReadFile(creds.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the node's CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", creds.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "sealwatch-client"
	}
	// No proxy: vault host names resolve only through the dialer below, which a
	// proxy would bypass.
	tr := Transport(endpoint.Host, creds.VaultDNSSuffix, tlsCfg)
	return &Client{
		creds:    creds,
		endpoint: endpoint,
		http:     &http.Client{Transport: tr, Timeout: opts.Timeout},
		now:      opts.Now,
		ua:       opts.UserAgent,
		tokenSem: make(chan struct{}, 1),
		tokens:   map[Audience]cachedToken{},
	}, nil
}

// Transport is an HTTP transport that dials localhost and every host under
// the vault DNS suffix at endpointHost (see loopbackDialer), with tlsCfg.
func Transport(endpointHost, vaultDNSSuffix string, tlsCfg *tls.Config) *http.Transport {
	return &http.Transport{
		DialContext:         loopbackDialer(endpointHost, strings.ToLower(strings.Trim(vaultDNSSuffix, "."))),
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConns:        16,
		// Uploads send several requests at once (`sealwatch ingest --in-flight`):
		// over HTTP/1.1 each keeps its connection for the next.
		MaxIdleConnsPerHost: 16,
	}
}

// loopbackDialer returns a DialContext that sends localhost and every host
// under the vault DNS suffix to the endpoint's address. Go's resolver does not
// map *.localhost to loopback, and in a single-node setup every vault host is
// the node itself anyway; TLS still verifies the name the URL asked for.
func loopbackDialer(endpointHost, suffix string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target, err := dialTarget(addr, endpointHost, suffix)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, target)
	}
}

// dialTarget is the address to dial for addr: the endpoint's host for
// localhost and hosts under suffix, with the requested port kept so that a URL
// naming another port is not silently redirected; addr itself otherwise.
func dialTarget(addr, endpointHost, suffix string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h != "localhost" && h != suffix && !strings.HasSuffix(h, "."+suffix) {
		return addr, nil
	}
	target := endpointHost
	if eh, _, err := net.SplitHostPort(endpointHost); err == nil {
		target = eh
	}
	target = strings.Trim(target, "[]")
	return net.JoinHostPort(target, port), nil
}

// Endpoint is the node's base URL, without a trailing slash.
func (c *Client) Endpoint() string { return c.creds.Endpoint }

// TenantID is the tenant the client signs in to.
func (c *Client) TenantID() string { return c.creds.TenantID }

// Credentials returns the credentials in use, with any endpoint override applied.
func (c *Client) Credentials() Credentials { return c.creds }

// VaultURL is the data-plane base URL of vault name: https://{vault}.{suffix}:{port}.
func (c *Client) VaultURL(name string) string {
	host := strings.ToLower(name) + "." + c.creds.VaultDNSSuffix
	if port := c.endpoint.Port(); port != "" && port != "443" {
		host = net.JoinHostPort(host, port)
	}
	return "https://" + host
}

// URL resolves a path such as /v1.0/applications against the endpoint.
// Absolute URLs (a nextLink, a vault URL) are returned as they are.
func (c *Client) URL(pathOrURL string) string {
	if strings.HasPrefix(pathOrURL, "https://") || strings.HasPrefix(pathOrURL, "http://") {
		return pathOrURL
	}
	return c.creds.Endpoint + "/" + strings.TrimLeft(pathOrURL, "/")
}

// Do sends one request with a token for audience and decodes a 2xx JSON answer
// into out (which may be nil, or a *json.RawMessage to keep the body as it
// is). body, when not nil, is sent as JSON. A refusal is an *APIError. rawURL
// is absolute or a path under the endpoint.
func (c *Client) Do(ctx context.Context, method, rawURL string, audience Audience, body, out any) error {
	var buf []byte
	var header http.Header
	if body != nil {
		var err error
		if buf, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode %s request: %w", method, err)
		}
		header = http.Header{"Content-Type": {"application/json"}}
	}
	return c.DoRaw(ctx, method, rawURL, audience, buf, header, out)
}

// DoRaw is Do for a body the caller has encoded (gzip, say): body is sent as
// it is, with header added to the request.
func (c *Client) DoRaw(ctx context.Context, method, rawURL string, audience Audience, body []byte, header http.Header, out any) error {
	resp, target, err := c.send(ctx, method, rawURL, audience, body, header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, redactQuery(target), err)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, redactQuery(target), err)
	}
	return nil
}

// Stream sends one request, as Do, to an operation that answers with JSON
// lines, and calls each with every line as it arrives.
func (c *Client) Stream(ctx context.Context, method, rawURL string, audience Audience, each func(json.RawMessage) error) error {
	resp, target, err := c.send(ctx, method, rawURL, audience, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxResponseBytes)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := each(bytes.Clone(sc.Bytes())); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, redactQuery(target), err)
	}
	return nil
}

// send sends a request and returns a 2xx response, whose body the caller
// closes; any other answer is an *APIError.
func (c *Client) send(ctx context.Context, method, rawURL string, audience Audience, body []byte, header http.Header) (*http.Response, string, error) {
	tok, err := c.Token(ctx, audience)
	if err != nil {
		return nil, "", err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	target := c.URL(rawURL)
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, target, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, target, fmt.Errorf("%s %s: %w", method, redactQuery(target), err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, target, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, target, fmt.Errorf("%s %s: read response: %w", method, redactQuery(target), err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The cached token was refused (principal deleted, node reset):
		// the next call must sign in afresh rather than repeat it.
		c.dropToken(audience)
	}
	return nil, target, decodeError(resp, data)
}

// redactQuery drops a URL's query from error messages: it carries nothing
// secret today, but errors outlive today's API.
func redactQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// Token returns a bearer token for audience, from the cache while it has more
// than a minute left, else from the node's token endpoint.
func (c *Client) Token(ctx context.Context, audience Audience) (string, error) {
	select {
	case c.tokenSem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.tokenSem }()
	if t, ok := c.tokens[audience]; ok && c.now().Add(tokenSlack).Before(t.expires) {
		return t.raw, nil
	}
	t, err := c.fetchToken(ctx, audience)
	if err != nil {
		return "", err
	}
	c.tokens[audience] = t
	return t.raw, nil
}

func (c *Client) dropToken(audience Audience) {
	c.tokenSem <- struct{}{}
	delete(c.tokens, audience)
	<-c.tokenSem
}

func (c *Client) fetchToken(ctx context.Context, audience Audience) (cachedToken, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.creds.ClientID},
		"client_secret": {c.creds.ClientSecret},
		"scope":         {audience.Scope()},
	}
	target := c.creds.Endpoint + "/" + url.PathEscape(c.creds.TenantID) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return cachedToken{}, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return cachedToken{}, fmt.Errorf("get a token from %s: %w", c.creds.Endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return cachedToken{}, fmt.Errorf("get a token: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return cachedToken{}, fmt.Errorf("get a token for %s: %w", audience, decodeError(resp, data))
	}
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.AccessToken == "" {
		return cachedToken{}, fmt.Errorf("get a token for %s: the token endpoint answered without an access token", audience)
	}
	// Expiry counts from when the request was sent, so a slow answer errs early.
	return cachedToken{raw: body.AccessToken, expires: start.Add(time.Duration(body.ExpiresIn) * time.Second)}, nil
}

// Identity is who the client is signed in as, read from its management token.
type Identity struct {
	TenantID  string    `json:"tid"`
	ObjectID  string    `json:"oid"`
	AppID     string    `json:"appid"`
	Roles     []string  `json:"roles"`
	ExpiresAt time.Time `json:"-"`
}

// WhoAmI signs in (or reuses the cached management token) and reports the
// claims the node put in the token. The token's signature is not checked
// here: the node issued it over a verified TLS connection, and the node checks
// it on every call; these claims serve to name the caller, never to authorize.
func (c *Client) WhoAmI(ctx context.Context) (*Identity, error) {
	tok, err := c.Token(ctx, AudienceManagement)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("the node issued a token that is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("the node issued a token whose claims are not base64url")
	}
	var claims struct {
		Identity
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("the node issued a token whose claims are not JSON")
	}
	id := claims.Identity
	id.ExpiresAt = time.Unix(claims.Exp, 0).UTC()
	return &id, nil
}

// maxPages bounds ListAll, so a server that keeps answering with a nextLink
// cannot keep the client busy for ever.
const maxPages = 10000

// ListAll GETs a {"value":[...],"nextLink":...} listing and follows nextLink
// to its end, returning every item as the server sent it.
func (c *Client) ListAll(ctx context.Context, rawURL string, audience Audience) ([]json.RawMessage, error) {
	items := []json.RawMessage{}
	seen := map[string]bool{}
	first, err := url.Parse(c.URL(rawURL))
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	for next, pages := rawURL, 0; next != ""; pages++ {
		if pages == maxPages || seen[next] {
			return nil, fmt.Errorf("list %s: the server's nextLink does not come to an end", redactQuery(first.String()))
		}
		// The bearer token goes wherever nextLink points: only ever to the
		// host that was asked for the first page.
		if u, err := url.Parse(c.URL(next)); err != nil || u.Scheme != first.Scheme || !strings.EqualFold(u.Host, first.Host) {
			return nil, fmt.Errorf("list %s: the server's nextLink points at another host; not following it", redactQuery(first.String()))
		}
		seen[next] = true
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := c.Do(ctx, http.MethodGet, next, audience, nil, &page); err != nil {
			return nil, err
		}
		items = append(items, page.Value...)
		next = page.NextLink
	}
	return items, nil
}
