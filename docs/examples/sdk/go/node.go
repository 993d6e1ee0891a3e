package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// node is where the examples connect and who they sign in as, from the
// environment variables the cloud's SDKs read (AZURE_*) and two of
// Sealwatch's: the node's endpoint and its CA file.
type node struct {
	endpoint                         string // https://127.0.0.1:8443
	caFile                           string // sealwatch-data/tls/ca.pem
	tenantID, clientID, clientSecret string
}

func fromEnv() (*node, error) {
	n := &node{}
	for _, v := range []struct {
		name string
		to   *string
	}{
		{"SEALWATCH_ENDPOINT", &n.endpoint}, {"SEALWATCH_CA_FILE", &n.caFile},
		{"AZURE_TENANT_ID", &n.tenantID}, {"AZURE_CLIENT_ID", &n.clientID}, {"AZURE_CLIENT_SECRET", &n.clientSecret},
	} {
		if *v.to = os.Getenv(v.name); *v.to == "" {
			return nil, fmt.Errorf("set %s (see docs/sdk.md, \"Go\")", v.name)
		}
	}
	n.endpoint = strings.TrimRight(n.endpoint, "/")
	return n, nil
}

// clientOptions is what every client of the examples is given: a transport
// that trusts the node's CA as well as the public ones. The node's
// certificate is issued by its own CA, which no system trusts by default.
func (n *node) clientOptions() (azcore.ClientOptions, error) {
	pem, err := os.ReadFile(n.caFile)
	if err != nil {
		return azcore.ClientOptions{}, fmt.Errorf("read the node's CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return azcore.ClientOptions{}, fmt.Errorf("%s holds no PEM certificate; SEALWATCH_CA_FILE names the node's CA file, sealwatch-data/tls/ca.pem", n.caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return azcore.ClientOptions{Transport: &http.Client{Transport: tr}}, nil
}

// credential signs in with the application's client ID and secret. The one
// setting azidentity needs: the node is the authority, and instance
// discovery is off (it would ask the cloud's authority about the node's
// host, and the first token request would fail).
func (n *node) credential() (azcore.TokenCredential, error) {
	opts, err := n.clientOptions()
	if err != nil {
		return nil, err
	}
	opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: n.endpoint + "/"}
	return azidentity.NewClientSecretCredential(n.tenantID, n.clientID, n.clientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            opts,
		DisableInstanceDiscovery: true,
	})
}

// hint says what to do about the failures a first run meets.
func hint(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		address := "127.0.0.1"
		if u, perr := url.Parse(os.Getenv("SEALWATCH_ENDPOINT")); perr == nil && u.Hostname() != "" {
			address = u.Hostname()
		}
		return fmt.Sprintf("; %s does not resolve: add the line \"%s %s\" to /etc/hosts, or run `sealwatch keyvault hosts | sudo tee -a /etc/hosts` (see docs/sdk.md, \"Vault host names\")",
			dnsErr.Name, address, dnsErr.Name)
	// azidentity reports a failed TLS check of the authority as text only.
	case errors.As(err, &unknownCA), strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return "; the node's certificate is not trusted: SEALWATCH_CA_FILE must name its CA file, sealwatch-data/tls/ca.pem"
	}
	return ""
}
