package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// incidentsPath is under a workspace: its incidents.
const incidentsPath = "/providers/Microsoft.SecurityInsights/incidents"

// incidentResource is the API's view of an incident.
type incidentResource struct {
	Name       string `json:"name"`
	Etag       string `json:"etag"`
	Properties struct {
		Title                 string `json:"title"`
		Description           string `json:"description"`
		Severity              string `json:"severity"`
		Status                string `json:"status"`
		Classification        string `json:"classification"`
		ClassificationReason  string `json:"classificationReason"`
		ClassificationComment string `json:"classificationComment"`
		Owner                 struct {
			ObjectID string `json:"objectId"`
		} `json:"owner"`
		IncidentNumber      int64     `json:"incidentNumber"`
		CreatedTimeUtc      time.Time `json:"createdTimeUtc"`
		LastModifiedTimeUtc time.Time `json:"lastModifiedTimeUtc"`
	} `json:"properties"`
}

func decodeIncident(raw json.RawMessage) (*incidentResource, error) {
	var i incidentResource
	if err := json.Unmarshal(raw, &i); err != nil {
		return nil, fmt.Errorf("decode incident: %w", err)
	}
	return &i, nil
}

var incidentHeader = []string{"NUMBER", "ID", "TITLE", "SEVERITY", "STATUS", "OWNER", "CREATED"}

func incidentRow(i *incidentResource) []string {
	return []string{strconv.FormatInt(i.Properties.IncidentNumber, 10), i.Name, i.Properties.Title, i.Properties.Severity,
		i.Properties.Status, i.Properties.Owner.ObjectID, rfc3339(i.Properties.CreatedTimeUtc)}
}

// incidentComment is the API's view of a comment.
type incidentComment struct {
	Name       string `json:"name"`
	Properties struct {
		Message        string    `json:"message"`
		CreatedTimeUtc time.Time `json:"createdTimeUtc"`
		Author         struct {
			ObjectID string `json:"objectId"`
		} `json:"author"`
	} `json:"properties"`
}

var commentHeader = []string{"CREATED", "AUTHOR", "MESSAGE"}

func commentRow(c *incidentComment) []string {
	return []string{rfc3339(c.Properties.CreatedTimeUtc), c.Properties.Author.ObjectID, c.Properties.Message}
}

// incidents addresses one workspace's incidents.
type incidents struct {
	m      *mgmt
	rg, ws string
}

// path is the path of the incidents, with extra segments appended.
func (in *incidents) path(extra ...string) string {
	var b strings.Builder
	b.WriteString(incidentsPath)
	for _, e := range extra {
		b.WriteString("/" + url.PathEscape(e))
	}
	return in.m.opsPath(kindWorkspace, in.rg, in.ws, b.String())
}

// incidentsOf resolves the workspace an incident command is about.
func (a *app) incidentsOf(ctx context.Context, subscription string, ref workspaceRef) (*incidents, error) {
	m, rg, ws, err := a.resolve(ctx, subscription, ref)
	if err != nil {
		return nil, err
	}
	return &incidents{m: m, rg: rg, ws: ws}, nil
}

// get reads an incident as the server sent it.
func (in *incidents) get(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := in.m.cl.Do(ctx, http.MethodGet, in.path(id), client.AudienceManagement, nil, &raw); err != nil {
		return nil, fmt.Errorf("get incident %s of workspace %s: %w", id, in.ws, err)
	}
	return raw, nil
}

// incidentLinks are what an incident holds besides its fields, as the API
// answers them: its comments, alerts and entities.
type incidentLinks struct {
	comments []json.RawMessage
	alerts   struct {
		Value []struct {
			Properties struct {
				AlertDisplayName string    `json:"alertDisplayName"`
				Severity         string    `json:"severity"`
				TimeGenerated    time.Time `json:"timeGenerated"`
				AlertType        string    `json:"alertType"`
			} `json:"properties"`
		} `json:"value"`
	}
	entities struct {
		Entities []struct {
			Kind       string         `json:"kind"`
			Properties map[string]any `json:"properties"`
		} `json:"entities"`
	}
}

