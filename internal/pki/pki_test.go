package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	upNames = []string{"localhost", "vault.localhost", "*.vault.localhost"}
	upIPs   = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
)

func mustEnsure(t *testing.T, dir string, names []string, ips []net.IP) *Bundle {
	t.Helper()
	b, err := Ensure(dir, names, ips, nil)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFirstRunCreatesFilesWithPrivateKeysOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	b := mustEnsure(t, dir, upNames, upIPs)

	if want := filepath.Join(dir, "ca.pem"); b.CAFile != want || !filepath.IsAbs(b.CAFile) {
		t.Errorf("CAFile = %q, want absolute %q", b.CAFile, want)
	}
	for _, tc := range []struct {
		file string
		mode os.FileMode
	}{
		{"ca.pem", 0o644},
		{"ca-key.pem", 0o600},
		{"server.pem", 0o644},
		{"server-key.pem", 0o600},
	} {
		t.Run(tc.file, func(t *testing.T) {
			fi, err := os.Stat(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.mode {
				t.Errorf("mode = %04o, want %04o", got, tc.mode)
			}
		})
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	leaf := b.Server.Leaf
	if leaf == nil {
		t.Fatal("Server.Leaf is nil")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.CAPool, DNSName: "localhost"}); err != nil {
		t.Errorf("server certificate does not chain to CAPool: %v", err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("server certificate lives %v, want about one year", life)
	}
}

func TestSecondRunReusesCAAndUnchangedServerCertificate(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, upNames, upIPs)
	ca1, srv1 := readFile(t, filepath.Join(dir, "ca.pem")), readFile(t, filepath.Join(dir, "server.pem"))
	caKey1 := readFile(t, filepath.Join(dir, "ca-key.pem"))

	mustEnsure(t, dir, upNames, upIPs)
	if !bytes.Equal(ca1, readFile(t, filepath.Join(dir, "ca.pem"))) ||
		!bytes.Equal(caKey1, readFile(t, filepath.Join(dir, "ca-key.pem"))) {
		t.Error("CA changed on second run")
	}
	if !bytes.Equal(srv1, readFile(t, filepath.Join(dir, "server.pem"))) {
		t.Error("server certificate re-issued although nothing changed")
	}
}

func TestReissuesUnderSameCAWhenNeeded(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		ips   []net.IP
		now   time.Time
	}{
		{"new DNS name", append([]string{"sealwatch.example"}, upNames...), upIPs, time.Now()},
		{"new IP address", upNames, append([]net.IP{net.ParseIP("10.1.2.3")}, upIPs...), time.Now()},
		{"expires within 30 days", upNames, upIPs, time.Now().Add(340 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustEnsure(t, dir, upNames, upIPs)
			ca1, srv1 := readFile(t, filepath.Join(dir, "ca.pem")), readFile(t, filepath.Join(dir, "server.pem"))

			b, err := ensure(dir, tc.names, tc.ips, nil, tc.now, loadOrCreateCA)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ca1, readFile(t, filepath.Join(dir, "ca.pem"))) {
				t.Fatal("CA replaced; clients trusting the old one would break")
			}
			if bytes.Equal(srv1, readFile(t, filepath.Join(dir, "server.pem"))) {
				t.Fatal("server certificate not re-issued")
			}
			if !covers(b.Server.Leaf, tc.names, tc.ips) {
				t.Errorf("new certificate covers %v %v, want %v %v", b.Server.Leaf.DNSNames, b.Server.Leaf.IPAddresses, tc.names, tc.ips)
			}
			if _, err := b.Server.Leaf.Verify(x509.VerifyOptions{Roots: b.CAPool, CurrentTime: tc.now}); err != nil {
				t.Errorf("re-issued certificate does not chain to the same CA: %v", err)
			}
		})
	}
}

