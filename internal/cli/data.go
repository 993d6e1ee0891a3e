package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/tables"
)

// This file is the data path: data collection rules and the roles that let a
// principal use them, sending rows (`ingest`) and reading them back (`query`).

// dcrResource is the management API's view of a data collection rule.
type dcrResource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		ImmutableID        string `json:"immutableId"`
		StreamDeclarations map[string]struct {
			Columns []dcrColumn `json:"columns"`
		} `json:"streamDeclarations"`
		Destinations struct {
			LogAnalytics []struct {
				WorkspaceResourceID string `json:"workspaceResourceId"`
				WorkspaceID         string `json:"workspaceId"`
				Name                string `json:"name"`
			} `json:"logAnalytics"`
		} `json:"destinations"`
		DataFlows []struct {
			Streams      []string `json:"streams"`
			Destinations []string `json:"destinations"`
			OutputStream string   `json:"outputStream"`
		} `json:"dataFlows"`
	} `json:"properties"`
}

type dcrColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func decodeDCR(raw json.RawMessage) (*dcrResource, error) {
	var d dcrResource
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decode data collection rule: %w", err)
	}
	return &d, nil
}

// tableOf is the table a flow's rows land in: its output stream, or its
// first stream, without the Custom- or Microsoft- prefix.
func tableOf(outputStream string, streams []string) string {
	s := outputStream
	if s == "" && len(streams) > 0 {
		s = streams[0]
	}
	if t, ok := strings.CutPrefix(s, "Custom-"); ok {
		return t
	}
	return strings.TrimPrefix(s, "Microsoft-")
}

// hasStream reports whether a data flow of the rule takes stream.
func (d *dcrResource) hasStream(stream string) bool {
	for _, f := range d.Properties.DataFlows {
		if slices.Contains(f.Streams, stream) {
			return true
		}
	}
	return false
}

var dcrHeader = []string{"NAME", "RESOURCE GROUP", "IMMUTABLE ID", "STREAMS", "TABLES", "WORKSPACES"}

func dcrRow(d *dcrResource) []string {
	var streams, tables, workspaces []string
	for _, f := range d.Properties.DataFlows {
		streams = append(streams, f.Streams...)
		tables = append(tables, tableOf(f.OutputStream, f.Streams))
	}
	for _, l := range d.Properties.Destinations.LogAnalytics {
		workspaces = append(workspaces, lastSegment(l.WorkspaceResourceID))
	}
	return []string{d.Name, resourceGroupOf(d.ID), d.Properties.ImmutableID, strings.Join(streams, ","),
		strings.Join(tables, ","), strings.Join(workspaces, ",")}
}

const dcrProvider = "/providers/Microsoft.Insights/dataCollectionRules"

func (m *mgmt) dcrPath(rg, name string) string {
	return "/subscriptions/" + url.PathEscape(m.sub) + "/resourceGroups/" + url.PathEscape(rg) +
		dcrProvider + "/" + url.PathEscape(name) + "?api-version=" + mgmtAPIVersion
}

func (m *mgmt) dcrListPath(rg string) string {
	return "/subscriptions/" + url.PathEscape(m.sub) + "/resourceGroups/" + url.PathEscape(rg) +
		dcrProvider + "?api-version=" + mgmtAPIVersion
}

