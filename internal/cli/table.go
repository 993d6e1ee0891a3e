package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/tables"
)

// tableResource is the API's view of a table.
type tableResource struct {
	Name       string `json:"name"`
	Etag       string `json:"etag"`
	Properties struct {
		RetentionInDays      int    `json:"retentionInDays"`
		TotalRetentionInDays int    `json:"totalRetentionInDays"`
		Plan                 string `json:"plan"`
		Schema               struct {
			Description     string          `json:"description"`
			TableType       string          `json:"tableType"`
			Columns         []tables.Column `json:"columns"`
			StandardColumns []tables.Column `json:"standardColumns"`
		} `json:"schema"`
	} `json:"properties"`
}

func decodeTable(raw json.RawMessage) (*tableResource, error) {
	var t tableResource
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decode table: %w", err)
	}
	return &t, nil
}

// standard reports whether the table is built in.
func (t *tableResource) standard() bool { return t.Properties.Schema.TableType == "Microsoft" }

// columns are the table's columns in order: a standard table's built-in
// ones, then any custom ones.
func (t *tableResource) columns() []tables.Column {
	s := t.Properties.Schema
	return append(append([]tables.Column{}, s.StandardColumns...), s.Columns...)
}

var tableHeader = []string{"NAME", "KIND", "COLUMNS", "RETENTION", "TOTAL RETENTION"}

func tableRow(t *tableResource) []string {
	kind := "custom"
	if t.standard() {
		kind = "standard"
	}
	p := t.Properties
	return []string{t.Name, kind, strconv.Itoa(len(t.columns())), strconv.Itoa(p.RetentionInDays) + "d", strconv.Itoa(p.TotalRetentionInDays) + "d"}
}

// workspaceTables addresses one workspace's tables.
type workspaceTables struct {
	m      *mgmt
	rg, ws string
}

func (wt *workspaceTables) path(name string) string {
	extra := "/tables"
	if name != "" {
		extra += "/" + url.PathEscape(name)
	}
	return wt.m.opsPath(kindWorkspace, wt.rg, wt.ws, extra)
}

// tablesOf resolves the workspace a table command is about.
func (a *app) tablesOf(ctx context.Context, subscription string, ref workspaceRef) (*workspaceTables, error) {
	m, rg, ws, err := a.resolve(ctx, subscription, ref)
	if err != nil {
		return nil, err
	}
	return &workspaceTables{m: m, rg: rg, ws: ws}, nil
}

// get reads a table; found is false when the workspace has none of that name.
func (wt *workspaceTables) get(ctx context.Context, name string) (raw json.RawMessage, found bool, err error) {
	raw, found, err = wt.m.getIfFound(ctx, wt.path(name))
	if err != nil {
		return nil, false, fmt.Errorf("get table %s of workspace %s: %w", name, wt.ws, err)
	}
	return raw, found, nil
}