func TestFewerNamesDoNotTriggerReissue(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, upNames, upIPs)
	srv1 := readFile(t, filepath.Join(dir, "server.pem"))
	// Same names, other case and order, duplicates, and an unspecified listener address.
	mustEnsure(t, dir, []string{"LOCALHOST", "*.vault.localhost", "localhost"}, []net.IP{net.IPv6loopback, net.IPv4zero, net.ParseIP("127.0.0.1")})
	if !bytes.Equal(srv1, readFile(t, filepath.Join(dir, "server.pem"))) {
		t.Error("server certificate re-issued although it already covers every requested name")
	}
}

func TestHandshakeTrustsOnlyCoveredNames(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), upNames, upIPs)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = b.ServerTLSConfig()
	srv.StartTLS() // httptest listens on 127.0.0.1
	t.Cleanup(srv.Close)

	tests := []struct {
		serverName string
		wantOK     bool
	}{
		{"myvault.vault.localhost", true},
		{"localhost", true},
		{"127.0.0.1", true},
		{"evil.example", false},
		{"a.b.vault.localhost", false}, // a wildcard covers one label only
	}
	for _, tc := range tests {
		t.Run(tc.serverName, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: b.CAPool, ServerName: tc.serverName},
			}}
			t.Cleanup(client.CloseIdleConnections)
			resp, err := client.Get(srv.URL)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("handshake failed: %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("handshake succeeded for a name the certificate does not cover")
			}
			var hostErr x509.HostnameError
			if !errors.As(err, &hostErr) {
				t.Errorf("err = %v, want a hostname mismatch", err)
			}
		})
	}
}

func TestServerTLSConfigRefusesTLS11(t *testing.T) {
	b := mustEnsure(t, t.TempDir(), upNames, upIPs)
	if got := b.ServerTLSConfig().MinVersion; got != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", got)
	}
}

func TestDamagedFileIsAnErrorNamingIt(t *testing.T) {
	for _, file := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			mustEnsure(t, dir, upNames, upIPs)
			ca := readFile(t, filepath.Join(dir, "ca.pem"))
			path := filepath.Join(dir, file)
			if err := os.WriteFile(path, []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(dir, upNames, upIPs, nil)
			if err == nil {
				t.Fatal("Ensure accepted a damaged file")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if !bytes.Equal(ca, readFile(t, filepath.Join(dir, "ca.pem"))) && file != "ca.pem" {
				t.Error("CA replaced after a damaged file")
			}
		})
	}
}

func TestMissingCAKeyIsAnErrorNotANewCA(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, upNames, upIPs)
	ca := readFile(t, filepath.Join(dir, "ca.pem"))
	if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(dir, upNames, upIPs, nil)
	if err == nil || !strings.Contains(err.Error(), "ca-key.pem") {
		t.Fatalf("err = %v, want an error naming ca-key.pem", err)
	}
	if !bytes.Equal(ca, readFile(t, filepath.Join(dir, "ca.pem"))) {
		t.Error("CA replaced although its key was only missing")
	}
}

func TestMismatchedServerKeyIsReissued(t *testing.T) {
	// An interrupted re-issue leaves a new key beside the old certificate.
	dir := t.TempDir()
	mustEnsure(t, dir, upNames, upIPs)
	other := t.TempDir()
	mustEnsure(t, other, upNames, upIPs)
	if err := os.WriteFile(filepath.Join(dir, "server-key.pem"), readFile(t, filepath.Join(other, "server-key.pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustEnsure(t, dir, upNames, upIPs)
	if _, err := tls.X509KeyPair(readFile(t, filepath.Join(dir, "server.pem")), readFile(t, filepath.Join(dir, "server-key.pem"))); err != nil {
		t.Errorf("stored pair still mismatched: %v", err)
	}
	if _, err := b.Server.Leaf.Verify(x509.VerifyOptions{Roots: b.CAPool, DNSName: "localhost"}); err != nil {
		t.Errorf("re-issued certificate does not chain to the CA: %v", err)
	}
}

func TestNoNamesIsRefused(t *testing.T) {
	if _, err := Ensure(t.TempDir(), nil, []net.IP{net.IPv4zero}, nil); err == nil {
		t.Error("Ensure issued a certificate that names no host")
	}
}
