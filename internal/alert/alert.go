// Package alert keeps a workspace's security alerts: what an analytics rule
// raised, with the entities and custom details of the rows it found and the
// query window it ran over. An alert is stored sealed in the document store,
// answered in the cloud's SecurityAlert resource shape, and written as a row
// of the workspace's SecurityAlert table.
package alert

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// Fixed values of the alerts Sealwatch raises.
const (
	ProductName          = "Azure Sentinel" // what the cloud's clients filter on
	ProductComponentName = "Scheduled Alerts"
	VendorName           = "Sealwatch"
	ProviderName         = "ASI Scheduled Alerts"
)

var (
	severities = []string{"High", "Medium", "Low", "Informational"}
	statuses   = []string{"New", "InProgress", "Resolved", "Dismissed", "Unknown"}
)

// Limits on an alert, so that it fits a document and a table row.
const (
	maxEntities      = 500
	maxCustomDetails = 20
	maxDetailValues  = 50
	maxTextBytes     = 32 << 10
)

// Alert is one alert raised by an analytics rule.
type Alert struct {
	// SystemAlertID is the alert's ID (a GUID): its resource name, its
	// document ID and the SecurityAlert table's SystemAlertId. Raising an
	// alert again under the same ID changes nothing.
	SystemAlertID string
	// ProviderAlertID is the ID the raising run gave it; SystemAlertID if empty.
	ProviderAlertID string
	DisplayName     string
	Description     string
	Severity        string // High, Medium, Low, Informational
	Status          string // New (default), InProgress, Resolved, Dismissed, Unknown
	Tactics         []string
	Techniques      []string
	SubTechniques   []string
	// StartTime and EndTime bound the events the alert is about (the cloud's
	// startTimeUtc and endTimeUtc).
	StartTime, EndTime time.Time
	// TimeGenerated is when the alert was raised; ProcessingEndTime when the
	// run that raised it ended (TimeGenerated if zero).
	TimeGenerated, ProcessingEndTime time.Time
	// RuleID is the analytics rule's ID (its name, a GUID): the alert's
	// alertType. RuleName is its displayName.
	RuleID, RuleName string
	ConfidenceLevel  string // Unknown if empty
	RemediationSteps []string
	// CompromisedEntity names the entity the alert is chiefly about, if any.
	CompromisedEntity string
	// Query is the rule's query as run, over [QueryStart, QueryEnd);
	// ResultCount the rows it returned.
	Query                string
	QueryStart, QueryEnd time.Time
	ResultCount          int64
	Entities             []Entity
	// CustomDetails are the rule's custom details: each a list of the
	// values of its column in the rows the alert is about.
	CustomDetails map[string][]any
	// WorkspaceID is the resource ID of the alert's workspace; the Store
	// sets it.
	WorkspaceID string
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

// ValidID reports whether id may name an alert (or the incident of one):
// 1-128 letters, digits, dashes and underscores, as document IDs hold no
// customer data.
func ValidID(id string) bool {
	return id != "" && len(id) <= 128 && strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}

// Validate refuses an alert that could not be stored or shown; it fills
// the defaults (status New, confidence Unknown, provider alert ID,
// processing end time).
func (a *Alert) Validate() error {
	if !ValidID(a.SystemAlertID) {
		return bad("an alert's systemAlertId is 1-128 letters, digits, dashes and underscores (a GUID), not '%s'", fault.Shorten(a.SystemAlertID))
	}
	if strings.TrimSpace(a.DisplayName) == "" || len(a.DisplayName) > 256 {
		return bad("an alert's display name is required, at most 256 characters")
	}
	if len(a.Description) > maxTextBytes || len(a.Query) > maxTextBytes {
		return bad("an alert's description and query are at most %d bytes each", maxTextBytes)
	}
	if !slices.Contains(severities, a.Severity) {
		return bad("an alert's severity must be one of %s, not '%s'", strings.Join(severities, ", "), fault.Shorten(a.Severity))
	}
	if a.Status == "" {
		a.Status = "New"
	}
	if !slices.Contains(statuses, a.Status) {
		return bad("an alert's status must be one of %s, not '%s'", strings.Join(statuses, ", "), fault.Shorten(a.Status))
	}
	if a.TimeGenerated.IsZero() || a.StartTime.IsZero() || a.EndTime.IsZero() || a.EndTime.Before(a.StartTime) {
		return bad("an alert needs its time generated and an event window whose end is not before its start")
	}
	if a.QueryEnd.Before(a.QueryStart) {
		return bad("an alert's query window ends before it starts")
	}
	if !ValidID(a.RuleID) {
		return bad("an alert names the analytics rule that raised it by its ID, not '%s'", fault.Shorten(a.RuleID))
	}
	if len(a.Entities) > maxEntities {
		return bad("an alert has %d entities; at most %d", len(a.Entities), maxEntities)
	}
	for i, e := range a.Entities {
		if e.Kind == "" || len(e.Properties) == 0 {
			return bad("an alert's entities[%d] has no kind or no properties; make entities with NewEntity", i)
		}
	}
	if len(a.CustomDetails) > maxCustomDetails {
		return bad("an alert has %d custom details; at most %d", len(a.CustomDetails), maxCustomDetails)
	}
	for name, vs := range a.CustomDetails {
		if len(vs) > maxDetailValues {
			return bad("custom detail %s has %d values; at most %d", fault.Shorten(name), len(vs), maxDetailValues)
		}
	}
	a.ProviderAlertID = cmp.Or(a.ProviderAlertID, a.SystemAlertID)
	a.ConfidenceLevel = cmp.Or(a.ConfidenceLevel, "Unknown")
	if a.ProcessingEndTime.IsZero() {
		a.ProcessingEndTime = a.TimeGenerated
	}
	a.Entities = Merge(nil, a.Entities...)
	return nil
}

// ResourceID is the alert's resource ID: an entity of its workspace.
func (a *Alert) ResourceID() string {
	return a.WorkspaceID + "/providers/Microsoft.SecurityInsights/entities/" + a.SystemAlertID
}

// extendedProperties are the cloud's additionalData of a scheduled alert:
// string values under the names the cloud gives them.
func (a *Alert) extendedProperties() map[string]string {
	ids, _ := json.Marshal([]string{a.RuleID})
	m := map[string]string{
		"Query":                              a.Query,
		"Query Period":                       timespan(a.QueryEnd.Sub(a.QueryStart)),
		"Query Start Time UTC":               formatTime(a.QueryStart),
		"Query End Time UTC":                 formatTime(a.QueryEnd),
		"Analytic Rule Ids":                  string(ids),
		"Analytic Rule Name":                 a.RuleName,
		"Search Query Results Overall Count": jsonText(a.ResultCount),
		"ProcessedBySentinel":                "True",
	}
	if len(a.CustomDetails) > 0 {
		m["Custom Details"] = jsonText(a.CustomDetails)
	}
	return m
}

// formatTime writes t as the cloud writes the times of extended
// properties: "2022-07-03 08:31:02Z", a fraction only if there is one.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.9999999Z")
}

