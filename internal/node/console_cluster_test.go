package node

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// TestAConsoleSessionIsServedByEveryNodeOnSharedStorage: behind a load
// balancer without sticky sessions, each request of a browser may reach
// another node. Two nodes on one PostgreSQL database: a session signed in
// on A is served by B, changes through B with its CSRF token, and, signed
// out on B, is refused on A at once.
func TestAConsoleSessionIsServedByEveryNodeOnSharedStorage(t *testing.T) {
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	a := startClusterNode(t, Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, Credentials{})
	b := startClusterNode(t, Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, a.creds)

	body, _ := json.Marshal(map[string]string{"clientId": a.creds.ClientID, "clientSecret": a.creds.ClientSecret})
	resp := consoleRequest(t, a, "POST", "/console/session", string(body), "", "")
	var session struct{ CSRFToken string }
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&session) != nil || session.CSRFToken == "" {
		t.Fatalf("sign-in on A: %d", resp.StatusCode)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-sealwatch-session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("sign-in on A set no session cookie")
	}

	status := func(n *running, method, path, body, csrf string) int {
		resp := consoleRequest(t, n, method, path, body, cookie, csrf)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := status(b, "GET", "/v1.0/applications", "", ""); st != 200 {
		t.Fatalf("a read through B with A's session: %d", st)
	}
	if st := status(b, "POST", "/v1.0/applications", `{"displayName":"made-through-b"}`, session.CSRFToken); st != http.StatusCreated {
		t.Fatalf("a change through B with the session's CSRF token: %d", st)
	}
	if st := status(b, "DELETE", "/console/session", "", session.CSRFToken); st != http.StatusNoContent {
		t.Fatalf("sign-out on B: %d", st)
	}
	if st := status(a, "GET", "/v1.0/applications", "", ""); st != http.StatusUnauthorized {
		t.Errorf("A answered %d to the session signed out on B, want 401", st)
	}
}

// consoleRequest sends a request to node n as the console's page does.
func consoleRequest(t *testing.T, n *running, method, path, body, cookie, csrf string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, clusterPublicURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
