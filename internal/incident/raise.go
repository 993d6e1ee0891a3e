package incident

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// collAlertLinks holds one document per raised alert (its ID the alert's):
// the incident it went into, so that raising it again changes nothing.
const collAlertLinks = "alertIncidents"

// Matching methods of a rule's grouping.
const (
	MatchAllEntities = "AllEntities"
	MatchAnyAlert    = "AnyAlert"
	MatchSelected    = "Selected"
)

// Limits of grouping: past them an alert of the group opens a new incident.
const (
	maxAlertsPerIncident = 1000
	maxIncidentBytes     = 1 << 20 // well under docstore.MaxBodyBytes
	maxLookback          = 7 * 24 * time.Hour
)

// Grouping is a rule's incidentConfiguration.groupingConfiguration.
type Grouping struct {
	Enabled      bool
	ReopenClosed bool
	// Lookback is how long after an incident's last alert another alert
	// may still join it.
	Lookback time.Duration
	// Method is AllEntities (the alert's entities are exactly the
	// incident's first alert's), AnyAlert (every alert of the rule), or
	// Selected (equal values of ByEntities, ByAlertDetails, ByCustomDetails).
	Method string
	// ByEntities are rule entity types (Account, Host, IP, …);
	// ByAlertDetails DisplayName and Severity; ByCustomDetails names of the
	// rule's custom details.
	ByEntities, ByAlertDetails, ByCustomDetails []string
}

func (g *Grouping) validate() error {
	if !g.Enabled {
		return nil
	}
	if g.Lookback <= 0 || g.Lookback > maxLookback {
		return bad("grouping needs a lookback of more than 0 and at most 7 days, not %s", g.Lookback)
	}
	switch g.Method {
	case MatchAllEntities, MatchAnyAlert:
	case MatchSelected:
		if len(g.ByEntities)+len(g.ByAlertDetails)+len(g.ByCustomDetails) == 0 {
			return bad("grouping by Selected needs at least one entity type, alert detail or custom detail")
		}
	default:
		return bad("grouping's matching method must be %s, %s or %s, not '%s'", MatchAllEntities, MatchAnyAlert, MatchSelected, fault.Shorten(g.Method))
	}
	for _, t := range g.ByEntities {
		if alert.Identifiers(t) == nil {
			return bad("grouping by entity '%s': not an entity type", fault.Shorten(t))
		}
	}
	for _, d := range g.ByAlertDetails {
		if d != "DisplayName" && d != "Severity" {
			return bad("grouping by alert detail '%s': the details are DisplayName and Severity", fault.Shorten(d))
		}
	}
	return nil
}

