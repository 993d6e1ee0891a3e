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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// automationRulesPath is under a workspace: its automation rules.
const automationRulesPath = "/providers/Microsoft.SecurityInsights/automationRules"

// automationRuleResource is the API's view of an automation rule.
type automationRuleResource struct {
	Name       string `json:"name"`
	Etag       string `json:"etag"`
	Properties struct {
		DisplayName     string `json:"displayName"`
		Order           int    `json:"order"`
		TriggeringLogic struct {
			IsEnabled         bool   `json:"isEnabled"`
			ExpirationTimeUtc string `json:"expirationTimeUtc"`
			TriggersOn        string `json:"triggersOn"`
			TriggersWhen      string `json:"triggersWhen"`
			Conditions        []struct {
				ConditionType string `json:"conditionType"`
			} `json:"conditions"`
		} `json:"triggeringLogic"`
		Actions []struct {
			Order      int    `json:"order"`
			ActionType string `json:"actionType"`
		} `json:"actions"`
		LastModifiedTimeUtc time.Time `json:"lastModifiedTimeUtc"`
	} `json:"properties"`
}

func decodeAutomationRule(raw json.RawMessage) (*automationRuleResource, error) {
	var r automationRuleResource
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode automation rule: %w", err)
	}
	return &r, nil
}

var automationRuleHeader = []string{"ORDER", "ID", "NAME", "ENABLED", "TRIGGER", "CONDITIONS", "ACTIONS"}

func automationRuleRow(r *automationRuleResource) []string {
	p := r.Properties
	actions := make([]string, 0, len(p.Actions))
	for _, a := range p.Actions {
		actions = append(actions, a.ActionType)
	}
	enabled := "yes"
	if !p.TriggeringLogic.IsEnabled {
		enabled = "no"
	}
	return []string{strconv.Itoa(p.Order), r.Name, p.DisplayName, enabled,
		p.TriggeringLogic.TriggersOn + " " + p.TriggeringLogic.TriggersWhen,
		strconv.Itoa(len(p.TriggeringLogic.Conditions)), strings.Join(actions, ", ")}
}

// printAutomationRule prints one rule: the server's JSON, or its row, its
// expiry, last change and etag (-o json shows its conditions and actions).
func (a *app) printAutomationRule(w io.Writer, raw json.RawMessage) error {
	r, err := writeOne(w, a.output, raw, decodeAutomationRule, automationRuleHeader, automationRuleRow)
	if r == nil || err != nil {
		return err
	}
	fmt.Fprintln(w)
	if exp := r.Properties.TriggeringLogic.ExpirationTimeUtc; exp != "" {
		fmt.Fprintf(w, "expires:         %s\n", clean(exp))
	}
	fmt.Fprintf(w, "last modified:   %s\netag:            %s\n", rfc3339(r.Properties.LastModifiedTimeUtc), clean(r.Etag))
	return nil
}

// automationRulePath is the path of a workspace's automation rules, or of
// one of them.
func (in *incidents) automationRulePath(id string) string {
	p := automationRulesPath
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return in.m.opsPath(kindWorkspace, in.rg, in.ws, p)
}

func (a *app) automationCommand() *cobra.Command {
	var subscription string
	c := a.group("automation", "Manage a workspace's automation rules: what happens to incidents and alerts when they are created or updated",
		a.automationPutCommand(&subscription, true), a.automationPutCommand(&subscription, false), a.automationShowCommand(&subscription),
		a.automationListCommand(&subscription), a.automationDeleteCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

// readAutomationFile reads a rule's JSON: the API's body {"properties":{…}}, or
// the properties alone. "-" is standard input.
func readAutomationFile(path string, stdin io.Reader) (map[string]any, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the rule: %w", err)
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", path, err)
	}
	if _, ok := body["properties"]; !ok {
		body = map[string]any{"properties": body}
	}
	return body, nil
}

// automationPutCommand is create (create only: an existing rule is not
// replaced) or update (the rule must exist).
func (a *app) automationPutCommand(subscription *string, create bool) *cobra.Command {
	var (
		ref  workspaceRef
		file string
	)
	verb, short := "update", "Replace an automation rule with the one in a file"
	if create {
		verb, short = "create", "Create an automation rule from a file (the API's JSON)"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID --workspace W --file RULE.json",
		Short: short,
		Long: short + ".\n\nThe file holds the rule as the API takes it, {\"properties\":{\"displayName\",\"order\",\n" +
			"\"triggeringLogic\",\"actions\"}}, or its properties alone; see docs/api.md. A Webhook\n" +
			"action's secret is write-only: the node never shows it, so the file must hold it at every update.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id := args[0]
		body, err := readAutomationFile(file, cmd.InOrStdin())
		if err != nil {
			return err
		}
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		current, found, err := in.m.getIfFound(ctx, in.automationRulePath(id))
		switch {
		case err != nil:
			return err
		case found && create:
			return fmt.Errorf("workspace %s already has an automation rule %s; replace it with `sealwatch automation update %s`", in.ws, id, id)
		case !found && !create:
			return fmt.Errorf("workspace %s has no automation rule %s; create it with `sealwatch automation create %s`", in.ws, id, id)
		}
		if !create {
			// Replace the rule as read: a change made since is refused (412).
			r, err := decodeAutomationRule(current)
			if err != nil {
				return err
			}
			body["etag"] = r.Etag
		}
		var raw json.RawMessage
		if err := in.m.cl.Do(ctx, http.MethodPut, in.automationRulePath(id), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("%s automation rule %s in workspace %s: %w", verb, id, in.ws, err)
		}
		return a.printAutomationRule(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the rule's JSON file, - for standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (a *app) automationShowCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "show ID --workspace W", Short: "Show an automation rule; -o json shows its conditions and actions (never a webhook's secret)", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := in.m.cl.Do(ctx, http.MethodGet, in.automationRulePath(args[0]), client.AudienceManagement, nil, &raw); err != nil {
			return fmt.Errorf("get automation rule %s of workspace %s: %w", args[0], in.ws, err)
		}
		return a.printAutomationRule(cmd.OutOrStdout(), raw)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) automationListCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "list --workspace W", Short: "List a workspace's automation rules in the order they run", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := in.m.cl.ListAll(ctx, in.automationRulePath(""), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the automation rules of workspace %s: %w", in.ws, err)
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeAutomationRule, automationRuleHeader, automationRuleRow)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) automationDeleteCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "delete ID --workspace W", Short: "Delete an automation rule", Args: cobra.ExactArgs(1)}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if err := in.m.cl.Do(ctx, http.MethodDelete, in.automationRulePath(args[0]), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete automation rule %s of workspace %s: %w", args[0], in.ws, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted automation rule %s of workspace %s.\n", args[0], in.ws)
		return nil
	})
	ref.register(cmd)
	return cmd
}
