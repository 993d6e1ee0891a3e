// Package pki keeps the local certificate authority and the server certificate that
// `sealwatch up` serves HTTPS with, so that clients can trust one CA file instead of
// turning verification off.
package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the directory given to Ensure.
const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore leaves a month for a long-running node to be restarted before its
	// certificate lapses; Ensure only runs at start-up.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates a client whose clock is a little behind ours.
	backdate = time.Hour
)

// Bundle is what a server and its clients need: the CA to trust and the certificate to serve.
type Bundle struct {
	CAFile string // absolute path of ca.pem
	CAPool *x509.CertPool
	Server tls.Certificate
}

// ServerTLSConfig returns a fresh config that serves the bundle's server certificate.
func (b *Bundle) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{b.Server},
	}
}

// KeyFiles reads and writes the private keys' files. A node passes its sealed
// store (package nodeseal), so that no private key is on disk in the clear;
// nil keeps them in plain 0600 files.
type KeyFiles interface {
	ReadFile(path string) ([]byte, error) // an error wrapping fs.ErrNotExist when there is none
	WriteFile(path string, data []byte) error
}

// plainFiles keeps keys in 0600 files.
type plainFiles struct{}

func (plainFiles) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (plainFiles) WriteFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o600)
}

// Ensure loads or creates dir/ca.pem, dir/ca-key.pem (0600), dir/server.pem, dir/server-key.pem (0600).
// The CA (ECDSA P-256, 10 years) is created once and reused. The server certificate (ECDSA P-256,
// 1 year, signed by the CA) covers dnsNames and ips; it is re-issued (same CA) when it is missing,
// expires within 30 days, or does not cover every requested name/IP.
//
// Unspecified addresses (0.0.0.0, ::) name no host and are ignored. A damaged file is an
// error naming the file, never a silent replacement: replacing the CA would break every
// client that trusts it.
func Ensure(dir string, dnsNames []string, ips []net.IP, keys KeyFiles) (*Bundle, error) {
	return ensure(dir, dnsNames, ips, keys, time.Now(), loadOrCreateCA)
}

// SharedCA keeps the CA of several nodes where each of them reads it (see
// EnsureShared).
type SharedCA interface {
	// LoadOrCreate returns what is kept under name, storing what create
	// returns when nothing is; of nodes that ask at once, all get what one
	// of them stored.
	LoadOrCreate(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)
}

// SharedCAName is the name the CA's certificate and key are kept under in a
// SharedCA, as PEM blocks.
const SharedCAName = "tls/ca"

// EnsureShared is Ensure for one of several nodes behind one address: they
// share one CA, so that clients trust one CA file whichever node answers.
// The CA's certificate and key are kept in shared, made by the first node
// that asks; dir/ca.pem is written from it for clients, and no CA key is
// kept in dir. The server certificate is this node's own, issued by the
// shared CA and kept in dir as Ensure keeps it.
func EnsureShared(ctx context.Context, dir string, dnsNames []string, ips []net.IP, keys KeyFiles, shared SharedCA) (*Bundle, error) {
	return ensure(dir, dnsNames, ips, keys, time.Now(), func(dir string, _ KeyFiles, now time.Time) (*x509.Certificate, crypto.Signer, error) {
		return loadOrCreateSharedCA(ctx, dir, shared, now)
	})
}

// caLoader loads the CA, or makes it.
type caLoader func(dir string, keys KeyFiles, now time.Time) (*x509.Certificate, crypto.Signer, error)

// ensure is Ensure at a given time, so tests can reach the renewal window without waiting.
func ensure(dir string, dnsNames []string, ips []net.IP, keys KeyFiles, now time.Time, loadCA caLoader) (*Bundle, error) {
	if keys == nil {
		keys = plainFiles{}
	}
	names, addrs, err := normalize(dnsNames, ips)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: resolve %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create directory: %w", err)
	}

	ca, caKey, err := loadCA(dir, keys, now)
	if err != nil {
		return nil, err
	}
	server, err := loadServer(dir, keys, ca)
	if err != nil {
		return nil, err
	}
	if server == nil || !fresh(server.Leaf, now) || !covers(server.Leaf, names, addrs) {
		server, err = issueServer(dir, keys, ca, caKey, names, addrs, now)
		if err != nil {
			return nil, err
		}
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Bundle{
		CAFile: filepath.Join(dir, caCertFile),
		CAPool: pool,
		Server: *server,
	}, nil
}