// dcrGroups are the resource groups to look for rules in when none is
// given: the API lists rules only per resource group, and a rule sends to a
// workspace, so the groups of the subscription's workspaces are where rules
// usually are.
func (m *mgmt) dcrGroups(ctx context.Context) ([]string, error) {
	items, err := m.cl.ListAll(ctx, m.opsListPath(kindWorkspace, ""), client.AudienceManagement)
	if err != nil {
		return nil, fmt.Errorf("list workspaces to find their resource groups: %w", err)
	}
	var groups []string
	for _, it := range items {
		var r struct{ ID string }
		if err := json.Unmarshal(it, &r); err != nil {
			return nil, fmt.Errorf("decode workspace list: %w", err)
		}
		g := resourceGroupOf(r.ID)
		if !slices.ContainsFunc(groups, func(s string) bool { return strings.EqualFold(s, g) }) {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	return groups, nil
}

// listDCRs lists a resource group's rules, or those of every group
// dcrGroups names when rg is empty.
func (m *mgmt) listDCRs(ctx context.Context, rg string) ([]json.RawMessage, []string, error) {
	groups := []string{rg}
	if rg == "" {
		var err error
		if groups, err = m.dcrGroups(ctx); err != nil {
			return nil, nil, err
		}
	}
	items := []json.RawMessage{}
	for _, g := range groups {
		got, err := m.cl.ListAll(ctx, m.dcrListPath(g), client.AudienceManagement)
		if err != nil {
			return nil, nil, fmt.Errorf("list the data collection rules of resource group %s: %w", g, err)
		}
		items = append(items, got...)
	}
	return items, groups, nil
}

// findDCR returns a rule, its JSON and its resource group; without a
// resource group it looks in those of the subscription's workspaces.
func (m *mgmt) findDCR(ctx context.Context, name, rg string) (*dcrResource, json.RawMessage, string, error) {
	if rg != "" {
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodGet, m.dcrPath(rg, name), client.AudienceManagement, nil, &raw); err != nil {
			return nil, nil, "", fmt.Errorf("get data collection rule %s: %w", name, err)
		}
		d, err := decodeDCR(raw)
		return d, raw, rg, err
	}
	items, groups, err := m.listDCRs(ctx, "")
	if err != nil {
		return nil, nil, "", fmt.Errorf("find data collection rule %s: %w", name, err)
	}
	var found *dcrResource
	var foundRaw json.RawMessage
	var in []string
	for _, it := range items {
		d, err := decodeDCR(it)
		if err != nil {
			return nil, nil, "", err
		}
		if strings.EqualFold(d.Name, name) {
			found, foundRaw = d, it
			in = append(in, resourceGroupOf(d.ID))
		}
	}
	switch len(in) {
	case 0:
		return nil, nil, "", fmt.Errorf("no data collection rule named %q in the resource groups of the subscription's workspaces (%s); pass -g with the rule's resource group",
			name, strings.Join(groups, ", "))
	case 1:
		return found, foundRaw, in[0], nil
	}
	return nil, nil, "", fmt.Errorf("there is a data collection rule named %q in resource groups %s; pass -g to say which", name, strings.Join(in, ", "))
}

// printDCR prints one rule: the server's JSON, or its row, its streams'
// columns and the address rows are sent to.
func (a *app) printDCR(w io.Writer, m *mgmt, d *dcrResource, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	if err := writeTable(w, dcrHeader, [][]string{dcrRow(d)}); err != nil {
		return err
	}
	streams := make([]string, 0, len(d.Properties.StreamDeclarations))
	for s := range d.Properties.StreamDeclarations {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	for _, s := range streams {
		fmt.Fprintf(w, "\nColumns of stream %s:\n", clean(s))
		cols := d.Properties.StreamDeclarations[s].Columns
		rows := make([][]string, 0, len(cols))
		for _, c := range cols {
			rows = append(rows, []string{c.Name, c.Type})
		}
		if err := writeTable(w, []string{"NAME", "TYPE"}, rows); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nLogs ingestion endpoint: %s/dataCollectionRules/%s/streams/{stream}?api-version=%s\n",
		m.cl.Endpoint(), clean(d.Properties.ImmutableID), ingestAPIVersion)
	return nil
}

func (a *app) dcrCommand() *cobra.Command {
	var subscription string
	c := a.group("dcr", "Manage data collection rules: which stream's rows go to which workspace table",
		a.dcrCreateCommand(&subscription), a.dcrShowCommand(&subscription), a.dcrListCommand(&subscription),
		a.dcrDeleteCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

// columnTypes are the column types a stream declaration may use.
var columnTypes = []string{"string", "int", "long", "real", "boolean", "datetime", "dynamic"}

// parseColumns reads --column Name:type values. TimeGenerated, which every
// table has, is declared first when not given.
func parseColumns(specs []string) ([]dcrColumn, error) {
	cols := []dcrColumn{}
	hasTime := false
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, ":")
		if !ok || name == "" {
			return nil, usagef("--column %q must be Name:type, such as Message:string", s)
		}
		typ = strings.ToLower(typ)
		if !slices.Contains(columnTypes, typ) {
			return nil, usagef("--column %q: the type must be one of %s", s, strings.Join(columnTypes, ", "))
		}
		if strings.EqualFold(name, "TimeGenerated") {
			hasTime = true
		}
		cols = append(cols, dcrColumn{Name: name, Type: typ})
	}
	if !hasTime {
		cols = append([]dcrColumn{{Name: "TimeGenerated", Type: "datetime"}}, cols...)
	}
	return cols, nil
}

func (a *app) dcrCreateCommand(subscription *string) *cobra.Command {
	var (
		rf              resourceFlags
		wsName, wsGroup string
		stream, table   string
		transform       string
		columns         []string
		location        string
	)
	cmd := &cobra.Command{
		Use:   "create --name N -g RG --workspace W --stream Custom-Events [--table Events_CL] [--column Name:type ...]",
		Short: "Create a data collection rule sending one stream's rows to a workspace table, or replace one",
		Long: "create makes a rule that takes rows on one stream and stores them in a table of a workspace.\n" +
			"The stream's columns are the rows' types; a custom table not declared yet is declared with them\n" +
			"(or with --transform's output columns), and rows are stored converted to the table's types.\n" +
			"Rows are sent with `sealwatch ingest` or any Logs Ingestion API client, by a principal with the\n" +
			"Ingestor role on the rule (`sealwatch role assign --role Ingestor --dcr N`). Running create\n" +
			"again replaces the rule and keeps its immutable ID.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if rf.resourceGroup == "" {
			return usagef("create needs a resource group: -g RG")
		}
		if !strings.HasPrefix(stream, "Custom-") || len(stream) == len("Custom-") {
			return usagef("--stream must be Custom-<name>, such as Custom-Events, not %q", stream)
		}
		cols, err := parseColumns(columns)
		if err != nil {
			return err
		}
		table, output, err := dcrTable(stream, table)
		if err != nil {
			return err
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		wsRaw, _, err := m.findOps(ctx, kindWorkspace, wsName, wsGroup, "--workspace-resource-group")
		if err != nil {
			return err
		}
		ws, err := decodeWorkspace(wsRaw)
		if err != nil {
			return err
		}
		wt := &workspaceTables{m: m, rg: resourceGroupOf(ws.ID), ws: ws.Name}
		_, declared, err := wt.get(ctx, table)
		if err != nil {
			return err
		}
		const dest = "workspace"
		body := map[string]any{"location": location, "properties": map[string]any{
			"streamDeclarations": map[string]any{stream: map[string]any{"columns": cols}},
			"destinations":       map[string]any{"logAnalytics": []map[string]string{{"workspaceResourceId": ws.ID, "name": dest}}},
			"dataFlows": []map[string]any{{"streams": []string{stream}, "destinations": []string{dest},
				"transformKql": transform, "outputStream": output}},
		}}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.dcrPath(rf.resourceGroup, rf.name), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create data collection rule %s: %w", rf.name, err)
		}
		d, err := decodeDCR(raw)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if err := a.printDCR(w, m, d, raw); err != nil || a.output == outputJSON {
			return err
		}
		fmt.Fprintln(w)
		if err := wt.sayWhereRowsGo(ctx, w, stream, table, declared); err != nil {
			return err
		}
		fmt.Fprintf(w, "Send rows:  sealwatch ingest --dcr %s -g %s --stream %s --file rows.json\n", clean(d.Name), clean(rf.resourceGroup), clean(stream))
		fmt.Fprintf(w, "Let an application send them:  sealwatch role assign --role Ingestor --object-id OID --dcr %s -g %s\n", clean(d.Name), clean(rf.resourceGroup))
		fmt.Fprintf(w, "  which then sends with:  sealwatch ingest --dcr-immutable-id %s --stream %s --file rows.json\n", clean(d.Properties.ImmutableID), clean(stream))
		return nil
	})
	rf.register(cmd, "data collection rule")
	f := cmd.Flags()
	f.StringVarP(&wsName, "workspace", "w", "", "the workspace whose table the rows go to")
	f.StringVar(&wsGroup, "workspace-resource-group", "", "the workspace's resource group; found by listing the workspaces when omitted")
	f.StringVar(&stream, "stream", "", "the stream rows are sent to, Custom-<name>")
	f.StringVar(&table, "table", "", "the table rows are stored in: a custom table (NAME_CL) or a standard one; default the stream's name without Custom-, with _CL")
	f.StringVar(&transform, "transform", "source", "the rule's transformKql: a KQL query over the table source (the stream's rows), such as 'source | where Severity > 2'")
	f.StringSliceVar(&columns, "column", nil, "a column of the stream, Name:type (may repeat, or separate with commas); TimeGenerated:datetime is added when missing")
	f.StringVarP(&location, "location", "l", "local", "location recorded on the rule")
	_ = cmd.MarkFlagRequired("workspace")
	_ = cmd.MarkFlagRequired("stream")
	return cmd
}