// key is the alert's group under g: alerts of one rule with one key go into
// one incident. It is a keyed digest of the method, the selection and the
// alert's values for it, so that a rule whose grouping changed starts new
// groups, a group's entry in the state has a fixed size, and the shard it
// is kept in (named in plaintext) says nothing of the values.
func (g *Grouping) key(salt []byte, a *alert.Alert) string {
	mac := hmac.New(sha256.New, salt)
	mac.Write([]byte(g.groupValues(a)))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// groupValues are what key digests.
func (g *Grouping) groupValues(a *alert.Alert) string {
	var b strings.Builder
	b.WriteString(g.Method)
	entityKeys := func(kind string) {
		var keys []string
		for _, e := range a.Entities {
			if kind == "" || e.Kind == kind {
				keys = append(keys, e.Key())
			}
		}
		slices.Sort(keys)
		b.WriteString(strings.Join(slices.Compact(keys), "\x1e"))
	}
	switch g.Method {
	case MatchAllEntities:
		b.WriteString("\x1f")
		entityKeys("")
	case MatchSelected:
		for _, t := range slices.Sorted(slices.Values(g.ByEntities)) {
			b.WriteString("\x1fentity:" + t + "=")
			entityKeys(alert.EntityKind(t))
		}
		for _, d := range slices.Sorted(slices.Values(g.ByAlertDetails)) {
			v := a.DisplayName
			if d == "Severity" {
				v = a.Severity
			}
			b.WriteString("\x1fdetail:" + d + "=" + v)
		}
		for _, d := range slices.Sorted(slices.Values(g.ByCustomDetails)) {
			vals := make([]string, len(a.CustomDetails[d]))
			for i, v := range a.CustomDetails[d] {
				j, _ := json.Marshal(v)
				vals[i] = string(j)
			}
			slices.Sort(vals)
			b.WriteString("\x1fcustom:" + d + "=" + strings.Join(slices.Compact(vals), "\x1e"))
		}
	}
	return b.String()
}

// RaiseFromAlert stores the alert a of the rule ruleID (a rule's ID, not its
// resource ID), filling its defaults as alert.Store.Put does, and puts it
// into an incident, in one transaction with the incident's change. With
// grouping enabled, that is the newest incident of the rule's group for a
// (see Grouping) whose last alert is within the lookback; a closed one is
// reopened if g.ReopenClosed, else a new incident is made. Without
// grouping, or with no such incident, a new incident named by the alert's
// SystemAlertID is made, titled and rated as the alert. created says
// whether this call made the incident. Raising an alert again returns the
// incident it went into and counts it once.
func (s *Incidents) RaiseFromAlert(ctx context.Context, a *alert.Alert, ruleID string, g Grouping) (inc *Incident, created bool, err error) {
	if err := validID(ruleID); err != nil {
		return nil, false, err
	}
	if a.RuleID == "" {
		a.RuleID = ruleID
	}
	if a.RuleID != ruleID {
		return nil, false, bad("alert '%s' was raised by rule '%s', not '%s'", fault.Shorten(a.SystemAlertID), fault.Shorten(a.RuleID), ruleID)
	}
	if err := g.validate(); err != nil {
		return nil, false, err
	}
	stored, err := alert.New(s.docs, s.workspace, s.workspaceID).Write(a)
	if err != nil {
		return nil, false, err
	}
	for range maxRetries {
		inc, linkMatch, err := s.raisedInto(ctx, a.SystemAlertID)
		if err != nil || inc != nil {
			return inc, false, err
		}
		inc, created, err = s.place(ctx, a, stored, g, linkMatch)
		if errors.Is(err, errRaisedMeanwhile) {
			continue // it went into an incident meanwhile: that one is the answer
		}
		return inc, created, err
	}
	return nil, false, errContention(a.SystemAlertID)
}

// place puts the alert a, not yet linked to an incident, into one: its
// group's or its own. linkMatch is the precondition of the alert's link
// (see raisedInto), written in the batch that changes the incident, so that
// of two raises of one alert at once — two nodes running one window — one
// links it and the other gets errRaisedMeanwhile: never two incidents.
func (s *Incidents) place(ctx context.Context, a *alert.Alert, stored docstore.Write, g Grouping, linkMatch string) (*Incident, bool, error) {
	if g.Enabled {
		return s.group(ctx, a, stored, g, linkMatch)
	}
	inc, created, err := s.attach(ctx, a.SystemAlertID, a, stored, false, linkMatch)
	if errors.Is(err, errRegroup) { // only an incident a user made under the alert's ID
		err = fault.New(fault.Conflict, "Conflict", "incident '%s' exists and was not raised by alert '%s'; it cannot take it", a.SystemAlertID, a.SystemAlertID)
	}
	return inc, created, err
}

// errRaisedMeanwhile: another raise of the alert linked it to an incident
// since this one read its link.
var errRaisedMeanwhile = errors.New("alert raised meanwhile")

// linkWrite records, with the incident write that takes the alert, which
// incident it went into; linkMatch is what raisedInto found.
func linkWrite(alertID, incidentID, linkMatch string) docstore.Write {
	body, _ := json.Marshal(map[string]string{"incidentId": incidentID})
	return docstore.Write{Collection: collAlertLinks, ID: alertID, Body: body, IfMatch: linkMatch}
}

// raisedInto returns the incident an alert went into, or nil if it has
// not been raised or its incident was deleted since. Then linkMatch is the
// precondition under which a raise may link it: CreateOnly, or the etag of
// the link to the deleted incident.
func (s *Incidents) raisedInto(ctx context.Context, alertID string) (inc *Incident, linkMatch string, err error) {
	doc, err := s.docs.Get(ctx, s.workspace, collAlertLinks, alertID)
	if errors.Is(err, docstore.ErrNotFound) {
		return nil, docstore.CreateOnly, nil
	}
	if err != nil {
		return nil, "", docstore.Refusal(err, "alert link", alertID)
	}
	var link struct {
		IncidentID string `json:"incidentId"`
	}
	if err := json.Unmarshal(doc.Body, &link); err != nil {
		return nil, "", fmt.Errorf("decode link of alert %s: %w", alertID, err)
	}
	inc, err = s.Get(ctx, link.IncidentID)
	if fault.KindOf(err) == fault.NotFound {
		return nil, doc.ETag, nil
	}
	return inc, "", err
}

// raisedMeanwhile tells, after a batch linking alertID under linkMatch
// failed its preconditions, whether the link is what failed: then
// errRaisedMeanwhile, as another raise linked the alert since it was read.
// nil means another write failed, and the caller reads and tries again.
func (s *Incidents) raisedMeanwhile(ctx context.Context, alertID, linkMatch string) error {
	doc, err := s.docs.Get(ctx, s.workspace, collAlertLinks, alertID)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		if linkMatch != docstore.CreateOnly {
			return errRaisedMeanwhile // links are not deleted; read it all again
		}
		return nil
	case err != nil:
		return docstore.Refusal(err, "alert link", alertID)
	case doc.ETag != linkMatch:
		return errRaisedMeanwhile
	}
	return nil
}

