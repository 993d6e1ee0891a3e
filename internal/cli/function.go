package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/parserfile"
	"github.com/sealwatch/sealwatch/internal/savedsearch"
)

// savedSearchesPath is under a workspace: its saved searches, which hold
// its functions.
const savedSearchesPath = "/savedSearches"

// savedSearchResource is the API's view of a saved search.
type savedSearchResource struct {
	Name       string                 `json:"name"`
	Etag       string                 `json:"etag"`
	Properties savedsearch.Properties `json:"properties"`
}

func decodeSavedSearch(raw json.RawMessage) (*savedSearchResource, error) {
	var s savedSearchResource
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode saved search: %w", err)
	}
	return &s, nil
}

// tag is the value of a saved search's tag name, or "".
func (s savedSearchResource) tag(name string) string {
	for _, t := range s.Properties.Tags {
		if t.Name == name {
			return t.Value
		}
	}
	return ""
}

var functionHeader = []string{"NAME", "PARAMETERS", "CATEGORY", "VERSION", "DISPLAY NAME"}

func functionRow(s *savedSearchResource) []string {
	p := s.Properties
	return []string{p.FunctionAlias, p.FunctionParameters, p.Category, s.tag(parserfile.TagParserVersion), p.DisplayName}
}

// functions addresses one workspace's saved searches.
type functions struct {
	m      *mgmt
	rg, ws string
}

func (fns *functions) path(id string) string {
	p := savedSearchesPath
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return fns.m.opsPath(kindWorkspace, fns.rg, fns.ws, p)
}

// functionsOf resolves the workspace a function command is about.
func (a *app) functionsOf(ctx context.Context, subscription string, ref workspaceRef) (*functions, error) {
	m, rg, ws, err := a.resolve(ctx, subscription, ref)
	if err != nil {
		return nil, err
	}
	return &functions{m: m, rg: rg, ws: ws}, nil
}

// get reads a saved search; found is false when there is none.
func (fns *functions) get(ctx context.Context, id string) (raw json.RawMessage, found bool, err error) {
	raw, found, err = fns.m.getIfFound(ctx, fns.path(id))
	if err != nil {
		return nil, false, fmt.Errorf("get function %s of workspace %s: %w", id, fns.ws, err)
	}
	return raw, found, nil
}