// sayWhereRowsGo tells which table a rule's rows go to and what shapes
// them: the table's declared columns, those the rule declared it with
// (a rule writing an undeclared custom table declares it from its
// stream), or, for a table still undeclared, the rows' own.
func (wt *workspaceTables) sayWhereRowsGo(ctx context.Context, w io.Writer, stream, table string, wasDeclared bool) error {
	_, declared, err := wt.get(ctx, table)
	if err != nil {
		return err
	}
	how := "converted to its declared columns"
	switch {
	case !declared:
		how = "which is not declared: rows keep the columns they are sent with (`sealwatch table create " + clean(table) + "` declares it)"
	case !wasDeclared:
		how = "declared now with the stream's columns"
	}
	fmt.Fprintf(w, "Rows of %s go to table %s of workspace %s, %s.\n", clean(stream), clean(table), clean(wt.ws), how)
	return nil
}

// dcrTable is the table a rule of stream writes and the output stream that
// names it: --table when given, a custom table (NAME_CL, declared by the
// rule from the stream's columns if it is not yet) or a standard one;
// without it, the stream's name with _CL, as the cloud's portal names it.
func dcrTable(stream, table string) (name, output string, err error) {
	if table == "" {
		table = strings.TrimPrefix(stream, "Custom-")
		if !tables.IsCustomName(table) {
			table += tables.CustomSuffix
		}
	}
	if _, std := tables.StandardSchema(table); std {
		return table, "Microsoft-" + table, nil
	}
	if !tables.IsCustomName(table) {
		return "", "", usagef("--table %s is neither a standard table nor a custom one: a custom table's name ends in %s, such as %s%s "+
			"(`sealwatch table list -w W` lists the workspace's tables)", table, tables.CustomSuffix, table, tables.CustomSuffix)
	}
	if err := tables.ValidName(table); err != nil {
		return "", "", usagef("--table: %s", refusal(err))
	}
	return table, "Custom-" + table, nil
}

