package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/watchlist"
)

// watchlistsPath is under a workspace: its watchlists.
const watchlistsPath = "/providers/Microsoft.SecurityInsights/watchlists"

// watchlistResource is the API's view of a watchlist.
type watchlistResource struct {
	Name       string `json:"name"`
	Etag       string `json:"etag"`
	Properties struct {
		DisplayName    string    `json:"displayName"`
		Provider       string    `json:"provider"`
		Source         string    `json:"source"`
		Description    string    `json:"description"`
		ItemsSearchKey string    `json:"itemsSearchKey"`
		Labels         []string  `json:"labels"`
		Columns        []string  `json:"columns"`
		ItemsCount     int       `json:"itemsCount"`
		Updated        time.Time `json:"updated"`
	} `json:"properties"`
}

func decodeWatchlist(raw json.RawMessage) (*watchlistResource, error) {
	var w watchlistResource
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("decode watchlist: %w", err)
	}
	return &w, nil
}

var watchlistHeader = []string{"ALIAS", "DISPLAY NAME", "SEARCH KEY", "ITEMS", "SOURCE", "UPDATED"}

func watchlistRow(w *watchlistResource) []string {
	p := w.Properties
	return []string{w.Name, p.DisplayName, p.ItemsSearchKey, strconv.Itoa(p.ItemsCount), p.Source, rfc3339(p.Updated)}
}

// watchlistItem is the API's view of a watchlist item.
type watchlistItem struct {
	Name       string `json:"name"`
	Etag       string `json:"etag"`
	Properties struct {
		ItemsKeyValue map[string]string `json:"itemsKeyValue"`
	} `json:"properties"`
}

// watchlists addresses one workspace's watchlists.
type watchlists struct {
	m      *mgmt
	rg, ws string
}

// path is the path of the watchlists, with extra segments appended.
func (wl *watchlists) path(extra ...string) string {
	var b strings.Builder
	b.WriteString(watchlistsPath)
	for _, e := range extra {
		b.WriteString("/" + url.PathEscape(e))
	}
	return wl.m.opsPath(kindWorkspace, wl.rg, wl.ws, b.String())
}

// watchlistsOf resolves the workspace a watchlist command is about.
func (a *app) watchlistsOf(ctx context.Context, subscription string, ref workspaceRef) (*watchlists, error) {
	m, rg, ws, err := a.resolve(ctx, subscription, ref)
	if err != nil {
		return nil, err
	}
	return &watchlists{m: m, rg: rg, ws: ws}, nil
}

// get reads a watchlist as the server sent it.
func (wl *watchlists) get(ctx context.Context, alias string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := wl.m.cl.Do(ctx, http.MethodGet, wl.path(alias), client.AudienceManagement, nil, &raw); err != nil {
		return nil, fmt.Errorf("get watchlist %s of workspace %s: %w", alias, wl.ws, err)
	}
	return raw, nil
}

// delete deletes a watchlist or an item, under etag when given.
func (wl *watchlists) delete(ctx context.Context, etag string, segments ...string) error {
	var header http.Header
	if etag != "" {
		header = http.Header{"If-Match": {etag}}
	}
	return wl.m.cl.DoRaw(ctx, http.MethodDelete, wl.path(segments...), client.AudienceManagement, nil, header, nil)
}

// printWatchlist prints one watchlist: the server's JSON, or its row and
// the fields too long for a row.
func (a *app) printWatchlist(w io.Writer, raw json.RawMessage) error {
	wl, err := writeOne(w, a.output, raw, decodeWatchlist, watchlistHeader, watchlistRow)
	if wl == nil || err != nil {
		return err
	}
	p := wl.Properties
	fmt.Fprintln(w)
	fmt.Fprintf(w, "columns:      %s\n", clean(strings.Join(p.Columns, ", ")))
	if p.Description != "" {
		fmt.Fprintf(w, "description:  %s\n", clean(p.Description))
	}
	if len(p.Labels) > 0 {
		fmt.Fprintf(w, "labels:       %s\n", clean(strings.Join(p.Labels, ", ")))
	}
	fmt.Fprintf(w, "provider:     %s\netag:         %s\nin KQL:       _GetWatchlist('%s')\n", clean(p.Provider), clean(wl.Etag), clean(wl.Name))
	return nil
}

