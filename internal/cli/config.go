package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// The CLI keeps the logins `login` accepted in one file, each under a profile
// name, so that signing in to a second node (a customer's own vault, say)
// stores a second login beside the first instead of replacing it. Commands use
// the profile --profile or $SEALWATCH_PROFILE names, else "default".

// credentialsFileName is the stored logins' file.
const credentialsFileName = "credentials.json"

// defaultProfile is the profile of a login or command that names none.
const defaultProfile = "default"

// profileEnv names the profile when --profile is not given.
const profileEnv = "SEALWATCH_PROFILE"

// profileName is what a profile may be called: it appears in messages and
// command lines, so it is short and needs no quoting.
var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// profiles is the stored logins' file: credentials by profile name. A file
// written before profiles existed holds one client.Credentials at the top
// level; it is read as the default profile and rewritten in this shape.
type profiles struct {
	Profiles map[string]client.Credentials `json:"profiles"`
}

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

// profile is the profile this run uses: --profile, else $SEALWATCH_PROFILE,
// else "default". A name that cannot be a profile is a usage error.
func (a *app) profile() (string, error) {
	name, from := a.profileFlag, "--profile"
	if name == "" {
		name, from = a.env.Getenv(profileEnv), profileEnv
	}
	if name == "" {
		return defaultProfile, nil
	}
	if !profileName.MatchString(name) {
		return "", usagef("%s %q is not a profile name: letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit", from, name)
	}
	return name, nil
}

// loadProfiles reads the stored logins, none when there is no file yet. A
// file in the shape from before profiles is migrated in place to the default
// profile; if it cannot be rewritten (a read-only directory), it is read the
// same way next time.
func loadProfiles(path string) (*profiles, error) {
	buf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &profiles{Profiles: map[string]client.Credentials{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the stored credentials: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(buf, &top); err != nil {
		// The decoder's message may quote the file, which holds secrets.
		return nil, fmt.Errorf("read the stored credentials %s: not JSON; log in again after moving it away", path)
	}
	p := &profiles{}
	if _, ok := top["profiles"]; !ok {
		old, err := client.LoadCredentials(path)
		if err != nil {
			return nil, err
		}
		p.Profiles = map[string]client.Credentials{defaultProfile: *old}
		_ = saveProfiles(path, p)
		return p, nil
	}
	if err := json.Unmarshal(buf, p); err != nil {
		return nil, fmt.Errorf("read the stored credentials %s: not a Sealwatch credentials file; log in again after moving it away", path)
	}
	if p.Profiles == nil {
		p.Profiles = map[string]client.Credentials{}
	}
	return p, nil
}

// names is the stored profiles' names, sorted.
func (p *profiles) names() []string {
	out := make([]string, 0, len(p.Profiles))
	for name := range p.Profiles {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// storedLogin is the stored credentials of the profile this run uses.
func (a *app) storedLogin() (profile string, creds *client.Credentials, err error) {
	if profile, err = a.profile(); err != nil {
		return "", nil, err
	}
	path, err := a.storedCredentialsPath()
	if err != nil {
		return "", nil, err
	}
	p, err := loadProfiles(path)
	if err != nil {
		return "", nil, err
	}
	c, ok := p.Profiles[profile]
	if !ok {
		return "", nil, &notLoggedInError{profile: profile, path: path, others: p.names()}
	}
	if err := c.Validate(); err != nil {
		return "", nil, fmt.Errorf("profile %s in %s: %w", profile, path, err)
	}
	return profile, &c, nil
}

// notLoggedInError is a profile with no stored login.
type notLoggedInError struct {
	profile, path string
	others        []string // the profiles that are stored
}

func (e *notLoggedInError) Error() string {
	msg := fmt.Sprintf("not logged in: no login stored for profile %s in %s", e.profile, e.path)
	if len(e.others) > 0 {
		msg += fmt.Sprintf(" (stored profiles: %s)", strings.Join(e.others, ", "))
	}
	return msg
}

func (e *notLoggedInError) Unwrap() error { return errNotLoggedIn }

// loginHint is the command that stores a login for the profile.
func (e *notLoggedInError) loginHint() string {
	if e.profile == defaultProfile {
		return "run `sealwatch login --credentials DIR/admin.json` with the file `sealwatch up` wrote, or pass --credentials"
	}
	return fmt.Sprintf("run `sealwatch login --profile %s --credentials DIR/admin.json`, or pick a stored profile with --profile", e.profile)
}

// client builds an API client from --credentials or the stored credentials
// of the profile, with --endpoint applied.
func (a *app) client() (*client.Client, error) {
	var creds *client.Credentials
	if a.credentialsPath != "" {
		if a.profileFlag != "" {
			return nil, usagef("give --credentials FILE or --profile NAME, not both")
		}
		c, err := client.LoadCredentials(a.credentialsPath)
		if err != nil {
			return nil, err
		}
		creds = c
	} else {
		_, c, err := a.storedLogin()
		if err != nil {
			return nil, err
		}
		creds = c
	}
	return client.New(*creds, client.Options{Endpoint: a.endpoint, UserAgent: "sealwatch-cli"})
}

// saveProfiles writes p to path with mode 0600, through a temporary file
// and a rename so that a crash never leaves half a secret behind and an
// existing file's looser mode is never kept.
func saveProfiles(path string, p *profiles) error {
	buf, err := json.MarshalIndent(p, "", "  ")
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

// completeProfiles offers the stored profiles' names for --profile.
func (a *app) completeProfiles(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	path, err := a.storedCredentialsPath()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	p, err := loadProfiles(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return p.names(), cobra.ShellCompDirectiveNoFileComp
}