func (a *app) dcrShowCommand(subscription *string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{Use: "show --name N", Short: "Show a data collection rule, its streams and its ingestion endpoint", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		d, raw, _, err := m.findDCR(ctx, rf.name, rf.resourceGroup)
		if err != nil {
			return err
		}
		return a.printDCR(cmd.OutOrStdout(), m, d, raw)
	})
	rf.register(cmd, "data collection rule")
	return cmd
}

func (a *app) dcrListCommand(subscription *string) *cobra.Command {
	var rg string
	cmd := &cobra.Command{Use: "list [-g RG]", Short: "List data collection rules", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		items, _, err := m.listDCRs(ctx, rg)
		if err != nil {
			return err
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeDCR, dcrHeader, dcrRow)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "list only this resource group's rules; default those of the groups holding workspaces")
	return cmd
}

func (a *app) dcrDeleteCommand(subscription *string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{Use: "delete --name N", Short: "Delete a data collection rule; rows already stored stay", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		d, _, rg, err := m.findDCR(ctx, rf.name, rf.resourceGroup)
		if err != nil {
			return err
		}
		if err := m.cl.Do(ctx, http.MethodDelete, m.dcrPath(rg, d.Name), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete data collection rule %s: %w", d.Name, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted data collection rule %s.\n", clean(d.Name))
		}
		return nil
	})
	rf.register(cmd, "data collection rule")
	return cmd
}

// guid formats 16 bytes as a GUID, with the version nibble set to v.
func guid(b [16]byte, v byte) string {
	b[6] = b[6]&0x0f | v<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newGUID is a random GUID, for the IDs the API lets the caller choose.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return guid(b, 4)
}

// roleAssignmentName is the name of the assignment of role to principal on
// scope. It is derived from the three, so assigning the same role again
// rewrites the one assignment rather than adding another.
func roleAssignmentName(scope, role, principal string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(scope) + "|" + strings.ToLower(role) + "|" + strings.ToLower(principal)))
	return guid([16]byte(sum[:16]), 8)
}

