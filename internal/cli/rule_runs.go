package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/rulefile"
)

// healthTable is the workspace table the scheduler records every run of a
// rule in, with the cloud's columns: TimeGenerated, OperationName,
// SentinelResourceId, SentinelResourceName (the rule's ID),
// SentinelResourceKind, SentinelResourceType ("Analytics Rule"), Status,
// Reason, Description and ExtendedProperties (Outcome, QueryStartTimeUtc,
// QueryEndTimeUtc, ResultsCount, AlertsGenerated, IncidentsCreated,
// IncidentsUpdated, DurationMs, Error, and SkippedFrom and SkippedTo for
// time no run covered).
const healthTable = "SentinelHealth"

// maxRuns bounds --limit: a page of history, not an export.
const maxRuns = 10000

// runsQuery is the KQL that reads a rule's runs since from, newest first.
// id has passed rulefile.CheckID, so it holds nothing to escape.
func runsQuery(id string, from time.Time, limit int) string {
	return healthTable + "\n" +
		`| where SentinelResourceType == "Analytics Rule" and SentinelResourceName == "` + id + `"` + "\n" +
		"| where TimeGenerated >= datetime(" + from.UTC().Format(time.RFC3339Nano) + ")\n" +
		"| sort by TimeGenerated desc\n" +
		"| take " + strconv.Itoa(limit)
}

// ruleRun is one row of the health table, column by column.
type ruleRun map[string]json.RawMessage

// decodeRuns reads the rows of a query result as health rows, ExtendedProperties
// decoded when it arrives as JSON text.
func decodeRuns(raw json.RawMessage) ([]ruleRun, error) {
	var res queryResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("decode the runs: %w", err)
	}
	out := []ruleRun{}
	if len(res.Tables) == 0 {
		return out, nil
	}
	t := res.Tables[0]
	for _, row := range t.Rows {
		run := ruleRun{}
		for i, c := range t.Columns {
			if i < len(row) {
				run[c.Name] = row[i]
			}
		}
		var text string
		if ep := run["ExtendedProperties"]; len(ep) > 0 && ep[0] == '"' && json.Unmarshal(ep, &text) == nil && json.Valid([]byte(text)) {
			run["ExtendedProperties"] = json.RawMessage(text)
		}
		out = append(out, run)
	}
	return out, nil
}

// field is a column of the run, or a field of its ExtendedProperties, as text.
func (r ruleRun) field(name string) string {
	if v, ok := r[name]; ok {
		return cell(v)
	}
	var ext map[string]json.RawMessage
	if json.Unmarshal(r["ExtendedProperties"], &ext) != nil {
		return ""
	}
	return cell(ext[name])
}

var runHeader = []string{"TIME", "STATUS", "OUTCOME", "WINDOW", "RESULTS", "ALERTS", "INCIDENTS", "DURATION", "DETAIL"}

