package automation

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/incident"
)

// Event is a change to an incident that rules on Incidents run on.
//
// Call OnIncident for changes made by people (the API), by detection
// (raising or grouping into an incident), never for the changes the rules
// make themselves: as in the cloud, a change made by an automation rule
// triggers no rule, so rules cannot trigger each other in a loop.
type Event struct {
	When Trigger
	// Incident is the incident after the change; Before, for Updated, the
	// incident before it (PropertyChanged and PropertyArrayChanged conditions
	// compare the two).
	Incident *incident.Incident
	Before   *incident.Incident
	// CommentAdded says the update added a comment, AlertAdded an alert
	// (PropertyArrayChanged conditions on Comments and Alerts).
	CommentAdded, AlertAdded bool
}

// maxModifyTries bounds how often a ModifyProperties action reads the
// incident again when someone changed it in between.
const maxModifyTries = 4

// maxDetail is the longest history detail the incident store keeps.
const maxDetail = 4096

// errNoWebhooks: a rule on alerts has nowhere to send its webhook.
var errNoWebhooks = errors.New("automation: this node has no webhook sender")

// actor is how an incident's history names an automation rule.
func actor(ruleID string) string { return "automation:" + ruleID }

// OnIncident runs the enabled, unexpired rules on Incidents for ev.When,
// by order then name. Each rule sees the incident as the rules before it
// left it; a rule whose conditions hold runs its actions by their order,
// and each action's outcome goes to the incident's history. An action the
// incident refuses (too many labels) is recorded and the run goes on;
// webhooks are delivered in the background and never fail the run. The
// error is a failure of the store (a revoked key, the incident deleted
// meanwhile); the change that triggered the run stands.
func (r *Rules) OnIncident(ctx context.Context, incs *incident.Incidents, ev Event) error {
	if ev.Incident == nil || (ev.When != Created && ev.When != Updated) {
		return errors.New("automation: an incident event needs When (Created or Updated) and the incident")
	}
	rules, err := r.due(ctx, OnIncidents, ev.When)
	if err != nil || len(rules) == 0 {
		return err
	}
	cur := ev.Incident
	f := incidentFacts(ev, cur)
	for i := range rules {
		rule := &rules[i]
		if !matchAll(rule.Properties.TriggeringLogic.Conditions, &f) {
			continue
		}
		for _, a := range byOrder(rule.Properties.Actions) {
			if cur, err = r.runAction(ctx, incs, rule, &a, cur, ev.When); err != nil {
				return fmt.Errorf("automation rule %s on incident %s: %w", rule.Name, ev.Incident.Name, err)
			}
		}
		f = incidentFacts(ev, cur) // the next rule sees what this one did
	}
	return nil
}

// OnAlert runs the enabled, unexpired rules on Alerts whose conditions hold
// for a new alert, by order then name: their Webhook actions (the only kind
// a rule on alerts has) post the alert in its resource shape. An alert has
// no history: the outcome is logged.
func (r *Rules) OnAlert(ctx context.Context, a *alert.Alert) error {
	rules, err := r.due(ctx, OnAlerts, Created)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.SystemAlertID, err)
	}
	f := facts{current: values{"AlertProductNames": nonEmpty(alert.ProductName), "AlertAnalyticRuleIds": nonEmpty(a.RuleID)}}
	for i := range rules {
		rule := &rules[i]
		if !matchAll(rule.Properties.TriggeringLogic.Conditions, &f) {
			continue
		}
		if r.hooks == nil {
			return fmt.Errorf("automation rule %s on alert %s: %w", rule.Name, a.SystemAlertID, errNoWebhooks)
		}
		for _, act := range byOrder(rule.Properties.Actions) {
			body, err := r.payload(rule, "AlertCreated", nil, raw)
			if err != nil {
				return fmt.Errorf("automation rule %s on alert %s: %w", rule.Name, a.SystemAlertID, err)
			}
			ruleID := rule.Name
			r.hooks.send(delivery{id: body.id, event: "AlertCreated", url: act.ActionConfiguration.URL,
				secret: []byte(act.ActionConfiguration.Secret), body: body.bytes,
				record: func(_ context.Context, outcome string) error {
					r.hooks.log.Info("alert webhook", "rule", ruleID, "alert", a.SystemAlertID, "outcome", outcome)
					return nil
				}})
		}
	}
	return nil
}

// due returns the rules on `on` for `when` that are enabled and not
// expired, in the order they run.
func (r *Rules) due(ctx context.Context, on string, when Trigger) ([]Rule, error) {
	all, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	now := r.now()
	return slices.DeleteFunc(all, func(rule Rule) bool {
		t := &rule.Properties.TriggeringLogic
		return !t.Enabled() || t.expired(now) || t.TriggersOn != on || t.TriggersWhen != string(when)
	}), nil
}

// byOrder is a rule's actions in the order they run.
func byOrder(actions []Action) []Action {
	return slices.SortedFunc(slices.Values(actions), func(a, b Action) int { return cmp.Compare(a.Order, b.Order) })
}

