package console

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// TestPathsHandedStraightToTheAPIMatchNoConsoleRoute: a path that
// mayBeConsolePath lets pass to the API without probing the mux is one no
// console route serves, nor answers 405 for, under any method, however it
// is escaped or dotted; and the console's own paths are probed.
func TestPathsHandedStraightToTheAPIMatchNoConsoleRoute(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "identity.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets, err := rootkey.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Identity: &identity.Service{}, API: http.NotFoundHandler(), DB: db, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	console := []string{"/", "", "/console", "/console/", "/console/session", "/console/assets/app.js",
		"//console/session", "/x/../console/session", "/%63onsole/session", "/./", "/v1/..", "/v1/%2E%2E/console/session",
		"/console/assets/%2E%2E", "/console%2Fsession"}
	api := []string{"/v1/workspaces/3f1c/query", "/subscriptions/s/resourceGroups/rg/providers/x", "/oauth2/v2.0/token",
		"/metrics", "/v1/../v2/x", "/consoles", "/%2E%2E/v1", "/v1/%2F/console", "*", "/x/console/session"}
	for _, p := range console {
		if !mayBeConsolePath(mustURL(t, p).URL.Path) {
			t.Errorf("%q: a path the console may serve goes straight to the API", p)
		}
	}
	for _, p := range append(console, api...) {
		r := mustURL(t, p)
		if mayBeConsolePath(r.URL.Path) {
			if contains(api, p) {
				t.Errorf("%q: an API path is probed against the console's routes", p)
			}
			continue
		}
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			r.Method = m
			if _, pattern := c.mux.Handler(r); pattern != "" {
				t.Errorf("%s %q goes straight to the API, but the console's route %s serves it", m, p, pattern)
			}
			if allowed := c.allowedMethods(r); len(allowed) > 0 {
				t.Errorf("%s %q goes straight to the API, but the console answers 405 allowing %v", m, p, allowed)
			}
		}
	}
}

func mustURL(t *testing.T, p string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", "https://node.example"+p, nil)
	if err != nil {
		t.Fatalf("%q: %v", p, err)
	}
	if p == "*" || p == "" {
		r.URL.Path, r.URL.RawPath = p, ""
	}
	return r
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
