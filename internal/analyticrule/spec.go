package analyticrule

import (
	"encoding/json"
	"fmt"
	"time"
)

// Spec is a saved rule as the scheduler runs it: durations parsed and the
// cloud's defaults applied.
type Spec struct {
	ID          string
	Kind        string
	Etag        string
	DisplayName string
	Description string
	Severity    string
	Enabled     bool
	Query       string
	// Frequency and Period are a Scheduled rule's; zero for NRT.
	Frequency, Period time.Duration
	TriggerOperator   string // GreaterThan, LessThan, Equal, NotEqual; GreaterThan 0 for NRT
	TriggerThreshold  int64
	// Suppression is how long alerts stop after one is raised; zero: none.
	Suppression    time.Duration
	AlertPerResult bool
	Tactics        []string
	Techniques     []string
	SubTechniques  []string
	CustomDetails  map[string]string // detail name → column
	EntityMappings []EntityMapping
	Override       Override
	CreateIncident bool
	Grouping       Grouping
	// LastModified is when the rule was last saved.
	LastModified time.Time
}

// EntityMapping maps result columns to one entity's identifiers.
type EntityMapping struct {
	EntityType string
	Fields     []FieldMapping
}

// FieldMapping maps a column to an entity identifier.
type FieldMapping struct{ Identifier, Column string }

// Override takes an alert's name, description, severity, tactics and other
// properties from its result row.
type Override struct {
	DisplayNameFormat string // with {{column}} placeholders
	DescriptionFormat string
	SeverityColumn    string
	TacticsColumn     string
	Dynamic           []DynamicProperty
}

// DynamicProperty sets an alert property from a column.
type DynamicProperty struct{ Property, Column string }

// Grouping is how a rule's alerts are grouped into incidents.
type Grouping struct {
	Enabled         bool
	ReopenClosed    bool
	Lookback        time.Duration
	Method          string // AllEntities, AnyAlert, Selected
	ByEntities      []string
	ByAlertDetails  []string
	ByCustomDetails []string
}

// Spec reads a saved rule for running it. A rule that was valid when saved
// stays readable; an error means its document does not hold a rule.
func (r *Rule) Spec() (*Spec, error) {
	var p properties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	if p.DisplayName == nil || p.Query == nil || p.Enabled == nil {
		return nil, fmt.Errorf("rule %s has no displayName, query or enabled", r.Name)
	}
	s := &Spec{
		ID: r.Name, Kind: r.Kind, Etag: r.Etag, DisplayName: *p.DisplayName, Description: p.Description,
		Severity: p.Severity, Enabled: *p.Enabled, Query: *p.Query,
		TriggerOperator: "GreaterThan", Tactics: p.Tactics, Techniques: p.Techniques, SubTechniques: p.SubTechniques,
		CustomDetails: p.CustomDetails, CreateIncident: true,
	}
	if p.LastModifiedUtc != "" {
		if t, err := time.Parse(time.RFC3339Nano, p.LastModifiedUtc); err == nil {
			s.LastModified = t
		}
	}
	if r.Kind == KindScheduled {
		var err error
		if s.Frequency, err = parseSaved("queryFrequency", p.QueryFrequency); err != nil {
			return nil, err
		}
		if s.Period, err = parseSaved("queryPeriod", p.QueryPeriod); err != nil {
			return nil, err
		}
		if p.TriggerOperator != nil {
			s.TriggerOperator = *p.TriggerOperator
		}
		if p.TriggerThreshold != nil {
			s.TriggerThreshold = *p.TriggerThreshold
		}
	}
	if p.SuppressionEnabled && p.SuppressionDuration != "" {
		d, err := parseISODuration(p.SuppressionDuration)
		if err != nil {
			return nil, fmt.Errorf("rule %s: suppressionDuration: %w", r.Name, err)
		}
		s.Suppression = d
	}
	s.AlertPerResult = p.EventGroupingSettings != nil && p.EventGroupingSettings.AggregationKind == "AlertPerResult"
	for _, m := range p.EntityMappings {
		em := EntityMapping{EntityType: m.EntityType}
		for _, f := range m.FieldMappings {
			em.Fields = append(em.Fields, FieldMapping{Identifier: f.Identifier, Column: f.ColumnName})
		}
		s.EntityMappings = append(s.EntityMappings, em)
	}
	if o := p.AlertDetailsOverride; o != nil {
		s.Override = Override{DisplayNameFormat: o.AlertDisplayNameFormat, DescriptionFormat: o.AlertDescriptionFormat,
			SeverityColumn: o.AlertSeverityColumnName, TacticsColumn: o.AlertTacticsColumnName}
		for _, d := range o.AlertDynamicProperties {
			s.Override.Dynamic = append(s.Override.Dynamic, DynamicProperty{Property: d.AlertProperty, Column: d.Value})
		}
	}
	if c := p.IncidentConfiguration; c != nil {
		s.CreateIncident = c.CreateIncident == nil || *c.CreateIncident
		if g := c.GroupingConfiguration; g != nil {
			s.Grouping = Grouping{Enabled: g.Enabled, ReopenClosed: g.ReopenClosedIncident, Method: g.MatchingMethod,
				ByEntities: g.GroupByEntities, ByAlertDetails: g.GroupByAlertDetails, ByCustomDetails: g.GroupByCustomDetails}
			if g.LookbackDuration != "" {
				d, err := parseISODuration(g.LookbackDuration)
				if err != nil {
					return nil, fmt.Errorf("rule %s: lookbackDuration: %w", r.Name, err)
				}
				s.Grouping.Lookback = d
			}
		}
	}
	return s, nil
}

func parseSaved(field string, v *string) (time.Duration, error) {
	if v == nil {
		return 0, fmt.Errorf("a Scheduled rule has no %s", field)
	}
	d, err := parseISODuration(*v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

// Triggered reports whether a result of n rows meets the rule's trigger.
func (s *Spec) Triggered(n int64) bool {
	switch s.TriggerOperator {
	case "LessThan":
		return n < s.TriggerThreshold
	case "Equal":
		return n == s.TriggerThreshold
	case "NotEqual":
		return n != s.TriggerThreshold
	}
	return n > s.TriggerThreshold
}
