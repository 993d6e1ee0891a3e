package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/rulefile"
)

// Results of importing a rule.
const (
	resultCreated    = "created"
	resultUpdated    = "updated"
	resultValid      = "valid" // --dry-run: it would be sent
	resultRefused    = "refused"
	resultUnreadable = "unreadable"
)

// importResult is what became of one rule, or of a file that yielded none.
type importResult struct {
	File        string   `json:"file"`
	Line        int      `json:"line,omitempty"` // where an unreadable file goes wrong
	Rule        string   `json:"rule,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Result      string   `json:"result"`
	Error       string   `json:"error,omitempty"`
	Notes       []string `json:"notes,omitempty"`

	excerpt string // the query's line a refusal points at, with a caret
}

// importReport is the whole import, as -o json prints it.
type importReport struct {
	Workspace  string         `json:"workspace,omitempty"`
	DryRun     bool           `json:"dryRun"`
	Created    int            `json:"created"`
	Updated    int            `json:"updated"`
	Valid      int            `json:"valid"`
	Refused    int            `json:"refused"`
	Unreadable int            `json:"unreadable"`
	Rules      []importResult `json:"rules"`
}

func (rep *importReport) add(r importResult) {
	switch r.Result {
	case resultCreated:
		rep.Created++
	case resultUpdated:
		rep.Updated++
	case resultValid:
		rep.Valid++
	case resultRefused:
		rep.Refused++
	case resultUnreadable:
		rep.Unreadable++
	}
	rep.Rules = append(rep.Rules, r)
}

// errNotAllImported ends an import with a non-zero exit when a rule or a
// file did not make it.
var errNotAllImported = errors.New("not every rule was imported")

func (a *app) ruleImportCommand(subscription *string) *cobra.Command {
	var (
		ref                       workspaceRef
		id                        string
		disabled, dryRun, showBar bool
	)
	cmd := &cobra.Command{
		Use:   "import --workspace W PATH... [--dry-run] [--disabled] [--progress]",
		Short: "Bring rules from files and folders: community rule YAML and the API's JSON, a folder at a time",
		Long: "import reads every *.json, *.yaml and *.yml file under each PATH (folders at any depth; hidden\n" +
			"folders such as .git are skipped) and creates or updates each rule in the workspace. YAML files\n" +
			"are in the community rule format of detection-content repositories, one rule each; JSON files\n" +
			"hold the API's rules as `sealwatch rule show -o json` or `sealwatch rule list -o json` print them.\n\n" +
			"It reports each rule: created, updated, refused by the node (with its reason, such as the KQL\n" +
			"error and its position when the query does not compile against the workspace's tables), or\n" +
			"unreadable (with the file's line and field). One bad file never stops the others; the exit\n" +
			"status is 1 if any rule was not imported. --dry-run reads and checks the files without sending\n" +
			"anything; the node's own checks (the query, the enumerations, the limits) then do not run.\n\n" +
			"A new rule is enabled unless its file says otherwise or --disabled is given; a rule that\n" +
			"exists keeps its state unless so told, and is replaced under the etag read just before.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("import needs the files or folders to read: sealwatch rule import --workspace W rules/")
			}
			return nil
		},
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, paths []string) error {
		if ref.name == "" && !dryRun {
			return usagef("import needs the workspace: --workspace W (only --dry-run runs without one)")
		}
		if id != "" && (len(paths) != 1 || isDir(paths[0])) {
			return usagef("--id names one rule: give it with a single file")
		}
		rep := &importReport{DryRun: dryRun}
		var ar *alertRules
		if !dryRun {
			var err error
			if ar, err = a.alertRulesOf(ctx, *subscription, ref); err != nil {
				return err
			}
			rep.Workspace = ar.ws
		}
		files, unreadable := ruleFiles(paths)
		for _, u := range unreadable {
			rep.add(u)
		}
		if len(files) == 0 && len(unreadable) == 0 {
			return fmt.Errorf("no rule files (*.json, *.yaml, *.yml) under %s", strings.Join(paths, ", "))
		}
		done := a.importFiles(ctx, ar, files, rulefile.Options{ID: id}, disabled, a.importBar(len(files), dryRun, showBar), rep)
		if err := a.printImport(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
		switch {
		case done < len(files):
			return fmt.Errorf("the import was interrupted after %d of %d files: %w", done, len(files), ctx.Err())
		case dryRun && rep.Unreadable > 0:
			return fmt.Errorf("%s unreadable; nothing was sent", count(rep.Unreadable, "file"))
		case rep.Refused+rep.Unreadable > 0:
			return fmt.Errorf("%w: %s refused, %s unreadable; fix them and run the import again (imported rules are updated in place)",
				errNotAllImported, count(rep.Refused, "rule"), count(rep.Unreadable, "file"))
		}
		return nil
	})
	f := cmd.Flags()
	// As workspaceRef.register, but not required: --dry-run needs no workspace.
	f.StringVarP(&ref.name, "workspace", "w", "", "workspace name; not needed with --dry-run")
	f.StringVarP(&ref.resourceGroup, "resource-group", "g", "", "the workspace's resource group; found by listing the workspaces when omitted")
	f.StringVar(&id, "id", "", "the rule's ID, for a single file holding one rule; default the file's id (YAML) or name (JSON)")
	f.BoolVar(&disabled, "disabled", false, "import the rules switched off")
	f.BoolVar(&dryRun, "dry-run", false, "read and check the files; send nothing")
	f.BoolVar(&showBar, "progress", false, "show a progress bar even when standard error is not a terminal")
	return cmd
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// ruleFiles lists the rule files (*.json, *.yaml, *.yml) at paths, as
// listFiles does; a path that cannot be read is a result of its own.
func ruleFiles(paths []string) ([]string, []importResult) {
	listed, unreadable := listFiles(paths, rulefile.IsRuleFile)
	files := make([]string, 0, len(listed))
	for _, f := range listed {
		files = append(files, f.path)
	}
	bad := make([]importResult, 0, len(unreadable))
	for _, u := range unreadable {
		bad = append(bad, importResult{File: u.path, Result: resultUnreadable, Error: u.err})
	}
	return files, bad
}

// pathError is a file system error without Go's operation prefix.
func pathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// importBar is a progress bar over files on standard error, on a terminal
// or when asked for; nil otherwise.
func (a *app) importBar(files int, dryRun, asked bool) *progressbar.ProgressBar {
	if !asked && !a.interactive() {
		return nil
	}
	what := "import rules"
	if dryRun {
		what = "check rules"
	}
	return a.newBar(int64(files), what, progressbar.OptionShowCount())
}

// importFiles imports each file in turn into rep, advancing bar (when not
// nil) after each, until ctx ends; it returns how many files it went through.
func (a *app) importFiles(ctx context.Context, ar *alertRules, files []string, opts rulefile.Options, disabled bool,
	bar *progressbar.ProgressBar, rep *importReport) int {
	if bar != nil {
		defer func() { _ = bar.Finish() }()
	}
	for i, file := range files {
		if ctx.Err() != nil {
			return i
		}
		for _, r := range a.importFile(ctx, ar, file, opts, disabled) {
			rep.add(r)
		}
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	return len(files)
}

// importFile reads one file and imports each of its rules (with ar nil,
// only reads them). Nothing that goes wrong here stops the import.
func (a *app) importFile(ctx context.Context, ar *alertRules, file string, opts rulefile.Options, disabled bool) []importResult {
	data, err := readRuleBytes(file)
	if err != nil {
		return []importResult{{File: file, Result: resultUnreadable, Error: pathError(err)}}
	}
	rules, err := rulefile.Read(file, data, opts)
	if err != nil {
		res := importResult{File: file, Result: resultUnreadable, Error: err.Error()}
		var fe *rulefile.Error
		if errors.As(err, &fe) {
			res.Line = fe.Line
		}
		return []importResult{res}
	}
	out := make([]importResult, 0, len(rules))
	for i := range rules {
		r := &rules[i]
		res := importResult{File: file, Rule: r.ID, DisplayName: r.DisplayName(), Kind: r.Kind, Notes: r.Notes, Result: resultValid}
		if ar != nil {
			ar.importRule(ctx, r, disabled, &res)
		}
		out = append(out, res)
	}
	return out
}

// importRule creates r, or replaces the rule of its ID under the etag read
// just before, and records the outcome in res.
func (ar *alertRules) importRule(ctx context.Context, r *rulefile.Rule, disabled bool, res *importResult) {
	refuse := func(err error) {
		res.Result, res.Error = resultRefused, err.Error()
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			res.Error = apiErr.Error() // the server's reason; the report names the rule
			if apiErr.Status == http.StatusPreconditionFailed {
				res.Error = "it was changed by someone else since it was read; run the import again: " + res.Error
			}
		}
		var qe *queryError
		if errors.As(pointAt(err, queryOf(r)), &qe) {
			res.excerpt = qe.excerpt
		}
	}
	cur, err := ar.current(ctx, r.ID)
	if err != nil {
		refuse(err)
		return
	}
	setEnabled(r.Properties, disabled, !cur.exists || cur.enabled)
	if _, err := ar.put(ctx, r.ID, r.Kind, cur.etag, r.Properties); err != nil {
		refuse(err)
		return
	}
	res.Result = resultCreated
	if cur.exists {
		res.Result = resultUpdated
	}
}

// printImport prints the report: with -o json as it is, else a line or
// two per rule, the notes once each with how many rules they concern, and
// the totals.
func (a *app) printImport(w io.Writer, rep *importReport) error {
	if a.output == outputJSON {
		return writeJSONOf(w, rep)
	}
	notes := map[string]int{}
	var noteOrder []string
	for _, r := range rep.Rules {
		if r.Result == resultUnreadable {
			fmt.Fprintf(w, "%-10s  %s\n", r.Result, clean(r.Error)) // the error names the file
			continue
		}
		fmt.Fprintf(w, "%-10s  %s  %s  %s\n", r.Result, clean(r.File), clean(r.Rule), clean(r.DisplayName))
		if r.Error != "" {
			fmt.Fprintf(w, "%-10s  %s\n", "", clean(r.Error))
		}
		if r.excerpt != "" {
			for _, line := range strings.Split(r.excerpt, "\n") {
				fmt.Fprintf(w, "%-10s  %s\n", "", line) // cleaned by pointAt
			}
		}
		for _, n := range r.Notes {
			if notes[n] == 0 {
				noteOrder = append(noteOrder, n)
			}
			notes[n]++
		}
	}
	if len(noteOrder) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range noteOrder {
		fmt.Fprintf(w, "note (%s): %s\n", count(notes[n], "rule"), clean(n))
	}
	fmt.Fprintln(w)
	if rep.DryRun {
		fmt.Fprintf(w, "Checked: %s valid, %s unreadable; nothing was sent (--dry-run).\n", count(rep.Valid, "rule"), count(rep.Unreadable, "file"))
		return nil
	}
	fmt.Fprintf(w, "Imported %d of %s into workspace %s (%d created, %d updated); %d refused, %s unreadable.\n",
		rep.Created+rep.Updated, count(rep.Created+rep.Updated+rep.Refused, "rule"), clean(rep.Workspace),
		rep.Created, rep.Updated, rep.Refused, count(rep.Unreadable, "file"))
	return nil
}