// runAction runs one action on cur and returns the incident as it left it.
func (r *Rules) runAction(ctx context.Context, incs *incident.Incidents, rule *Rule, a *Action, cur *incident.Incident, when Trigger) (*incident.Incident, error) {
	c := &a.ActionConfiguration
	// The history's action is the action's type.
	record := func(ctx context.Context, detail string) error {
		return incs.AppendHistory(ctx, cur.Name, incident.HistoryEntry{Actor: actor(rule.Name), Action: a.ActionType,
			Detail: clip(fmt.Sprintf("rule '%s': %s", rule.Properties.DisplayName, detail), maxDetail)})
	}
	switch a.ActionType {
	case actModify:
		next, detail, err := r.modify(ctx, incs, rule, c, cur)
		if err != nil {
			return nil, err
		}
		return next, record(ctx, detail)
	case actTask:
		by := incident.ClientInfo{Name: "Automation rule: " + rule.Properties.DisplayName}
		t, _, err := incs.PutTask(ctx, cur.Name, newID(), incident.TaskProperties{Title: c.Title, Description: c.Description}, by, "")
		if err != nil {
			return nil, err
		}
		return cur, record(ctx, fmt.Sprintf("task '%s' added (%s)", c.Title, t.Name))
	}
	// Webhook.
	if r.hooks == nil {
		return cur, record(ctx, "not delivered: "+errNoWebhooks.Error())
	}
	event := "Incident" + string(when)
	body, err := r.payload(rule, event, cur, nil)
	if err != nil {
		return nil, err
	}
	r.hooks.send(delivery{id: body.id, event: event, url: c.URL, secret: []byte(c.Secret), body: body.bytes,
		record: func(ctx context.Context, outcome string) error { return record(ctx, outcome) }})
	return cur, nil
}

// modify applies a ModifyProperties action to the incident, reading it
// again if someone changed it in between, and says what changed. A change
// the incident refuses is reported, not returned: the run goes on.
func (r *Rules) modify(ctx context.Context, incs *incident.Incidents, rule *Rule, c *ActionConfiguration, cur *incident.Incident) (*incident.Incident, string, error) {
	for range maxModifyTries {
		p := cur.Properties
		p.Labels = slices.Clone(p.Labels)
		changed := applyModify(&p, c)
		if len(changed) == 0 {
			return cur, "no change: the incident already had these values", nil
		}
		next, _, err := incs.PutAs(ctx, actor(rule.Name), cur.Name, p, cur.Etag)
		var fe *fault.Error
		switch {
		case err == nil:
			return next, strings.Join(changed, "; "), nil
		case fault.KindOf(err) == fault.PreconditionFailed:
			if cur, err = incs.Get(ctx, cur.Name); err != nil {
				return nil, "", err
			}
		case fault.KindOf(err) == fault.Invalid && errors.As(err, &fe):
			return cur, "not applied: " + fe.Message, nil
		default:
			return nil, "", err
		}
	}
	return cur, fmt.Sprintf("not applied: the incident changed under the rule %d times in a row", maxModifyTries), nil
}

// applyModify makes c's changes to p and describes each. Labels are added
// to the incident's, never replace them; a label already there (in any
// case) is not added twice. Leaving Closed drops the classification.
func applyModify(p *incident.Properties, c *ActionConfiguration) []string {
	var changed []string
	set := func(field string, to string, dst *string) {
		if to != *dst {
			changed = append(changed, fmt.Sprintf("%s: %q → %q", field, *dst, to))
			*dst = to
		}
	}
	if c.Severity != "" {
		set("severity", c.Severity, &p.Severity)
	}
	if c.Status != "" {
		set("status", c.Status, &p.Status)
		if c.Status == "Closed" {
			set("classification", c.Classification, &p.Classification)
			set("classificationReason", c.ClassificationReason, &p.ClassificationReason)
			set("classificationComment", c.ClassificationComment, &p.ClassificationComment)
		} else {
			p.Classification, p.ClassificationReason, p.ClassificationComment = "", "", ""
		}
	}
	if o := c.Owner; o != nil {
		owner := incident.Owner{ObjectID: o.ObjectID, Email: o.Email, AssignedTo: o.AssignedTo, UserPrincipalName: o.UserPrincipalName}
		if owner != p.Owner {
			changed = append(changed, "owner: → "+cmp.Or(owner.UserPrincipalName, owner.Email, owner.AssignedTo, owner.ObjectID))
			p.Owner = owner
		}
	}
	var added []string
	for _, l := range c.Labels {
		if !slices.ContainsFunc(p.Labels, func(have incident.Label) bool { return strings.EqualFold(have.LabelName, l.LabelName) }) {
			p.Labels = append(p.Labels, incident.Label{LabelName: l.LabelName, LabelType: l.LabelType})
			added = append(added, l.LabelName)
		}
	}
	if len(added) > 0 {
		changed = append(changed, "labels added: "+strings.Join(added, ", "))
	}
	return changed
}

// payload is a webhook's body and its delivery ID.
type payload struct {
	id    string
	bytes []byte
}

// webhookBody is what a webhook receives: the delivery ID (also in a
// header, and under the signature here), what happened, which rule sent it,
// and the incident as the rule saw it or the alert.
type webhookBody struct {
	DeliveryID     string             `json:"deliveryId"`
	Event          string             `json:"event"`
	Time           time.Time          `json:"time"`
	AutomationRule ruleRef            `json:"automationRule"`
	Incident       *incident.Incident `json:"incident,omitempty"`
	Alert          json.RawMessage    `json:"alert,omitempty"`
}

type ruleRef struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

func (r *Rules) payload(rule *Rule, event string, inc *incident.Incident, alert json.RawMessage) (payload, error) {
	b := webhookBody{DeliveryID: newID(), Event: event, Time: r.now().UTC(),
		AutomationRule: ruleRef{ID: rule.ID, Name: rule.Name, DisplayName: rule.Properties.DisplayName}, Incident: inc, Alert: alert}
	raw, err := json.Marshal(b)
	if err != nil {
		return payload{}, fmt.Errorf("encode webhook body: %w", err)
	}
	return payload{id: b.DeliveryID, bytes: raw}, nil
}

// clip cuts s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