// put writes a saved search, under etag when given, and returns the
// server's answer.
func (fns *functions) put(ctx context.Context, id, etag string, p savedsearch.Properties) (json.RawMessage, error) {
	body := map[string]any{"properties": p}
	if etag != "" {
		body["etag"] = etag
	}
	var out json.RawMessage
	if err := fns.m.cl.Do(ctx, http.MethodPut, fns.path(id), client.AudienceManagement, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// list returns the workspace's functions: its saved searches with an alias.
func (fns *functions) list(ctx context.Context) ([]json.RawMessage, error) {
	items, err := fns.m.cl.ListAll(ctx, fns.path(""), client.AudienceManagement)
	if err != nil {
		return nil, fmt.Errorf("list the functions of workspace %s: %w", fns.ws, err)
	}
	return slices.DeleteFunc(items, func(raw json.RawMessage) bool {
		s, err := decodeSavedSearch(raw)
		return err == nil && s.Properties.FunctionAlias == ""
	}), nil
}

// find returns the saved search of function name: the one of that ID, else
// the one whose alias it is (a search saved over the API may have another
// ID).
func (fns *functions) find(ctx context.Context, name string) (json.RawMessage, error) {
	if savedsearch.ValidID(name) == nil {
		raw, found, err := fns.get(ctx, name)
		if err != nil || found {
			return raw, err
		}
	}
	items, err := fns.list(ctx)
	if err != nil {
		return nil, err
	}
	for _, raw := range items {
		if s, err := decodeSavedSearch(raw); err == nil && s.Properties.FunctionAlias == name {
			return raw, nil
		}
	}
	return nil, &noFunctionError{ws: fns.ws, name: name}
}

// noFunctionError is find's answer for a workspace without the function.
type noFunctionError struct{ ws, name string }

func (e *noFunctionError) Error() string {
	return fmt.Sprintf("workspace %s has no function %s; `sealwatch function list` lists them", e.ws, clean(e.name))
}

func (a *app) functionCommand() *cobra.Command {
	var subscription string
	c := a.group("function", "Keep a workspace's functions: saved searches that queries and rules call by name, such as the normalizing parsers",
		a.functionListCommand(&subscription), a.functionShowCommand(&subscription), a.functionCreateCommand(&subscription),
		a.functionDeleteCommand(&subscription), a.functionImportCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

func (a *app) functionListCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "list --workspace W", Short: "List a workspace's functions", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		fns, err := a.functionsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := fns.list(ctx)
		if err != nil {
			return err
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeSavedSearch, functionHeader, functionRow)
	})
	ref.register(cmd)
	return cmd
}

// printFunction prints one function: the server's JSON, or its fields and
// its query.
func (a *app) printFunction(w io.Writer, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	s, err := decodeSavedSearch(raw)
	if err != nil {
		return err
	}
	p := s.Properties
	fmt.Fprintf(w, "name:          %s\n", clean(p.FunctionAlias))
	fmt.Fprintf(w, "parameters:    (%s)\n", clean(p.FunctionParameters))
	fmt.Fprintf(w, "display name:  %s\ncategory:      %s\n", clean(p.DisplayName), clean(p.Category))
	for _, t := range p.Tags {
		fmt.Fprintf(w, "tag:           %s=%s\n", clean(t.Name), clean(t.Value))
	}
	fmt.Fprintf(w, "saved search:  %s\netag:          %s\n\n", clean(s.Name), clean(s.Etag))
	for _, line := range strings.Split(p.Query, "\n") {
		fmt.Fprintf(w, "  %s\n", clean(line))
	}
	return nil
}

func (a *app) functionShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "show NAME --workspace W", Short: "Show a function: its parameters, tags, etag and query", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		fns, err := a.functionsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, err := fns.find(ctx, args[0])
		if err != nil {
			return err
		}
		return a.printFunction(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) functionCreateCommand(subscription *string) *cobra.Command {
	var (
		ref                                  workspaceRef
		queryFile, params, category, display string
		replace                              bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --workspace W --query-file F [--params \"a:string='x'\"] [--category C] [--replace]",
		Short: "Save a query as a function that queries and rules call by NAME",
		Long: "create saves the KQL in --query-file as function NAME: a query calls it as NAME(...) and its\n" +
			"--params, written as a let declares them without the parentheses (\"starttime:datetime,\n" +
			"domain:string='*'\"), take the caller's arguments. The parameters and the query are checked\n" +
			"before anything is sent, and the error names the line and column. --replace replaces an\n" +
			"existing function of that name, under the etag read just before.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		name := args[0]
		data, err := os.ReadFile(queryFile)
		if err != nil {
			return err
		}
		if display == "" {
			display = name
		}
		p := savedsearch.Properties{Category: category, DisplayName: display, Query: strings.TrimRight(string(data), "\n"),
			FunctionAlias: name, FunctionParameters: params, Version: savedsearch.CurrentVersion}
		if err := savedsearch.ValidID(name); err != nil {
			return usagef("%s", refusal(err))
		}
		if err := savedsearch.Check(p); err != nil {
			msg := strings.NewReplacer("properties.functionAlias", "NAME", "properties.functionParameters", "--params",
				"properties.query", queryFile, "properties.category", "--category", "properties.displayName", "--display-name").Replace(refusal(err))
			return usagef("%s", msg)
		}
		fns, err := a.functionsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		cur, found, err := fns.get(ctx, name)
		if err != nil {
			return err
		}
		etag := ""
		if found {
			if !replace {
				return fmt.Errorf("workspace %s already has a function %s; add --replace to replace it", fns.ws, name)
			}
			s, err := decodeSavedSearch(cur)
			if err != nil {
				return err
			}
			etag = s.Etag
		}
		out, err := fns.put(ctx, name, etag, p)
		if err != nil {
			return fmt.Errorf("create function %s in workspace %s: %w", name, fns.ws, err)
		}
		return a.printFunction(cmd.OutOrStdout(), out)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVar(&queryFile, "query-file", "", "the file holding the function's KQL")
	f.StringVar(&params, "params", "", "the parameters, as a let declares them without the parentheses")
	f.StringVar(&category, "category", "Function", "the category it is listed under")
	f.StringVar(&display, "display-name", "", "its display name; default NAME")
	f.BoolVar(&replace, "replace", false, "replace an existing function of that name")
	_ = cmd.MarkFlagRequired("query-file")
	return cmd
}

func (a *app) functionDeleteCommand(subscription *string) *cobra.Command {
	var (
		ref  workspaceRef
		etag string
	)
	cmd := &cobra.Command{Use: "delete NAME --workspace W [--etag E]", Short: "Delete a function", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		fns, err := a.functionsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		// A function not found is deleted by its name as an ID, which the
		// node answers as deleted, as the cloud does; any other failure to
		// find it is the command's.
		id := args[0]
		raw, err := fns.find(ctx, args[0])
		var missing *noFunctionError
		switch {
		case errors.As(err, &missing):
		case err != nil:
			return err
		default:
			s, err := decodeSavedSearch(raw)
			if err != nil {
				return err
			}
			id = s.Name
		}
		var header http.Header
		if etag != "" {
			header = http.Header{"If-Match": {etag}}
		}
		if err := fns.m.cl.DoRaw(ctx, http.MethodDelete, fns.path(id), client.AudienceManagement, nil, header, nil); err != nil {
			return fmt.Errorf("delete function %s: %w", args[0], err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted function %s of workspace %s.\n", clean(args[0]), fns.ws)
		return nil
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&etag, "etag", "", "delete only if the function still has this etag (from `sealwatch function show`)")
	return cmd
}

// Results of importing a parser.
const (
	parserCreated   = "created"
	parserUpdated   = "updated"
	parserUnchanged = "unchanged"
	parserFailed    = "failed"
)

// parserResult is what became of one parser file.
type parserResult struct {
	File      string   `json:"file"`
	Parser    string   `json:"parser,omitempty"`
	Format    string   `json:"format,omitempty"`
	Functions []string `json:"functions,omitempty"`
	Result    string   `json:"result"`
	Error     string   `json:"error,omitempty"`
}

// parserReport is the whole import, as -o json prints it.
type parserReport struct {
	Workspace string         `json:"workspace"`
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Failed    int            `json:"failed"`
	Functions int            `json:"functions"`
	Skipped   []string       `json:"skipped"` // files in folders that are not parsers
	Parsers   []parserResult `json:"parsers"`
}

func (a *app) functionImportCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{
		Use:   "import PATH... --workspace W",
		Short: "Install parsers from the community parser YAML files: a file, or every *.yaml under a folder",
		Long: "import reads parser files and installs each parser as functions of the workspace. It reads two\n" +
			"formats: the normalizing (ASIM) parsers (ParserName, EquivalentBuiltInParser, ParserParams,\n" +
			"ParserQuery) and the solutions' parsers (FunctionName, FunctionAlias, FunctionParams,\n" +
			"FunctionQuery). A normalizing parser is installed under both its names: content calls the\n" +
			"built-in name (_Im_Dns, _ASim_Dns_AzureFirewall), and the unifying parsers' queries call their\n" +
			"source parsers by ParserName (vimDnsAzureFirewall). A folder is read at any depth (hidden\n" +
			"folders such as .git skipped), and its YAML files that are not parsers are skipped; a file named\n" +
			"on the command line that is not a parser fails, naming the field.\n\n" +
			"Each parser is reported on a line as it is installed: created, updated, unchanged, or failed\n" +
			"with its reason (the file's line and field, or the node's refusal). Importing a parser again\n" +
			"updates it in place. One bad file never stops the others; the exit status is 1 if any failed.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("import needs the files or folders to read: sealwatch function import --workspace W Parsers/")
			}
			return nil
		},
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, paths []string) error {
		fns, err := a.functionsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		progress := out
		if a.output == outputJSON {
			progress = io.Discard
		}
		rep := &parserReport{Workspace: fns.ws, Skipped: []string{}, Parsers: []parserResult{}}
		files, unreadable := parserFiles(paths)
		for _, u := range unreadable {
			rep.add(progress, u)
		}
		if len(files) == 0 && len(unreadable) == 0 {
			return fmt.Errorf("no parser files (*.yaml, *.yml) under %s", strings.Join(paths, ", "))
		}
		for _, file := range files {
			if ctx.Err() != nil {
				break
			}
			res, skipped := fns.importParser(ctx, file)
			if skipped {
				rep.Skipped = append(rep.Skipped, file.path)
				continue
			}
			rep.add(progress, res)
		}
		if a.output == outputJSON {
			if err := writeJSONOf(out, rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(out, "\nImported %s as %s into workspace %s (%d created, %d updated, %d unchanged); %d failed; %s skipped (not parsers).\n",
				count(rep.Created+rep.Updated+rep.Unchanged, "parser"), count(rep.Functions, "function"), clean(rep.Workspace),
				rep.Created, rep.Updated, rep.Unchanged, rep.Failed, count(len(rep.Skipped), "file"))
		}
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("the import was interrupted: %w", ctx.Err())
		case rep.Failed > 0:
			return fmt.Errorf("%s failed; fix them and run the import again (imported parsers are updated in place)", count(rep.Failed, "parser file"))
		}
		return nil
	})
	ref.register(cmd)
	return cmd
}

// add counts r and prints its line.
func (rep *parserReport) add(w io.Writer, r parserResult) {
	switch r.Result {
	case parserCreated:
		rep.Created++
	case parserUpdated:
		rep.Updated++
	case parserUnchanged:
		rep.Unchanged++
	case parserFailed:
		rep.Failed++
	}
	if r.Result != parserFailed {
		rep.Functions += len(r.Functions)
	}
	rep.Parsers = append(rep.Parsers, r)
	if r.Result == parserFailed {
		fmt.Fprintf(w, "%-10s  %s\n", r.Result, clean(r.Error)) // the error names the file
		return
	}
	fmt.Fprintf(w, "%-10s  %s  %s\n", r.Result, clean(strings.Join(r.Functions, ", ")), clean(r.File))
}

// parserFiles lists the parser files (*.yaml, *.yml) at paths, as
// listFiles does; a path that cannot be read is a failure of its own.
func parserFiles(paths []string) ([]listedFile, []parserResult) {
	files, unreadable := listFiles(paths, parserfile.IsParserFile)
	bad := make([]parserResult, 0, len(unreadable))
	for _, u := range unreadable {
		bad = append(bad, parserResult{File: u.path, Result: parserFailed, Error: u.err})
	}
	return files, bad
}

// maxParserFileBytes bounds a parser file: a query is at most 1 MiB, and a
// file is a little more.
const maxParserFileBytes = 2 << 20

// importParser reads one file and installs the parser in it; skipped is
// true for a file found in a folder that is not a parser.
func (fns *functions) importParser(ctx context.Context, file listedFile) (res parserResult, skipped bool) {
	res = parserResult{File: file.path, Result: parserFailed}
	data, err := readLimited(file.path, maxParserFileBytes)
	if err != nil {
		res.Error = pathError(err)
		return res, false
	}
	p, err := parserfile.Read(file.path, data)
	if errors.Is(err, parserfile.ErrNotParser) && !file.named {
		return res, true
	}
	if err != nil {
		res.Error = err.Error()
		return res, false
	}
	res.Parser, res.Format = p.Name, p.Format
	result := parserUnchanged
	for _, s := range p.Searches {
		r, err := fns.install(ctx, s)
		if err != nil {
			res.Result, res.Error = parserFailed, fmt.Sprintf("%s: function %s: %v", file.path, s.ID, err)
			return res, false
		}
		res.Functions = append(res.Functions, s.ID)
		if r == parserCreated || r == parserUpdated && result != parserCreated {
			result = r
		}
	}
	res.Result = result
	return res, false
}

// install creates or updates the saved search s, under the etag read just
// before; a search already as s is left alone.
func (fns *functions) install(ctx context.Context, s parserfile.Search) (string, error) {
	cur, found, err := fns.get(ctx, s.ID)
	if err != nil {
		return "", err
	}
	etag := ""
	if found {
		old, err := decodeSavedSearch(cur)
		if err != nil {
			return "", err
		}
		if reflect.DeepEqual(old.Properties, s.Properties) {
			return parserUnchanged, nil
		}
		etag = old.Etag
	}
	if _, err := fns.put(ctx, s.ID, etag, s.Properties); err != nil {
		return "", err
	}
	if found {
		return parserUpdated, nil
	}
	return parserCreated, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes; a parser file is smaller", path, limit)
	}
	return data, nil
}
