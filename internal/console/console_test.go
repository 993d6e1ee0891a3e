package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/api"
	"github.com/sealwatch/sealwatch/internal/console"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// fixture is a console in front of an API that serves the identity routes,
// whose applications list is an Owner's operation: enough to hold a
// session's authorization against a bearer token's. It is one node: the
// nodes of one test (another) share its database, signing key, secrets key
// and clock.
type fixture struct {
	*cluster
	db      kv.DB // the node's handle on the cluster's database
	id      *identity.Service
	console *console.Console
	mu      sync.Mutex
	logs    bytes.Buffer
	tokens  []string // the sessions' tokens the API was handed
}

// cluster is what the nodes of a test share.
type cluster struct {
	dir     string // the identity's signing key
	dbPath  string // the boltkv database's file, if it is one
	secrets *rootkey.Key
	mu      sync.Mutex
	now     time.Time
}

func newFixture(t testing.TB, cfg console.Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := boltkv.Open(filepath.Join(dir, "identity.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := newFixtureOn(t, cfg, db)
	f.dbPath = filepath.Join(dir, "identity.db")
	return f
}

// newFixtureOn is the first node of a test, its sessions and identities in db.
func newFixtureOn(t testing.TB, cfg console.Config, db kv.DB) *fixture {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	secrets, err := rootkey.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(secrets.Close)
	return (&cluster{dir: t.TempDir(), secrets: secrets, now: time.Now()}).node(t, cfg, db)
}

// another is a second node of f's cluster on db, which holds what f's does.
func (f *fixture) another(t testing.TB, cfg console.Config, db kv.DB) *fixture {
	return f.cluster.node(t, cfg, db)
}

func (c *cluster) node(t testing.TB, cfg console.Config, db kv.DB) *fixture {
	t.Helper()
	f := &fixture{cluster: c, db: db}
	log := slog.New(slog.NewTextHandler(lockedWriter{f}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	f.id, err = identity.New(db, filepath.Join(c.dir, "signing.pem"), identity.Options{Issuer: "https://127.0.0.1:8443", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Identity: f.id, SessionToken: console.TokenFor, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity, cfg.Logger, cfg.Secrets = f.id, log, c.secrets
	cfg.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, aud := range []identity.Audience{identity.AudienceManagement, identity.AudienceQuery} {
			if tok := console.TokenFor(r.Context(), aud); tok != "" {
				f.mu.Lock()
				f.tokens = append(f.tokens, tok)
				f.mu.Unlock()
			}
		}
		srv.ServeHTTP(w, r)
	})
	if cfg.DB == nil {
		cfg.DB = db
	}
	cfg.Now = c.clock
	f.console, err = console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (c *cluster) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type lockedWriter struct{ f *fixture }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.logs.Write(p)
}

func (c *cluster) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (f *fixture) app(t testing.TB, roles ...string) (clientID, secret string) {
	t.Helper()
	p, secret, err := f.id.CreateApplication(context.Background(), "console-test", roles...)
	if err != nil {
		t.Fatal(err)
	}
	return p.AppID, secret
}

// request is one request to the console, as the console's page sends it.
type request struct {
	method, path, body string
	cookie             *http.Cookie
	header             map[string]string
}

func (f *fixture) do(r request) *httptest.ResponseRecorder {
	req := httptest.NewRequest(r.method, "https://127.0.0.1:8443"+r.path, strings.NewReader(r.body))
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.console.ServeHTTP(rec, req)
	return rec
}

type signedIn struct {
	cookie *http.Cookie
	csrf   string
	body   map[string]any
}

func (f *fixture) signIn(t testing.TB, clientID, secret string) signedIn {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"clientId": clientID, "clientSecret": secret})
	rec := f.do(request{method: "POST", path: "/console/session", body: string(body)})
	if rec.Code != http.StatusOK {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("sign-in set %d cookies, want 1", len(cookies))
	}
	csrf, _ := out["csrfToken"].(string)
	return signedIn{cookie: cookies[0], csrf: csrf, body: out}
}

// errorCode checks rec is the API's error shape with status and returns its code.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("body is not {\"error\":{\"code\",\"message\"}}: %s", rec.Body)
	}
	return e.Error.Code
}

func TestPageIsServedUnderAStrictContentSecurityPolicy(t *testing.T) {
	f := newFixture(t, console.Config{})
	rec := f.do(request{method: "GET", path: "/"})
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
		t.Errorf("policy %q allows unsafe sources or another origin", csp)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	page := rec.Body.String()
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Error("the page holds an inline script, style or event handler, which the policy refuses")
	}
}

