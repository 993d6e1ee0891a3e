package automation

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// What triggers a rule.
const (
	OnIncidents = "Incidents"
	OnAlerts    = "Alerts"
)

// Trigger is the change a rule runs on.
type Trigger string

const (
	Created Trigger = "Created"
	Updated Trigger = "Updated"
)

// Condition types.
const (
	condProperty             = "Property"
	condPropertyChanged      = "PropertyChanged"
	condPropertyArrayChanged = "PropertyArrayChanged"
	condBoolean              = "Boolean"
)

// Action types. Webhook is Sealwatch's: playbooks are a cloud service.
const (
	actModify  = "ModifyProperties"
	actTask    = "AddIncidentTask"
	actWebhook = "Webhook"
)

// The cloud's enumerations.
var (
	triggersOn       = []string{OnIncidents, OnAlerts}
	triggersWhen     = []string{string(Created), string(Updated)}
	conditionTypes   = []string{condProperty, condPropertyChanged, condPropertyArrayChanged, condBoolean}
	operators        = []string{"Equals", "NotEquals", "Contains", "NotContains", "StartsWith", "NotStartsWith", "EndsWith", "NotEndsWith"}
	changedProps     = []string{"IncidentSeverity", "IncidentStatus", "IncidentOwner"}
	changeTypes      = []string{"ChangedFrom", "ChangedTo"}
	arrayTypes       = []string{"Alerts", "Labels", "Tactics", "Comments"}
	booleanOperators = []string{"And", "Or"}
	actionTypes      = []string{actModify, actTask, actWebhook}
	severities       = []string{"High", "Medium", "Low", "Informational"}
	statuses         = []string{"New", "Active", "Closed"}
	classifications  = []string{"Undetermined", "TruePositive", "BenignPositive", "FalsePositive"}
	reasons          = map[string][]string{
		"TruePositive":   {"SuspiciousActivity"},
		"BenignPositive": {"SuspiciousButExpected"},
		"FalsePositive":  {"IncorrectAlertLogic", "InaccurateData"},
	}
	ownerTypes = []string{"User", "Group", "Unknown"}
	labelTypes = []string{"User", "AutoAssigned"}
)

// Limits, Sealwatch's: they keep a rule's evaluation small.
const (
	minOrder         = 1
	maxOrder         = 1000
	maxDisplayName   = 500
	maxConditions    = 50 // in all, inner conditions included
	maxNesting       = 3  // Boolean conditions within Boolean conditions
	maxValues        = 100
	maxValueLen      = 1024
	maxActions       = 20
	maxLabels        = 20
	maxTaskTitle     = 150
	maxTaskDescr     = 3000
	maxURLLen        = 2048
	minSecretLen     = 16
	maxSecretLen     = 512
	maxClassifyNotes = 1000
)

// validate checks every field of p.
func (p *Properties) validate() error {
	if strings.TrimSpace(p.DisplayName) == "" || len(p.DisplayName) > maxDisplayName {
		return bad("properties.displayName is required, at most %d characters", maxDisplayName)
	}
	if p.Order < minOrder || p.Order > maxOrder {
		return bad("properties.order is required: a whole number from %d to %d (rules run lowest first), not %d", minOrder, maxOrder, p.Order)
	}
	if err := p.TriggeringLogic.validate(); err != nil {
		return err
	}
	return p.validateActions()
}

func (t *TriggeringLogic) validate() error {
	const at = "properties.triggeringLogic"
	if t.IsEnabled == nil {
		return bad("%s.isEnabled is required: true or false", at)
	}
	if t.ExpirationTimeUtc != "" {
		if _, err := time.Parse(time.RFC3339Nano, t.ExpirationTimeUtc); err != nil {
			return bad("%s.expirationTimeUtc '%s' is not an RFC 3339 time such as 2026-12-31T23:59:59Z", at, fault.Shorten(t.ExpirationTimeUtc))
		}
	}
	if !slices.Contains(triggersOn, t.TriggersOn) {
		return bad("%s.triggersOn must be one of %s, not '%s'", at, strings.Join(triggersOn, ", "), fault.Shorten(t.TriggersOn))
	}
	if !slices.Contains(triggersWhen, t.TriggersWhen) {
		return bad("%s.triggersWhen must be one of %s, not '%s'", at, strings.Join(triggersWhen, ", "), fault.Shorten(t.TriggersWhen))
	}
	if t.TriggersOn == OnAlerts && t.TriggersWhen != string(Created) {
		return bad("%s.triggersWhen must be Created when triggersOn is Alerts: an alert is never updated", at)
	}
	v := conditionCheck{logic: t, count: 0}
	for i := range t.Conditions {
		if err := v.check(&t.Conditions[i], fmt.Sprintf("%s.conditions[%d]", at, i), 0); err != nil {
			return err
		}
	}
	return nil
}

