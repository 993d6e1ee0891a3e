// Package incident keeps a workspace's incidents, their comments and their
// history in the sealed document store, with the security workspace API's
// fields and rules: severities, statuses, classification on closing,
// sequential numbers and etags for optimistic concurrency. Incidents are
// made by users or raised from analytics rules' alerts, grouped per the
// rule's configuration, and link their alerts and entities.
package incident

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// Collections in the document store.
const (
	collIncidents = "incidents"
	collComments  = "incidentComments"
	collCounters  = "counters"
)

// maxRetries bounds the read-modify-write loops over a shared document
// (the incident counter, a trail, an incident being grouped into).
const maxRetries = 64

var (
	severities      = []string{"High", "Medium", "Low", "Informational"}
	statuses        = []string{"New", "Active", "Closed"}
	classifications = []string{"Undetermined", "TruePositive", "BenignPositive", "FalsePositive"}
	reasons         = map[string][]string{
		"TruePositive":   {"SuspiciousActivity"},
		"BenignPositive": {"SuspiciousButExpected"},
		"FalsePositive":  {"IncorrectAlertLogic", "InaccurateData"},
	}
)

// Owner is who works an incident.
type Owner struct {
	ObjectID          string `json:"objectId,omitempty"`
	Email             string `json:"email,omitempty"`
	AssignedTo        string `json:"assignedTo,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
}

// name is how a history entry names the owner: the first of its fields set.
func (o Owner) name() string {
	return cmp.Or(o.ObjectID, o.UserPrincipalName, o.Email, o.AssignedTo)
}

// Label tags an incident.
type Label struct {
	LabelName string `json:"labelName"`
	LabelType string `json:"labelType,omitempty"`
}

// Properties are an incident's fields.
type Properties struct {
	Title                 string    `json:"title"`
	Description           string    `json:"description,omitempty"`
	Severity              string    `json:"severity"`
	Status                string    `json:"status"`
	Classification        string    `json:"classification,omitempty"`
	ClassificationReason  string    `json:"classificationReason,omitempty"`
	ClassificationComment string    `json:"classificationComment,omitempty"`
	Owner                 Owner     `json:"owner"`
	Labels                []Label   `json:"labels"`
	IncidentNumber        int64     `json:"incidentNumber"`
	FirstActivityTimeUtc  time.Time `json:"firstActivityTimeUtc,omitzero"`
	LastActivityTimeUtc   time.Time `json:"lastActivityTimeUtc,omitzero"`
	CreatedTimeUtc        time.Time `json:"createdTimeUtc"`
	LastModifiedTimeUtc   time.Time `json:"lastModifiedTimeUtc"`

	// Set by the node from the incident's alerts; a PUT's values are ignored.
	RelatedAnalyticRuleIDs []string       `json:"relatedAnalyticRuleIds"`
	AdditionalData         AdditionalData `json:"additionalData"`
	ProviderName           string         `json:"providerName"`
}

// AdditionalData are an incident's counts and the union of its alerts'
// products, tactics and techniques.
type AdditionalData struct {
	AlertsCount         int      `json:"alertsCount"`
	BookmarksCount      int      `json:"bookmarksCount"`
	CommentsCount       int      `json:"commentsCount"`
	AlertProductNames   []string `json:"alertProductNames"`
	Tactics             []string `json:"tactics"`
	Techniques          []string `json:"techniques"`
	ProviderIncidentURL string   `json:"providerIncidentUrl,omitempty"`
}

// providerName is every incident's providerName: the cloud's clients
// filter on it.
const providerName = "Azure Sentinel"

// record is an incident's document: its properties and, apart from them
// (the API does not show them on the incident), the links to its alerts
// and their merged entities. A document written before links existed
// decodes with none.
type record struct {
	Properties
	Links links `json:"links"`
	size  int   // of the document read, for the size limit
}

// links are an incident's alerts and entities. The entities stay JSON
// text until they are listed, and each has a digest of its key beside it,
// so that reading an incident and adding an alert to it decode no entity.
type links struct {
	AlertIDs   []string        `json:"alertIds,omitempty"`
	Entities   json.RawMessage `json:"entities,omitempty"`   // a JSON array of alert.Entity
	EntityKeys []string        `json:"entityKeys,omitempty"` // entityDigest of each, in order
}

// addEntities appends the entities not held yet.
func (l *links) addEntities(es []alert.Entity) {
	var add []byte
	for _, e := range es {
		k := entityDigest(e)
		if slices.Contains(l.EntityKeys, k) {
			continue
		}
		j, _ := json.Marshal(e)
		add = append(append(add, ','), j...)
		l.EntityKeys = append(l.EntityKeys, k)
	}
	switch {
	case add == nil:
	case len(l.Entities) == 0:
		l.Entities = append(append(json.RawMessage{'['}, add[1:]...), ']')
	default:
		l.Entities = append(append(l.Entities[:len(l.Entities)-1], add...), ']')
	}
}

// entityDigest stands for an entity's key: 64 bits of its SHA-256, which
// no two entities of one incident share but by a chance of about n²/2⁶⁵.
func entityDigest(e alert.Entity) string {
	sum := sha256.Sum256([]byte(e.Key()))
	return hex.EncodeToString(sum[:8])
}

// serverSet gives p the fields the node keeps, from the stored record
// (nil for a new incident).
func (p *Properties) serverSet(old *record) {
	p.ProviderName = providerName
	if old != nil {
		p.IncidentNumber = old.IncidentNumber
		p.CreatedTimeUtc = old.CreatedTimeUtc
		p.RelatedAnalyticRuleIDs = old.RelatedAnalyticRuleIDs
		p.AdditionalData = old.AdditionalData
	}
	p.present()
}

// present makes the list fields of p lists, never null, as the cloud
// answers them.
func (p *Properties) present() {
	p.ProviderName = providerName
	for _, l := range []*[]string{&p.RelatedAnalyticRuleIDs, &p.AdditionalData.AlertProductNames, &p.AdditionalData.Tactics, &p.AdditionalData.Techniques} {
		if *l == nil {
			*l = []string{}
		}
	}
	if p.Labels == nil {
		p.Labels = []Label{}
	}
}

// Incident is a Microsoft.SecurityInsights/Incidents resource.
type Incident struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Etag       string     `json:"etag"`
	Properties Properties `json:"properties"`
}

// Comment is a comment on an incident.
type Comment struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Etag       string `json:"etag"`
	Properties struct {
		Message        string    `json:"message"`
		CreatedTimeUtc time.Time `json:"createdTimeUtc"`
		Author         struct {
			ObjectID string `json:"objectId"`
		} `json:"author"`
	} `json:"properties"`
}

func bad(format string, args ...any) *fault.Error {
	return fault.New(fault.Invalid, "BadRequest", format, args...)
}

// Incidents is the incident store of one workspace.
type Incidents struct {
	docs        *docstore.Store
	workspace   string // customerId: the document store's workspace
	workspaceID string // the workspace's resource ID
	idPrefix    string // resource ID of the workspace's incidents collection
	now         func() time.Time

	saltMu sync.Mutex
	salt   []byte // the grouping salt, once read
}

// New returns the incidents of a workspace whose resource ID is resourceID.
func New(docs *docstore.Store, customerID, resourceID string, now func() time.Time) *Incidents {
	if now == nil {
		now = time.Now
	}
	return &Incidents{docs: docs, workspace: customerID, workspaceID: resourceID,
		idPrefix: resourceID + "/providers/Microsoft.SecurityInsights/incidents/", now: now}
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return bad("incident and comment IDs are 1-128 letters, digits, dashes and underscores (a GUID is usual), not '%s'", fault.Shorten(id))
	}
	return nil
}

func (p *Properties) validate() error {
	if strings.TrimSpace(p.Title) == "" || len(p.Title) > 256 {
		return bad("title is required, at most 256 characters")
	}
	if len(p.Description) > 32<<10 {
		return bad("description is at most 32 KiB")
	}
	if !slices.Contains(severities, p.Severity) {
		return bad("severity must be one of %s, not '%s'", strings.Join(severities, ", "), fault.Shorten(p.Severity))
	}
	if p.Status == "" {
		p.Status = "New"
	}
	if !slices.Contains(statuses, p.Status) {
		return bad("status must be one of %s, not '%s'", strings.Join(statuses, ", "), fault.Shorten(p.Status))
	}
	if p.Status == "Closed" {
		if !slices.Contains(classifications, p.Classification) {
			return bad("closing an incident needs a classification: one of %s", strings.Join(classifications, ", "))
		}
		if want := reasons[p.Classification]; want != nil && !slices.Contains(want, p.ClassificationReason) {
			return bad("classification %s needs classificationReason %s", p.Classification, strings.Join(want, " or "))
		}
	} else if p.Classification != "" || p.ClassificationReason != "" {
		return bad("classification is set only when closing an incident (status Closed)")
	}
	if len(p.Labels) > 100 {
		return bad("at most 100 labels")
	}
	for i := range p.Labels {
		if p.Labels[i].LabelName == "" {
			return bad("labels[%d].labelName is empty", i)
		}
		if p.Labels[i].LabelType == "" {
			p.Labels[i].LabelType = "User"
		}
	}
	if p.Labels == nil {
		p.Labels = []Label{}
	}
	return nil
}

// Put is PutAs by the actor "sealwatch": a change no user asked for.
func (s *Incidents) Put(ctx context.Context, id string, in Properties, ifMatch string) (*Incident, bool, error) {
	return s.PutAs(ctx, "sealwatch", id, in, ifMatch)
}

// PutAs creates or updates an incident on behalf of actor (a user's object
// ID), recording the creation, or each change of status, severity, owner
// and classification, in the incident's history. The incident keeps its
// alerts, entities and the other fields the node sets. ifMatch is the
// etag the caller read ("" for unconditional, "*" for "must exist"); a
// mismatch is PreconditionFailed.
func (s *Incidents) PutAs(ctx context.Context, actor, id string, in Properties, ifMatch string) (*Incident, bool, error) {
	if err := validID(id); err != nil {
		return nil, false, err
	}
	if err := in.validate(); err != nil {
		return nil, false, err
	}
	ifMatch = docstore.IfMatch(ifMatch)
	for range maxRetries {
		old, etag, err := s.read(ctx, id)
		switch {
		case errors.Is(err, docstore.ErrNotFound):
			if ifMatch == docstore.AnyVersion {
				return nil, false, docstore.Refusal(err, "incident", id)
			}
			if ifMatch != docstore.Unconditional {
				return nil, false, fault.New(fault.PreconditionFailed, "PreconditionFailed", "incident '%s' does not exist, so no etag can match", id)
			}
			etag = docstore.CreateOnly
		case err != nil:
			return nil, false, err
		case ifMatch != docstore.Unconditional && ifMatch != docstore.AnyVersion && ifMatch != etag:
			return nil, false, docstore.Refusal(docstore.ErrConflict, "incident", id)
		}
		rec := record{Properties: in}
		rec.serverSet(old)
		var before *Properties
		var extra []docstore.Write
		if old == nil {
			n, counter, err := s.nextNumber(ctx)
			if err != nil {
				return nil, false, err
			}
			rec.IncidentNumber, rec.CreatedTimeUtc, extra = n, s.now().UTC(), []docstore.Write{counter}
		} else {
			rec.Links, before = old.Links, &old.Properties
		}
		inc, _, err := s.commit(ctx, id, &rec, etag, changes(actor, before, &rec.Properties), extra...)
		if errors.Is(err, docstore.ErrConflict) {
			// Changed since read: the incident (an alert grouped into it;
			// the next read refuses a caller's stale etag), its trail or
			// the counter. Again.
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return inc, old == nil, nil
	}
	return nil, false, errContention(id)
}

func errContention(id string) error {
	return fault.New(fault.Conflict, "Conflict", "incident '%s' changed too often while being written; retry", id)
}

// read returns an incident's record and etag; docstore.ErrNotFound if none.
func (s *Incidents) read(ctx context.Context, id string) (*record, string, error) {
	doc, err := s.docs.Get(ctx, s.workspace, collIncidents, id)
	if errors.Is(err, docstore.ErrNotFound) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", docstore.Refusal(err, "incident", id)
	}
	rec := record{size: len(doc.Body)}
	if err := json.Unmarshal(doc.Body, &rec); err != nil {
		return nil, "", fmt.Errorf("decode incident %s: %w", id, err)
	}
	rec.present()
	return &rec, doc.ETag, nil
}

// commit writes rec if the stored incident's etag is still etag (or, for
// docstore.CreateOnly, there is none), stamping its modification time, in
// one transaction with history appended to its trail and the extra
// writes: all of them land, or none. It returns the incident and the
// extra writes' etags. A stale etag of any of them is
// docstore.ErrConflict, unwrapped, for the caller to read again and retry.
func (s *Incidents) commit(ctx context.Context, id string, rec *record, etag string, history []HistoryEntry, extra ...docstore.Write) (*Incident, []string, error) {
	rec.LastModifiedTimeUtc = s.now().UTC()
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("encode incident %s: %w", id, err)
	}
	writes := append([]docstore.Write{{Collection: collIncidents, ID: id, Body: body, IfMatch: etag}}, extra...)
	if len(history) > 0 {
		w, err := s.historyWrite(ctx, id, history)
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, w)
	}
	etags, err := s.docs.Batch(ctx, s.workspace, writes)
	if errors.Is(err, docstore.ErrConflict) {
		return nil, nil, docstore.ErrConflict
	}
	if err != nil {
		return nil, nil, docstore.Refusal(err, "incident", id)
	}
	return s.incident(id, etags[0], rec.Properties), etags[1 : 1+len(extra)], nil
}

func (s *Incidents) incident(id, etag string, p Properties) *Incident {
	return &Incident{ID: s.idPrefix + id, Name: id, Type: "Microsoft.SecurityInsights/Incidents", Etag: docstore.QuoteETag(etag), Properties: p}
}

// changes are the history entries of actor turning old (nil: none) into p.
func changes(actor string, o, p *Properties) []HistoryEntry {
	if o == nil {
		return []HistoryEntry{{Actor: actor, Action: ActionCreated, Detail: "severity " + p.Severity + ", status " + p.Status}}
	}
	var out []HistoryEntry
	add := func(field, from, to string) {
		if from != to {
			out = append(out, HistoryEntry{Actor: actor, Action: ActionModified, Detail: fmt.Sprintf("%s: %q → %q", field, from, to)})
		}
	}
	add("status", o.Status, p.Status)
	add("severity", o.Severity, p.Severity)
	add("owner", o.Owner.name(), p.Owner.name())
	add("classification", o.Classification, p.Classification)
	add("classificationReason", o.ClassificationReason, p.ClassificationReason)
	return out
}

// nextNumber reads the incident counter and returns the next number and
// the write that takes it, for the batch that makes the incident: under
// the counter's etag, so that two incidents never get one number and a
// failed batch takes none.
func (s *Incidents) nextNumber(ctx context.Context) (int64, docstore.Write, error) {
	var n int64
	etag := docstore.CreateOnly // two first incidents must not both be number 1
	doc, err := s.docs.Get(ctx, s.workspace, collCounters, "incidentNumber")
	switch {
	case errors.Is(err, docstore.ErrNotFound):
	case err != nil:
		return 0, docstore.Write{}, docstore.Refusal(err, "counter", "incidentNumber")
	default:
		if n, err = strconv.ParseInt(string(doc.Body), 10, 64); err != nil {
			return 0, docstore.Write{}, fmt.Errorf("incident counter: %w", err)
		}
		etag = doc.ETag
	}
	return n + 1, docstore.Write{Collection: collCounters, ID: "incidentNumber", Body: []byte(strconv.FormatInt(n+1, 10)), IfMatch: etag}, nil
}

// Get returns an incident.
func (s *Incidents) Get(ctx context.Context, id string) (*Incident, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	rec, etag, err := s.read(ctx, id)
	if err != nil {
		return nil, docstore.Refusal(err, "incident", id)
	}
	return s.incident(id, etag, rec.Properties), nil
}

// List returns every incident, newest number first.
func (s *Incidents) List(ctx context.Context) ([]Incident, error) {
	docs, err := s.docs.List(ctx, s.workspace, collIncidents)
	if err != nil {
		return nil, docstore.Refusal(err, "incidents", "")
	}
	out := make([]Incident, 0, len(docs))
	for _, d := range docs {
		var rec record
		if err := json.Unmarshal(d.Body, &rec); err != nil {
			return nil, fmt.Errorf("decode incident %s: %w", d.ID, err)
		}
		rec.present()
		out = append(out, *s.incident(d.ID, d.ETag, rec.Properties))
	}
	slices.SortFunc(out, func(a, b Incident) int { return cmp.Compare(b.Properties.IncidentNumber, a.Properties.IncidentNumber) })
	return out, nil
}

// Delete deletes an incident, its comments and its history; its rules'
// next alerts start new incidents. Its alerts are kept.
func (s *Incidents) Delete(ctx context.Context, id, ifMatch string) error {
	if err := validID(id); err != nil {
		return err
	}
	rec, _, err := s.read(ctx, id)
	if err != nil && !errors.Is(err, docstore.ErrNotFound) {
		return err
	}
	_, err = s.docs.Batch(ctx, s.workspace, []docstore.Write{
		{Collection: collIncidents, ID: id, IfMatch: docstore.IfMatch(ifMatch)},
		{Collection: collHistory, ID: id},
	})
	if err != nil && !errors.Is(err, docstore.ErrNotFound) {
		return docstore.Refusal(err, "incident", id)
	}
	if rec != nil {
		if err := s.ungroup(ctx, id, rec.RelatedAnalyticRuleIDs); err != nil {
			return err
		}
	}
	comments, err := s.docs.List(ctx, s.workspace, collComments)
	if err != nil {
		return docstore.Refusal(err, "comments", id)
	}
	var errs []error
	for _, c := range comments {
		if strings.HasPrefix(c.ID, id+".") {
			if err := s.docs.Delete(ctx, s.workspace, collComments, c.ID, ""); err != nil && !errors.Is(err, docstore.ErrNotFound) {
				errs = append(errs, docstore.Refusal(err, "comment", c.ID))
			}
		}
	}
	return errors.Join(errs...)
}

// PutComment adds a comment by author to an incident, or replaces the
// comment of that ID; a new one counts in the incident's commentsCount,
// written with it.
func (s *Incidents) PutComment(ctx context.Context, incidentID, commentID, message, author string) (*Comment, error) {
	if err := validID(commentID); err != nil {
		return nil, err
	}
	if err := validID(incidentID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(message) == "" || len(message) > 30000 {
		return nil, bad("a comment's message is 1-30000 characters")
	}
	c := &Comment{ID: s.idPrefix + incidentID + "/comments/" + commentID, Name: commentID, Type: "Microsoft.SecurityInsights/Incidents/Comments"}
	c.Properties.Message, c.Properties.CreatedTimeUtc, c.Properties.Author.ObjectID = message, s.now().UTC(), author
	body, _ := json.Marshal(c.Properties)
	docID := incidentID + "." + commentID
	for range maxRetries {
		rec, etag, err := s.read(ctx, incidentID)
		if err != nil {
			return nil, docstore.Refusal(err, "incident", incidentID)
		}
		_, err = s.docs.Get(ctx, s.workspace, collComments, docID)
		if err == nil { // an edit: the count stays
			tag, err := s.docs.Put(ctx, s.workspace, collComments, docID, body, docstore.Unconditional)
			if err != nil {
				return nil, docstore.Refusal(err, "comment", commentID)
			}
			c.Etag = docstore.QuoteETag(tag)
			return c, nil
		}
		if !errors.Is(err, docstore.ErrNotFound) {
			return nil, docstore.Refusal(err, "comment", commentID)
		}
		rec.AdditionalData.CommentsCount++
		_, tags, err := s.commit(ctx, incidentID, rec, etag, nil, docstore.Write{Collection: collComments, ID: docID, Body: body, IfMatch: docstore.CreateOnly})
		if errors.Is(err, docstore.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.Etag = docstore.QuoteETag(tags[0])
		return c, nil
	}
	return nil, errContention(incidentID)
}

// Comments lists an incident's comments, oldest first.
func (s *Incidents) Comments(ctx context.Context, incidentID string) ([]Comment, error) {
	if _, err := s.Get(ctx, incidentID); err != nil {
		return nil, err
	}
	docs, err := s.docs.List(ctx, s.workspace, collComments)
	if err != nil {
		return nil, docstore.Refusal(err, "comments", incidentID)
	}
	out := []Comment{}
	for _, d := range docs {
		cid, ok := strings.CutPrefix(d.ID, incidentID+".")
		if !ok {
			continue
		}
		c := Comment{ID: s.idPrefix + incidentID + "/comments/" + cid, Name: cid, Type: "Microsoft.SecurityInsights/Incidents/Comments", Etag: docstore.QuoteETag(d.ETag)}
		if err := json.Unmarshal(d.Body, &c.Properties); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Comment) int { return a.Properties.CreatedTimeUtc.Compare(b.Properties.CreatedTimeUtc) })
	return out, nil
}
