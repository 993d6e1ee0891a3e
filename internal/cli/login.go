package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

func (a *app) loginCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "login --credentials FILE",
		Short: "Check a credentials file by signing in, and store a copy for later commands",
		Long: "login signs in with the credentials file (the admin.json that `sealwatch up` writes in its\n" +
			"data directory, or one you wrote for another application), and when that works stores a copy,\n" +
			"readable only by you, in $SEALWATCH_CONFIG_DIR or your configuration directory.",
		Args: cobra.NoArgs,
		RunE: a.action(a.runLogin),
	}
}

func (a *app) runLogin(ctx context.Context, cmd *cobra.Command, _ []string) error {
	if a.credentialsPath == "" {
		return usagef("login needs --credentials FILE (the admin.json in the data directory of `sealwatch up`)")
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
	who, err := cl.WhoAmI(ctx)
	if err != nil {
		return fmt.Errorf("sign in to %s: %w", cl.Endpoint(), err)
	}
	// The display name needs the Owner role; other principals log in all the same.
	name := ""
	var app struct {
		DisplayName string `json:"displayName"`
	}
	err = cl.Do(ctx, http.MethodGet, "/v1.0/applications/"+url.PathEscape(creds.ClientID), client.AudienceManagement, nil, &app)
	var apiErr *client.APIError
	switch {
	case err == nil:
		name = app.DisplayName
	case errors.As(err, &apiErr) && (apiErr.Status == http.StatusForbidden || apiErr.Status == http.StatusNotFound):
	default:
		return fmt.Errorf("look up the signed-in application: %w", err)
	}

	path, err := a.storedCredentialsPath()
	if err != nil {
		return err
	}
	if err := saveCredentials(path, cl.Credentials()); err != nil {
		return err
	}

	if a.output == outputJSON {
		raw, err := json.Marshal(map[string]any{
			"endpoint": cl.Endpoint(), "tenantId": who.TenantID, "clientId": who.AppID,
			"objectId": who.ObjectID, "displayName": name, "roles": who.Roles, "credentialsFile": path,
		})
		if err != nil {
			return err
		}
		return writeJSON(cmd.OutOrStdout(), raw)
	}
	w := cmd.OutOrStdout()
	label := who.AppID
	if name != "" {
		label = fmt.Sprintf("%s (client ID %s)", name, who.AppID)
	}
	fmt.Fprintf(w, "Logged in to %s as %s.\n", cl.Endpoint(), clean(label))
	fmt.Fprintf(w, "  object ID: %s\n  tenant:    %s\n", who.ObjectID, who.TenantID)
	roles := strings.Join(who.Roles, ", ")
	if roles == "" {
		roles = "none"
	}
	fmt.Fprintf(w, "  roles:     %s\n", clean(roles))
	fmt.Fprintf(w, "Credentials stored in %s (mode 0600).\n", path)
	return nil
}
