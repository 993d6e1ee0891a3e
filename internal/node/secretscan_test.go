package node

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The tests that prove nothing leaves the node in the clear scan data
// directories, pg_dump output, bucket objects and logs for secrets and
// canaries: the scan is written once, here, and tested by itself below.

// leakForms are the ways secret could show if it were written unsealed,
// each named after what: as is, base64 (what encoding/json makes of
// []byte; the prefix every encoding starting with the secret shares) and
// hex (how pg_dump writes bytea).
func leakForms(what string, secret []byte) map[string][]byte {
	forms := map[string][]byte{
		what + " in the clear": secret,
		what + " as hex":       []byte(hex.EncodeToString(secret)),
	}
	if len(secret) >= 3 { // a shorter one has no prefix every encoding shares
		forms[what+" as base64"] = []byte(base64.StdEncoding.EncodeToString(secret)[:4*(len(secret)/3)])
	}
	return forms
}

// withLeakForms is needles with each in its leakForms.
func withLeakForms(needles map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, 3*len(needles))
	for what, n := range needles {
		maps.Copy(out, leakForms(what, n))
	}
	return out
}

// secretNeedles names each of secrets by its place and length, never by
// what it is, for scans whose failures must not print key material.
func secretNeedles(secrets [][]byte) map[string][]byte {
	needles := make(map[string][]byte, len(secrets))
	for i, s := range secrets {
		needles[fmt.Sprintf("secret #%d (%d bytes)", i, len(s))] = s
	}
	return needles
}

// keyMaterial is raw, a secret file named name, in every form a leak of it
// could take: the bytes as the node holds them and, for each PEM private
// key in it, its DER and its scalar.
func keyMaterial(t *testing.T, name string, raw []byte) [][]byte {
	t.Helper()
	out := [][]byte{raw}
	for rest := raw; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		if block.Type != "PRIVATE KEY" {
			continue
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, block.Bytes, key.(*ecdsa.PrivateKey).D.Bytes())
	}
}

// holding names the needles data holds, sorted.
func holding(data []byte, needles map[string][]byte) []string {
	var found []string
	for name, n := range needles {
		if bytes.Contains(data, n) {
			found = append(found, name)
		}
	}
	slices.Sort(found)
	return found
}

// filesHolding reads every file under dir but those named in skip, and
// returns each file holding a needle ("path holds needle") and the paths
// of the files it read.
func filesHolding(dir string, needles map[string][]byte, skip ...string) (found, read []string, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || slices.Contains(skip, d.Name()) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		read = append(read, path)
		for _, name := range holding(data, needles) {
			found = append(found, path+" holds "+name)
		}
		return nil
	})
	return found, read, err
}

// requireNoneUnder fails the test for each file under dir (but those named
// in skip) holding one of needles, and when it read fewer than atLeast
// files: a scan of the wrong directory proves nothing. It returns the
// paths of the files it read.
func requireNoneUnder(t *testing.T, dir string, needles map[string][]byte, atLeast int, skip ...string) []string {
	t.Helper()
	found, read, err := filesHolding(dir, needles, skip...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
	if len(read) < atLeast {
		t.Fatalf("scanned only %d files: is %s the data directory?", len(read), dir)
	}
	return read
}

// TestTheSecretScanFindsEveryForm: the scan the leak tests rely on finds a
// secret written plain, as JSON's base64 of []byte, or as hex, passes over
// the files it is told to skip, and finds nothing in a directory without
// it.
func TestTheSecretScanFindsEveryForm(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	forms := leakForms("the secret", []byte(secret))
	write := func(dir, name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), append([]byte(`{"x":"`), append(data, `"}`...)...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for form, needle := range forms {
		dir := t.TempDir()
		write(dir, "f", needle)
		if found, read, err := filesHolding(dir, forms); err != nil || len(found) == 0 || len(read) != 1 {
			t.Errorf("%s was not found (%v, %d files read)", form, err, len(read))
		}
		if found, read, err := filesHolding(dir, forms, "f"); err != nil || len(found) != 0 || len(read) != 0 {
			t.Errorf("%s was found in a file to skip: %v (%v)", form, found, err)
		}
	}
	dir := t.TempDir()
	write(dir, "f", []byte("another value"))
	if found, _, err := filesHolding(dir, forms); err != nil || len(found) != 0 {
		t.Errorf("found %v (%v) where the secret is not", found, err)
	}
}
