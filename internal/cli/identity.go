package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// application is the API's view of an application (GET /v1.0/applications/{id}).
type application struct {
	ID           string    `json:"id"`
	AppID        string    `json:"appId"`
	DisplayName  string    `json:"displayName"`
	Kind         string    `json:"kind"`
	Roles        []string  `json:"roles"`
	Created      time.Time `json:"createdDateTime"`
	ClientSecret string    `json:"clientSecret"`
	TenantID     string    `json:"tenantId"`
}

func (a *app) identityCommand() *cobra.Command {
	return a.group("identity", "Manage the principals that sign in to Sealwatch",
		a.group("app", "Manage applications (client ID and secret principals)",
			a.appCreateCommand(), a.appListCommand(), a.appDeleteCommand(), a.appResetSecretCommand()))
}

func (a *app) appCreateCommand() *cobra.Command {
	var name string
	var roles []string
	cmd := &cobra.Command{
		Use:   "create --name NAME [--role Owner|MonitoringReader]",
		Short: "Create an application and print its client secret, once",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		if roles == nil {
			roles = []string{} // the API wants a list, even an empty one
		}
		var raw json.RawMessage
		body := map[string]any{"displayName": name, "roles": roles}
		if err := cl.Do(ctx, http.MethodPost, "/v1.0/applications", client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create application %q: %w", name, err)
		}
		return a.printSecret(cmd, raw)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "display name of the application")
	cmd.Flags().StringSliceVar(&roles, "role", nil, "role to grant: Owner (manages everything) or MonitoringReader (reads /metrics and /debug/pprof/ only); may repeat; none by default")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (a *app) appListCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List applications and managed identities", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		items, err := cl.ListAll(ctx, "/v1.0/applications", client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list applications: %w", err)
		}
		decode := func(raw json.RawMessage) (*application, error) {
			var p application
			if err := json.Unmarshal(raw, &p); err != nil {
				return nil, fmt.Errorf("list applications: %w", err)
			}
			return &p, nil
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decode, appHeader, appRow)
	})
	return cmd
}

func (a *app) appDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an application (by object ID or client ID); its tokens stop working at once",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		if err := cl.Do(ctx, http.MethodDelete, "/v1.0/applications/"+url.PathEscape(args[0]), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete application %s: %w", args[0], err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted application %s.\n", clean(args[0]))
		}
		return nil
	})
	return cmd
}

func (a *app) appResetSecretCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reset-secret ID",
		Short: "Replace an application's client secret; the old one stops working at once",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := cl.Do(ctx, http.MethodPost, "/v1.0/applications/"+url.PathEscape(args[0])+"/resetSecret", client.AudienceManagement, nil, &raw); err != nil {
			return fmt.Errorf("reset the secret of application %s: %w", args[0], err)
		}
		return a.printSecret(cmd, raw)
	})
	return cmd
}

var appHeader = []string{"OBJECT ID", "CLIENT ID", "NAME", "KIND", "ROLES", "CREATED"}

func appRow(p *application) []string {
	return []string{p.ID, p.AppID, p.DisplayName, p.Kind, strings.Join(p.Roles, ","), rfc3339(p.Created)}
}

// printSecret shows an application with its new client secret. The secret
// goes to stdout, where the person asked for it; the warning goes to stderr,
// so that it is seen even when stdout is piped into a file.
func (a *app) printSecret(cmd *cobra.Command, raw json.RawMessage) error {
	var p application
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("decode the application: %w", err)
	}
	if a.output == outputJSON {
		if err := writeJSON(cmd.OutOrStdout(), raw); err != nil {
			return err
		}
	} else {
		w := cmd.OutOrStdout()
		if err := writeTable(w, appHeader, [][]string{appRow(&p)}); err != nil {
			return err
		}
		fmt.Fprintf(w, "\ntenant ID:     %s\nclient ID:     %s\nclient secret: %s\n", p.TenantID, p.AppID, p.ClientSecret)
	}
	fmt.Fprintf(a.env.Stderr, "warning: store the client secret now; it is shown only this once. "+
		"If it is lost, run `sealwatch identity app reset-secret %s`.\n", p.ID)
	return nil
}