// group finds or claims the incident of a's group in the rule's grouping
// state, then attaches a to it. The state's shard is claimed first, under
// its etag: of two alerts raised at once for one group, the second sees the
// first's claim and joins its incident, even before it exists. An incident
// that turns out not to take the alert (closed, full) is passed over for a
// new one, which the group then names.
func (s *Incidents) group(ctx context.Context, a *alert.Alert, stored docstore.Write, g Grouping, linkMatch string) (*Incident, bool, error) {
	salt, err := s.groupingSalt(ctx)
	if err != nil {
		return nil, false, err
	}
	key := g.key(salt, a)
	shard := shardID(a.RuleID, key)
	var refused []string
	for range maxRetries {
		gs, etag, err := s.readGroups(ctx, shard)
		if err != nil {
			return nil, false, err
		}
		target, last := a.SystemAlertID, a.TimeGenerated
		if cur, ok := gs.Groups[key]; ok && a.TimeGenerated.Sub(cur.LastAlert) <= g.Lookback && !slices.Contains(refused, cur.IncidentID) {
			target = cur.IncidentID
			if cur.LastAlert.After(last) {
				last = cur.LastAlert // a run catching up raises an older alert
			}
		}
		gs.Groups[key] = group{IncidentID: target, LastAlert: last}
		s.prune(&gs, a, g.Lookback)
		body, _ := json.Marshal(gs)
		_, err = s.docs.Put(ctx, s.workspace, collGroups, shard, body, etag)
		if errors.Is(err, docstore.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, false, docstore.Refusal(err, "grouping state", shard)
		}
		inc, created, err := s.attach(ctx, target, a, stored, g.ReopenClosed, linkMatch)
		if errors.Is(err, errRegroup) {
			refused = append(refused, target)
			continue
		}
		return inc, created, err
	}
	return nil, false, errContention(a.SystemAlertID)
}

// full says whether rec cannot take a: it has as many alerts as an
// incident may, or a's entities could grow it past its size limit.
func full(rec *record, a *alert.Alert) bool {
	if len(rec.Links.AlertIDs) >= maxAlertsPerIncident {
		return true
	}
	grow, _ := json.Marshal(a.Entities)
	const slack = 1024 // the alert's ID, tactics, techniques, a rule ID
	return rec.size+len(grow)+slack > maxIncidentBytes
}

// errRegroup: the incident chosen for an alert closed or filled up before
// the alert reached it; the alert's group is chosen again.
var errRegroup = errors.New("incident no longer takes the alert")

