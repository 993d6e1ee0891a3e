package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

func (a *app) loginCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "login --credentials FILE [--profile NAME]",
		Short: "Check a credentials file by signing in, and store a copy for later commands under a profile",
		Long: "login signs in with the credentials file (the admin.json that `sealwatch up` or `sealwatch vault\n" +
			"serve` writes in its data directory, or one you wrote for another application), and when that\n" +
			"works stores a copy, readable only by you, in $SEALWATCH_CONFIG_DIR or your configuration\n" +
			"directory, under the profile --profile names (default \"default\"). Logins to other profiles stay\n" +
			"as they are; a login to a profile that holds one already replaces it, and says so. Later commands\n" +
			"use the profile that --profile or $SEALWATCH_PROFILE names, else \"default\".",
		Args: cobra.NoArgs,
		RunE: a.action(a.runLogin),
	}
}

// signedIn is who a client signs in as, and where.
type signedIn struct {
	Profile     string   `json:"profile,omitempty"`
	Endpoint    string   `json:"endpoint"`
	TenantID    string   `json:"tenantId"`
	ClientID    string   `json:"clientId"`
	ObjectID    string   `json:"objectId"`
	DisplayName string   `json:"displayName,omitempty"`
	Roles       []string `json:"roles"`
	// CredentialsFile is where the credentials came from or went.
	CredentialsFile string    `json:"credentialsFile,omitempty"`
	TokenExpires    time.Time `json:"tokenExpires,omitzero"`
}

// signIn gets a token with cl's credentials and reads who it names.
func signIn(ctx context.Context, cl *client.Client) (*signedIn, error) {
	who, err := cl.WhoAmI(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in to %s: %w", cl.Endpoint(), err)
	}
	s := &signedIn{Endpoint: cl.Endpoint(), TenantID: who.TenantID, ClientID: who.AppID, ObjectID: who.ObjectID,
		Roles: who.Roles, TokenExpires: who.ExpiresAt}
	if s.Roles == nil {
		s.Roles = []string{}
	}
	// The display name needs the Owner role; other principals sign in all the same.
	var app struct {
		DisplayName string `json:"displayName"`
	}
	err = cl.Do(ctx, http.MethodGet, "/v1.0/applications/"+url.PathEscape(who.AppID), client.AudienceManagement, nil, &app)
	var apiErr *client.APIError
	switch {
	case err == nil:
		s.DisplayName = app.DisplayName
	case errors.As(err, &apiErr) && (apiErr.Status == http.StatusForbidden || apiErr.Status == http.StatusNotFound):
	default:
		return nil, fmt.Errorf("look up the signed-in application: %w", err)
	}
	return s, nil
}

// principal names the signed-in application for a person.
func (s *signedIn) principal() string {
	if s.DisplayName == "" {
		return "client ID " + s.ClientID
	}
	return fmt.Sprintf("%s (client ID %s)", s.DisplayName, s.ClientID)
}

// where is what tells two logins apart when both are "sealwatch-admin":
// the node and the tenant.
func (s *signedIn) where() string {
	return fmt.Sprintf("%s, tenant %s", s.Endpoint, s.TenantID)
}