func (a *app) roleCommand() *cobra.Command {
	var subscription string
	c := a.group("role", "Give principals roles on workspaces and data collection rules", a.roleAssignCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

func (a *app) roleAssignCommand(subscription *string) *cobra.Command {
	var role, objectID, dcrName, wsName, rg string
	cmd := &cobra.Command{
		Use:   "assign --role Ingestor --object-id OID (--dcr N | --workspace W) [-g RG]",
		Short: "Give a principal a role on a data collection rule or a workspace",
		Long: "assign gives a principal (an application's object ID, from `sealwatch identity app list`) a role:\n" +
			"Ingestor on a data collection rule sends rows to it; on a workspace, Reader queries it and reads\n" +
			"incidents, Responder also works incidents, Contributor also deletes them. Assigning the same role\n" +
			"again changes nothing.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if (dcrName == "") == (wsName == "") {
			return usagef("name the scope once: --dcr N or --workspace W")
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		var scope, what string
		if dcrName != "" {
			d, _, _, err := m.findDCR(ctx, dcrName, rg)
			if err != nil {
				return err
			}
			scope, what = d.ID, "data collection rule "+d.Name
		} else {
			ws, _, _, err := m.findWorkspace(ctx, wsName, rg)
			if err != nil {
				return err
			}
			scope, what = ws.ID, "workspace "+ws.Name
		}
		segments := strings.Split(strings.Trim(scope, "/"), "/")
		for i, s := range segments {
			segments[i] = url.PathEscape(s)
		}
		name := roleAssignmentName(scope, role, objectID)
		path := "/" + strings.Join(segments, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name + "?api-version=" + mgmtAPIVersion
		body := map[string]any{"properties": map[string]string{"roleDefinitionId": role, "principalId": objectID}}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, path, client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("assign role %s on %s to %s: %w", role, what, objectID, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSON(w, raw)
		}
		var ra struct {
			Name       string `json:"name"`
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
				Scope            string `json:"scope"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &ra); err != nil {
			return fmt.Errorf("decode the role assignment: %w", err)
		}
		return writeTable(w, []string{"ROLE", "PRINCIPAL", "SCOPE", "NAME"},
			[][]string{{lastSegment(ra.Properties.RoleDefinitionID), ra.Properties.PrincipalID, ra.Properties.Scope, ra.Name}})
	})
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "Ingestor, Reader, Responder or Contributor")
	completeValues(cmd, "role", "Ingestor", "Reader", "Responder", "Contributor")
	f.StringVar(&objectID, "object-id", "", "the principal's object ID")
	f.StringVar(&dcrName, "dcr", "", "the data collection rule the role is on")
	f.StringVarP(&wsName, "workspace", "w", "", "the workspace the role is on")
	f.StringVarP(&rg, "resource-group", "g", "", "the rule's or workspace's resource group; found by listing when omitted")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("object-id")
	return cmd
}

// withoutOwner adds what to do instead to a refusal for want of the Owner
// role, which looking a resource up by name needs.
func withoutOwner(err error, instead string) error {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
		return fmt.Errorf("%w; %s", err, instead)
	}
	return err
}

// queryResult is the query API's answer.
type queryResult struct {
	Tables []struct {
		Name    string `json:"name"`
		Columns []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"columns"`
		Rows [][]json.RawMessage `json:"rows"`
	} `json:"tables"`
}

// cell renders a value for a table: strings as they are, null as empty, and
// numbers, booleans, arrays and objects as JSON.
func cell(v json.RawMessage) string {
	var s string
	switch {
	case len(v) == 0 || string(v) == "null":
		return ""
	case v[0] == '"' && json.Unmarshal(v, &s) == nil:
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

func writeQueryResult(w io.Writer, raw json.RawMessage) error {
	var res queryResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode the query result: %w", err)
	}
	for i, t := range res.Tables {
		if len(res.Tables) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s:\n", clean(t.Name))
		}
		header := make([]string, len(t.Columns))
		for j, c := range t.Columns {
			header[j] = c.Name
		}
		rows := make([][]string, len(t.Rows))
		for j, r := range t.Rows {
			rows[j] = make([]string, len(r))
			for k, v := range r {
				rows[j][k] = cell(v)
			}
		}
		if err := writeTable(w, header, rows); err != nil {
			return err
		}
	}
	return nil
}

// queryPositionRE finds the line and column a refused query's message points at.
var queryPositionRE = regexp.MustCompile(`\bat (\d+):(\d+):`)

// queryError is a refused query with the line of the query the server
// points at and a caret under the column, for a person to see the mistake.
type queryError struct {
	err     error
	excerpt string
}

func (e *queryError) Error() string { return e.err.Error() + "\n" + e.excerpt }
func (e *queryError) Unwrap() error { return e.err }

// pointAt returns err with the query's line and a caret at line:col when the
// server's message names a position in it.
func pointAt(err error, query string) error {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	m := queryPositionRE.FindStringSubmatch(apiErr.Message)
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	lines := strings.Split(query, "\n")
	if line < 1 || line > len(lines) || col < 1 {
		return err
	}
	text := clean(strings.ReplaceAll(strings.TrimRight(lines[line-1], "\r"), "\t", " "))
	return &queryError{err: err, excerpt: "  " + text + "\n  " + strings.Repeat(" ", col-1) + "^"}
}

func (a *app) queryCommand() *cobra.Command {
	var subscription, wsName, wsID, rg, timespan string
	var maxRows int
	cmd := &cobra.Command{
		Use:   `query (--workspace W [-g RG] | --workspace-id GUID) "KQL" [--timespan PT1H] [--max-rows N]`,
		Short: "Run a KQL query over a workspace's logs",
		Long: "query runs KQL over a workspace and prints the result as a table, or with -o json the server's\n" +
			"answer as it is. --timespan limits it to a time range: an ISO 8601 duration ending now (PT1H,\n" +
			"P1D) or an interval (2026-11-26T00:00:00Z/PT6H). A principal with only the Reader role names\n" +
			"the workspace without -g (it is found among those it may read), or by its ID (its customerId)\n" +
			"with --workspace-id.\n\n" +
			"As the cloud's query API, the node answers with at most 500,000 rows and 100 MiB of them; of\n" +
			"a larger result it answers the first rows, and query says so on standard error. On a terminal\n" +
			"query shows the first 10,000 rows unless --max-rows says otherwise; elsewhere (a pipe, a\n" +
			"file) up to 500,000. When rows are left out, a notice on standard error says how many.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("query takes the KQL as one argument, quoted: sealwatch query --workspace W \"Events_CL | take 10\"")
			}
			return nil
		},
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if (wsName == "") == (wsID == "") {
			return usagef("name the workspace once: --workspace W, or --workspace-id GUID (its customerId)")
		}
		maxRowsSet := cmd.Flags().Changed("max-rows")
		switch {
		case maxRowsSet && (maxRows < 1 || maxRows > apiMaxRows):
			return usagef("--max-rows takes 1 to %d rows, not %d", apiMaxRows, maxRows)
		case !maxRowsSet && a.env.IsTerminal(cmd.OutOrStdout()):
			maxRows = terminalMaxRows
		}
		m, err := a.mgmt(subscription)
		if err != nil {
			return err
		}
		label := wsID
		if wsName != "" {
			ws, _, _, err := m.findWorkspace(ctx, wsName, rg)
			if err != nil {
				return withoutOwner(err, "with only a role on the workspace, leave out -g, or name it by its ID: --workspace-id (its customerId, see `sealwatch workspace show`)")
			}
			wsID, label = ws.Properties.CustomerID, ws.Name
		}
		body := map[string]string{"query": args[0]}
		if timespan != "" {
			body["timespan"] = timespan
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPost, "/v1/workspaces/"+url.PathEscape(wsID)+"/query", client.AudienceQuery, body, &raw); err != nil {
			return pointAt(fmt.Errorf("query workspace %s: %w", label, err), args[0])
		}
		partial, err := partialNotice(raw)
		if err != nil {
			return err
		}
		raw, capped, err := capAnswer(raw, maxRows, apiMaxBytes)
		if err != nil {
			return err
		}
		if a.output == outputJSON {
			err = writeJSON(cmd.OutOrStdout(), raw)
		} else {
			err = writeQueryResult(cmd.OutOrStdout(), raw)
		}
		if err == nil && partial != "" {
			fmt.Fprintln(a.env.Stderr, partial)
		}
		if err == nil && capped != nil {
			printCapNotice(a.env.Stderr, capped, maxRows, maxRowsSet)
		}
		return err
	})
	f := cmd.Flags()
	f.StringVarP(&wsName, "workspace", "w", "", "the workspace, by name")
	f.StringVar(&wsID, "workspace-id", "", "the workspace, by its ID (customerId); needs no management access")
	f.StringVarP(&rg, "resource-group", "g", "", "the workspace's resource group; found by listing the workspaces when omitted")
	f.StringVar(&timespan, "timespan", "", "ISO 8601 duration or interval the query covers, such as PT1H")
	f.IntVar(&maxRows, "max-rows", apiMaxRows, "show at most this many rows (default 10,000 on a terminal)")
	f.StringVar(&subscription, "subscription", "", "subscription ID, to find the workspace by name; default the tenant ID")
	return cmd
}
