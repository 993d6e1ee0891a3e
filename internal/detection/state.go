package detection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/kql"
)

// Collections of the scheduler's state in the document store, sealed like
// the rules themselves.
const (
	collRuleState = "ruleRuns"
	collAlertKeys = "alertKeys"
)

// ruleState is what the scheduler remembers of one rule between runs.
type ruleState struct {
	// LastEnd is the end of the last window a Scheduled rule evaluated.
	LastEnd time.Time `json:"lastEnd,omitzero"`
	// Watermark is the ingestion time up to which the last run saw rows:
	// rows ingested after it, in windows already run, are late.
	Watermark time.Time `json:"watermark,omitzero"`
	// SuppressedUntil is when the rule's suppression after its last alert
	// ends.
	SuppressedUntil time.Time `json:"suppressedUntil,omitzero"`
	// Failures counts the runs that failed in a row; RetryAt is when the
	// next is tried.
	Failures int       `json:"failures,omitempty"`
	RetryAt  time.Time `json:"retryAt,omitzero"`
	// KeyDays are the days (of window ends) that have alert keys.
	KeyDays []string `json:"keyDays,omitempty"`
	// Disabled is set while the rule is disabled: when it is enabled again
	// it starts from then, as a new rule does.
	Disabled bool `json:"disabled,omitempty"`
}

// loadState reads a rule's state and the etag to replace it under; a rule
// never run has the zero state, to be created.
func loadState(ctx context.Context, docs *docstore.Store, ws, ruleID string) (ruleState, string, error) {
	doc, err := docs.Get(ctx, ws, collRuleState, ruleID)
	if errors.Is(err, docstore.ErrNotFound) {
		return ruleState{}, docstore.CreateOnly, nil
	}
	if err != nil {
		return ruleState{}, "", err
	}
	var st ruleState
	if err := json.Unmarshal(doc.Body, &st); err != nil {
		return ruleState{}, "", fmt.Errorf("decode the run state of rule %s: %w", ruleID, err)
	}
	return st, doc.ETag, nil
}

// stateWrite replaces a rule's state read under etag: the state is
// written by the holder of the workspace's lease only, in the batch that
// renews the lease, so a former holder's write fails.
func stateWrite(ruleID string, st ruleState, etag string) docstore.Write {
	body, _ := json.Marshal(st)
	return docstore.Write{Collection: collRuleState, ID: ruleID, Body: body, IfMatch: etag}
}

// alertKey is the fingerprint of one result row that raised (or, under
// suppression, would have raised) an alert, and the window it came from.
type alertKey struct {
	Fingerprint string `json:"f"`
	Start       int64  `json:"s"` // Unix seconds
	End         int64  `json:"e"`
}

// fingerprint identifies a result row by its columns and values: the same
// rows seen again by an overlapping window give the same fingerprint.
func fingerprint(cols []kql.Column, row []any) string {
	b, _ := json.Marshal(kql.Table{Columns: cols, Rows: [][]any{row}})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// keyBook is a rule's alert keys for the windows that can overlap one
// window, loaded from the days they are kept under.
type keyBook struct {
	docs       *docstore.Store
	ws, ruleID string
	days       map[string]*keyDay
}

type keyDay struct {
	keys    []alertKey
	byFP    map[string][]alertKey
	etag    string
	changed bool
}

func newKeyBook(docs *docstore.Store, ws, ruleID string) *keyBook {
	return &keyBook{docs: docs, ws: ws, ruleID: ruleID, days: map[string]*keyDay{}}
}

func dayOf(t time.Time) string { return t.UTC().Format("20060102") }

func (b *keyBook) day(ctx context.Context, d string) (*keyDay, error) {
	if kd := b.days[d]; kd != nil {
		return kd, nil
	}
	kd := &keyDay{etag: docstore.CreateOnly}
	doc, err := b.docs.Get(ctx, b.ws, collAlertKeys, b.ruleID+"."+d)
	switch {
	case errors.Is(err, docstore.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(doc.Body, &kd.keys); err != nil {
			return nil, fmt.Errorf("decode the alert keys of rule %s: %w", b.ruleID, err)
		}
		kd.etag = doc.ETag
	}
	kd.byFP = make(map[string][]alertKey, len(kd.keys))
	for _, k := range kd.keys {
		kd.byFP[k.Fingerprint] = append(kd.byFP[k.Fingerprint], k)
	}
	b.days[d] = kd
	return kd, nil
}

// seen reports whether fingerprint fp was alerted on from a window that
// overlaps [start, end). A window that overlaps it ends after start and
// before end+maxSpan, maxSpan being the longest window the rule has.
func (b *keyBook) seen(ctx context.Context, fp string, start, end time.Time, maxSpan time.Duration) (bool, error) {
	for d := start.UTC().Truncate(24 * time.Hour); d.Before(end.Add(maxSpan)); d = d.Add(24 * time.Hour) {
		kd, err := b.day(ctx, dayOf(d))
		if err != nil {
			return false, err
		}
		for _, k := range kd.byFP[fp] {
			if k.End > start.Unix() && k.Start < end.Unix() {
				return true, nil
			}
		}
	}
	return false, nil
}

// add records that fp was alerted on from [start, end).
func (b *keyBook) add(ctx context.Context, fp string, start, end time.Time) error {
	kd, err := b.day(ctx, dayOf(end))
	if err != nil {
		return err
	}
	k := alertKey{Fingerprint: fp, Start: start.Unix(), End: end.Unix()}
	kd.keys = append(kd.keys, k)
	kd.byFP[fp] = append(kd.byFP[fp], k)
	kd.changed = true
	return nil
}

// writes are the writes of the days whose keys changed, in the order of
// changed.
func (b *keyBook) writes() (writes []docstore.Write, changed []string) {
	for d, kd := range b.days {
		if !kd.changed {
			continue
		}
		body, _ := json.Marshal(kd.keys)
		writes = append(writes, docstore.Write{Collection: collAlertKeys, ID: b.ruleID + "." + d, Body: body, IfMatch: kd.etag})
		changed = append(changed, d)
	}
	return writes, changed
}

// saved notes that the days changed were written with etags, and returns
// days, the days that had keys, with them.
func (b *keyBook) saved(changed, etags, days []string) []string {
	for i, d := range changed {
		kd := b.days[d]
		kd.etag, kd.changed = etags[i], false
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	return days
}

// expiredKeys splits days into those to keep and the deletions of those
// older than before: their rows are past retention and can no longer be
// seen again.
func expiredKeys(ruleID string, days []string, before time.Time) (keep []string, deletes []docstore.Write) {
	cut := dayOf(before)
	for _, d := range days {
		if d >= cut {
			keep = append(keep, d)
			continue
		}
		deletes = append(deletes, docstore.Write{Collection: collAlertKeys, ID: ruleID + "." + d, IfMatch: docstore.Unconditional})
	}
	return keep, deletes
}

// forgetRule deletes the scheduler's state of a deleted rule.
func forgetRule(ctx context.Context, docs *docstore.Store, ws, ruleID string, st ruleState) error {
	var errs []error
	for _, d := range st.KeyDays {
		if err := docs.Delete(ctx, ws, collAlertKeys, ruleID+"."+d, ""); err != nil && !errors.Is(err, docstore.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := docs.Delete(ctx, ws, collRuleState, ruleID, ""); err != nil && !errors.Is(err, docstore.ErrNotFound) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