// Every file the page and its scripts name is embedded and served from the
// node itself: a missing import would be a blank console, another origin a
// request leaving the node.
func TestEveryFileThePageNamesIsServedFromTheNode(t *testing.T) {
	f := newFixture(t, console.Config{})
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"|from '\./([^']+)'`)
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		rec := f.do(request{method: "GET", path: path})
		if rec.Code != 200 {
			t.Errorf("GET %s = %d", path, rec.Code)
			continue
		}
		if strings.Contains(rec.Body.String()[:min(rec.Body.Len(), 200)], "bundled by scripts/console-vendor.sh") {
			continue // a vendored bundle: it imports nothing, and its text is not the page's
		}
		for _, m := range refs.FindAllStringSubmatch(rec.Body.String(), -1) {
			switch {
			case m[2] != "":
				queue = append(queue, "/console/assets/"+m[2])
			case strings.HasPrefix(m[1], "/console/assets/"):
				queue = append(queue, m[1])
			default:
				t.Errorf("%s names %q, which is not one of the console's own files", path, m[1])
			}
		}
	}
	if len(seen) < 4 {
		t.Errorf("followed only %v from the page", seen)
	}
}

func TestAssetIsRevalidatedByItsETag(t *testing.T) {
	f := newFixture(t, console.Config{})
	rec := f.do(request{method: "GET", path: "/console/assets/console.js"})
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET console.js = %d, ETag %q, type %q", rec.Code, etag, rec.Header().Get("Content-Type"))
	}
	rec = f.do(request{method: "GET", path: "/console/assets/console.js", header: map[string]string{"If-None-Match": etag}})
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", rec.Code)
	}
	if code := errorCode(t, f.do(request{method: "GET", path: "/console/assets/nope.js"}), 404); code != "NotFound" {
		t.Errorf("missing asset code %s", code)
	}
}

func TestSignInSetsAnHttpOnlySecureStrictCookieAndNoToken(t *testing.T) {
	f := newFixture(t, console.Config{})
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	c := s.cookie
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || !strings.HasPrefix(c.Name, "__Host-") {
		t.Errorf("cookie %+v: want __Host- prefixed, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", c)
	}
	if len(c.Value) < 40 {
		t.Errorf("session ID %d characters, want at least 256 random bits", len(c.Value))
	}
	if len(s.csrf) < 40 || s.csrf == c.Value {
		t.Errorf("CSRF token %q: want a value of its own", s.csrf)
	}
	raw, _ := json.Marshal(s.body)
	if strings.Contains(string(raw), "eyJ") || strings.Contains(string(raw), c.Value) {
		t.Errorf("the sign-in answer holds a token or the session ID: %s", raw)
	}
	rec := f.do(request{method: "GET", path: "/console/session", cookie: c})
	if !isSignedIn(t, rec) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("GET /console/session = %s, Cache-Control %q", rec.Body, rec.Header().Get("Cache-Control"))
	}
	if isSignedIn(t, f.do(request{method: "GET", path: "/console/session"})) {
		t.Error("signed in without the cookie")
	}
}

func TestSignInRefusesBadInputWithA4xx(t *testing.T) {
	f := newFixture(t, console.Config{})
	id, secret := f.app(t)
	cases := []struct {
		name, body, contentType string
		header                  map[string]string
		status                  int
		code                    string
	}{
		{"wrong secret", `{"clientId":"` + id + `","clientSecret":"` + secret + `x"}`, "", nil, 401, "InvalidClient"},
		{"unknown client", `{"clientId":"11111111-1111-1111-1111-111111111111","clientSecret":"x"}`, "", nil, 401, "InvalidClient"},
		{"no secret", `{"clientId":"` + id + `"}`, "", nil, 400, "BadParameter"},
		{"empty body", ``, "application/json", nil, 400, "BadParameter"},
		{"not JSON", `clientId=a&clientSecret=b`, "", nil, 400, "BadParameter"},
		{"an array", `[]`, "", nil, 400, "BadParameter"},
		{"a number for the ID", `{"clientId":1,"clientSecret":"x"}`, "", nil, 400, "BadParameter"},
		{"an unknown field", `{"clientId":"a","clientSecret":"b","scope":"x"}`, "", nil, 400, "BadParameter"},
		{"two objects", `{"clientId":"a","clientSecret":"b"}{}`, "", nil, 400, "BadParameter"},
		{"invalid UTF-8", "{\"clientId\":\"\xff\",\"clientSecret\":\"b\"}", "", nil, 400, "BadParameter"},
		{"too big", `{"clientId":"` + strings.Repeat("a", 9000) + `","clientSecret":"b"}`, "", nil, 413, "PayloadTooLarge"},
		{"a form", `clientId=a&clientSecret=b`, "application/x-www-form-urlencoded", nil, 415, "UnsupportedMediaType"},
		{"no content type", `{"clientId":"a","clientSecret":"b"}`, "-", nil, 415, "UnsupportedMediaType"},
		{"from another site", `{"clientId":"a","clientSecret":"b"}`, "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "CrossSiteRequest"},
		{"from another origin", `{"clientId":"a","clientSecret":"b"}`, "", map[string]string{"Origin": "https://evil.example"}, 403, "CrossSiteRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			for k, v := range tc.header {
				h[k] = v
			}
			switch tc.contentType {
			case "":
			case "-":
				h["Content-Type"] = ""
			default:
				h["Content-Type"] = tc.contentType
			}
			rec := f.do(request{method: "POST", path: "/console/session", body: tc.body, header: h})
			if code := errorCode(t, rec, tc.status); code != tc.code {
				t.Errorf("code %s, want %s", code, tc.code)
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Error("a refused sign-in set a cookie")
			}
		})
	}
}

