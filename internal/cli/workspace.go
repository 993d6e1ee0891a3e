package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// opsKind is a kind of resource of the workspace management API, under
// /providers/Microsoft.OperationalInsights/. The cluster, workspace and
// sentinel commands find and address resources through it.
type opsKind struct {
	collection string // the path segment: clusters, workspaces
	noun       string // for messages and `sealwatch NOUN list`: cluster, workspace
}

var (
	kindCluster   = opsKind{collection: "clusters", noun: "cluster"}
	kindWorkspace = opsKind{collection: "workspaces", noun: "workspace"}
)

const opsProvider = "/providers/Microsoft.OperationalInsights/"

// opsPath is a resource's path with extra path segments appended, and the API version.
func (m *mgmt) opsPath(k opsKind, rg, name, extra string) string {
	return "/subscriptions/" + url.PathEscape(m.sub) + "/resourceGroups/" + url.PathEscape(rg) +
		opsProvider + k.collection + "/" + url.PathEscape(name) + extra + "?api-version=" + mgmtAPIVersion
}

// opsListPath lists a resource group's resources of a kind, or the
// subscription's when rg is empty.
func (m *mgmt) opsListPath(k opsKind, rg string) string {
	p := "/subscriptions/" + url.PathEscape(m.sub)
	if rg != "" {
		p += "/resourceGroups/" + url.PathEscape(rg)
	}
	return p + opsProvider + k.collection + "?api-version=" + mgmtAPIVersion
}

// findOps returns a resource's JSON and its resource group. Without a
// resource group it lists the subscription's resources of the kind, as the
// vault commands do. Unlike vault names, these names are unique only within a
// resource group, so a name found in several is refused rather than guessed;
// rgFlag is the flag that names the resource group, for the message.
func (m *mgmt) findOps(ctx context.Context, k opsKind, name, rg, rgFlag string) (json.RawMessage, string, error) {
	if rg != "" {
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodGet, m.opsPath(k, rg, name, ""), client.AudienceManagement, nil, &raw); err != nil {
			return nil, "", fmt.Errorf("get %s %s: %w", k.noun, name, err)
		}
		return raw, rg, nil
	}
	items, err := m.cl.ListAll(ctx, m.opsListPath(k, ""), client.AudienceManagement)
	if err != nil {
		return nil, "", fmt.Errorf("list %ss to find %s: %w", k.noun, name, err)
	}
	var found json.RawMessage
	var groups []string
	for _, it := range items {
		var r struct{ ID, Name string }
		if err := json.Unmarshal(it, &r); err != nil {
			return nil, "", fmt.Errorf("decode %s list: %w", k.noun, err)
		}
		if strings.EqualFold(r.Name, name) {
			found = it
			groups = append(groups, resourceGroupOf(r.ID))
		}
	}
	switch len(groups) {
	case 0:
		return nil, "", fmt.Errorf("no %s named %q in subscription %s (see `sealwatch %s list`, or pass %s and --subscription)", k.noun, name, m.sub, k.noun, rgFlag)
	case 1:
		return found, groups[0], nil
	}
	return nil, "", fmt.Errorf("there is a %s named %q in resource groups %s; pass %s to say which", k.noun, name, strings.Join(groups, ", "), rgFlag)
}

// resourceFlags are the flags of a command about one named resource.
type resourceFlags struct {
	name          string
	resourceGroup string
}

func (f *resourceFlags) register(cmd *cobra.Command, noun string) {
	cmd.Flags().StringVarP(&f.name, "name", "n", "", noun+" name")
	cmd.Flags().StringVarP(&f.resourceGroup, "resource-group", "g", "", "resource group; found by listing the "+noun+"s when omitted")
	_ = cmd.MarkFlagRequired("name")
}

// workspaceResource is the management API's view of a workspace.
type workspaceResource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		CustomerID      string `json:"customerId"`
		RetentionInDays int    `json:"retentionInDays"`
		SKU             struct {
			Name string `json:"name"`
		} `json:"sku"`
		ClusterResourceID string `json:"clusterResourceId"`
		Features          []struct {
			Name         string `json:"name"`
			Enabled      bool   `json:"enabled"`
			CMKSupported bool   `json:"cmkSupported"`
			Description  string `json:"description"`
		} `json:"features"`
	} `json:"properties"`
}