// attach puts a into the incident id, making the incident from a if there
// is none; stored, the write of the alert itself, and its link (under
// linkMatch) go in the same batch. A closed incident is reopened if reopen,
// else errRegroup; one that holds a already is returned as it is; if the
// alert was linked by another raise meanwhile, errRaisedMeanwhile.
func (s *Incidents) attach(ctx context.Context, id string, a *alert.Alert, stored docstore.Write, reopen bool, linkMatch string) (*Incident, bool, error) {
	actor := "rule:" + a.RuleID
	for range maxRetries {
		rec, etag, err := s.read(ctx, id)
		switch {
		case errors.Is(err, docstore.ErrNotFound):
			inc, err := s.create(ctx, id, a, stored, linkMatch)
			if errors.Is(err, docstore.ErrConflict) {
				// made at once by another raise, a number taken, or the alert linked
				if err := s.raisedMeanwhile(ctx, a.SystemAlertID, linkMatch); err != nil {
					return nil, false, err
				}
				continue
			}
			if err != nil {
				return nil, false, err
			}
			return inc, true, nil
		case err != nil:
			return nil, false, err
		case slices.Contains(rec.Links.AlertIDs, a.SystemAlertID):
			return s.incident(id, etag, rec.Properties), false, nil
		case full(rec, a) || rec.Status == "Closed" && !reopen:
			return nil, false, errRegroup
		}
		var history []HistoryEntry
		if rec.Status == "Closed" {
			rec.Status, rec.Classification, rec.ClassificationReason, rec.ClassificationComment = "Active", "", "", ""
			history = append(history, HistoryEntry{Actor: actor, Action: ActionReopened, Detail: "by alert " + a.SystemAlertID})
		}
		s.link(rec, a)
		history = append(history, HistoryEntry{Actor: actor, Action: ActionAlertAdded, Detail: "alert " + a.SystemAlertID})
		inc, _, err := s.commit(ctx, id, rec, etag, history, stored, linkWrite(a.SystemAlertID, id, linkMatch))
		if errors.Is(err, docstore.ErrConflict) {
			if err := s.raisedMeanwhile(ctx, a.SystemAlertID, linkMatch); err != nil {
				return nil, false, err
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return inc, false, nil
	}
	return nil, false, errContention(id)
}

// create makes the incident id from its first alert, with its number,
// trail, the alert (stored) and its link (under linkMatch) in one batch;
// docstore.ErrConflict if it exists, the number was taken or the alert
// linked meanwhile.
func (s *Incidents) create(ctx context.Context, id string, a *alert.Alert, stored docstore.Write, linkMatch string) (*Incident, error) {
	n, counter, err := s.nextNumber(ctx)
	if err != nil {
		return nil, err
	}
	rec := &record{Properties: Properties{
		Title: a.DisplayName, Description: a.Description, Severity: a.Severity, Status: "New",
		IncidentNumber: n, CreatedTimeUtc: s.now().UTC(),
		FirstActivityTimeUtc: a.StartTime.UTC(), LastActivityTimeUtc: a.EndTime.UTC(),
	}}
	rec.serverSet(nil)
	s.link(rec, a)
	created := HistoryEntry{Actor: "rule:" + a.RuleID, Action: ActionCreated,
		Detail: fmt.Sprintf("from alert %s; severity %s, status New", a.SystemAlertID, a.Severity)}
	inc, _, err := s.commit(ctx, id, rec, docstore.CreateOnly, []HistoryEntry{created}, counter, stored, linkWrite(a.SystemAlertID, id, linkMatch))
	return inc, err
}

// link adds a to rec: its ID, entities, rule, tactics, techniques and
// event window.
func (s *Incidents) link(rec *record, a *alert.Alert) {
	rec.Links.AlertIDs = append(rec.Links.AlertIDs, a.SystemAlertID)
	rec.Links.addEntities(a.Entities)
	union := func(into []string, from ...string) []string {
		for _, v := range from {
			if !slices.Contains(into, v) {
				into = append(into, v)
			}
		}
		return into
	}
	rec.RelatedAnalyticRuleIDs = union(rec.RelatedAnalyticRuleIDs, s.workspaceID+"/providers/Microsoft.SecurityInsights/alertRules/"+a.RuleID)
	d := &rec.AdditionalData
	d.AlertsCount = len(rec.Links.AlertIDs)
	d.AlertProductNames = union(d.AlertProductNames, alert.ProductName)
	d.Tactics = union(d.Tactics, a.Tactics...)
	d.Techniques = union(d.Techniques, a.Techniques...)
	if rec.FirstActivityTimeUtc.IsZero() || a.StartTime.Before(rec.FirstActivityTimeUtc) {
		rec.FirstActivityTimeUtc = a.StartTime.UTC()
	}
	if a.EndTime.After(rec.LastActivityTimeUtc) {
		rec.LastActivityTimeUtc = a.EndTime.UTC()
	}
}

// Alerts returns an incident's alerts, in the order they joined it.
func (s *Incidents) Alerts(ctx context.Context, incidentID string) ([]alert.Alert, error) {
	rec, err := s.record(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	return alert.New(s.docs, s.workspace, s.workspaceID).List(ctx, rec.Links.AlertIDs)
}

// Entities returns an incident's entities, its alerts' each once, as
// entity resources of the workspace.
func (s *Incidents) Entities(ctx context.Context, incidentID string) ([]alert.EntityResource, error) {
	rec, err := s.record(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	var es []alert.Entity
	if len(rec.Links.Entities) > 0 {
		if err := json.Unmarshal(rec.Links.Entities, &es); err != nil {
			return nil, fmt.Errorf("decode entities of incident %s: %w", incidentID, err)
		}
	}
	out := make([]alert.EntityResource, len(es))
	for i, e := range es {
		out[i] = e.Resource(s.workspaceID)
	}
	return out, nil
}

func (s *Incidents) record(ctx context.Context, id string) (*record, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	rec, _, err := s.read(ctx, id)
	if err != nil {
		return nil, docstore.Refusal(err, "incident", id)
	}
	return rec, nil
}
