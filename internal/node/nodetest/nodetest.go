// Package nodetest starts a Sealwatch node for the tests of other packages:
// on 127.0.0.1 in a temporary directory, with an HTTP client that trusts the
// node's CA and dials every host name (vault hosts included) at it.
package nodetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/sealwatch/sealwatch/internal/freeport"
	"github.com/sealwatch/sealwatch/internal/node"
)

// Node is a serving node and a client for it.
type Node struct {
	*node.Node
	Creds  node.Credentials // the admin's, from DATA/admin.json
	Client *http.Client
	Port   string
	// Stop ends serving and closes the node; the test's cleanup calls it
	// too, so calling it early is safe.
	Stop func()
	t    testing.TB
}

// Start opens and serves a node with cfg; an empty DataDir is a temporary
// directory and an empty Addr a port from freeport, which stays free for a
// restart on it.
func Start(t testing.TB, cfg node.Config) *Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Addr == "" {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	t.Cleanup(stop)
	raw, err := os.ReadFile(n.CredentialsFile())
	if err != nil {
		t.Fatal(err)
	}
	var creds node.Credentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u, _ := url.Parse(n.Endpoint())
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &Node{Node: n, Creds: creds, Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, Port: u.Port(), Stop: stop, t: t}
}

// Credential is the official client-secret credential pointed at the node.
func (n *Node) Credential(clientID, secret string) azcore.TokenCredential {
	n.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(n.Creds.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: n.Creds.Endpoint + "/"},
			Transport: n.Client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	return cred
}

// Token signs in as clientID for scope.
func (n *Node) Token(clientID, secret, scope string) string {
	n.t.Helper()
	tok, err := n.Credential(clientID, secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		n.t.Fatal(err)
	}
	return tok.Token
}

// AdminToken signs in as the admin for scope.
func (n *Node) AdminToken(scope string) string {
	n.t.Helper()
	return n.Token(n.Creds.ClientID, n.Creds.ClientSecret, scope)
}

// VaultURL is the base URL of the vault named name on this node.
func (n *Node) VaultURL(name string) string {
	return fmt.Sprintf("https://%s.%s:%s", name, n.Creds.VaultDNSSuffix, n.Port)
}