// conditionCheck checks a rule's conditions against its trigger and counts
// them, inner ones included.
type conditionCheck struct {
	logic *TriggeringLogic
	count int
}

func (v *conditionCheck) check(c *Condition, at string, depth int) error {
	if v.count++; v.count > maxConditions {
		return bad("properties.triggeringLogic.conditions has more than %d conditions, inner ones included", maxConditions)
	}
	p := &c.ConditionProperties
	if !slices.Contains(conditionTypes, c.ConditionType) {
		return bad("%s.conditionType must be one of %s, not '%s' (PropertyArray conditions are not supported yet)",
			at, strings.Join(conditionTypes, ", "), fault.Shorten(c.ConditionType))
	}
	at += ".conditionProperties"
	if f := p.strayField(c.ConditionType); f != "" {
		return bad("%s.%s is not a field of a %s condition", at, f, c.ConditionType)
	}
	updatedOnly := func() error {
		if v.logic.TriggersWhen != string(Updated) {
			return bad("%s: a %s condition needs triggersWhen Updated: only an update has a before and an after", at, c.ConditionType)
		}
		return nil
	}
	switch c.ConditionType {
	case condProperty:
		names := incidentPropertyNames
		if v.logic.TriggersOn == OnAlerts {
			names = alertPropertyNames
		}
		if !slices.Contains(names, p.PropertyName) {
			return bad("%s.propertyName must be one of %s for a rule on %s, not '%s'", at, strings.Join(names, ", "), v.logic.TriggersOn, fault.Shorten(p.PropertyName))
		}
		return checkComparison(at, p, true)
	case condPropertyChanged:
		if err := updatedOnly(); err != nil {
			return err
		}
		if !slices.Contains(changedProps, p.PropertyName) {
			return bad("%s.propertyName must be one of %s, not '%s'", at, strings.Join(changedProps, ", "), fault.Shorten(p.PropertyName))
		}
		if !slices.Contains(changeTypes, p.ChangeType) {
			return bad("%s.changeType must be one of %s, not '%s'", at, strings.Join(changeTypes, ", "), fault.Shorten(p.ChangeType))
		}
		return checkComparison(at, p, false)
	case condPropertyArrayChanged:
		if err := updatedOnly(); err != nil {
			return err
		}
		if !slices.Contains(arrayTypes, p.ArrayType) {
			return bad("%s.arrayType must be one of %s, not '%s'", at, strings.Join(arrayTypes, ", "), fault.Shorten(p.ArrayType))
		}
		if p.ChangeType != "Added" {
			return bad("%s.changeType must be Added, not '%s'", at, fault.Shorten(p.ChangeType))
		}
		return nil
	}
	// Boolean.
	if !slices.Contains(booleanOperators, p.Operator) {
		return bad("%s.operator must be And or Or, not '%s'", at, fault.Shorten(p.Operator))
	}
	if depth >= maxNesting {
		return bad("%s: Boolean conditions nest at most %d deep", at, maxNesting)
	}
	if len(p.InnerConditions) < 2 {
		return bad("%s.innerConditions needs at least 2 conditions to combine", at)
	}
	for i := range p.InnerConditions {
		if err := v.check(&p.InnerConditions[i], fmt.Sprintf("%s.innerConditions[%d]", at, i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkComparison checks a condition's operator and values. A
// PropertyChanged condition may have neither (any change matches); a
// Property condition needs both.
func checkComparison(at string, p *ConditionProperties, required bool) error {
	if !required && p.Operator == "" && len(p.PropertyValues) == 0 {
		return nil
	}
	if !slices.Contains(operators, p.Operator) {
		return bad("%s.operator must be one of %s, not '%s'", at, strings.Join(operators, ", "), fault.Shorten(p.Operator))
	}
	if len(p.PropertyValues) == 0 || len(p.PropertyValues) > maxValues {
		return bad("%s.propertyValues needs 1-%d values to compare with", at, maxValues)
	}
	for i, v := range p.PropertyValues {
		if v == "" || len(v) > maxValueLen {
			return bad("%s.propertyValues[%d] must be 1-%d characters", at, i, maxValueLen)
		}
	}
	return nil
}

// strayField names a field set that is not one of the condition type's.
func (p *ConditionProperties) strayField(conditionType string) string {
	allowed := map[string][]string{
		condProperty:             {"propertyName", "operator", "propertyValues"},
		condPropertyChanged:      {"propertyName", "changeType", "operator", "propertyValues"},
		condPropertyArrayChanged: {"arrayType", "changeType"},
		condBoolean:              {"operator", "innerConditions"},
	}[conditionType]
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"propertyName", p.PropertyName != ""}, {"operator", p.Operator != ""}, {"propertyValues", p.PropertyValues != nil},
		{"changeType", p.ChangeType != ""}, {"arrayType", p.ArrayType != ""}, {"innerConditions", p.InnerConditions != nil},
	} {
		if f.set && !slices.Contains(allowed, f.name) {
			return f.name
		}
	}
	return ""
}

func (p *Properties) validateActions() error {
	if len(p.Actions) == 0 || len(p.Actions) > maxActions {
		return bad("properties.actions needs 1-%d actions", maxActions)
	}
	orders := map[int]int{}
	for i := range p.Actions {
		a := &p.Actions[i]
		at := fmt.Sprintf("properties.actions[%d]", i)
		if a.Order < 1 || a.Order > maxOrder {
			return bad("%s.order is required: a whole number from 1 to %d (actions run lowest first), not %d", at, maxOrder, a.Order)
		}
		if j, dup := orders[a.Order]; dup {
			return bad("%s.order %d is also the order of actions[%d]; give each action its own order", at, a.Order, j)
		}
		orders[a.Order] = i
		if a.ActionType == "RunPlaybook" {
			return bad("%s.actionType RunPlaybook needs the cloud's playbook service; use a Webhook action (url and secret) to call your own automation", at)
		}
		if !slices.Contains(actionTypes, a.ActionType) {
			return bad("%s.actionType must be one of %s, not '%s'", at, strings.Join(actionTypes, ", "), fault.Shorten(a.ActionType))
		}
		if p.TriggeringLogic.TriggersOn == OnAlerts && a.ActionType != actWebhook {
			return bad("%s.actionType %s changes an incident; a rule on Alerts can only have Webhook actions", at, a.ActionType)
		}
		c := &a.ActionConfiguration
		at += ".actionConfiguration"
		if f := c.strayField(a.ActionType); f != "" {
			return bad("%s.%s is not a field of a %s action", at, f, a.ActionType)
		}
		var err error
		switch a.ActionType {
		case actModify:
			err = c.validateModify(at)
		case actTask:
			err = c.validateTask(at)
		default:
			err = c.validateWebhook(at)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// strayField names a field set that is not one of the action type's.
func (c *ActionConfiguration) strayField(actionType string) string {
	allowed := map[string][]string{
		actModify:  {"severity", "status", "classification", "classificationReason", "classificationComment", "owner", "labels"},
		actTask:    {"title", "description"},
		actWebhook: {"url", "secret"},
	}[actionType]
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"severity", c.Severity != ""}, {"status", c.Status != ""}, {"classification", c.Classification != ""},
		{"classificationReason", c.ClassificationReason != ""}, {"classificationComment", c.ClassificationComment != ""},
		{"owner", c.Owner != nil}, {"labels", c.Labels != nil}, {"title", c.Title != ""}, {"description", c.Description != ""},
		{"url", c.URL != ""}, {"secret", c.Secret != ""},
	} {
		if f.set && !slices.Contains(allowed, f.name) {
			return f.name
		}
	}
	return ""
}

func (c *ActionConfiguration) validateModify(at string) error {
	if c.Severity == "" && c.Status == "" && c.Owner == nil && len(c.Labels) == 0 {
		return bad("%s changes nothing: set severity, status, owner or labels", at)
	}
	if c.Severity != "" && !slices.Contains(severities, c.Severity) {
		return bad("%s.severity must be one of %s, not '%s'", at, strings.Join(severities, ", "), fault.Shorten(c.Severity))
	}
	if c.Status != "" && !slices.Contains(statuses, c.Status) {
		return bad("%s.status must be one of %s, not '%s'", at, strings.Join(statuses, ", "), fault.Shorten(c.Status))
	}
	if c.Status == "Closed" {
		if !slices.Contains(classifications, c.Classification) {
			return bad("%s: closing an incident needs a classification: one of %s", at, strings.Join(classifications, ", "))
		}
		if want := reasons[c.Classification]; want != nil && !slices.Contains(want, c.ClassificationReason) {
			return bad("%s: classification %s needs classificationReason %s", at, c.Classification, strings.Join(want, " or "))
		}
		if want := reasons[c.Classification]; want == nil && c.ClassificationReason != "" {
			return bad("%s: classification %s takes no classificationReason", at, c.Classification)
		}
		if len(c.ClassificationComment) > maxClassifyNotes {
			return bad("%s.classificationComment is at most %d characters", at, maxClassifyNotes)
		}
	} else if c.Classification != "" || c.ClassificationReason != "" || c.ClassificationComment != "" {
		return bad("%s: classification, classificationReason and classificationComment go with status Closed", at)
	}
	if o := c.Owner; o != nil {
		if o.ObjectID == "" && o.Email == "" && o.UserPrincipalName == "" && o.AssignedTo == "" {
			return bad("%s.owner names no one: give objectId, userPrincipalName, email or assignedTo", at)
		}
		if o.OwnerType != "" && !slices.Contains(ownerTypes, o.OwnerType) {
			return bad("%s.owner.ownerType must be one of %s, not '%s'", at, strings.Join(ownerTypes, ", "), fault.Shorten(o.OwnerType))
		}
	}
	if len(c.Labels) > maxLabels {
		return bad("%s.labels has %d labels; at most %d", at, len(c.Labels), maxLabels)
	}
	for i, l := range c.Labels {
		if strings.TrimSpace(l.LabelName) == "" || len(l.LabelName) > 256 {
			return bad("%s.labels[%d].labelName must be 1-256 characters", at, i)
		}
		if l.LabelType != "" && !slices.Contains(labelTypes, l.LabelType) {
			return bad("%s.labels[%d].labelType must be one of %s, not '%s'", at, i, strings.Join(labelTypes, ", "), fault.Shorten(l.LabelType))
		}
	}
	return nil
}

func (c *ActionConfiguration) validateTask(at string) error {
	if strings.TrimSpace(c.Title) == "" || len(c.Title) > maxTaskTitle {
		return bad("%s.title is required, at most %d characters", at, maxTaskTitle)
	}
	if len(c.Description) > maxTaskDescr {
		return bad("%s.description is at most %d characters", at, maxTaskDescr)
	}
	return nil
}

func (c *ActionConfiguration) validateWebhook(at string) error {
	if err := checkWebhookURL(c.URL); err != nil {
		return bad("%s.url %v", at, err)
	}
	if len(c.Secret) < minSecretLen || len(c.Secret) > maxSecretLen {
		return bad("%s.secret is required, %d-%d characters: it keys the signature receivers check; it is write-only, so send it again with every PUT", at, minSecretLen, maxSecretLen)
	}
	return nil
}

// checkWebhookURL accepts an absolute https URL, or http to a loopback
// address (a receiver on the same machine), without credentials or
// fragment. The error never repeats the URL, which may hold a token.
func checkWebhookURL(raw string) error {
	if raw == "" || len(raw) > maxURLLen {
		return fmt.Errorf("is required, at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("must be an absolute URL such as https://hooks.example.com/sealwatch")
	}
	if u.User != nil {
		return fmt.Errorf("must not hold a user name or password; the receiver checks the signature made with the secret instead")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not have a fragment (#...)")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return fmt.Errorf("must use https; http is accepted only to a loopback address (127.0.0.1, ::1, localhost)")
	default:
		return fmt.Errorf("must be an https URL, not %s", fault.Shorten(u.Scheme))
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
