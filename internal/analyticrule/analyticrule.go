// Package analyticrule keeps a workspace's analytics rules (the security
// workspace API's alertRules of kind Scheduled and NRT) in the sealed
// document store. A rule is validated field by field and its query is
// compiled against the workspace's tables when it is saved, so that a rule
// that could never run is refused then rather than failing at every run.
// Rules are stored as they were sent: a GET returns the JSON of the PUT, plus
// the fields the server sets.
package analyticrule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/jsonbody"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/rulefile"
)

// collRules is the rules' collection in the document store.
const collRules = "alertRules"

// ResourceType is the type of a rule resource.
const ResourceType = "Microsoft.SecurityInsights/alertRules"

// Kinds of rule.
const (
	KindScheduled = "Scheduled"
	KindNRT       = "NRT"
)

// Rule is a Microsoft.SecurityInsights/alertRules resource. Properties is
// the JSON the rule was saved with, lastModifiedUtc added.
type Rule struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Kind       string          `json:"kind"`
	Etag       string          `json:"etag"`
	Properties json.RawMessage `json:"properties"`
}

// stored is a rule's document: its kind and its properties as sent.
type stored struct {
	Kind       string          `json:"kind"`
	Properties json.RawMessage `json:"properties"`
}

// CatalogFunc returns the tables and stored functions a rule's query may name.
type CatalogFunc func(ctx context.Context) (kql.Catalog, error)

// Rules is the rule store of one workspace.
type Rules struct {
	docs      *docstore.Store
	workspace string // customerId: the document store's workspace
	idPrefix  string // resource ID of the workspace's alertRules collection
	catalog   CatalogFunc
	now       func() time.Time
}

// New returns the rules of a workspace whose resource ID is resourceID;
// catalog gives the tables that queries are compiled against when a rule is
// saved.
func New(docs *docstore.Store, customerID, resourceID string, catalog CatalogFunc, now func() time.Time) *Rules {
	if now == nil {
		now = time.Now
	}
	return &Rules{docs: docs, workspace: customerID, idPrefix: resourceID + "/providers/Microsoft.SecurityInsights/alertRules/", catalog: catalog, now: now}
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return bad("rule IDs are 1-128 letters, digits, dashes and underscores (a GUID is usual), not '%s'", fault.Shorten(id))
	}
	return nil
}

// Put creates or updates a rule of kind with the properties props (a JSON
// object). ifMatch is the etag the caller read ("" for unconditional, "*"
// for "must exist"); a mismatch is refused as PreconditionFailed.
func (s *Rules) Put(ctx context.Context, id, kind string, props json.RawMessage, ifMatch string) (*Rule, bool, error) {
	if err := validID(id); err != nil {
		return nil, false, err
	}
	p, err := decode(kind, props)
	if err != nil {
		return nil, false, err
	}
	if err := p.validate(kind); err != nil {
		return nil, false, err
	}
	cols, open, err := s.compile(ctx, *p.Query)
	if err != nil {
		return nil, false, err
	}
	if err := p.checkColumns(cols, open); err != nil {
		return nil, false, err
	}
	_, err = s.docs.Get(ctx, s.workspace, collRules, id)
	created := errors.Is(err, docstore.ErrNotFound)
	switch {
	case created && ifMatch != "" && ifMatch != "*":
		return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "rule '%s' does not exist, so no etag can match", id)
	case err != nil && !created:
		return nil, false, docstore.Refusal(err, "rule", id)
	}
	body, err := withLastModified(props, s.now().UTC())
	if err != nil {
		return nil, false, err
	}
	doc, _ := json.Marshal(stored{Kind: kind, Properties: body})
	etag, err := s.docs.Put(ctx, s.workspace, collRules, id, doc, docstore.IfMatch(ifMatch))
	if err != nil {
		return nil, false, docstore.Refusal(err, "rule", id)
	}
	return s.rule(id, etag, stored{Kind: kind, Properties: body}), created, nil
}