func (a *app) watchlistCommand() *cobra.Command {
	var subscription string
	item := a.group("item", "Add, change or delete one item of a watchlist",
		a.watchlistItemPutCommand(&subscription), a.watchlistItemDeleteCommand(&subscription))
	c := a.group("watchlist", "Keep a workspace's watchlists: reference lists from CSV that queries and rules read with _GetWatchlist('alias')",
		a.watchlistCreateCommand(&subscription), a.watchlistListCommand(&subscription), a.watchlistShowCommand(&subscription),
		a.watchlistDeleteCommand(&subscription), a.watchlistItemsCommand(&subscription), item)
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

// readWatchlistFile reads a CSV (or, by its extension, TSV) file and checks
// it as the server will, so that a file that is not UTF-8 is refused here,
// naming its line, rather than sent with its bad bytes replaced.
func readWatchlistFile(path string, skip int, searchKey string) (content, contentType string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	contentType = watchlist.ContentTypeCSV
	if strings.EqualFold(filepath.Ext(path), ".tsv") {
		contentType = watchlist.ContentTypeTSV
	}
	if _, err := watchlist.ParseCSV(string(data), contentType, skip, searchKey); err != nil {
		// the server's words for its fields, put as the command's
		msg := strings.NewReplacer("properties.rawContent", "the file", "properties.itemsSearchKey", "--search-key",
			"properties.numberOfLinesToSkip", "--skip-lines").Replace(refusal(err))
		return "", "", fmt.Errorf("%s: %s", path, msg)
	}
	return string(data), contentType, nil
}

func (a *app) watchlistCreateCommand(subscription *string) *cobra.Command {
	var (
		ref                                   workspaceRef
		file, searchKey, name, provider, desc string
		labels                                []string
		skip                                  int
		replace                               bool
	)
	cmd := &cobra.Command{
		Use:   "create ALIAS --workspace W --file x.csv --search-key COLUMN [--display-name N] [--skip-lines N]",
		Short: "Create a watchlist from a CSV file (TSV for a .tsv file)",
		Long: "create uploads a CSV file as a watchlist: its first line (after --skip-lines lines) names the\n" +
			"columns, each further line is an item. --search-key names the column that _GetWatchlist('ALIAS')\n" +
			"returns as SearchKey. The file is checked before it is sent: a line with the wrong number of\n" +
			"fields, a repeated or empty column name, or bytes that are not UTF-8 are refused with the line.\n" +
			"An upload is at most 3.8 MB and 10,000 lines; add more with `sealwatch watchlist item put`.\n" +
			"--replace replaces the items of an existing watchlist with the file's.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		alias := args[0]
		if err := watchlist.ValidAlias(alias); err != nil {
			return usagef("%s", refusal(err))
		}
		content, contentType, err := readWatchlistFile(file, skip, searchKey)
		if err != nil {
			return err
		}
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		// A PUT replaces a watchlist with this alias: create only creates,
		// unless told to replace, and then under the etag it read.
		etag := ""
		raw, err := wl.get(ctx, alias)
		var apiErr *client.APIError
		switch {
		case err == nil && !replace:
			return fmt.Errorf("workspace %s already has a watchlist %s; add --replace to replace its items with the file's", wl.ws, alias)
		case err == nil:
			cur, err := decodeWatchlist(raw)
			if err != nil {
				return err
			}
			etag = cur.Etag
		case !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound:
			return err
		}
		if name == "" {
			name = alias
		}
		props := map[string]any{"displayName": name, "provider": provider, "source": filepath.Base(file), "itemsSearchKey": searchKey,
			"contentType": contentType, "rawContent": content, "numberOfLinesToSkip": skip, "description": desc}
		if len(labels) > 0 {
			props["labels"] = labels
		}
		body := map[string]any{"properties": props}
		if etag != "" {
			body["etag"] = etag
		}
		var out json.RawMessage
		err = a.whileSpinning("watchlist "+clean(alias), func() error {
			return wl.m.cl.Do(ctx, http.MethodPut, wl.path(alias), client.AudienceManagement, body, &out)
		})
		if err != nil {
			return fmt.Errorf("create watchlist %s in workspace %s: %w", alias, wl.ws, err)
		}
		return a.printWatchlist(cmd.OutOrStdout(), out)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "the CSV file: a header line naming the columns, then one line per item")
	f.StringVar(&searchKey, "search-key", "", "the column _GetWatchlist returns as SearchKey (the one queries join on)")
	f.StringVar(&name, "display-name", "", "the watchlist's display name; default its alias")
	f.StringVar(&provider, "provider", "Custom", "who maintains the list")
	f.StringVar(&desc, "description", "", "what the list holds")
	f.StringSliceVar(&labels, "label", nil, "a label; repeat for more")
	f.IntVar(&skip, "skip-lines", 0, "lines before the header to skip")
	f.BoolVar(&replace, "replace", false, "replace the items of an existing watchlist")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagRequired("search-key")
	return cmd
}

func (a *app) watchlistListCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "list --workspace W", Short: "List a workspace's watchlists", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := wl.m.cl.ListAll(ctx, wl.path(), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the watchlists of workspace %s: %w", wl.ws, err)
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeWatchlist, watchlistHeader, watchlistRow)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) watchlistShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "show ALIAS --workspace W", Short: "Show a watchlist: its columns, search key, item count and etag", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, err := wl.get(ctx, args[0])
		if err != nil {
			return err
		}
		return a.printWatchlist(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) watchlistDeleteCommand(subscription *string) *cobra.Command {
	var (
		ref  workspaceRef
		etag string
	)
	cmd := &cobra.Command{Use: "delete ALIAS --workspace W [--etag E]", Short: "Delete a watchlist and its items", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if err := wl.delete(ctx, etag, args[0]); err != nil {
			return fmt.Errorf("delete watchlist %s: %w", args[0], err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted watchlist %s of workspace %s.\n", clean(args[0]), wl.ws)
		return nil
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the watchlist still has this etag (from `sealwatch watchlist show`)")
	return cmd
}

func (a *app) watchlistItemsCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "items ALIAS --workspace W", Short: "List a watchlist's items, a column for each of its columns", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := wl.m.cl.ListAll(ctx, wl.path(args[0], "watchlistItems"), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the items of watchlist %s: %w", args[0], err)
		}
		if a.output == outputJSON {
			return writeJSONList(cmd.OutOrStdout(), items)
		}
		raw, err := wl.get(ctx, args[0]) // for the columns' order
		if err != nil {
			return err
		}
		w, err := decodeWatchlist(raw)
		if err != nil {
			return err
		}
		header := append([]string{"ID"}, w.Properties.Columns...)
		rows := make([][]string, 0, len(items))
		for _, raw := range items {
			var it watchlistItem
			if err := json.Unmarshal(raw, &it); err != nil {
				return fmt.Errorf("decode watchlist item: %w", err)
			}
			row := []string{it.Name}
			for _, c := range w.Properties.Columns {
				row = append(row, it.Properties.ItemsKeyValue[c])
			}
			rows = append(rows, row)
		}
		return writeTable(cmd.OutOrStdout(), header, rows)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) watchlistItemPutCommand(subscription *string) *cobra.Command {
	var (
		ref      workspaceRef
		id, etag string
		values   []string
	)
	cmd := &cobra.Command{
		Use:   "put ALIAS --workspace W --value COLUMN=VALUE... [--id ID] [--etag E]",
		Short: "Add an item to a watchlist, or replace one (--id)",
		Long: "put writes one item: --value COLUMN=VALUE for each column it has (a column left out is empty).\n" +
			"Without --id it adds an item with a new ID; with --id it creates or replaces that item,\n" +
			"and --etag makes the replacement conditional on the etag read.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		kv := make(map[string]string, len(values))
		for _, v := range values {
			col, val, ok := strings.Cut(v, "=")
			if !ok || col == "" {
				return usagef("--value %q is not COLUMN=VALUE", v)
			}
			if _, dup := kv[col]; dup {
				return usagef("--value gives column %q twice", col)
			}
			kv[col] = val
		}
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if id == "" {
			id = newGUID()
		}
		body := map[string]any{"properties": map[string]any{"itemsKeyValue": kv}}
		if etag != "" {
			body["etag"] = etag
		}
		var raw json.RawMessage
		if err := wl.m.cl.Do(ctx, http.MethodPut, wl.path(args[0], "watchlistItems", id), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("put item %s of watchlist %s: %w", id, args[0], err)
		}
		if a.output == outputJSON {
			return writeJSON(cmd.OutOrStdout(), raw)
		}
		var it watchlistItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return fmt.Errorf("decode watchlist item: %w", err)
		}
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(it.Properties.ItemsKeyValue)) {
			pairs = append(pairs, k+"="+it.Properties.ItemsKeyValue[k])
		}
		return writeTable(cmd.OutOrStdout(), []string{"ID", "VALUES", "ETAG"}, [][]string{{it.Name, strings.Join(pairs, " "), it.Etag}})
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&values, "value", nil, "COLUMN=VALUE; repeat for each column")
	f.StringVar(&id, "id", "", "the item's ID; default a new GUID")
	f.StringVar(&etag, "etag", "", "replace the item only if it still has this etag")
	_ = cmd.MarkFlagRequired("value")
	return cmd
}

func (a *app) watchlistItemDeleteCommand(subscription *string) *cobra.Command {
	var (
		ref      workspaceRef
		id, etag string
	)
	cmd := &cobra.Command{Use: "delete ALIAS --workspace W --id ID [--etag E]", Short: "Delete an item of a watchlist", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		wl, err := a.watchlistsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if err := wl.delete(ctx, etag, args[0], "watchlistItems", id); err != nil {
			return fmt.Errorf("delete item %s of watchlist %s: %w", id, args[0], err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted item %s of watchlist %s.\n", clean(id), clean(args[0]))
		return nil
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the item's ID (from `sealwatch watchlist items`)")
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the item still has this etag")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

// refusal is a domain refusal's message, without its code.
func refusal(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}