// normalize lower-cases and de-duplicates the requested names, because DNS names compare
// case-insensitively and a certificate listing one twice helps nobody.
func normalize(dnsNames []string, ips []net.IP) ([]string, []net.IP, error) {
	var names []string
	for _, n := range dnsNames {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n == "" {
			return nil, nil, errors.New("pki: empty DNS name requested")
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var addrs []net.IP
	for _, ip := range ips {
		if ip == nil || ip.IsUnspecified() {
			continue
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if !slices.ContainsFunc(addrs, ip.Equal) {
			addrs = append(addrs, ip)
		}
	}
	if len(names) == 0 && len(addrs) == 0 {
		return nil, nil, errors.New("pki: a server certificate needs at least one DNS name or IP address")
	}
	return names, addrs, nil
}

func loadOrCreateCA(dir string, keys KeyFiles, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	certPEM, err := os.ReadFile(certPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No ca.pem means no client can trust a CA from here yet, so creating one (even over
		// a stray ca-key.pem left by an interrupted first run) cannot break anyone.
		return createCA(dir, keys, now)
	case err != nil:
		return nil, nil, fmt.Errorf("pki: read %s: %w", certPath, err)
	}
	cert, err := parseCert(certPath, certPEM)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := keys.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("pki: %s exists but its key %s is missing; restore the key, or remove %s to create a new CA (clients must then trust the new one)", certPath, keyPath, certPath)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pki: read %s: %w", keyPath, err)
	}
	key, err := parseKey(keyPath, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("pki: %s does not hold the key of %s", keyPath, certPath)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	if now.After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: CA certificate %s expired on %s; remove %s and %s to create a new CA (clients must then trust the new one)",
			certPath, cert.NotAfter.Format(time.DateOnly), certPath, keyPath)
	}
	return cert, key, nil
}

func createCA(dir string, keys KeyFiles, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	cert, key, err := newCA(now)
	if err != nil {
		return nil, nil, err
	}
	// The key goes first: a crash between the two writes leaves no ca.pem, which the next
	// run treats as "no CA yet".
	if err := writeKey(keys, filepath.Join(dir, caKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writeCert(filepath.Join(dir, caCertFile), cert.Raw); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// loadOrCreateSharedCA reads the CA kept in shared, making it if there is
// none, and writes its certificate to dir/ca.pem when that file differs.
func loadOrCreateSharedCA(ctx context.Context, dir string, shared SharedCA, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	bundle, err := shared.LoadOrCreate(ctx, SharedCAName, func() ([]byte, error) {
		cert, key, err := newCA(now)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("pki: encode the CA key: %w", err)
		}
		return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pki: the shared CA: %w", err)
	}
	defer clear(bundle)
	const name = "the shared CA"
	certPEM, rest := pem.Decode(bundle)
	if certPEM == nil {
		return nil, nil, fmt.Errorf("pki: %s holds no PEM block (damaged?)", name)
	}
	cert, err := parseCert(name, pem.EncodeToMemory(certPEM))
	if err != nil {
		return nil, nil, err
	}
	key, err := parseKey(name, rest)
	if err != nil {
		return nil, nil, err
	}
	if !samePublicKey(cert.PublicKey, key.Public()) || !cert.IsCA {
		return nil, nil, fmt.Errorf("pki: %s does not hold a CA certificate and its key", name)
	}
	if now.After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: %s expired on %s", name, cert.NotAfter.Format(time.DateOnly))
	}
	certPath := filepath.Join(dir, caCertFile)
	if have, err := os.ReadFile(certPath); err != nil || !bytes.Equal(have, pem.EncodeToMemory(certPEM)) {
		if err := writeCert(certPath, cert.Raw); err != nil {
			return nil, nil, err
		}
	}
	return cert, key, nil
}

// newCA makes a CA certificate and its key.
func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Sealwatch local CA", Organization: []string{"Sealwatch"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaf certificates only; a stolen CA key cannot mint intermediates.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse new CA certificate: %w", err)
	}
	return cert, key, nil
}

// loadServer returns the stored server certificate, or nil when it must be issued afresh
// because it is missing, belongs to another key (an interrupted re-issue) or to another CA.
func loadServer(dir string, keys KeyFiles, ca *x509.Certificate) (*tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pki: read %s: %w", certPath, err)
	}
	keyPEM, err := keys.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pki: read %s: %w", keyPath, err)
	}
	// Parse each file on its own first so that a damaged one is named in the error.
	leaf, err := parseCert(certPath, certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (remove it to issue a new server certificate)", err)
	}
	key, err := parseKey(keyPath, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (remove it and %s to issue a new server certificate)", err, certPath)
	}
	if !samePublicKey(leaf.PublicKey, key.Public()) {
		return nil, nil
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, nil
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func issueServer(dir string, keys KeyFiles, ca *x509.Certificate, caKey crypto.Signer, names []string, addrs []net.IP, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	cn := "sealwatch"
	if len(names) > 0 {
		cn = names[0]
	}
	notAfter := now.Add(serverValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter // a leaf outliving its CA would fail verification anyway
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Sealwatch"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  addrs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: issue server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new server certificate: %w", err)
	}
	// Key first, certificate second: after a crash in between, the old certificate no
	// longer matches the key and the next run issues again.
	if err := writeKey(keys, filepath.Join(dir, serverKeyFile), key); err != nil {
		return nil, err
	}
	if err := writeCert(filepath.Join(dir, serverCertFile), der); err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func fresh(leaf *x509.Certificate, now time.Time) bool {
	return !now.Before(leaf.NotBefore) && now.Add(renewBefore).Before(leaf.NotAfter)
}

// covers reports whether the certificate lists every requested name and address itself.
// A requested wildcard must appear as that wildcard: matching "*.vault.localhost" with
// VerifyHostname would ask the wrong question.
func covers(leaf *x509.Certificate, names []string, addrs []net.IP) bool {
	for _, n := range names {
		if !slices.ContainsFunc(leaf.DNSNames, func(have string) bool { return strings.EqualFold(have, n) }) {
			return false
		}
	}
	for _, ip := range addrs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func parseCert(path string, data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s: no PEM CERTIFICATE block found (file damaged?)", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: parse certificate: %w", path, err)
	}
	return cert, nil
}

func parseKey(path string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("pki: %s: no PEM private key block found (file damaged?)", path)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("pki: %s: unexpected PEM block %q, want PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		// The parser's message never contains key bytes, so it is safe to pass on.
		return nil, fmt.Errorf("pki: %s: parse private key: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: %s: key of type %T cannot sign", path, key)
	}
	return signer, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: generate serial number: %w", err)
	}
	return serial, nil
}

func writeCert(path string, der []byte) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(keys KeyFiles, path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: encode key for %s: %w", path, err)
	}
	return keys.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// writeFileAtomic replaces path with data so that a crash leaves the old file or the new
// one, never half of one; a private key is never readable by others, not even briefly.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename durable: without it a power cut can bring the old name back.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pki: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("pki: sync %s: %w", dir, err)
	}
	return nil
}
