package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sealwatch/sealwatch/internal/client"
)

// credentialsFileName is the stored copy of the credentials `login` accepted.
const credentialsFileName = "credentials.json"

// storedCredentialsPath is $SEALWATCH_CONFIG_DIR/credentials.json, or
// sealwatch/credentials.json under the user's configuration directory.
func (a *app) storedCredentialsPath() (string, error) {
	if dir := a.env.Getenv("SEALWATCH_CONFIG_DIR"); dir != "" {
		return filepath.Join(dir, credentialsFileName), nil
	}
	dir, err := a.env.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find a directory for the stored credentials (set SEALWATCH_CONFIG_DIR): %w", err)
	}
	return filepath.Join(dir, "sealwatch", credentialsFileName), nil
}

// client builds an API client from --credentials or the stored credentials,
// with --endpoint applied.
func (a *app) client() (*client.Client, error) {
	path := a.credentialsPath
	if path == "" {
		stored, err := a.storedCredentialsPath()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(stored); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: no credentials at %s", errNotLoggedIn, stored)
		}
		path = stored
	}
	creds, err := client.LoadCredentials(path)
	if err != nil {
		return nil, err
	}
	return client.New(*creds, client.Options{Endpoint: a.endpoint, UserAgent: "sealwatch-cli"})
}

// saveCredentials writes creds to path with mode 0600, through a temporary
// file and a rename so that a crash never leaves half a secret behind and an
// existing file's looser mode is never kept.
func saveCredentials(path string, creds client.Credentials) error {
	buf, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	f, err := os.CreateTemp(dir, ".credentials-*.tmp") // created 0600
	if err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(append(buf, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	return nil
}
