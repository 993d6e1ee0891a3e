package automation

import (
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/incident"
)

// The properties a Property condition may name, by what the rule runs on.
// The cloud's entity properties (AccountName, HostName, IPAddress…) are not
// evaluated yet and are refused, rather than never matching in silence.
var (
	incidentPropertyNames = []string{"IncidentTitle", "IncidentDescription", "IncidentSeverity", "IncidentStatus",
		"IncidentOwner", "IncidentLabel", "IncidentTactics", "IncidentRelatedAnalyticRuleIds", "IncidentProviderName",
		"AlertProductNames", "AlertAnalyticRuleIds"}
	alertPropertyNames = []string{"AlertProductNames", "AlertAnalyticRuleIds"}
)

// values are a subject's properties, each a list: a title has one value,
// labels or tactics any number.
type values map[string][]string

// facts are what a rule's conditions are evaluated on: the subject as it
// is now (after the trigger and the actions of earlier rules), and for an
// update the triggering change itself.
type facts struct {
	current values
	// before and after are the incident on either side of the triggering
	// change: a "changed" condition looks only at it, since changes made by
	// automation rules trigger nothing.
	before, after values
	added         map[string]bool // arrayType → items were added by the change
}

// incidentValues are an incident's properties by the condition names.
func incidentValues(p *incident.Properties) values {
	labels := make([]string, 0, len(p.Labels))
	for _, l := range p.Labels {
		labels = append(labels, l.LabelName)
	}
	return values{
		"IncidentTitle":                  nonEmpty(p.Title),
		"IncidentDescription":            nonEmpty(p.Description),
		"IncidentSeverity":               nonEmpty(p.Severity),
		"IncidentStatus":                 nonEmpty(p.Status),
		"IncidentOwner":                  ownerValues(p.Owner),
		"IncidentLabel":                  labels,
		"IncidentTactics":                p.AdditionalData.Tactics,
		"IncidentRelatedAnalyticRuleIds": p.RelatedAnalyticRuleIDs,
		"IncidentProviderName":           nonEmpty(p.ProviderName),
		"AlertProductNames":              p.AdditionalData.AlertProductNames,
		"AlertAnalyticRuleIds":           p.RelatedAnalyticRuleIDs,
	}
}

// ownerValues are the ways an owner may be named: a condition on the owner
// matches any of them.
func ownerValues(o incident.Owner) []string {
	var out []string
	for _, v := range []string{o.ObjectID, o.UserPrincipalName, o.Email, o.AssignedTo} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// incidentFacts are the facts of an incident event, cur being the incident
// as earlier rules left it.
func incidentFacts(ev Event, cur *incident.Incident) facts {
	f := facts{current: incidentValues(&cur.Properties)}
	if ev.When != Updated || ev.Before == nil {
		return f
	}
	before, after := &ev.Before.Properties, &ev.Incident.Properties
	f.before, f.after = incidentValues(before), incidentValues(after)
	f.added = map[string]bool{
		"Labels":   addedItems(f.before["IncidentLabel"], f.after["IncidentLabel"]),
		"Tactics":  addedItems(f.before["IncidentTactics"], f.after["IncidentTactics"]),
		"Alerts":   ev.AlertAdded || after.AdditionalData.AlertsCount > before.AdditionalData.AlertsCount,
		"Comments": ev.CommentAdded,
	}
	return f
}

// addedItems reports whether after holds an item before did not.
func addedItems(before, after []string) bool {
	for _, a := range after {
		if !slices.ContainsFunc(before, func(b string) bool { return strings.EqualFold(a, b) }) {
			return true
		}
	}
	return false
}

// matchAll reports whether every condition holds: a rule's conditions are
// combined with And.
func matchAll(conds []Condition, f *facts) bool {
	for i := range conds {
		if !match(&conds[i], f) {
			return false
		}
	}
	return true
}

func match(c *Condition, f *facts) bool {
	p := &c.ConditionProperties
	switch c.ConditionType {
	case condProperty:
		return compare(p.Operator, f.current[p.PropertyName], p.PropertyValues)
	case condPropertyChanged:
		if f.before == nil || sameValues(f.before[p.PropertyName], f.after[p.PropertyName]) {
			return false
		}
		if p.Operator == "" {
			return true // any change
		}
		side := f.after
		if p.ChangeType == "ChangedFrom" {
			side = f.before
		}
		return compare(p.Operator, side[p.PropertyName], p.PropertyValues)
	case condPropertyArrayChanged:
		return f.added[p.ArrayType]
	case condBoolean:
		if p.Operator == "Or" {
			return slices.ContainsFunc(p.InnerConditions, func(c Condition) bool { return match(&c, f) })
		}
		return matchAll(p.InnerConditions, f)
	}
	return false
}

func sameValues(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}

// compare applies operator to a property's values, case-insensitively. A
// positive operator (Equals, Contains, StartsWith, EndsWith) holds when any
// of the property's values matches any of the condition's; its Not form
// holds when none does, so an empty property (no labels, no owner) matches
// every Not operator and no positive one.
func compare(operator string, have, want []string) bool {
	positive, negated := strings.CutPrefix(operator, "Not")
	var test func(h, w string) bool
	switch positive {
	case "Equals":
		test = strings.EqualFold
	case "Contains":
		test = strings.Contains
	case "StartsWith":
		test = strings.HasPrefix
	case "EndsWith":
		test = strings.HasSuffix
	default:
		return false
	}
	found := slices.ContainsFunc(have, func(h string) bool {
		h = strings.ToLower(h)
		return slices.ContainsFunc(want, func(w string) bool { return test(h, strings.ToLower(w)) })
	})
	return found != negated
}