// timespan writes d as KQL and .NET write a timespan: [d.]hh:mm:ss.
func timespan(d time.Duration) string {
	d = d.Truncate(time.Second)
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	hms := fmt.Sprintf("%02d:%02d:%02d", rest/time.Hour, rest%time.Hour/time.Minute, rest%time.Minute/time.Second)
	if days > 0 {
		return fmt.Sprintf("%d.%s", days, hms)
	}
	return hms
}

func jsonText(v any) string {
	j, _ := json.Marshal(v)
	return string(j)
}

// resource is an alert in the cloud's shape: how the API answers it.
type resource struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Kind       string             `json:"kind"`
	Properties resourceProperties `json:"properties"`
}

type resourceProperties struct {
	AdditionalData       map[string]string `json:"additionalData"`
	AlertDisplayName     string            `json:"alertDisplayName"`
	AlertType            string            `json:"alertType"`
	CompromisedEntity    string            `json:"compromisedEntity,omitempty"`
	ConfidenceLevel      string            `json:"confidenceLevel"`
	Description          string            `json:"description"`
	EndTimeUtc           time.Time         `json:"endTimeUtc"`
	FriendlyName         string            `json:"friendlyName"`
	ProcessingEndTime    time.Time         `json:"processingEndTime"`
	ProductComponentName string            `json:"productComponentName"`
	ProductName          string            `json:"productName"`
	ProviderAlertID      string            `json:"providerAlertId"`
	RemediationSteps     []string          `json:"remediationSteps"`
	Severity             string            `json:"severity"`
	StartTimeUtc         time.Time         `json:"startTimeUtc"`
	Status               string            `json:"status"`
	SubTechniques        []string          `json:"subTechniques"`
	SystemAlertID        string            `json:"systemAlertId"`
	Tactics              []string          `json:"tactics"`
	Techniques           []string          `json:"techniques"`
	TimeGenerated        time.Time         `json:"timeGenerated"`
	VendorName           string            `json:"vendorName"`
}