func TestManagedIdentityCannotSignIn(t *testing.T) {
	f := newFixture(t, console.Config{})
	p, secret, err := f.id.CreateManagedIdentity(context.Background(), "cluster-identity")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"clientId": p.AppID, "clientSecret": secret})
	if code := errorCode(t, f.do(request{method: "POST", path: "/console/session", body: string(body)}), 403); code != "Forbidden" {
		t.Errorf("code %s, want Forbidden", code)
	}
}

func TestChangeWithoutTheSessionsCSRFTokenIsRefused(t *testing.T) {
	f := newFixture(t, console.Config{})
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	create := `{"displayName":"made-in-console"}`
	for name, h := range map[string]map[string]string{
		"no token":              nil,
		"a wrong token":         {"X-CSRF-Token": s.csrf + "x"},
		"the session ID as one": {"X-CSRF-Token": s.cookie.Value},
	} {
		t.Run(name, func(t *testing.T) {
			rec := f.do(request{method: "POST", path: "/v1.0/applications", body: create, cookie: s.cookie, header: h})
			if code := errorCode(t, rec, 403); code != "CsrfTokenInvalid" {
				t.Errorf("code %s, want CsrfTokenInvalid", code)
			}
		})
	}
	if rec := f.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
		t.Errorf("a read without the token = %d %s, want 200", rec.Code, rec.Body)
	}
	rec := f.do(request{method: "POST", path: "/v1.0/applications", body: create, cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}})
	if rec.Code != http.StatusCreated {
		t.Errorf("with the token = %d %s, want 201", rec.Code, rec.Body)
	}
}

func TestIdleSessionEndsAndAUsedOneLivesOn(t *testing.T) {
	const idle = 10 * time.Minute
	f := newFixture(t, console.Config{IdleTimeout: idle})
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	for range 3 {
		f.advance(idle - time.Minute)
		if rec := f.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}); rec.Code != 200 {
			t.Fatalf("a session used every %s ended: %d %s", idle-time.Minute, rec.Code, rec.Body)
		}
	}
	f.advance(idle)
	if isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("the idle session is still signed in")
	}
	if code := errorCode(t, f.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}), 401); code != "Unauthorized" {
		t.Errorf("idle session's API call: code %s, want Unauthorized", code)
	}
}

// TestBackgroundPollsDoNotKeepAnIdleSessionAlive: the page's own polls
// (the key state's, marked X-Sealwatch-Background) are served, but a
// console left alone with them still signs out after its idle time.
func TestBackgroundPollsDoNotKeepAnIdleSessionAlive(t *testing.T) {
	const idle = 10 * time.Minute
	f := newFixture(t, console.Config{IdleTimeout: idle})
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	poll := request{method: "GET", path: "/v1.0/applications", cookie: s.cookie, header: map[string]string{"X-Sealwatch-Background": "1"}}
	for elapsed := time.Duration(0); elapsed < idle-time.Minute; elapsed += 30 * time.Second {
		f.advance(30 * time.Second)
		if rec := f.do(poll); rec.Code != 200 {
			t.Fatalf("a poll %s after the last use: %d %s", elapsed, rec.Code, rec.Body)
		}
	}
	f.advance(time.Minute)
	if code := errorCode(t, f.do(poll), 401); code != "Unauthorized" {
		t.Errorf("a poll past the idle time: code %s, want Unauthorized", code)
	}
}

