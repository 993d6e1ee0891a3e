package detection

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// resultRows are the rows of one query result that an alert is about.
type resultRows struct {
	cols  []kql.Column
	rows  [][]any
	index map[string]int // column → position
}

func newResultRows(cols []kql.Column, rows [][]any) resultRows {
	idx := make(map[string]int, len(cols))
	for i, c := range cols {
		idx[c.Name] = i
	}
	return resultRows{cols: cols, rows: rows, index: idx}
}

// text is column col of row r as text: "" for a missing column or a null.
func (rr resultRows) text(r int, col string) string {
	i, ok := rr.index[col]
	if !ok {
		return ""
	}
	switch v := kql.JSONValue(rr.rows[r][i]).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// alertID is a stable GUID-shaped ID for the alert a rule raises over a
// window from rows with the given fingerprints: a run that is repeated
// after a crash raises the same alert again, which changes nothing. An NRT
// run's window ends at the ingestion watermark of the tick that runs it,
// which a repeated run (after a crash, or on the node that took the
// workspace) takes anew: its alerts are named by where it starts alone.
func alertID(ruleID string, w window, fps []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", ruleID, w.start.UnixNano(), w.end.UnixNano())
	for _, fp := range fps {
		h.Write([]byte{0})
		h.Write([]byte(fp))
	}
	s := h.Sum(nil)
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// idWindow is the part of window w that names the alerts raised over it
// (see alertID).
func idWindow(spec *analyticrule.Spec, w window) window {
	if spec.Kind == analyticrule.KindNRT {
		return window{start: w.start}
	}
	return w
}

// format fills a display name or description format's {{column}}
// placeholders from row r; a column the result lacks becomes empty.
func (rr resultRows) format(r int, f string) string {
	return analyticrule.PlaceholderRE.ReplaceAllStringFunc(f, func(m string) string {
		return rr.text(r, analyticrule.PlaceholderRE.FindStringSubmatch(m)[1])
	})
}

var severities = []string{"High", "Medium", "Low", "Informational"}

// buildAlert makes the alert a rule raises over window w for rows (all of
// one alert: one row for AlertPerResult, all for SingleAlert). Rows whose
// mapped entity values are empty or invalid give no entity; the alert is
// raised all the same.
func buildAlert(spec *analyticrule.Spec, w window, rr resultRows, fps []string, total int, now time.Time, workspaceID string) *alert.Alert {
	a := &alert.Alert{
		SystemAlertID: alertID(spec.ID, idWindow(spec, w), fps),
		DisplayName:   spec.DisplayName, Description: spec.Description, Severity: spec.Severity,
		Tactics: slices.Clone(spec.Tactics), Techniques: slices.Clone(spec.Techniques), SubTechniques: slices.Clone(spec.SubTechniques),
		StartTime: w.start, EndTime: w.end, TimeGenerated: now, RuleID: spec.ID, RuleName: spec.DisplayName,
		Query: spec.Query, QueryStart: w.start, QueryEnd: w.end, ResultCount: int64(total), WorkspaceID: workspaceID,
	}
	o := spec.Override
	if o.DisplayNameFormat != "" {
		if s := strings.TrimSpace(rr.format(0, o.DisplayNameFormat)); s != "" {
			a.DisplayName = truncate(s, 256)
		}
	}
	if o.DescriptionFormat != "" {
		a.Description = truncate(rr.format(0, o.DescriptionFormat), 5000)
	}
	if o.SeverityColumn != "" {
		if s := rr.text(0, o.SeverityColumn); slices.Contains(severities, s) {
			a.Severity = s
		}
	}
	if o.TacticsColumn != "" {
		if s := rr.text(0, o.TacticsColumn); s != "" {
			a.Tactics = splitList(s)
		}
	}
	for r := range rr.rows {
		a.Entities = alert.Merge(a.Entities, rowEntities(spec, rr, r)...)
	}
	if len(a.Entities) > 500 {
		a.Entities = a.Entities[:500]
	}
	if len(spec.CustomDetails) > 0 {
		a.CustomDetails = map[string][]any{}
		for name, col := range spec.CustomDetails {
			for r := range rr.rows[:min(len(rr.rows), 50)] {
				a.CustomDetails[name] = append(a.CustomDetails[name], kql.JSONValue(rr.rows[r][rr.index[col]]))
			}
		}
	}
	return a
}

// rowEntities are the entities the rule's mappings find in row r.
func rowEntities(spec *analyticrule.Spec, rr resultRows, r int) []alert.Entity {
	var out []alert.Entity
	for _, m := range spec.EntityMappings {
		ids := map[string]string{}
		for _, f := range m.Fields {
			if v := rr.text(r, f.Column); v != "" {
				ids[f.Identifier] = v
			}
		}
		if len(ids) == 0 {
			continue
		}
		if e, err := alert.NewEntity(m.EntityType, ids); err == nil {
			out = append(out, e)
		}
	}
	return out
}

// splitList reads a tactics column: a JSON array or a comma-separated list.
func splitList(s string) []string {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.Trim(strings.TrimSpace(p), `"`); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