// findWorkspace is findOps for a workspace, decoded.
func (m *mgmt) findWorkspace(ctx context.Context, name, rg string) (*workspaceResource, json.RawMessage, string, error) {
	raw, rg, err := m.findOps(ctx, kindWorkspace, name, rg, "-g")
	if err != nil {
		return nil, nil, "", err
	}
	ws, err := decodeWorkspace(raw)
	return ws, raw, rg, err
}

func decodeWorkspace(raw json.RawMessage) (*workspaceResource, error) {
	var w workspaceResource
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("decode workspace: %w", err)
	}
	return &w, nil
}

var workspaceHeader = []string{"NAME", "RESOURCE GROUP", "WORKSPACE ID", "RETENTION DAYS", "SKU", "CLUSTER"}

func workspaceRow(w *workspaceResource) []string {
	return []string{w.Name, resourceGroupOf(w.ID), w.Properties.CustomerID, strconv.Itoa(w.Properties.RetentionInDays),
		w.Properties.SKU.Name, lastSegment(w.Properties.ClusterResourceID)}
}

// lastSegment is a resource ID's last path segment: the resource's name.
func lastSegment(id string) string {
	return id[strings.LastIndexByte(id, '/')+1:]
}

// printWorkspace prints one workspace: the server's JSON, or its row, its
// cluster and its features.
func (a *app) printWorkspace(w io.Writer, ws *workspaceResource, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	if err := writeTable(w, workspaceHeader, [][]string{workspaceRow(ws)}); err != nil {
		return err
	}
	if c := ws.Properties.ClusterResourceID; c != "" {
		fmt.Fprintf(w, "\nLinked to cluster %s\n", clean(c))
	}
	if len(ws.Properties.Features) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nFeatures:")
	rows := make([][]string, 0, len(ws.Properties.Features))
	for _, f := range ws.Properties.Features {
		rows = append(rows, []string{f.Name, yesNo(&f.Enabled), yesNo(&f.CMKSupported), f.Description})
	}
	return writeTable(w, []string{"NAME", "ENABLED", "CMK SUPPORTED", "DESCRIPTION"}, rows)
}

func (a *app) workspaceCommand() *cobra.Command {
	var subscription string
	ws := a.group("workspace", "Manage workspaces, their link to a cluster and their shared keys",
		a.workspaceCreateCommand(&subscription), a.workspaceShowCommand(&subscription), a.workspaceDeleteCommand(&subscription),
		a.workspaceListCommand(&subscription), a.workspaceLinkCommand(&subscription), a.workspaceUnlinkCommand(&subscription),
		a.workspaceKeysCommand(&subscription), a.workspaceFlushCommand(&subscription))
	ws.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return ws
}

func (a *app) workspaceCreateCommand(subscription *string) *cobra.Command {
	var (
		rf        resourceFlags
		location  string
		retention int
	)
	cmd := &cobra.Command{
		Use:   "create --name W -g RG [--retention-days 90]",
		Short: "Create a workspace, or change an existing one's retention",
		Long: "create makes a workspace. For data sealed under your own key, link it to a cluster whose key\n" +
			"is set (`sealwatch workspace link`) before any data arrives, then onboard it with\n" +
			"`sealwatch sentinel onboard --cmk`: a workspace cannot move under the key later.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if rf.resourceGroup == "" {
			return usagef("create needs a resource group: -g RG")
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		body := map[string]any{"location": location}
		// Retention is sent only when given, so that running create again
		// does not reset a workspace's retention to the default.
		if cmd.Flags().Changed("retention-days") {
			body["properties"] = map[string]any{"retentionInDays": retention}
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.opsPath(kindWorkspace, rf.resourceGroup, rf.name, ""), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create workspace %s: %w", rf.name, err)
		}
		ws, err := decodeWorkspace(raw)
		if err != nil {
			return err
		}
		return a.printWorkspace(cmd.OutOrStdout(), ws, raw)
	})
	rf.register(cmd, kindWorkspace.noun)
	cmd.Flags().StringVarP(&location, "location", "l", "local", "location recorded on the workspace")
	cmd.Flags().IntVar(&retention, "retention-days", 90, "days data is kept (30 to 730)")
	return cmd
}