// compile refuses a query that does not parse or bind against the
// workspace's tables, with the KQL error and its position, and returns the
// columns of its result, and whether its data may give it more (open: after
// evaluate bag_unpack or pivot without an output schema).
func (s *Rules) compile(ctx context.Context, query string) ([]kql.Column, bool, error) {
	cat, err := s.catalog(ctx)
	if err != nil {
		return nil, false, err
	}
	q, err := kql.Compile(query, cat)
	if err != nil {
		var se *kql.SyntaxError
		var be *kql.BindError
		if errors.As(err, &se) || errors.As(err, &be) {
			return nil, false, bad("properties.query does not compile: %v; a rule's query must run against the workspace's tables", err)
		}
		return nil, false, fmt.Errorf("compile rule query: %w", err)
	}
	return q.ResultColumns(), q.ResultColumnsOpen(), nil
}

// withLastModified returns props with the server's lastModifiedUtc, any
// value the caller sent for it replaced (a rule read back may be PUT again).
func withLastModified(props json.RawMessage, at time.Time) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(props, &m); err != nil {
		return nil, bad("properties is not a JSON object: %v", err)
	}
	m["lastModifiedUtc"], _ = json.Marshal(at)
	return json.Marshal(m)
}

func (s *Rules) rule(id, etag string, d stored) *Rule {
	return &Rule{ID: s.idPrefix + id, Name: id, Type: ResourceType, Kind: d.Kind, Etag: docstore.QuoteETag(etag), Properties: d.Properties}
}

// Get returns a rule.
func (s *Rules) Get(ctx context.Context, id string) (*Rule, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	var d stored
	etag, err := s.docs.GetJSON(ctx, s.workspace, collRules, "rule", id, &d)
	if err != nil {
		return nil, err
	}
	return s.rule(id, etag, d), nil
}