func TestSessionEndsWhenItsTokensExpire(t *testing.T) {
	f := newFixture(t, console.Config{IdleTimeout: time.Hour})
	id, secret := f.app(t)
	s := f.signIn(t, id, secret)
	for range 2 {
		f.advance(31 * time.Minute) // used within the idle time, past the tokens' hour
		f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})
	}
	if isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("the session outlived its tokens")
	}
}

// isSignedIn reads GET /console/session's answer.
func isSignedIn(t *testing.T, rec *httptest.ResponseRecorder) bool {
	t.Helper()
	var body struct {
		SignedIn *bool `json:"signedIn"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.SignedIn == nil {
		t.Fatalf("GET /console/session = %d %s", rec.Code, rec.Body)
	}
	return *body.SignedIn
}

func TestSignOutEndsTheSessionAndTakesTheCSRFToken(t *testing.T) {
	f := newFixture(t, console.Config{})
	id, secret := f.app(t, identity.RoleOwner)
	s := f.signIn(t, id, secret)
	if code := errorCode(t, f.do(request{method: "DELETE", path: "/console/session", cookie: s.cookie}), 403); code != "CsrfTokenInvalid" {
		t.Errorf("sign-out without the token: code %s", code)
	}
	if !isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Fatal("a refused sign-out ended the session")
	}
	rec := f.do(request{method: "DELETE", path: "/console/session", cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("sign-out = %d %s", rec.Code, rec.Body)
	}
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("sign-out did not clear the cookie: %+v", cs)
	}
	if isSignedIn(t, f.do(request{method: "GET", path: "/console/session", cookie: s.cookie})) {
		t.Error("signed in after signing out")
	}
	if code := errorCode(t, f.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie}), 401); code != "Unauthorized" {
		t.Errorf("the signed-out cookie's API call: code %s", code)
	}
}

// A session may do exactly what its application may do with a bearer
// token: the API verifies the session's token as it would the client's.
func TestSessionIsAuthorizedExactlyAsTheAPIsBearerToken(t *testing.T) {
	f := newFixture(t, console.Config{})
	for _, roles := range [][]string{{identity.RoleOwner}, {identity.RoleMonitoringReader}, nil} {
		t.Run(strings.Join(append([]string{"roles"}, roles...), " "), func(t *testing.T) {
			id, secret := f.app(t, roles...)
			s := f.signIn(t, id, secret)
			tok, err := f.id.IssueToken(context.Background(), f.id.TenantID(), id, secret, "https://management.azure.com/.default")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []request{
				{method: "GET", path: "/v1.0/applications"},
				{method: "POST", path: "/v1.0/applications", body: `{"displayName":"x"}`},
				{method: "GET", path: "/metrics"},
			} {
				bearer := r
				bearer.header = map[string]string{"Authorization": "Bearer " + tok.AccessToken}
				viaSession := r
				viaSession.cookie, viaSession.header = s.cookie, map[string]string{"X-CSRF-Token": s.csrf}
				want, got := f.do(bearer), f.do(viaSession)
				if got.Code != want.Code || errorCodeOf(got) != errorCodeOf(want) {
					t.Errorf("%s %s: session %d %s, bearer %d %s", r.method, r.path, got.Code, errorCodeOf(got), want.Code, errorCodeOf(want))
				}
			}
		})
	}
}

func errorCodeOf(rec *httptest.ResponseRecorder) string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return e.Error.Code
}

func TestSessionsAreBoundedAndIdleOnesMakeRoom(t *testing.T) {
	f := newFixture(t, console.Config{MaxSessions: 1, IdleTimeout: time.Minute})
	id, secret := f.app(t)
	f.signIn(t, id, secret)
	body, _ := json.Marshal(map[string]string{"clientId": id, "clientSecret": secret})
	rec := f.do(request{method: "POST", path: "/console/session", body: string(body)})
	if code := errorCode(t, rec, 503); code != "TooManySessions" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("code %s, Retry-After %q", code, rec.Header().Get("Retry-After"))
	}
	f.advance(time.Minute)
	f.signIn(t, id, secret)
}

func TestNoSecretSessionIDOrCSRFTokenIsLogged(t *testing.T) {
	f := newFixture(t, console.Config{})
	id, secret := f.app(t, identity.RoleOwner)
	f.do(request{method: "POST", path: "/console/session", body: `{"clientId":"` + secret + `","clientSecret":"` + secret + `"}`})
	s := f.signIn(t, id, secret)
	f.do(request{method: "GET", path: "/v1.0/applications", cookie: s.cookie})
	f.do(request{method: "DELETE", path: "/console/session", cookie: s.cookie, header: map[string]string{"X-CSRF-Token": s.csrf}})
	f.mu.Lock()
	logs := f.logs.String()
	f.mu.Unlock()
	if !strings.Contains(logs, "console sign-in") {
		t.Fatalf("the sign-in was not logged: %s", logs)
	}
	for name, v := range map[string]string{"secret": secret, "session ID": s.cookie.Value, "CSRF token": s.csrf} {
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

func TestAWrongMethodOfAConsolePathIs405WithTheMethodsToUse(t *testing.T) {
	f := newFixture(t, console.Config{})
	for _, c := range []struct{ name, method, path, allow string }{
		{"a POST of the page", "POST", "/", "GET, HEAD"},
		{"a PUT of the session", "PUT", "/console/session", "DELETE, GET, HEAD, POST"},
		{"a DELETE of an asset", "DELETE", "/console/assets/console.js", "GET, HEAD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(request{method: c.method, path: c.path})
			if code := errorCode(t, rec, 405); code != "MethodNotAllowed" || rec.Header().Get("Allow") != c.allow {
				t.Fatalf("code %s, Allow %q, want MethodNotAllowed, %q", code, rec.Header().Get("Allow"), c.allow)
			}
			if want := "use " + strings.ReplaceAll(c.allow, ", ", " or "); !strings.Contains(rec.Body.String(), want) {
				t.Errorf("the message does not say %q: %s", want, rec.Body)
			}
		})
	}
}

func TestUnknownConsolePathIsAJSON404AndOtherPathsAreTheAPIs(t *testing.T) {
	f := newFixture(t, console.Config{})
	if code := errorCode(t, f.do(request{method: "GET", path: "/console/nothing"}), 404); code != "NotFound" {
		t.Errorf("code %s", code)
	}
	rec := f.do(request{method: "GET", path: "/v1.0/applications"})
	if code := errorCode(t, rec, 401); code != "Unauthorized" || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("an API path without credentials: code %s, challenge %q", code, rec.Header().Get("WWW-Authenticate"))
	}
}

// Each vendored bundle carries the licence of every package in it, at the
// version the lock file pins: a lock file changed without running
// scripts/console-vendor.sh, or a licence left out, fails here.
func TestVendoredBundlesCarryTheLicencesOfThePinnedPackages(t *testing.T) {
	raw, err := os.ReadFile("webdeps/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
			Dev     bool   `json:"dev"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, bundle := range []string{"codemirror", "uplot"} {
		js, err := os.ReadFile("web/" + bundle + ".js")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(js[:min(len(js), 200)], []byte("bundled by scripts/console-vendor.sh")) {
			t.Errorf("web/%s.js does not say how it was made", bundle)
		}
		if rec := newFixture(t, console.Config{}).do(request{method: "GET", path: "/console/assets/" + bundle + ".LICENSES.txt"}); rec.Code != 200 {
			t.Errorf("the licences of %s are not served with it: %d", bundle, rec.Code)
		}
		licences, err := os.ReadFile("web/" + bundle + ".LICENSES.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^== (\S+) (\S+) \((\S+)\) ==$`).FindAllStringSubmatch(string(licences), -1) {
			listed[m[1]] = m[2]
			if m[3] != "MIT" && m[3] != "BSD-3-Clause" && m[3] != "Apache-2.0" && m[3] != "ISC" {
				t.Errorf("%s is under %s, not a permissive licence this project takes", m[1], m[3])
			}
		}
	}
	pinned := map[string]string{}
	for path, p := range lock.Packages {
		if name, ok := strings.CutPrefix(path, "node_modules/"); ok && !p.Dev {
			pinned[name] = p.Version
		}
	}
	if len(pinned) == 0 {
		t.Fatal("the lock file pins no package")
	}
	// Every package in the bundle is pinned at the version listed; every
	// package the console asks for is in the bundle (a dependency of one
	// may be pinned and left out, as nothing of it is used).
	for name, v := range listed {
		if pinned[name] != v {
			t.Errorf("the licences list %s %s, the lock file pins %q: run scripts/console-vendor.sh", name, v, pinned[name])
		}
	}
	raw, err = os.ReadFile("webdeps/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct{ Dependencies map[string]string }
	if err := json.Unmarshal(raw, &manifest); err != nil || len(manifest.Dependencies) == 0 {
		t.Fatalf("webdeps/package.json names no dependency: %v", err)
	}
	for name := range manifest.Dependencies {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s is asked for but its licence is not listed: run scripts/console-vendor.sh", name)
		}
	}
}