// MarshalJSON answers the alert as the cloud's SecurityAlert entity.
func (a Alert) MarshalJSON() ([]byte, error) {
	return json.Marshal(resource{
		ID: a.ResourceID(), Name: a.SystemAlertID, Type: EntityResourceType, Kind: "SecurityAlert",
		Properties: resourceProperties{
			AdditionalData: a.extendedProperties(), AlertDisplayName: a.DisplayName, AlertType: a.RuleID,
			CompromisedEntity: a.CompromisedEntity, ConfidenceLevel: a.ConfidenceLevel, Description: a.Description,
			EndTimeUtc: a.EndTime.UTC(), FriendlyName: a.DisplayName, ProcessingEndTime: a.ProcessingEndTime.UTC(),
			ProductComponentName: ProductComponentName, ProductName: ProductName, ProviderAlertID: a.ProviderAlertID,
			RemediationSteps: nonNil(a.RemediationSteps), Severity: a.Severity, StartTimeUtc: a.StartTime.UTC(),
			Status: a.Status, SubTechniques: nonNil(a.SubTechniques), SystemAlertID: a.SystemAlertID,
			Tactics: nonNil(a.Tactics), Techniques: nonNil(a.Techniques), TimeGenerated: a.TimeGenerated.UTC(),
			VendorName: VendorName,
		},
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Row is the alert as a row of the workspace's SecurityAlert table, with
// the cloud's columns: datetimes as time.Time, IsIncident as a bool,
// ExtendedProperties, Entities, Techniques, SubTechniques and
// RemediationSteps as JSON text, Tactics comma-separated. The alert must
// have passed Validate and have its WorkspaceID (Store.Put sets both).
func (a *Alert) Row() map[string]any {
	sub, rg := workspaceParts(a.WorkspaceID)
	entities := make([]json.RawMessage, len(a.Entities))
	for i, e := range a.Entities {
		entities[i] = e.tableEntity(i + 1)
	}
	return map[string]any{
		"TimeGenerated":           a.TimeGenerated.UTC(),
		"DisplayName":             a.DisplayName,
		"AlertName":               a.DisplayName,
		"AlertSeverity":           a.Severity,
		"Description":             a.Description,
		"ProviderName":            ProviderName,
		"VendorName":              VendorName,
		"VendorOriginalId":        a.ProviderAlertID,
		"SystemAlertId":           a.SystemAlertID,
		"ResourceId":              "",
		"SourceComputerId":        "",
		"AlertType":               a.RuleID,
		"ConfidenceLevel":         a.ConfidenceLevel,
		"IsIncident":              false,
		"StartTime":               a.StartTime.UTC(),
		"EndTime":                 a.EndTime.UTC(),
		"ProcessingEndTime":       a.ProcessingEndTime.UTC(),
		"RemediationSteps":        jsonText(nonNil(a.RemediationSteps)),
		"ExtendedProperties":      jsonText(a.extendedProperties()),
		"Entities":                jsonText(entities),
		"SourceSystem":            "Detection",
		"WorkspaceSubscriptionId": sub,
		"WorkspaceResourceGroup":  rg,
		"ExtendedLinks":           "",
		"ProductName":             ProductName,
		"ProductComponentName":    ProductComponentName,
		"AlertLink":               "",
		"Status":                  a.Status,
		"CompromisedEntity":       a.CompromisedEntity,
		"Tactics":                 strings.Join(a.Tactics, ", "),
		"Techniques":              jsonText(nonNil(a.Techniques)),
		"SubTechniques":           jsonText(nonNil(a.SubTechniques)),
		"Type":                    "SecurityAlert",
	}
}

// workspaceParts reads the subscription and resource group of a workspace
// resource ID (/subscriptions/{s}/resourceGroups/{rg}/providers/…).
func workspaceParts(id string) (sub, rg string) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i += 2 {
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			sub = parts[i+1]
		case "resourcegroups":
			rg = parts[i+1]
		}
	}
	return sub, rg
}