func (a *app) workspaceShowCommand(subscription *string) *cobra.Command {
	return showCommand(a, subscription, kindWorkspace, "show --name W", "Show a workspace, its cluster and its features", decodeWorkspace, a.printWorkspace)
}

func (a *app) workspaceDeleteCommand(subscription *string) *cobra.Command {
	return deleteCommand(a, subscription, kindWorkspace, "delete --name W",
		"Delete a workspace and its data; it needs no key, so it works while the key is revoked", "Deleted workspace %s and its data.\n")
}

func (a *app) workspaceListCommand(subscription *string) *cobra.Command {
	return listCommand(a, subscription, kindWorkspace, "List workspaces", "workspaces", decodeWorkspace, workspaceHeader, workspaceRow)
}

// showCommand is `show --name N [-g RG]` for a kind of resource.
func showCommand[T any](a *app, subscription *string, kind opsKind, use, short string,
	decode func(json.RawMessage) (*T, error), print func(io.Writer, *T, json.RawMessage) error) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		raw, _, err := m.findOps(ctx, kind, rf.name, rf.resourceGroup, "-g")
		if err != nil {
			return err
		}
		v, err := decode(raw)
		if err != nil {
			return err
		}
		return print(cmd.OutOrStdout(), v, raw)
	})
	rf.register(cmd, kind.noun)
	return cmd
}

// deleteCommand is `delete --name N [-g RG]` for a kind of resource; done
// is the table output's message, with the resource's name for %s.
func deleteCommand(a *app, subscription *string, kind opsKind, use, short, done string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		var res struct{ Name string }
		raw, rg, err := m.findOps(ctx, kind, rf.name, rf.resourceGroup, "-g")
		if err == nil {
			err = json.Unmarshal(raw, &res)
		}
		if err != nil {
			return err
		}
		if err := m.cl.Do(ctx, http.MethodDelete, m.opsPath(kind, rg, res.Name, ""), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete %s %s: %w", kind.noun, res.Name, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), done, clean(res.Name))
		}
		return nil
	})
	rf.register(cmd, kind.noun)
	return cmd
}

// listCommand is `list [-g RG]` for a kind of resource: every page, as the
// server's JSON or as a table of rows.
func listCommand[T any](a *app, subscription *string, kind opsKind, short, plural string,
	decode func(json.RawMessage) (*T, error), header []string, row func(*T) []string) *cobra.Command {
	var rg string
	cmd := &cobra.Command{Use: "list [-g RG]", Short: short, Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		items, err := m.cl.ListAll(ctx, m.opsListPath(kind, rg), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list %s: %w", plural, err)
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decode, header, row)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "list only this resource group's "+plural)
	return cmd
}

func (a *app) workspaceLinkCommand(subscription *string) *cobra.Command {
	var (
		rf          resourceFlags
		clusterName string
		clusterRG   string
	)
	cmd := &cobra.Command{
		Use:   "link --name W --cluster C",
		Short: "Link a workspace to a cluster, so that its data is sealed under the cluster's key",
		Long: "link makes a workspace's data sealed under its cluster's key from then on. Link a new,\n" +
			"empty workspace: one that already holds data, or was onboarded without a customer-managed\n" +
			"key, cannot move under one. Once onboarded with --cmk it cannot be unlinked.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, rf.name, rf.resourceGroup)
		if err != nil {
			return err
		}
		c, _, _, err := m.findCluster(ctx, clusterName, clusterRG, "--cluster-resource-group")
		if err != nil {
			return err
		}
		body := map[string]any{"properties": map[string]any{"writeAccessResourceId": c.ID}}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.opsPath(kindWorkspace, rg, ws.Name, "/linkedServices/cluster"), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("link workspace %s to cluster %s: %w", ws.Name, c.Name, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSON(w, raw)
		}
		fmt.Fprintf(w, "Linked workspace %s to cluster %s.\n", clean(ws.Name), clean(c.Name))
		if c.hasKey() {
			fmt.Fprintf(w, "Next, onboard it under the cluster's key: sealwatch sentinel onboard --workspace %s -g %s --cmk\n", clean(ws.Name), clean(rg))
		} else {
			fmt.Fprintf(w, "The cluster has no customer-managed key yet: set it with `sealwatch cluster update --name %s --key-vault VAULT --key-name KEY` before onboarding.\n", clean(c.Name))
		}
		return nil
	})
	rf.register(cmd, kindWorkspace.noun)
	cmd.Flags().StringVar(&clusterName, "cluster", "", "the cluster's name")
	cmd.Flags().StringVar(&clusterRG, "cluster-resource-group", "", "the cluster's resource group; found by listing the clusters when omitted")
	_ = cmd.MarkFlagRequired("cluster")
	return cmd
}

