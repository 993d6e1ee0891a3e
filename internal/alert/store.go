package alert

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// collAlerts is the alerts' collection in the document store; a document's
// ID is the alert's SystemAlertID.
const collAlerts = "alerts"

// stored is an alert as its document holds it. Its field names are the
// storage format: renaming a field of Alert is a format change.
type stored Alert

// Store is the alert store of one workspace.
type Store struct {
	docs        *docstore.Store
	workspace   string // customerId: the document store's workspace
	workspaceID string // the workspace's resource ID
}

// New returns the alerts of the workspace whose customer ID is customerID
// and resource ID resourceID.
func New(docs *docstore.Store, customerID, resourceID string) *Store {
	return &Store{docs: docs, workspace: customerID, workspaceID: resourceID}
}

// Put validates a (filling its defaults and WorkspaceID) and stores it,
// replacing an alert of the same SystemAlertID: raising one alert twice
// leaves one alert.
func (s *Store) Put(ctx context.Context, a *Alert) error {
	w, err := s.Write(a)
	if err != nil {
		return err
	}
	if _, err := s.docs.Put(ctx, s.workspace, w.Collection, w.ID, w.Body, w.IfMatch); err != nil {
		return docstore.Refusal(err, "alert", a.SystemAlertID)
	}
	return nil
}

// Write is Put for a caller that stores the alert in one transaction with
// other documents (docstore.Batch): it validates a and returns the write.
func (s *Store) Write(a *Alert) (docstore.Write, error) {
	a.WorkspaceID = s.workspaceID
	if err := a.Validate(); err != nil {
		return docstore.Write{}, err
	}
	body, err := json.Marshal((*stored)(a))
	if err != nil {
		return docstore.Write{}, fmt.Errorf("encode alert %s: %w", a.SystemAlertID, err)
	}
	return docstore.Write{Collection: collAlerts, ID: a.SystemAlertID, Body: body, IfMatch: docstore.Unconditional}, nil
}

// Get returns an alert.
func (s *Store) Get(ctx context.Context, id string) (*Alert, error) {
	if !ValidID(id) {
		return nil, bad("alert IDs are 1-128 letters, digits, dashes and underscores (a GUID), not '%s'", fault.Shorten(id))
	}
	doc, err := s.docs.Get(ctx, s.workspace, collAlerts, id)
	if err != nil {
		return nil, docstore.Refusal(err, "alert", id)
	}
	var a Alert
	if err := json.Unmarshal(doc.Body, (*stored)(&a)); err != nil {
		return nil, fmt.Errorf("decode alert %s: %w", id, err)
	}
	a.WorkspaceID = s.workspaceID
	return &a, nil
}

// List returns the alerts of ids, in that order. An ID with no alert is
// skipped, not an error: an incident keeps listing the alerts it has if
// one of them is gone. Any other failure (a revoked key, a damaged
// document) fails the list.
func (s *Store) List(ctx context.Context, ids []string) ([]Alert, error) {
	out := make([]Alert, 0, len(ids))
	for _, id := range ids {
		a, err := s.Get(ctx, id)
		if fault.KindOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, nil
}