// List returns every rule, by name.
func (s *Rules) List(ctx context.Context) ([]Rule, error) {
	out := []Rule{}
	err := docstore.ListJSON(ctx, s.docs, s.workspace, collRules, "rule", func(id, etag string, d stored) {
		out = append(out, *s.rule(id, etag, d))
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete deletes a rule; deleting one that does not exist is not an error,
// as in the cloud.
func (s *Rules) Delete(ctx context.Context, id, ifMatch string) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := s.docs.Delete(ctx, s.workspace, collRules, id, docstore.IfMatch(ifMatch)); err != nil && !errors.Is(err, docstore.ErrNotFound) {
		return docstore.Refusal(err, "rule", id)
	}
	return nil
}

// decode reads props into the fields of a rule of kind, refusing an
// unknown kind, an unknown field or a field of the wrong type.
func decode(kind string, props json.RawMessage) (*properties, error) {
	if kind != KindScheduled && kind != KindNRT {
		return nil, bad("kind must be %s or %s, not '%s'", KindScheduled, KindNRT, fault.Shorten(kind))
	}
	if len(bytes.TrimSpace(props)) == 0 || bytes.Equal(bytes.TrimSpace(props), []byte("null")) {
		return nil, bad("the rule has no properties; send {\"kind\":\"%s\",\"properties\":{\"displayName\":…,\"query\":…}}", kind)
	}
	var p properties
	if err := jsonbody.DecodeStrict(props, &p); err != nil {
		return nil, bad("properties: %s", jsonbody.Message(err, "see docs/api.md for the fields a rule has"))
	}
	return &p, nil
}

// properties are the fields of a Scheduled or NRT rule. Pointers are the
// fields whose absence differs from their zero value.
type properties struct {
	DisplayName           *string                `json:"displayName"`
	Description           string                 `json:"description"`
	Severity              string                 `json:"severity"`
	Enabled               *bool                  `json:"enabled"`
	Query                 *string                `json:"query"`
	QueryFrequency        *string                `json:"queryFrequency"`
	QueryPeriod           *string                `json:"queryPeriod"`
	TriggerOperator       *string                `json:"triggerOperator"`
	TriggerThreshold      *int64                 `json:"triggerThreshold"`
	SuppressionEnabled    bool                   `json:"suppressionEnabled"`
	SuppressionDuration   string                 `json:"suppressionDuration"`
	EventGroupingSettings *eventGrouping         `json:"eventGroupingSettings"`
	Tactics               []string               `json:"tactics"`
	Techniques            []string               `json:"techniques"`
	SubTechniques         []string               `json:"subTechniques"`
	CustomDetails         map[string]string      `json:"customDetails"`
	EntityMappings        []entityMapping        `json:"entityMappings"`
	AlertDetailsOverride  *alertDetailsOverride  `json:"alertDetailsOverride"`
	IncidentConfiguration *incidentConfiguration `json:"incidentConfiguration"`
	TemplateName          string                 `json:"templateName"`
	AlertRuleTemplateName string                 `json:"alertRuleTemplateName"`
	TemplateVersion       string                 `json:"templateVersion"`
	LastModifiedUtc       string                 `json:"lastModifiedUtc"` // set by the server; accepted so a rule read back can be PUT again
}

type eventGrouping struct {
	AggregationKind string `json:"aggregationKind"`
}

type entityMapping struct {
	EntityType    string `json:"entityType"`
	FieldMappings []struct {
		Identifier string `json:"identifier"`
		ColumnName string `json:"columnName"`
	} `json:"fieldMappings"`
}

type alertDetailsOverride struct {
	AlertDisplayNameFormat  string `json:"alertDisplayNameFormat"`
	AlertDescriptionFormat  string `json:"alertDescriptionFormat"`
	AlertSeverityColumnName string `json:"alertSeverityColumnName"`
	AlertTacticsColumnName  string `json:"alertTacticsColumnName"`
	AlertDynamicProperties  []struct {
		AlertProperty string `json:"alertProperty"`
		Value         string `json:"value"`
	} `json:"alertDynamicProperties"`
}

type incidentConfiguration struct {
	CreateIncident        *bool `json:"createIncident"`
	GroupingConfiguration *struct {
		Enabled              bool     `json:"enabled"`
		ReopenClosedIncident bool     `json:"reopenClosedIncident"`
		LookbackDuration     string   `json:"lookbackDuration"`
		MatchingMethod       string   `json:"matchingMethod"`
		GroupByEntities      []string `json:"groupByEntities"`
		GroupByAlertDetails  []string `json:"groupByAlertDetails"`
		GroupByCustomDetails []string `json:"groupByCustomDetails"`
	} `json:"groupingConfiguration"`
}

// The cloud's enumerations.
var (
	severities       = []string{"High", "Medium", "Low", "Informational"}
	triggerOperators = []string{"GreaterThan", "LessThan", "Equal", "NotEqual"}
	aggregationKinds = []string{"SingleAlert", "AlertPerResult"}
	matchingMethods  = []string{"AllEntities", "AnyAlert", "Selected"}
	alertDetails     = []string{"DisplayName", "Severity"}
	entityTypes      = []string{"Account", "Host", "IP", "Malware", "File", "Process", "CloudApplication", "DNS",
		"AzureResource", "FileHash", "RegistryKey", "RegistryValue", "SecurityGroup", "URL", "Mailbox",
		"MailCluster", "MailMessage", "SubmissionMail"}
	tactics = []string{"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
		"PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement", "Collection",
		"Exfiltration", "CommandAndControl", "Impact", "PreAttack", "ImpairProcessControl", "InhibitResponseFunction"}
)

// Limits, the cloud's where it has one.
const (
	minWindow        = 5 * time.Minute
	maxWindow        = 14 * 24 * time.Hour
	maxSuppression   = 24 * time.Hour
	maxLookback      = 7 * 24 * time.Hour
	maxQueryLen      = 10000
	maxCustomDetails = 20
	maxEntityMaps    = 10
	maxFieldMaps     = 3
)

var (
	identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,19}$`)
	techniqueRE  = regexp.MustCompile(`^T\d{4}$`)
	subTechRE    = regexp.MustCompile(`^T\d{4}\.\d{3}$`)
)

// validate checks p as a rule of kind.
func (p *properties) validate(kind string) error {
	if p.DisplayName == nil || strings.TrimSpace(*p.DisplayName) == "" || len(*p.DisplayName) > 256 {
		return bad("properties.displayName is required, at most 256 characters")
	}
	if len(p.Description) > 5000 {
		return bad("properties.description is at most 5000 characters")
	}
	if !slices.Contains(severities, p.Severity) {
		return bad("properties.severity must be one of %s, not '%s'", strings.Join(severities, ", "), fault.Shorten(p.Severity))
	}
	if p.Enabled == nil {
		return bad("properties.enabled is required: true or false")
	}
	if p.Query == nil || strings.TrimSpace(*p.Query) == "" || len(*p.Query) > maxQueryLen {
		return bad("properties.query is required, at most %d characters", maxQueryLen)
	}
	checks := []func() error{p.validateSchedule, p.validateSuppression, p.validateGrouping, p.validateAttack,
		p.validateCustomDetails, p.validateEntityMappings, p.validateOverride, p.validateIncidentConfiguration}
	if kind == KindNRT {
		checks[0] = p.refuseSchedule
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// refuseSchedule: an NRT rule runs on every minute's new rows and alerts
// on any result, so a schedule or trigger would be silently ignored.
func (p *properties) refuseSchedule() error {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"queryFrequency", p.QueryFrequency != nil}, {"queryPeriod", p.QueryPeriod != nil},
		{"triggerOperator", p.TriggerOperator != nil}, {"triggerThreshold", p.TriggerThreshold != nil},
	} {
		if f.set {
			return bad("properties.%s is not a field of an NRT rule: it runs every minute on the rows that arrived and alerts on any result; remove it, or make the rule Scheduled", f.name)
		}
	}
	return nil
}

func (p *properties) validateSchedule() error {
	if p.QueryFrequency == nil || p.QueryPeriod == nil {
		return bad("a Scheduled rule needs properties.queryFrequency and properties.queryPeriod (ISO 8601 durations such as PT5M or P1D)")
	}
	freq, err := window("queryFrequency", *p.QueryFrequency, minWindow, maxWindow)
	if err != nil {
		return err
	}
	period, err := window("queryPeriod", *p.QueryPeriod, minWindow, maxWindow)
	if err != nil {
		return err
	}
	if period < freq {
		return bad("properties.queryPeriod (%s) is shorter than properties.queryFrequency (%s): rows between two runs' windows would never be looked at; make the period at least the frequency",
			*p.QueryPeriod, *p.QueryFrequency)
	}
	if p.TriggerOperator == nil || !slices.Contains(triggerOperators, *p.TriggerOperator) {
		return bad("properties.triggerOperator is required: one of %s", strings.Join(triggerOperators, ", "))
	}
	if p.TriggerThreshold == nil || *p.TriggerThreshold < 0 {
		return bad("properties.triggerThreshold is required: a whole number of result rows, 0 or more")
	}
	return nil
}

func (p *properties) validateSuppression() error {
	if p.SuppressionDuration == "" {
		if p.SuppressionEnabled {
			return bad("properties.suppressionEnabled needs properties.suppressionDuration (an ISO 8601 duration such as PT1H)")
		}
		return nil
	}
	_, err := window("suppressionDuration", p.SuppressionDuration, minWindow, maxSuppression)
	return err
}

func (p *properties) validateGrouping() error {
	if g := p.EventGroupingSettings; g != nil && !slices.Contains(aggregationKinds, g.AggregationKind) {
		return bad("properties.eventGroupingSettings.aggregationKind must be one of %s, not '%s'", strings.Join(aggregationKinds, ", "), fault.Shorten(g.AggregationKind))
	}
	return nil
}

func (p *properties) validateAttack() error {
	for i, t := range p.Tactics {
		if !slices.Contains(tactics, t) {
			return bad("properties.tactics[%d] '%s' is not a tactic; tactics are %s", i, fault.Shorten(t), strings.Join(tactics, ", "))
		}
	}
	for i, t := range p.Techniques {
		if !techniqueRE.MatchString(t) {
			return bad("properties.techniques[%d] '%s' is not a technique ID such as T1110", i, fault.Shorten(t))
		}
	}
	for i, t := range p.SubTechniques {
		if !subTechRE.MatchString(t) {
			return bad("properties.subTechniques[%d] '%s' is not a sub-technique ID such as T1110.003", i, fault.Shorten(t))
		}
	}
	return nil
}

func (p *properties) validateCustomDetails() error {
	if len(p.CustomDetails) > maxCustomDetails {
		return bad("properties.customDetails has %d entries; at most %d", len(p.CustomDetails), maxCustomDetails)
	}
	for name, col := range p.CustomDetails {
		if !identifierRE.MatchString(name) {
			return bad("properties.customDetails key '%s' must be 1-20 letters, digits and underscores, not starting with a digit", fault.Shorten(name))
		}
		if strings.TrimSpace(col) == "" {
			return bad("properties.customDetails.%s names no column", name)
		}
	}
	return nil
}

func (p *properties) validateEntityMappings() error {
	if len(p.EntityMappings) > maxEntityMaps {
		return bad("properties.entityMappings has %d entries; at most %d", len(p.EntityMappings), maxEntityMaps)
	}
	for i, m := range p.EntityMappings {
		if !slices.Contains(entityTypes, m.EntityType) {
			return bad("properties.entityMappings[%d].entityType '%s' is not an entity type; entity types are %s", i, fault.Shorten(m.EntityType), strings.Join(entityTypes, ", "))
		}
		if len(m.FieldMappings) == 0 || len(m.FieldMappings) > maxFieldMaps {
			return bad("properties.entityMappings[%d].fieldMappings needs 1-%d entries of {identifier, columnName}", i, maxFieldMaps)
		}
		seen := map[string]bool{}
		for j, f := range m.FieldMappings {
			if f.Identifier == "" || strings.TrimSpace(f.ColumnName) == "" {
				return bad("properties.entityMappings[%d].fieldMappings[%d] needs an identifier and a columnName", i, j)
			}
			ids := alert.Identifiers(m.EntityType)
			if !slices.Contains(ids, f.Identifier) {
				return bad("properties.entityMappings[%d].fieldMappings[%d].identifier '%s' is not an identifier of entity type %s; its identifiers are %s",
					i, j, fault.Shorten(f.Identifier), m.EntityType, strings.Join(ids, ", "))
			}
			if seen[f.Identifier] {
				return bad("properties.entityMappings[%d].fieldMappings maps identifier %s twice", i, f.Identifier)
			}
			seen[f.Identifier] = true
		}
	}
	return nil
}

func (p *properties) validateOverride() error {
	o := p.AlertDetailsOverride
	if o == nil {
		return nil
	}
	if len(o.AlertDisplayNameFormat) > 256 || len(o.AlertDescriptionFormat) > 5000 {
		return bad("properties.alertDetailsOverride: alertDisplayNameFormat is at most 256 characters, alertDescriptionFormat at most 5000")
	}
	for i, d := range o.AlertDynamicProperties {
		if d.AlertProperty == "" || d.Value == "" {
			return bad("properties.alertDetailsOverride.alertDynamicProperties[%d] needs an alertProperty and a value (a column)", i)
		}
	}
	return nil
}

func (p *properties) validateIncidentConfiguration() error {
	c := p.IncidentConfiguration
	if c == nil {
		return nil
	}
	if c.CreateIncident == nil {
		return bad("properties.incidentConfiguration.createIncident is required: true or false")
	}
	g := c.GroupingConfiguration
	if g == nil {
		return nil
	}
	if g.LookbackDuration != "" {
		if _, err := window("incidentConfiguration.groupingConfiguration.lookbackDuration", g.LookbackDuration, minWindow, maxLookback); err != nil {
			return err
		}
	} else if g.Enabled {
		return bad("properties.incidentConfiguration.groupingConfiguration.lookbackDuration is required when grouping is enabled (an ISO 8601 duration, 5 minutes to 7 days)")
	}
	if g.MatchingMethod != "" || g.Enabled {
		if !slices.Contains(matchingMethods, g.MatchingMethod) {
			return bad("properties.incidentConfiguration.groupingConfiguration.matchingMethod must be one of %s, not '%s'", strings.Join(matchingMethods, ", "), fault.Shorten(g.MatchingMethod))
		}
	}
	for i, e := range g.GroupByEntities {
		if !slices.Contains(entityTypes, e) {
			return bad("properties.incidentConfiguration.groupingConfiguration.groupByEntities[%d] '%s' is not an entity type", i, fault.Shorten(e))
		}
	}
	for i, d := range g.GroupByAlertDetails {
		if !slices.Contains(alertDetails, d) {
			return bad("properties.incidentConfiguration.groupingConfiguration.groupByAlertDetails[%d] must be one of %s, not '%s'", i, strings.Join(alertDetails, ", "), fault.Shorten(d))
		}
	}
	for i, d := range g.GroupByCustomDetails {
		if _, ok := p.CustomDetails[d]; !ok {
			return bad("properties.incidentConfiguration.groupingConfiguration.groupByCustomDetails[%d] '%s' is not a key of properties.customDetails", i, fault.Shorten(d))
		}
	}
	if g.MatchingMethod == "Selected" && len(g.GroupByEntities)+len(g.GroupByAlertDetails)+len(g.GroupByCustomDetails) == 0 {
		return bad("matchingMethod Selected needs at least one of groupByEntities, groupByAlertDetails, groupByCustomDetails")
	}
	return nil
}

// checkColumns refuses a mapping to a column the query's result does not
// have: the rule would raise alerts with that entity or detail missing. When
// the result's data name some of its columns (open), any name may be one.
func (p *properties) checkColumns(cols []kql.Column, open bool) error {
	has := func(name string) bool {
		return open || slices.ContainsFunc(cols, func(c kql.Column) bool { return c.Name == name })
	}
	missing := func(field, col string) error {
		var names []string
		for _, c := range cols[:min(len(cols), 20)] {
			names = append(names, c.Name)
		}
		if len(cols) > 20 {
			names = append(names, "…")
		}
		return bad("properties.%s names column '%s', which the query's result does not have; its columns are %s",
			field, fault.Shorten(col), strings.Join(names, ", "))
	}
	for i, m := range p.EntityMappings {
		for j, f := range m.FieldMappings {
			if !has(f.ColumnName) {
				return missing(fmt.Sprintf("entityMappings[%d].fieldMappings[%d].columnName", i, j), f.ColumnName)
			}
		}
	}
	names := slices.Sorted(maps.Keys(p.CustomDetails)) // the first missing one by name, not by map order
	for _, name := range names {
		if col := p.CustomDetails[name]; !has(col) {
			return missing("customDetails."+name, col)
		}
	}
	if o := p.AlertDetailsOverride; o != nil {
		if c := o.AlertSeverityColumnName; c != "" && !has(c) {
			return missing("alertDetailsOverride.alertSeverityColumnName", c)
		}
		if c := o.AlertTacticsColumnName; c != "" && !has(c) {
			return missing("alertDetailsOverride.alertTacticsColumnName", c)
		}
		for i, d := range o.AlertDynamicProperties {
			if !has(d.Value) {
				return missing(fmt.Sprintf("alertDetailsOverride.alertDynamicProperties[%d].value", i), d.Value)
			}
		}
		for _, f := range [...]struct{ field, format string }{
			{"alertDisplayNameFormat", o.AlertDisplayNameFormat}, {"alertDescriptionFormat", o.AlertDescriptionFormat},
		} {
			for _, m := range PlaceholderRE.FindAllStringSubmatch(f.format, -1) {
				if !has(m[1]) {
					return missing("alertDetailsOverride."+f.field+" placeholder {{"+m[1]+"}}", m[1])
				}
			}
		}
	}
	return nil
}

// PlaceholderRE finds the {{column}} placeholders of an alert's display
// name and description formats.
var PlaceholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// window parses the ISO 8601 duration s of field and checks it lies in [lo, hi].
func window(field, s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := parseISODuration(s)
	if err != nil {
		return 0, bad("properties.%s: %v", field, err)
	}
	if d < lo || d > hi {
		return 0, bad("properties.%s is %s; it must be from %s to %s", field, s, isoString(lo), isoString(hi))
	}
	return d, nil
}

func isoString(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("P%dD", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("PT%dH", d/time.Hour)
	}
	return fmt.Sprintf("PT%dM", d/time.Minute)
}

var isoDurationRE = regexp.MustCompile(`^P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,9})S)?)?$`)

// parseISODuration reads weeks, days, hours, minutes and whole seconds;
// years and months have no fixed length and are refused.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("'%s' is not an ISO 8601 duration such as PT5M, PT1H or P1D (years and months are not accepted)", fault.Shorten(s))
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, _ := strconv.ParseInt(m[i+1], 10, 64) // the pattern bounds each part to at most 9 digits
		d += time.Duration(n) * unit
	}
	return d, nil
}

// Results of importing one rule of a file, as `sealwatch rule import`
// reports them.
const (
	ImportCreated = "created"
	ImportUpdated = "updated"
	ImportRefused = "refused"
)

// ImportResult is what Import did with one rule of a file.
type ImportResult struct {
	Rule        string   `json:"rule"`
	DisplayName string   `json:"displayName,omitempty"`
	Kind        string   `json:"kind"`
	Result      string   `json:"result"`
	Error       string   `json:"error,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// Import saves the rules read from a file as `sealwatch rule import` does:
// a new rule is enabled unless the file says otherwise, a rule that exists
// keeps its state unless the file says, and is replaced under the etag read
// just before, so that a change made in between is refused rather than
// overwritten. A rule the workspace refuses (a query that does not compile,
// a bad field, a conflict) is reported and the others go on; a failure that
// would refuse every rule (the key revoked, the store failing) ends the
// import with that error.
func (s *Rules) Import(ctx context.Context, rules []rulefile.Rule) ([]ImportResult, error) {
	out := make([]ImportResult, 0, len(rules))
	for _, r := range rules {
		res := ImportResult{Rule: r.ID, DisplayName: r.DisplayName(), Kind: r.Kind, Notes: r.Notes}
		if err := s.importOne(ctx, r, &res); err != nil {
			switch fault.KindOf(err) {
			case fault.Internal, fault.KeyInaccessible, fault.KeyUnreachable:
				return nil, err
			}
			res.Result, res.Error = ImportRefused, err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

func (s *Rules) importOne(ctx context.Context, r rulefile.Rule, res *ImportResult) error {
	etag, enabled := "", true
	cur, err := s.Get(ctx, r.ID)
	switch {
	case err == nil:
		var p struct{ Enabled bool }
		if err := json.Unmarshal(cur.Properties, &p); err != nil {
			return fmt.Errorf("read rule %s: %w", r.ID, err)
		}
		etag, enabled = cur.Etag, p.Enabled
	case fault.KindOf(err) != fault.NotFound:
		return err
	}
	props := maps.Clone(r.Properties)
	if _, said := props["enabled"]; !said {
		props["enabled"] = enabled
	}
	body, err := json.Marshal(props)
	if err != nil {
		return fmt.Errorf("write rule %s: %w", r.ID, err)
	}
	_, created, err := s.Put(ctx, r.ID, r.Kind, body, etag)
	if err != nil {
		return err
	}
	res.Result = ImportUpdated
	if created {
		res.Result = ImportCreated
	}
	return nil
}
