package detection

import (
	"time"
)

// HealthTable is the workspace table every rule run is recorded in, named
// and shaped as the cloud's health table so that its queries carry over.
const HealthTable = "SentinelHealth"

// AlertTable is the workspace table alerts are written to.
const AlertTable = "SecurityAlert"

// Outcomes of a rule run, in a health record's ExtendedProperties.Outcome.
const (
	// OutcomeRan is an ordinary run, on time.
	OutcomeRan = "ran"
	// OutcomeCaughtUp is a window missed while the node was down or the
	// key was unavailable, evaluated afterwards.
	OutcomeCaughtUp = "caughtUp"
	// OutcomeLate is a window evaluated again because rows arrived in it
	// after it had run.
	OutcomeLate = "late"
	// OutcomeSuppressed is a run whose alerts were withheld by the rule's
	// suppression; its results count as seen.
	OutcomeSuppressed = "suppressed"
	// OutcomeSkipped is time in which no run could happen, and why.
	OutcomeSkipped = "skipped"
	// OutcomeFailed is a run that failed; it is tried again.
	OutcomeFailed = "failed"
)

// Statuses of a health record, as the cloud's.
const (
	statusSuccess = "Success"
	statusFailure = "Failure"
	statusWarning = "Warning"
	statusSkipped = "Skipped"
)

// healthRecord is one row of the health table.
type healthRecord struct {
	TimeGenerated        time.Time     `json:"TimeGenerated"`
	OperationName        string        `json:"OperationName"`
	SentinelResourceID   string        `json:"SentinelResourceId"`
	SentinelResourceName string        `json:"SentinelResourceName"`
	SentinelResourceKind string        `json:"SentinelResourceKind"`
	SentinelResourceType string        `json:"SentinelResourceType"`
	Status               string        `json:"Status"`
	Reason               string        `json:"Reason,omitempty"`
	Description          string        `json:"Description"`
	WorkspaceID          string        `json:"WorkspaceId"`
	RecordID             string        `json:"RecordId"`
	ExtendedProperties   healthDetails `json:"ExtendedProperties"`
}

// healthDetails are a run's figures.
type healthDetails struct {
	Outcome           string    `json:"Outcome"`
	RuleDisplayName   string    `json:"RuleDisplayName"`
	QueryStartTimeUtc time.Time `json:"QueryStartTimeUtc,omitzero"`
	QueryEndTimeUtc   time.Time `json:"QueryEndTimeUtc,omitzero"`
	IngestedAfter     time.Time `json:"IngestedAfter,omitzero"`
	IngestedUpTo      time.Time `json:"IngestedUpTo,omitzero"`
	ResultsCount      int       `json:"ResultsCount"`
	NewResultsCount   int       `json:"NewResultsCount"`
	AlertsGenerated   int       `json:"AlertsGenerated"`
	AlertsDeferred    int       `json:"AlertsDeferred,omitempty"`
	IncidentsCreated  int       `json:"IncidentsCreated"`
	IncidentsUpdated  int       `json:"IncidentsUpdated"`
	LateRows          int64     `json:"LateRows,omitempty"`
	DurationMs        int64     `json:"DurationMs"`
	// DelayMs is how long after its window's end an on-time run ran: a
	// scheduler falling behind shows here first.
	DelayMs     int64     `json:"DelayMs,omitempty"`
	Error       string    `json:"Error,omitempty"`
	SkippedFrom time.Time `json:"SkippedFrom,omitzero"`
	SkippedTo   time.Time `json:"SkippedTo,omitzero"`
}