func runRow(r ruleRun) []string {
	incidents := ""
	if c, u := r.field("IncidentsCreated"), r.field("IncidentsUpdated"); (c != "" && c != "0") || (u != "" && u != "0") {
		incidents = orZero(c) + " created, " + orZero(u) + " updated"
	}
	duration := ""
	if ms, err := strconv.ParseFloat(r.field("DurationMs"), 64); err == nil {
		duration = (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
	}
	detail := r.field("Error")
	if detail == "" {
		detail = r.field("Reason")
	}
	window := runWindow(r.field("QueryStartTimeUtc"), r.field("QueryEndTimeUtc"))
	if window == "" { // a skip record names the time no run covered
		window = runWindow(r.field("SkippedFrom"), r.field("SkippedTo"))
	}
	return []string{shortTime(r.field("TimeGenerated")), r.field("Status"), r.field("Outcome"),
		window, r.field("ResultsCount"), r.field("AlertsGenerated"), incidents, duration, detail}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// shortTime renders an RFC 3339 time to the second, in UTC.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// runWindow renders a run's query window; the end without its date when it is
// the start's.
func runWindow(from, to string) string {
	if from == "" && to == "" {
		return ""
	}
	f, t := shortTime(from), shortTime(to)
	if len(f) == 19 && len(t) == 19 && f[:10] == t[:10] {
		t = t[11:]
	}
	return f + " – " + t
}

func (a *app) ruleRunsCommand(subscription *string) *cobra.Command {
	var (
		ref   workspaceRef
		since string
		limit int
		wait  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "runs --workspace W ID [--since 24h] [--limit N] [--wait 1m]",
		Short: "Show a rule's runs, newest first: ran, caught up, late, skipped or failed, and why",
		Long: "runs reads the rule's run history from the workspace's " + healthTable + " table, where every run\n" +
			"of every rule is recorded: its status and outcome, the window its query covered, how many\n" +
			"results, alerts and incidents it made, how long it took, and why it was skipped or failed.\n" +
			"The same rows can be queried with `sealwatch query`.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id := args[0]
		if err := rulefile.CheckID(id); err != nil {
			return usageError{err}
		}
		if wait < 0 {
			return usagef("--wait must not be negative")
		}
		if limit < 1 || limit > maxRuns {
			return usagef("--limit must be from 1 to %d, not %d", maxRuns, limit)
		}
		from, err := parseSince(since, a.env.Now())
		if err != nil {
			return usageError{err}
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		ws, _, rg, err := m.findWorkspace(ctx, ref.name, ref.resourceGroup)
		if err != nil {
			return err
		}
		body := map[string]string{"query": runsQuery(id, from, limit)}
		var list []ruleRun
		none := fmt.Sprintf("no runs of rule %s recorded since %s", id, since) // the health table is built in: before any run, it is empty
		fetch := func(ctx context.Context) error {
			var raw json.RawMessage
			err := m.cl.Do(ctx, http.MethodPost, "/v1/workspaces/"+url.PathEscape(ws.Properties.CustomerID)+"/query", client.AudienceQuery, body, &raw)
			if err != nil {
				return fmt.Errorf("read the runs of rule %s in workspace %s: %w", id, ws.Name, err)
			}
			list, err = decodeRuns(raw)
			return err
		}
		if err := fetch(ctx); err != nil {
			return err
		}
		if len(list) == 0 && wait > 0 {
			notYet := fmt.Sprintf("no run of rule %s is recorded yet", id)
			err := waitUntil(ctx, wait, time.Second, notYet,
				"the node runs a new rule within seconds of it being saved and enabled: check it is enabled (sealwatch rule show) and that the workspace's key is accessible",
				func(ctx context.Context) (bool, string, error) {
					if err := fetch(ctx); err != nil {
						return false, "", err
					}
					return len(list) > 0, notYet, nil
				})
			var timedOut *waitTimeoutError
			if errors.As(err, &timedOut) {
				if _, err := (&alertRules{m: m, rg: rg, ws: ws.Name}).get(ctx, id); isNotFound(err) {
					return fmt.Errorf("workspace %s has no rule %s (see `sealwatch rule list --workspace %s`)", ws.Name, id, ws.Name)
				}
			}
			if err != nil {
				return err
			}
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSONOf(w, list)
		}
		if len(list) == 0 {
			return a.noRuns(ctx, w, &alertRules{m: m, rg: rg, ws: ws.Name}, id, none)
		}
		rows := make([][]string, 0, len(list))
		for _, r := range list {
			rows = append(rows, runRow(r))
		}
		return writeTable(w, runHeader, rows)
	})
	ref.register(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "24h", "only runs at or after this time: an age (90m, 24h, 7d) or RFC 3339")
	f.IntVar(&limit, "limit", 100, "at most this many runs, the newest")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for a first run to be recorded, such as 1m (for scripts that have just created the rule)")
	return cmd
}

// noRuns prints msg, that no run is recorded, once it has checked that the
// rule exists: a mistyped ID has no runs either.
func (a *app) noRuns(ctx context.Context, w io.Writer, ar *alertRules, id, msg string) error {
	_, err := ar.get(ctx, id)
	switch {
	case isNotFound(err):
		return fmt.Errorf("workspace %s has no rule %s (see `sealwatch rule list --workspace %s`), and no runs are recorded for it", ar.ws, id, ar.ws)
	case err != nil:
		return err
	}
	fmt.Fprintln(w, clean(msg))
	return nil
}