// printIncident prints one incident: the server's JSON, or its row, the
// fields too long for a row, its etag, and, when given, its alerts,
// entities and comments.
func (a *app) printIncident(w io.Writer, raw json.RawMessage, links *incidentLinks) error {
	i, err := writeOne(w, a.output, raw, decodeIncident, incidentHeader, incidentRow)
	if i == nil || err != nil {
		return err
	}
	p := i.Properties
	fmt.Fprintln(w)
	if p.Description != "" {
		fmt.Fprintf(w, "description:     %s\n", clean(p.Description))
	}
	if p.Classification != "" {
		c := p.Classification
		if p.ClassificationReason != "" {
			c += " (" + p.ClassificationReason + ")"
		}
		if p.ClassificationComment != "" {
			c += ": " + p.ClassificationComment
		}
		fmt.Fprintf(w, "classification:  %s\n", clean(c))
	}
	fmt.Fprintf(w, "last modified:   %s\netag:            %s\n", rfc3339(p.LastModifiedTimeUtc), clean(i.Etag))
	if links == nil {
		return nil
	}
	return links.print(w)
}

// print writes the alerts, entities and comments that there are.
func (l *incidentLinks) print(w io.Writer) error {
	if len(l.alerts.Value) > 0 {
		fmt.Fprintln(w, "\nAlerts:")
		rows := make([][]string, 0, len(l.alerts.Value))
		for _, al := range l.alerts.Value {
			rows = append(rows, []string{rfc3339(al.Properties.TimeGenerated), al.Properties.Severity, al.Properties.AlertDisplayName, al.Properties.AlertType})
		}
		if err := writeTable(w, []string{"TIME", "SEVERITY", "NAME", "RULE"}, rows); err != nil {
			return err
		}
	}
	if len(l.entities.Entities) > 0 {
		fmt.Fprintln(w, "\nEntities:")
		rows := make([][]string, 0, len(l.entities.Entities))
		for _, e := range l.entities.Entities {
			rows = append(rows, []string{e.Kind, entityName(e.Properties)})
		}
		if err := writeTable(w, []string{"KIND", "NAME"}, rows); err != nil {
			return err
		}
	}
	if len(l.comments) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nComments:")
	rows := make([][]string, 0, len(l.comments))
	for _, it := range l.comments {
		var c incidentComment
		if err := json.Unmarshal(it, &c); err != nil {
			return fmt.Errorf("decode comment: %w", err)
		}
		rows = append(rows, commentRow(&c))
	}
	return writeTable(w, commentHeader, rows)
}

