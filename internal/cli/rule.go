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
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/rulefile"
)

// alertRulesPath is under a workspace: its analytics rules.
const alertRulesPath = "/providers/Microsoft.SecurityInsights/alertRules"

// ruleResource is the API's view of an analytics rule.
type ruleResource struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Etag       string `json:"etag"`
	Properties struct {
		DisplayName     string `json:"displayName"`
		Description     string `json:"description"`
		Severity        string `json:"severity"`
		Enabled         bool   `json:"enabled"`
		Query           string `json:"query"`
		QueryFrequency  string `json:"queryFrequency"`
		QueryPeriod     string `json:"queryPeriod"`
		LastModifiedUtc string `json:"lastModifiedUtc"`
	} `json:"properties"`
}

func decodeRule(raw json.RawMessage) (*ruleResource, error) {
	var r ruleResource
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode rule: %w", err)
	}
	return &r, nil
}

var ruleHeader = []string{"NAME", "KIND", "ENABLED", "SEVERITY", "FREQUENCY/PERIOD", "DISPLAY NAME"}

func ruleRow(r *ruleResource) []string {
	p := r.Properties
	schedule := "" // an NRT rule runs on every minute's new rows
	if p.QueryFrequency != "" || p.QueryPeriod != "" {
		schedule = p.QueryFrequency + "/" + p.QueryPeriod
	}
	return []string{r.Name, r.Kind, yesNo(&p.Enabled), p.Severity, schedule, p.DisplayName}
}

// alertRules addresses one workspace's analytics rules.
type alertRules struct {
	m      *mgmt
	rg, ws string
}

// alertRulesOf resolves the workspace a rule command is about.
func (a *app) alertRulesOf(ctx context.Context, subscription string, ref workspaceRef) (*alertRules, error) {
	m, rg, ws, err := a.resolve(ctx, subscription, ref)
	if err != nil {
		return nil, err
	}
	return &alertRules{m: m, rg: rg, ws: ws}, nil
}

// path is a rule's path, or the rules' when id is "".
func (ar *alertRules) path(id string) string {
	p := alertRulesPath
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return ar.m.opsPath(kindWorkspace, ar.rg, ar.ws, p)
}

// get reads a rule as the server sent it.
func (ar *alertRules) get(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := ar.m.cl.Do(ctx, http.MethodGet, ar.path(id), client.AudienceManagement, nil, &raw); err != nil {
		return nil, fmt.Errorf("get rule %s of workspace %s: %w", id, ar.ws, err)
	}
	return raw, nil
}

// ruleState is what a write needs to know of a rule as it is now.
type ruleState struct {
	exists  bool
	etag    string
	enabled bool
}

// current reads the rule id's etag and state; a rule that does not exist
// is not an error.
func (ar *alertRules) current(ctx context.Context, id string) (ruleState, error) {
	raw, err := ar.get(ctx, id)
	if isNotFound(err) {
		return ruleState{}, nil
	}
	if err != nil {
		return ruleState{}, err
	}
	r, err := decodeRule(raw)
	if err != nil {
		return ruleState{}, err
	}
	return ruleState{exists: true, etag: r.Etag, enabled: r.Properties.Enabled}, nil
}

// put writes a rule; etag, when not "", must still be the rule's.
func (ar *alertRules) put(ctx context.Context, id, kind, etag string, props any) (json.RawMessage, error) {
	body := map[string]any{"kind": kind, "properties": props}
	if etag != "" {
		body["etag"] = etag // the API takes the body's etag as If-Match, as the cloud's clients send it
	}
	var raw json.RawMessage
	err := ar.m.cl.Do(ctx, http.MethodPut, ar.path(id), client.AudienceManagement, body, &raw)
	return raw, err
}