func (a *app) workspaceUnlinkCommand(subscription *string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{
		Use:   "unlink --name W",
		Short: "Unlink a workspace from its cluster (refused once it is onboarded under the cluster's key)",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, rf.name, rf.resourceGroup)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if ws.Properties.ClusterResourceID == "" {
			if a.output == outputTable {
				fmt.Fprintf(w, "Workspace %s is not linked to a cluster; nothing to do.\n", clean(ws.Name))
			}
			return nil
		}
		if err := m.cl.Do(ctx, http.MethodDelete, m.opsPath(kindWorkspace, rg, ws.Name, "/linkedServices/cluster"), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("unlink workspace %s: %w", ws.Name, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(w, "Unlinked workspace %s from cluster %s.\n", clean(ws.Name), clean(lastSegment(ws.Properties.ClusterResourceID)))
		}
		return nil
	})
	rf.register(cmd, kindWorkspace.noun)
	return cmd
}

func (a *app) workspaceKeysCommand(subscription *string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{
		Use:   "keys --name W",
		Short: "Show the shared keys that sign HTTP Data Collector API requests to a workspace",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, rf.name, rf.resourceGroup)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPost, m.opsPath(kindWorkspace, rg, ws.Name, "/sharedKeys"), client.AudienceManagement, nil, &raw); err != nil {
			return fmt.Errorf("get the shared keys of workspace %s: %w", ws.Name, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSON(w, raw)
		}
		var keys struct {
			Primary   string `json:"primarySharedKey"`
			Secondary string `json:"secondarySharedKey"`
		}
		if err := json.Unmarshal(raw, &keys); err != nil {
			return fmt.Errorf("decode the shared keys: %w", err)
		}
		fmt.Fprintf(w, "workspace ID:  %s\nprimary key:   %s\nsecondary key: %s\n",
			clean(ws.Properties.CustomerID), clean(keys.Primary), clean(keys.Secondary))
		return nil
	})
	rf.register(cmd, kindWorkspace.noun)
	return cmd
}

func (a *app) workspaceFlushCommand(subscription *string) *cobra.Command {
	var (
		rf    resourceFlags
		table string
	)
	cmd := &cobra.Command{
		Use:   "flush --name W [--table T]",
		Short: "Seal the rows waiting in a workspace's write-ahead logs into segments now",
		Long: "flush seals the rows that a workspace's tables (or one, --table) hold in their write-ahead logs\n" +
			"into sealed segments, and returns once they are durable there. Rows are sealed on their own once a\n" +
			"log is full or old (`sealwatch up --log-flush-size`, `--log-flush-interval`); flush is for\n" +
			"measuring queries over sealed rows, or for a copy of the segments alone. It needs the Contributor\n" +
			"role on the workspace, and the workspace's key. With -g the workspace is taken as named; without,\n" +
			"it is found among the workspaces the caller may read.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, rg, ws, err := a.resolve(ctx, *subscription, workspaceRef{name: rf.name, resourceGroup: rf.resourceGroup})
		if err != nil {
			return err
		}
		path, what := "/flush", "the tables of workspace "+ws
		if table != "" {
			path, what = "/tables/"+url.PathEscape(table)+"/flush", "table "+table+" of workspace "+ws
		}
		err = a.whileSpinning("flush "+clean(ws), func() error {
			return m.cl.Do(ctx, http.MethodPost, m.opsPath(kindWorkspace, rg, ws, path), client.AudienceManagement, nil, nil)
		})
		if err != nil {
			return fmt.Errorf("flush %s: %w", what, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Sealed the rows of %s into segments.\n", clean(what))
		}
		return nil
	})
	rf.register(cmd, kindWorkspace.noun)
	cmd.Flags().StringVar(&table, "table", "", "the one table to flush; default every table")
	return cmd
}

// rfc3339 renders a time in UTC, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