func (a *app) runLogin(ctx context.Context, cmd *cobra.Command, _ []string) error {
	if a.credentialsPath == "" {
		return usagef("login needs --credentials FILE (the admin.json in the data directory of `sealwatch up`)")
	}
	profile, err := a.profile()
	if err != nil {
		return err
	}
	creds, err := client.LoadCredentials(a.credentialsPath)
	if err != nil {
		return err
	}
	// The stored copy must work from any directory.
	if creds.CAFile != "" {
		if creds.CAFile, err = filepath.Abs(creds.CAFile); err != nil {
			return fmt.Errorf("resolve the CA file: %w", err)
		}
	}
	cl, err := client.New(*creds, client.Options{Endpoint: a.endpoint, UserAgent: "sealwatch-cli"})
	if err != nil {
		return err
	}
	who, err := signIn(ctx, cl)
	if err != nil {
		return err
	}

	path, err := a.storedCredentialsPath()
	if err != nil {
		return err
	}
	stored, err := loadProfiles(path)
	if err != nil {
		return err
	}
	previous, replaced := stored.Profiles[profile]
	stored.Profiles[profile] = cl.Credentials()
	if err := saveProfiles(path, stored); err != nil {
		return err
	}
	who.Profile, who.CredentialsFile = profile, path

	w := cmd.OutOrStdout()
	if a.output == outputJSON {
		return writeJSONOf(w, who)
	}
	fmt.Fprintf(w, "Logged in to %s as %s, profile %s.\n", who.Endpoint, clean(who.principal()), profile)
	printSignedIn(w, who)
	fmt.Fprintf(w, "Credentials stored in %s (mode 0600), profile %s.\n", path, profile)
	if replaced {
		fmt.Fprintf(w, "This replaced the earlier login of profile %s: client ID %s at %s, tenant %s.\n",
			profile, clean(previous.ClientID), clean(previous.Endpoint), clean(previous.TenantID))
		if previous.Endpoint != who.Endpoint || previous.TenantID != who.TenantID {
			fmt.Fprintf(w, "To keep logins to both nodes, log in to each under a profile of its own: sealwatch login --profile NAME --credentials FILE.\n")
		}
	}
	if others := otherProfiles(stored, profile); len(others) > 0 {
		fmt.Fprintf(w, "Also stored: %s.\n", strings.Join(others, ", "))
	}
	if profile != defaultProfile {
		fmt.Fprintf(w, "Use it with --profile %s (or %s=%s); commands without either use profile %s.\n", profile, profileEnv, profile, defaultProfile)
	}
	return nil
}

// printSignedIn prints the lines login and whoami share.
func printSignedIn(w io.Writer, s *signedIn) {
	fmt.Fprintf(w, "  endpoint:  %s\n  tenant:    %s\n  client ID: %s\n  object ID: %s\n", s.Endpoint, s.TenantID, s.ClientID, s.ObjectID)
	roles := strings.Join(s.Roles, ", ")
	if roles == "" {
		roles = "none"
	}
	fmt.Fprintf(w, "  roles:     %s\n", clean(roles))
}

// otherProfiles lists the stored profiles other than profile.
func otherProfiles(p *profiles, profile string) []string {
	var out []string
	for _, name := range p.names() {
		if name != profile {
			out = append(out, name)
		}
	}
	return out
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the profile in use, the node it signs in to, and the principal and roles it signs in as",
		Long: "whoami signs in with the credentials a command would use (--credentials, or the stored login of\n" +
			"the profile --profile or $SEALWATCH_PROFILE names, else \"default\") and shows the profile, the\n" +
			"node's endpoint and tenant, the principal and its roles, and the other stored profiles.",
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			who, err := signIn(ctx, cl)
			if err != nil {
				return err
			}
			var others []string
			if a.credentialsPath != "" {
				who.CredentialsFile = a.credentialsPath
			} else {
				if who.Profile, err = a.profile(); err != nil {
					return err
				}
				if who.CredentialsFile, err = a.storedCredentialsPath(); err != nil {
					return err
				}
				stored, err := loadProfiles(who.CredentialsFile)
				if err != nil {
					return err
				}
				others = otherProfiles(stored, who.Profile)
			}
			w := cmd.OutOrStdout()
			if a.output == outputJSON {
				return writeJSONOf(w, who)
			}
			if who.Profile != "" {
				fmt.Fprintf(w, "Profile %s: %s at %s.\n", who.Profile, clean(who.principal()), clean(who.where()))
			} else {
				fmt.Fprintf(w, "Credentials %s: %s at %s.\n", who.CredentialsFile, clean(who.principal()), clean(who.where()))
			}
			printSignedIn(w, who)
			if len(others) > 0 {
				fmt.Fprintf(w, "Other stored profiles: %s (use one with --profile NAME).\n", strings.Join(others, ", "))
			}
			return nil
		}),
	}
}