// entityName is how an entity reads in a table: its friendly name, or else
// the first of its identifying properties it has.
func entityName(p map[string]any) string {
	for _, k := range []string{"friendlyName", "accountName", "hostName", "address", "url", "domainName", "hashValue", "fileName", "commandLine", "appName", "resourceId"} {
		if v, ok := p[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// idOfNumber finds the ID of the incident numbered n.
func (in *incidents) idOfNumber(ctx context.Context, n int64) (string, error) {
	items, err := in.m.cl.ListAll(ctx, in.path(), client.AudienceManagement)
	if err != nil {
		return "", fmt.Errorf("list the incidents of workspace %s: %w", in.ws, err)
	}
	for _, it := range items {
		i, err := decodeIncident(it)
		if err != nil {
			return "", err
		}
		if i.Properties.IncidentNumber == n {
			return i.Name, nil
		}
	}
	return "", fmt.Errorf("workspace %s has no incident number %d (see `sealwatch incident list --workspace %s`)", in.ws, n, in.ws)
}

func (a *app) incidentCommand() *cobra.Command {
	var subscription string
	c := a.group("incident", "Work a workspace's incidents: create, triage, assign, comment and close them",
		a.incidentCreateCommand(&subscription), a.incidentListCommand(&subscription), a.incidentShowCommand(&subscription),
		a.incidentUpdateCommand(&subscription), a.incidentCommentCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

func (a *app) incidentCreateCommand(subscription *string) *cobra.Command {
	var (
		ref                        workspaceRef
		id, title, severity, descr string
	)
	cmd := &cobra.Command{
		Use:   "create --workspace W --title T --severity High|Medium|Low|Informational [--description D] [--id ID]",
		Short: "Create an incident in a workspace onboarded to the security features",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if id == "" {
			id = newGUID()
		} else {
			// A PUT would replace an incident with this ID: create only creates.
			_, err := in.get(ctx, id)
			var apiErr *client.APIError
			switch {
			case err == nil:
				return fmt.Errorf("workspace %s already has an incident %s; change it with `sealwatch incident update --id %s`", in.ws, id, id)
			case !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound:
				return err
			}
		}
		body := map[string]any{"properties": map[string]string{"title": title, "severity": severity, "description": descr, "status": "New"}}
		var raw json.RawMessage
		if err := in.m.cl.Do(ctx, http.MethodPut, in.path(id), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create incident in workspace %s: %w", in.ws, err)
		}
		return a.printIncident(cmd.OutOrStdout(), raw, nil)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVar(&title, "title", "", "what happened, in a line")
	f.StringVar(&severity, "severity", "", "High, Medium, Low or Informational")
	f.StringVar(&descr, "description", "", "more about the incident")
	f.StringVar(&id, "id", "", "the incident's ID; default a new GUID")
	_ = cmd.MarkFlagRequired("title")
	_ = cmd.MarkFlagRequired("severity")
	return cmd
}

func (a *app) incidentListCommand(subscription *string) *cobra.Command {
	var ref workspaceRef
	cmd := &cobra.Command{Use: "list --workspace W", Short: "List a workspace's incidents, newest first", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		items, err := in.m.cl.ListAll(ctx, in.path(), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list the incidents of workspace %s: %w", in.ws, err)
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decodeIncident, incidentHeader, incidentRow)
	})
	ref.register(cmd)
	return cmd
}

func (a *app) incidentShowCommand(subscription *string) *cobra.Command {
	var (
		ref    workspaceRef
		id     string
		number int64
	)
	cmd := &cobra.Command{Use: "show --workspace W (--id ID | --number N)", Short: "Show an incident: its alerts, entities, comments and etag", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if (id == "") == (number == 0) {
			return usagef("show needs the incident's --id or its --number, one of them")
		}
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		if number != 0 {
			if id, err = in.idOfNumber(ctx, number); err != nil {
				return err
			}
		}
		raw, err := in.get(ctx, id)
		if err != nil {
			return err
		}
		if a.output == outputJSON {
			return writeJSON(cmd.OutOrStdout(), raw)
		}
		var links incidentLinks
		if links.comments, err = in.m.cl.ListAll(ctx, in.path(id, "comments"), client.AudienceManagement); err != nil {
			return fmt.Errorf("list the comments of incident %s: %w", id, err)
		}
		if err := in.m.cl.Do(ctx, http.MethodPost, in.path(id, "alerts"), client.AudienceManagement, nil, &links.alerts); err != nil {
			return fmt.Errorf("list the alerts of incident %s: %w", id, err)
		}
		if err := in.m.cl.Do(ctx, http.MethodPost, in.path(id, "entities"), client.AudienceManagement, nil, &links.entities); err != nil {
			return fmt.Errorf("list the entities of incident %s: %w", id, err)
		}
		return a.printIncident(cmd.OutOrStdout(), raw, &links)
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the incident's ID")
	cmd.Flags().Int64Var(&number, "number", 0, "the incident's number, as list shows it")
	return cmd
}

func (a *app) incidentUpdateCommand(subscription *string) *cobra.Command {
	var (
		ref                                      workspaceRef
		id, status, classification, reason, note string
		owner, severity, title, descr, etag      string
	)
	cmd := &cobra.Command{
		Use:   "update --workspace W --id ID [--status Active|Closed] [--classification C --reason R] [--owner OID] [--severity S]",
		Short: "Change an incident: triage, assign, reclassify or close it",
		Long: "update reads the incident, changes the fields given and writes it back under the etag it read,\n" +
			"so that a change someone made in between is never overwritten: the node refuses the write\n" +
			"with 412 and the update can be run again on the new state. --etag makes the update\n" +
			"conditional on an etag read earlier (`sealwatch incident show`) instead.\n\n" +
			"Closing takes a classification: TruePositive (--reason SuspiciousActivity), BenignPositive\n" +
			"(SuspiciousButExpected), FalsePositive (IncorrectAlertLogic or InaccurateData) or\n" +
			"Undetermined. Reopening clears it.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		changes := false
		for _, name := range []string{"status", "classification", "reason", "classification-comment", "owner", "severity", "title", "description"} {
			changes = changes || f.Changed(name)
		}
		closes := f.Changed("status") && status == "Closed"
		switch {
		case !changes:
			return usagef("nothing to change: give --status, --classification, --owner, --severity, --title or --description")
		case (classification != "" || reason != "" || note != "") && !closes:
			return usagef("--classification, --reason and --classification-comment go with closing: add --status Closed")
		}
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		raw, err := in.get(ctx, id)
		if err != nil {
			return err
		}
		var cur struct {
			Etag       string         `json:"etag"`
			Properties map[string]any `json:"properties"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // keep the incident's number as it was sent
		if err := dec.Decode(&cur); err != nil {
			return fmt.Errorf("decode incident %s: %w", id, err)
		}
		if cur.Properties == nil {
			return fmt.Errorf("decode incident %s: the server's answer has no properties", id)
		}
		p := cur.Properties
		set := func(flag, field, value string) {
			if f.Changed(flag) {
				p[field] = value
			}
		}
		set("severity", "severity", severity)
		set("title", "title", title)
		set("description", "description", descr)
		set("status", "status", status)
		if f.Changed("status") && !closes {
			// Only a closed incident has a classification.
			delete(p, "classification")
			delete(p, "classificationReason")
			delete(p, "classificationComment")
		}
		set("classification", "classification", classification)
		set("reason", "classificationReason", reason)
		set("classification-comment", "classificationComment", note)
		if f.Changed("owner") {
			if owner == "" {
				p["owner"] = map[string]any{}
			} else {
				p["owner"] = map[string]any{"objectId": owner}
			}
		}
		if f.Changed("etag") {
			cur.Etag = etag
		}
		body := map[string]any{"etag": cur.Etag, "properties": p}
		var out json.RawMessage
		if err := in.m.cl.Do(ctx, http.MethodPut, in.path(id), client.AudienceManagement, body, &out); err != nil {
			return fmt.Errorf("update incident %s: %w", id, err)
		}
		return a.printIncident(cmd.OutOrStdout(), out, nil)
	})
	ref.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&id, "id", "", "the incident's ID")
	fl.StringVar(&status, "status", "", "New, Active or Closed")
	fl.StringVar(&classification, "classification", "", "when closing: TruePositive, BenignPositive, FalsePositive or Undetermined")
	fl.StringVar(&reason, "reason", "", "when closing: the classification's reason, such as SuspiciousActivity")
	fl.StringVar(&note, "classification-comment", "", "when closing: why")
	fl.StringVar(&owner, "owner", "", "the object ID of the principal who works the incident; empty unassigns it")
	fl.StringVar(&severity, "severity", "", "High, Medium, Low or Informational")
	fl.StringVar(&title, "title", "", "a new title")
	fl.StringVar(&descr, "description", "", "a new description")
	fl.StringVar(&etag, "etag", "", "change the incident only if it still has this etag (from `sealwatch incident show`)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func (a *app) incidentCommentCommand(subscription *string) *cobra.Command {
	var (
		ref         workspaceRef
		id, message string
	)
	cmd := &cobra.Command{Use: "comment --workspace W --id ID --message M", Short: "Add a comment to an incident", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		in, err := a.incidentsOf(ctx, *subscription, ref)
		if err != nil {
			return err
		}
		body := map[string]any{"properties": map[string]string{"message": message}}
		var raw json.RawMessage
		if err := in.m.cl.Do(ctx, http.MethodPut, in.path(id, "comments", newGUID()), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("comment on incident %s: %w", id, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSON(w, raw)
		}
		var c incidentComment
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("decode comment: %w", err)
		}
		return writeTable(w, commentHeader, [][]string{commentRow(&c)})
	})
	ref.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the incident's ID")
	cmd.Flags().StringVar(&message, "message", "", "the comment")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("message")
	return cmd
}