func isNotFound(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

// getIfFound GETs a management resource; found is false when the server
// has none at path, which commands that create or replace need to tell
// from a failure.
func (m *mgmt) getIfFound(ctx context.Context, path string) (raw json.RawMessage, found bool, err error) {
	err = m.cl.Do(ctx, http.MethodGet, path, client.AudienceManagement, nil, &raw)
	switch {
	case isNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return raw, true, nil
}

// writeError names the rule a refused write was for, and says what to do
// when the rule changed between reading it and writing it back.
func writeError(err error, verb, id string) error {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusPreconditionFailed {
		return fmt.Errorf("%s rule %s: it was changed by someone else since you read it; run again: %w", verb, id, err)
	}
	return fmt.Errorf("%s rule %s: %w", verb, id, err)
}

// setEnabled settles a rule's enabled state: off with --disabled, else as
// the file says, else fallback.
func setEnabled(props map[string]any, disabled, fallback bool) {
	if disabled {
		props["enabled"] = false
		return
	}
	if _, said := props["enabled"]; !said {
		props["enabled"] = fallback
	}
}

// readRuleFile reads the one rule of a file for create and update.
func readRuleFile(path, id string) (*rulefile.Rule, error) {
	data, err := readRuleBytes(path)
	if err != nil {
		return nil, err
	}
	rules, err := rulefile.Read(path, data, rulefile.Options{ID: id})
	if err != nil {
		return nil, err
	}
	if len(rules) != 1 {
		return nil, fmt.Errorf("%s holds %d rules; this command takes one: bring several with `sealwatch rule import`", path, len(rules))
	}
	return &rules[0], nil
}

// readRuleBytes reads a rule file, refusing one larger than a rule file can be.
func readRuleBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, rulefile.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > rulefile.MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes, more than any rule file", path, rulefile.MaxFileBytes)
	}
	return data, nil
}

// printNotes tells a person on stderr what of a file was not carried over.
func (a *app) printNotes(r *rulefile.Rule) {
	for _, n := range r.Notes {
		fmt.Fprintf(a.env.Stderr, "note: %s\n", clean(n))
	}
}