// send PUTs or PATCHes a table's properties, under etag when given.
func (wt *workspaceTables) send(ctx context.Context, method, name, etag string, props map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"properties": props})
	if err != nil {
		return nil, err
	}
	var header http.Header
	if etag != "" {
		header = http.Header{"If-Match": {etag}}
	}
	var raw json.RawMessage
	if err := wt.m.cl.DoRaw(ctx, method, wt.path(name), client.AudienceManagement, body, header, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// printTable prints one table: the server's JSON, or its row and its
// columns in order.
func (a *app) printTable(w io.Writer, raw json.RawMessage) error {
	t, err := writeOne(w, a.output, raw, decodeTable, tableHeader, tableRow)
	if t == nil || err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(t.columns()))
	for _, c := range t.columns() {
		rows = append(rows, []string{clean(c.Name), clean(c.Type), clean(c.Description)})
	}
	if err := writeTable(w, []string{"COLUMN", "TYPE", "DESCRIPTION"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if d := t.Properties.Schema.Description; d != "" {
		fmt.Fprintf(w, "description:  %s\n", clean(d))
	}
	fmt.Fprintf(w, "plan:         %s\netag:         %s\n", clean(t.Properties.Plan), clean(t.Etag))
	return nil
}

func (a *app) tableCommand() *cobra.Command {
	var subscription string
	c := a.group("table", "Declare a workspace's tables: custom _CL tables with typed columns in order, and the standard tables' retention",
		a.tableCreateCommand(&subscription), a.tableShowCommand(&subscription), a.tableListCommand(&subscription),
		a.tableUpdateCommand(&subscription), a.tableDeleteCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

// parseTableColumns reads --column Name:type values, in order.
func parseTableColumns(specs []string) ([]tables.Column, error) {
	cols := make([]tables.Column, 0, len(specs))
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, ":")
		if !ok || name == "" || typ == "" {
			return nil, usagef("--column %q must be Name:type, such as SourceIP:string", s)
		}
		cols = append(cols, tables.Column{Name: name, Type: typ})
	}
	return cols, nil
}

// readSchemaFile reads a table's schema from a JSON file: {"description":
// …, "columns": [{"name", "type", "description"}…]}, its fields checked
// strictly so that a misspelt one is named rather than dropped.
func readSchemaFile(path string) (tables.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tables.Schema{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s tables.Schema
	if err := dec.Decode(&s); err != nil {
		return tables.Schema{}, fmt.Errorf("%s: not a table schema %s: %w", path, `{"columns":[{"name":"TimeGenerated","type":"datetime"},…]}`, err)
	}
	return s, nil
}

// retentionProps adds the retention flags that were given to props.
func retentionProps(cmd *cobra.Command, props map[string]any, retention, total int) {
	if cmd.Flags().Changed("retention-days") {
		props["retentionInDays"] = retention
	}
	if cmd.Flags().Changed("total-retention-days") {
		props["totalRetentionInDays"] = total
	}
}

func registerRetention(cmd *cobra.Command, retention, total *int) {
	f := cmd.Flags()
	f.IntVar(retention, "retention-days", tables.UseDefault, "the table's retention in days, 4-730; -1 for the workspace's")
	f.IntVar(total, "total-retention-days", tables.UseDefault, "days rows are kept, and queryable (there is no archive tier), at least the retention, up to 4383; -1 for the retention")
}

func (a *app) tableCreateCommand(subscription *string) *cobra.Command {
	var (
		ref              workspaceRef
		columns          []string
		file, desc       string
		retention, total int
	)
	cmd := &cobra.Command{
		Use:   "create NAME_CL --workspace W (--column Name:type ... | --file schema.json) [--description D] [--retention-days N]",
		Short: "Declare a custom table: its columns, in order, with their types",
		Long: "create declares a custom table, whose name ends in _CL. Its columns keep the order given, which\n" +
			"getschema and query results follow, and their types, to which ingestion converts every row (a\n" +
			"value that does not convert refuses the batch). Types: string, int, long, real, boolean,\n" +
			"datetime, guid, dynamic. TimeGenerated:datetime is added first when not given: every table has it.\n" +
			"--file reads the columns from a JSON file: {\"columns\":[{\"name\":…,\"type\":…,\"description\":…}]}.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		name := args[0]
		if _, std := tables.StandardSchema(name); std {
			return usagef("%s is a standard table, built in; set its retention with `sealwatch table update %s --retention-days N`", name, name)
		}
		if !tables.IsCustomName(name) {
			return usagef("a custom table's name ends in %s, such as %s%s", tables.CustomSuffix, name, tables.CustomSuffix)
		}
		schema := tables.Schema{Description: desc}
		switch {
		case file != "" && len(columns) > 0:
			return usagef("give the columns with --column or with --file, not both")
		case file != "":
			s, err := readSchemaFile(file)
			if err != nil {
				return err
			}
			if desc == "" {
				schema.Description = s.Description
			}
			schema.Columns = s.Columns
		default:
			cols, err := parseTableColumns(columns)
			if err != nil {
				return err
			}
			schema.Columns = cols
		}
		if !slices.ContainsFunc(schema.Columns, func(c tables.Column) bool { return c.Name == tables.TimeColumn }) {
			schema.Columns = append([]tables.Column{{Name: tables.TimeColumn, Type: "datetime"}}, schema.Columns...)
		}
		wt, err := a.tablesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		// A PUT replaces a table of that name: create only creates.
		if _, found, err := wt.get(ctx, name); err != nil {
			return err
		} else if found {
			return fmt.Errorf("workspace %s already has a table %s; add columns or set its retention with `sealwatch table update %s`", wt.ws, name, name)
		}
		props := map[string]any{"schema": map[string]any{"name": name, "description": schema.Description, "columns": schema.Columns}}
		retentionProps(cmd, props, retention, total)
		raw, err := wt.send(ctx, http.MethodPut, name, "", props)
		if err != nil {
			return fmt.Errorf("create table %s in workspace %s: %w", name, wt.ws, err)
		}
		return a.printTable(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&columns, "column", nil, "a column, Name:type; repeat in the order the table has them")
	f.StringVar(&file, "file", "", "a JSON file with the table's columns (and description)")
	f.StringVar(&desc, "description", "", "what the table holds")
	registerRetention(cmd, &retention, &total)
	return cmd
}

func (a *app) tableShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "show NAME --workspace W", Short: "Show a table: its columns in order, their types, its retention", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wt, err := a.tablesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, found, err := wt.get(ctx, args[0])
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("workspace %s has no table %s: a custom table is declared with `sealwatch table create`; `sealwatch table list` lists them all", wt.ws, clean(args[0]))
		}
		return a.printTable(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) tableListCommand(subscription *string) *cobra.Command {
	var (
		ref    workspaceRef
		custom bool
	)
	cmd := &cobra.Command{Use: "list --workspace W [--custom]", Short: "List a workspace's tables, standard and custom", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		wt, err := a.tablesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := wt.m.cl.ListAll(ctx, wt.path(""), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the tables of workspace %s: %w", wt.ws, err)
		}
		if custom {
			kept := items[:0]
			for _, raw := range items {
				t, err := decodeTable(raw)
				if err != nil {
					return err
				}
				if !t.standard() {
					kept = append(kept, raw)
				}
			}
			items = kept
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeTable, tableHeader, tableRow)
	})
	ref.register(cmd)
	cmd.Flags().BoolVar(&custom, "custom", false, "list only the custom (_CL) tables")
	return cmd
}

func (a *app) tableUpdateCommand(subscription *string) *cobra.Command {
	var (
		ref              workspaceRef
		columns          []string
		retention, total int
	)
	cmd := &cobra.Command{
		Use:   "update NAME --workspace W [--add-column Name:type ...] [--retention-days N] [--total-retention-days N]",
		Short: "Add columns to a custom table, or set a table's retention",
		Long: "update adds columns after a custom table's columns, and sets the retention of any table. A column\n" +
			"cannot be removed or retyped (rows stored in it keep its type), and a standard table's columns\n" +
			"are built in: only its retention changes. The change is made on the table as read: if another\n" +
			"change came in between, it is refused and can be run again.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		name := args[0]
		added, err := parseTableColumns(columns)
		if err != nil {
			return err
		}
		if len(added) == 0 && !cmd.Flags().Changed("retention-days") && !cmd.Flags().Changed("total-retention-days") {
			return usagef("update needs --add-column, --retention-days or --total-retention-days")
		}
		wt, err := a.tablesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, found, err := wt.get(ctx, name)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("workspace %s has no table %s; declare it with `sealwatch table create %s`", wt.ws, clean(name), clean(name))
		}
		cur, err := decodeTable(raw)
		if err != nil {
			return err
		}
		props := map[string]any{}
		if len(added) > 0 {
			if cur.standard() {
				return fmt.Errorf("%s is a standard table: its columns are built in and cannot change; declare your own columns in a custom table (a name ending in %s)", name, tables.CustomSuffix)
			}
			props["schema"] = map[string]any{"columns": append(cur.Properties.Schema.Columns, added...)}
		}
		retentionProps(cmd, props, retention, total)
		out, err := wt.send(ctx, http.MethodPatch, name, cur.Etag, props)
		if err != nil {
			return fmt.Errorf("update table %s of workspace %s: %w", name, wt.ws, err)
		}
		return a.printTable(cmd.OutOrStdout(), out)
	})
	ref.register(cmd)
	cmd.Flags().StringArrayVar(&columns, "add-column", nil, "a column to add at the end, Name:type; repeat for more")
	registerRetention(cmd, &retention, &total)
	return cmd
}

func (a *app) tableDeleteCommand(subscription *string) *cobra.Command {
	var (
		ref  workspaceRef
		etag string
	)
	cmd := &cobra.Command{
		Use:   "delete NAME_CL --workspace W [--etag E]",
		Short: "Delete a custom table's declaration",
		Long: "delete removes a custom table's declaration. Rows already stored in it stay, queryable under\n" +
			"its name with the columns they have, until the workspace's retention removes them. Standard\n" +
			"tables are built in and cannot be deleted.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wt, err := a.tablesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		var header http.Header
		if etag != "" {
			header = http.Header{"If-Match": {etag}}
		}
		if err := wt.m.cl.DoRaw(ctx, http.MethodDelete, wt.path(args[0]), client.AudienceManagement, nil, header, nil); err != nil {
			return fmt.Errorf("delete table %s: %w", args[0], err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted table %s of workspace %s.\n", clean(args[0]), wt.ws)
		return nil
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the table still has this etag (from `sealwatch table show`)")
	return cmd
}
