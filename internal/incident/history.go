package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// collHistory holds one document per incident (its ID the incident's):
// the incident's trail, apart from the incident so that appending to the
// trail does not change the incident's etag under a user who is editing it.
const collHistory = "incidentHistory"

// maxHistory bounds an incident's trail so that its document stays far
// below docstore.MaxBodyBytes; past it the oldest entries after the first
// (the creation) are dropped, and History says how many.
const maxHistory = 5000

// Actions the incident store records itself; callers may record others.
const (
	ActionCreated    = "Created"
	ActionAlertAdded = "AlertAdded"
	ActionReopened   = "Reopened"
	ActionModified   = "Modified"
)

// HistoryEntry is one step in an incident's trail: who (a user's object
// ID, "rule:<id>", "automation:<id>") did what, when.
type HistoryEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// historyDoc is an incident's trail as stored. Entries stay JSON text
// until the trail is read, so that appending does not decode them.
type historyDoc struct {
	Entries []json.RawMessage `json:"entries"`
	Dropped int               `json:"dropped,omitempty"` // entries dropped past maxHistory
}

func (e *HistoryEntry) validate() error {
	if strings.TrimSpace(e.Actor) == "" || len(e.Actor) > 256 {
		return bad("a history entry's actor is required, at most 256 characters")
	}
	if strings.TrimSpace(e.Action) == "" || len(e.Action) > 64 {
		return bad("a history entry's action is required, at most 64 characters")
	}
	if len(e.Detail) > 4096 {
		return bad("a history entry's detail is at most 4096 characters")
	}
	return nil
}

// AppendHistory adds e to the trail of an existing incident; a zero Time
// is now. Concurrent appends all land, in some order.
func (s *Incidents) AppendHistory(ctx context.Context, incidentID string, e HistoryEntry) error {
	if err := e.validate(); err != nil {
		return err
	}
	if _, err := s.Get(ctx, incidentID); err != nil {
		return err
	}
	return s.appendHistory(ctx, incidentID, e)
}

// appendHistory is AppendHistory for an incident known to exist.
func (s *Incidents) appendHistory(ctx context.Context, incidentID string, entries ...HistoryEntry) error {
	for range maxRetries {
		w, err := s.historyWrite(ctx, incidentID, entries)
		if err != nil {
			return err
		}
		_, err = s.docs.Put(ctx, s.workspace, w.Collection, w.ID, w.Body, w.IfMatch)
		if errors.Is(err, docstore.ErrConflict) {
			continue
		}
		if err != nil {
			return docstore.Refusal(err, "incident history", incidentID)
		}
		return nil
	}
	return fault.New(fault.Conflict, "Conflict", "incident '%s' history changed too often while appending; retry", incidentID)
}

// historyWrite is the write that appends entries (a zero Time is now) to
// the incident's trail as it is now, under the trail's etag.
func (s *Incidents) historyWrite(ctx context.Context, incidentID string, entries []HistoryEntry) (docstore.Write, error) {
	h, etag, err := s.readHistory(ctx, incidentID)
	if err != nil {
		return docstore.Write{}, err
	}
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = s.now().UTC()
		}
		j, _ := json.Marshal(e)
		h.Entries = append(h.Entries, j)
	}
	if over := len(h.Entries) - maxHistory; over > 0 {
		h.Entries = append(h.Entries[:1], h.Entries[1+over:]...)
		h.Dropped += over
	}
	body, _ := json.Marshal(h)
	return docstore.Write{Collection: collHistory, ID: incidentID, Body: body, IfMatch: etag}, nil
}

// readHistory returns an incident's trail and the etag to write it back
// with (CreateOnly when it has none yet).
func (s *Incidents) readHistory(ctx context.Context, incidentID string) (historyDoc, string, error) {
	var h historyDoc
	doc, err := s.docs.Get(ctx, s.workspace, collHistory, incidentID)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
		return h, docstore.CreateOnly, nil
	case err != nil:
		return h, "", docstore.Refusal(err, "incident history", incidentID)
	}
	if err := json.Unmarshal(doc.Body, &h); err != nil {
		return h, "", fmt.Errorf("decode history of incident %s: %w", incidentID, err)
	}
	return h, doc.ETag, nil
}

// History returns an incident's trail, oldest first. If entries were
// dropped past the limit, an entry of action "HistoryTruncated" stands
// where they were.
func (s *Incidents) History(ctx context.Context, incidentID string) ([]HistoryEntry, error) {
	if _, err := s.Get(ctx, incidentID); err != nil {
		return nil, err
	}
	h, _, err := s.readHistory(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, len(h.Entries))
	for i, raw := range h.Entries {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("decode history of incident %s: %w", incidentID, err)
		}
	}
	if h.Dropped > 0 && len(out) > 1 {
		gap := HistoryEntry{Time: out[1].Time, Actor: "sealwatch", Action: "HistoryTruncated",
			Detail: fmt.Sprintf("%d older entries were dropped: an incident keeps its first and its last %d", h.Dropped, maxHistory-1)}
		out = slices.Insert(out, 1, gap)
	}
	return out, nil
}