// printRule prints one rule: the server's JSON, or its row and the fields
// too long for a row.
func (a *app) printRule(w io.Writer, raw json.RawMessage) error {
	r, err := writeOne(w, a.output, raw, decodeRule, ruleHeader, ruleRow)
	if r == nil || err != nil {
		return err
	}
	p := r.Properties
	fmt.Fprintln(w)
	if p.Description != "" {
		fmt.Fprintf(w, "description:    %s\n", clean(strings.Join(strings.Fields(p.Description), " "))) // a YAML block keeps its line breaks
	}
	fmt.Fprintln(w, "query:")
	for _, line := range strings.Split(strings.TrimRight(p.Query, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", clean(strings.TrimRight(line, "\r")))
	}
	fmt.Fprintf(w, "last modified:  %s\netag:           %s\n", clean(p.LastModifiedUtc), clean(r.Etag))
	return nil
}

func (a *app) ruleCommand() *cobra.Command {
	var subscription string
	c := a.group("rule", "Manage a workspace's analytics rules: bring them from files, switch them on and off, see their runs",
		a.ruleCreateCommand(&subscription), a.ruleUpdateCommand(&subscription), a.ruleShowCommand(&subscription),
		a.ruleListCommand(&subscription), a.ruleDeleteCommand(&subscription),
		a.ruleSwitchCommand(&subscription, true), a.ruleSwitchCommand(&subscription, false),
		a.ruleRunsCommand(&subscription), a.ruleImportCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

func (a *app) ruleCreateCommand(subscription *string) *cobra.Command {
	var (
		ref      workspaceRef
		file, id string
		disabled bool
	)
	cmd := &cobra.Command{
		Use:   "create --workspace W --file rule.yaml|rule.json [--id ID] [--disabled]",
		Short: "Create a rule from a file: the community rule YAML or the API's JSON",
		Long: "create reads one rule from a file — the community rule YAML of detection-content repositories,\n" +
			"or the API's JSON as `sealwatch rule show -o json` prints it — and creates it in the workspace.\n" +
			"The rule's ID is the YAML's id or the JSON's name, unless --id gives one. The rule is enabled\n" +
			"unless the file says otherwise or --disabled is given. The node compiles the rule's query against\n" +
			"the workspace's tables and refuses a rule that could not run, with the query's line and column.\n" +
			"See \"Bringing your rules\" in docs/guide.md for how the YAML's fields map to the API's.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		r, err := readRuleFile(file, id)
		if err != nil {
			return err
		}
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		// A PUT would replace a rule with this ID: create only creates.
		cur, err := ar.current(ctx, r.ID)
		if err != nil {
			return err
		}
		if cur.exists {
			return fmt.Errorf("workspace %s already has rule %s; change it with `sealwatch rule update --workspace %s --file %s`", ar.ws, r.ID, ar.ws, file)
		}
		setEnabled(r.Properties, disabled, true)
		raw, err := ar.put(ctx, r.ID, r.Kind, "", r.Properties)
		if err != nil {
			return pointAt(writeError(err, "create", r.ID), queryOf(r))
		}
		a.printNotes(r)
		return a.printRule(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the rule: a .yaml or .yml file in the community format, or a .json file as the API serves rules")
	f.StringVar(&id, "id", "", "the rule's ID; default the file's id (YAML) or name (JSON)")
	f.BoolVar(&disabled, "disabled", false, "create the rule switched off")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (a *app) ruleUpdateCommand(subscription *string) *cobra.Command {
	var (
		ref            workspaceRef
		file, id, etag string
		disabled       bool
	)
	cmd := &cobra.Command{
		Use:   "update --workspace W --file rule.yaml|rule.json [--id ID] [--disabled] [--etag E]",
		Short: "Replace a rule with the one in a file, unless someone changed it meanwhile",
		Long: "update reads the rule, then writes the file's rule in its place under the etag it read, so\n" +
			"that a change someone made in between is never overwritten: the node refuses the write and\n" +
			"update can be run again. --etag makes the update conditional on an etag read earlier\n" +
			"(`sealwatch rule show`) instead. The rule stays enabled or disabled as it was, unless the\n" +
			"file says otherwise or --disabled is given.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		r, err := readRuleFile(file, id)
		if err != nil {
			return err
		}
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		cur, err := ar.current(ctx, r.ID)
		if err != nil {
			return err
		}
		if !cur.exists {
			return fmt.Errorf("workspace %s has no rule %s; create it with `sealwatch rule create --workspace %s --file %s`", ar.ws, r.ID, ar.ws, file)
		}
		if cmd.Flags().Changed("etag") {
			cur.etag = etag
		}
		setEnabled(r.Properties, disabled, cur.enabled)
		raw, err := ar.put(ctx, r.ID, r.Kind, cur.etag, r.Properties)
		if err != nil {
			return pointAt(writeError(err, "update", r.ID), queryOf(r))
		}
		a.printNotes(r)
		return a.printRule(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the rule: a .yaml or .yml file in the community format, or a .json file as the API serves rules")
	f.StringVar(&id, "id", "", "the rule's ID; default the file's id (YAML) or name (JSON)")
	f.BoolVar(&disabled, "disabled", false, "switch the rule off")
	f.StringVar(&etag, "etag", "", "replace the rule only if it still has this etag (from `sealwatch rule show`)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// queryOf is a rule's query, for pointing at the place a refusal names.
func queryOf(r *rulefile.Rule) string {
	q, _ := r.Properties["query"].(string)
	return q
}

func (a *app) ruleShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "show --workspace W ID", Short: "Show a rule, its query and its etag", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, err := ar.get(ctx, args[0])
		if err != nil {
			return err
		}
		return a.printRule(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) ruleListCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{
		Use:   "list --workspace W",
		Short: "List a workspace's rules; -o json prints them as `sealwatch rule import` reads them back",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := ar.m.cl.ListAll(ctx, ar.path(""), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the rules of workspace %s: %w", ar.ws, err)
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeRule, ruleHeader, ruleRow)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) ruleDeleteCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "delete --workspace W ID", Short: "Delete a rule; the alerts and incidents it raised stay", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if err := ar.m.cl.Do(ctx, http.MethodDelete, ar.path(args[0]), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete rule %s of workspace %s: %w", args[0], ar.ws, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted rule %s of workspace %s.\n", clean(args[0]), clean(ar.ws))
		}
		return nil
	})
	ref.register(cmd)
	return cmd
}

// ruleSwitchCommand is `rule enable` (on) or `rule disable`: it reads the
// rule, flips properties.enabled and writes everything else back as it was,
// under the etag it read.
func (a *app) ruleSwitchCommand(subscription *string, on bool) *cobra.Command {
	var ref workspaceRef
	verb, short := "disable", "Switch a rule off; it keeps its settings and can be enabled again"
	if on {
		verb, short = "enable", "Switch a rule on; it runs from its next window"
	}
	cmd := &cobra.Command{Use: verb + " --workspace W ID", Short: short, Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id := args[0]
		ar, err := a.alertRulesOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, err := ar.get(ctx, id)
		if err != nil {
			return err
		}
		var cur struct {
			Kind       string                     `json:"kind"`
			Etag       string                     `json:"etag"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &cur); err != nil {
			return fmt.Errorf("decode rule %s: %w", id, err)
		}
		if cur.Properties == nil {
			return fmt.Errorf("decode rule %s: the server's answer has no properties", id)
		}
		cur.Properties["enabled"], _ = json.Marshal(on)
		out, err := ar.put(ctx, id, cur.Kind, cur.Etag, cur.Properties)
		if err != nil {
			return writeError(err, verb, id)
		}
		return a.printRule(cmd.OutOrStdout(), out)
	})
	ref.register(cmd)
	return cmd
}
