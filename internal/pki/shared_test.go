package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// memCA is a SharedCA two nodes of a test share.
type memCA struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memCA) LoadOrCreate(_ context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.data[name]; ok {
		return bytes.Clone(v), nil
	}
	v, err := create()
	if err == nil {
		m.data[name] = bytes.Clone(v)
	}
	return v, err
}

func TestNodesSharingACAServeLeavesOneCAFileVerifies(t *testing.T) {
	ctx := context.Background()
	shared := &memCA{data: map[string][]byte{}}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := EnsureShared(ctx, dirA, []string{"node-a.example"}, []net.IP{net.IPv4(127, 0, 0, 1)}, nil, shared)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EnsureShared(ctx, dirB, []string{"node-b.example"}, []net.IP{net.IPv4(127, 0, 0, 2)}, nil, shared)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, a.CAFile), readFile(t, b.CAFile)) {
		t.Fatal("the nodes wrote different ca.pem files")
	}
	if bytes.Equal(a.Server.Leaf.Raw, b.Server.Leaf.Raw) {
		t.Fatal("the nodes serve one leaf certificate; each should issue its own")
	}
	// One CA file verifies both nodes' certificates.
	for name, leaf := range map[string]*x509.Certificate{"node-a.example": a.Server.Leaf, "node-b.example": b.Server.Leaf} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: a.CAPool}); err != nil {
			t.Errorf("%s's certificate does not verify with the shared CA: %v", name, err)
		}
	}
	// The CA's key is not kept in the nodes' directories.
	for _, dir := range []string{dirA, dirB} {
		if _, err := os.Stat(filepath.Join(dir, caKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s holds a CA key file (%v)", dir, err)
		}
	}
	// A restart keeps the leaf and the CA.
	again, err := EnsureShared(ctx, dirA, []string{"node-a.example"}, []net.IP{net.IPv4(127, 0, 0, 1)}, nil, shared)
	if err != nil || !bytes.Equal(again.Server.Leaf.Raw, a.Server.Leaf.Raw) {
		t.Fatalf("a restart issued another certificate (%v)", err)
	}
}

func TestADamagedSharedCAIsAnError(t *testing.T) {
	shared := &memCA{data: map[string][]byte{SharedCAName: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}}
	if _, err := EnsureShared(context.Background(), t.TempDir(), upNames, upIPs, nil, shared); err == nil {
		t.Fatal("a damaged shared CA was taken")
	}
}
