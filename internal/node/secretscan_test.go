package node

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// secretForms are the ways a secret could land in a file if it were
// written unsealed: as is, base64 (what encoding/json makes of []byte;
// the prefix every encoding starting with the secret shares) and hex.
func secretForms(secret string) map[string][]byte {
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	return map[string][]byte{
		"in the clear": []byte(secret),
		"as base64":    []byte(b64[:4*(len(secret)/3)]),
		"as hex":       []byte(hex.EncodeToString([]byte(secret))),
	}
}

// secretFilesUnder names the files under dir holding secret in any of
// its secretForms, with the form.
func secretFilesUnder(dir, secret string) ([]string, error) {
	forms := secretForms(secret)
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for form, needle := range forms {
			if bytes.Contains(raw, needle) {
				found = append(found, path+" "+form)
			}
		}
		return nil
	})
	return found, err
}

// requireNoSecretUnder fails the test when a file under dir holds secret
// in any of its secretForms.
func requireNoSecretUnder(t *testing.T, dir, what, secret string) {
	t.Helper()
	found, err := secretFilesUnder(dir, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s is on disk: %s", what, f)
	}
}

// TestTheSecretScanFindsEveryForm: the scan the key-source tests rely on
// finds a secret written plain, as JSON's base64 of []byte, or as hex, and
// finds nothing in a directory without it.
func TestTheSecretScanFindsEveryForm(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for form, needle := range secretForms(secret) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f"), append([]byte(`{"x":"`), append(needle, `"}`...)...), 0o600); err != nil {
			t.Fatal(err)
		}
		if found, err := secretFilesUnder(dir, secret); err != nil || len(found) == 0 {
			t.Errorf("a secret written %s was not found (%v)", form, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(`{"x":"another value"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if found, err := secretFilesUnder(dir, secret); err != nil || len(found) != 0 {
		t.Errorf("found %v (%v) where the secret is not", found, err)
	}
}
