package incident

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

func TestHistoryRecordsCreationAndEachUserChange(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	if _, _, err := s.PutAs(ctx, "oid-alice", "a", Properties{Title: "t", Severity: "High"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutAs(ctx, "oid-bob", "a", Properties{Title: "renamed", Severity: "High"}, ""); err != nil {
		t.Fatal(err)
	}
	closed := Properties{Title: "renamed", Severity: "Low", Status: "Closed", Classification: "FalsePositive",
		ClassificationReason: "InaccurateData", Owner: Owner{ObjectID: "oid-bob"}}
	if _, _, err := s.PutAs(ctx, "oid-bob", "a", closed, ""); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, e.Actor+" "+e.Action+" "+e.Detail)
		if e.Time.IsZero() {
			t.Errorf("entry %+v has no time", e)
		}
	}
	want := []string{
		"oid-alice Created severity High, status New",
		`oid-bob Modified status: "New" → "Closed"`,
		`oid-bob Modified severity: "High" → "Low"`,
		`oid-bob Modified owner: "" → "oid-bob"`,
		`oid-bob Modified classification: "" → "FalsePositive"`,
		`oid-bob Modified classificationReason: "" → "InaccurateData"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s\nwant (a title change is not recorded):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAppendHistoryNeedsAnIncidentAndAnActorAndAction(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	if err := s.AppendHistory(ctx, "missing", HistoryEntry{Actor: "automation:r1", Action: "ModifyProperties"}); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("missing incident: %v", err)
	}
	if _, err := s.History(ctx, "missing"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("history of a missing incident: %v", err)
	}
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	for name, e := range map[string]HistoryEntry{
		"no actor":        {Action: "x"},
		"no action":       {Actor: "x"},
		"blank actor":     {Actor: "  ", Action: "x"},
		"oversize detail": {Actor: "x", Action: "x", Detail: strings.Repeat("d", 4097)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.AppendHistory(ctx, "a", e); fault.KindOf(err) != fault.Invalid {
				t.Fatalf("err = %v", err)
			}
		})
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.AppendHistory(ctx, "a", HistoryEntry{Time: at, Actor: "automation:r1", Action: "AddIncidentTask", Detail: "triage"}); err != nil {
		t.Fatal(err)
	}
	h, _ := s.History(ctx, "a")
	if len(h) != 2 || h[1] != (HistoryEntry{Time: at, Actor: "automation:r1", Action: "AddIncidentTask", Detail: "triage"}) {
		t.Fatalf("history: %+v", h)
	}
}

// TestConcurrentHistoryAppendsAllLand: appends race on one document; each
// retries on a stale etag, so none is lost.
func TestConcurrentHistoryAppendsAllLand(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.AppendHistory(ctx, "a", HistoryEntry{Actor: fmt.Sprint("a", i), Action: "Step"}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h, _ := s.History(ctx, "a")
	seen := map[string]bool{}
	for _, e := range h[1:] {
		seen[e.Actor] = true
	}
	if len(h) != n+1 || len(seen) != n {
		t.Fatalf("%d entries, %d distinct appenders; want %d and %d", len(h), len(seen), n+1, n)
	}
}

func TestHistoryPastTheLimitKeepsTheCreationAndSaysHowManyWereDropped(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	batch := make([]HistoryEntry, maxHistory)
	for i := range batch {
		batch[i] = HistoryEntry{Actor: "x", Action: "Step", Detail: fmt.Sprint(i)}
	}
	if err := s.appendHistory(ctx, "a", batch...); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != maxHistory+1 || h[0].Action != ActionCreated || h[1].Action != "HistoryTruncated" ||
		!strings.HasPrefix(h[1].Detail, "1 older") || h[2].Detail != "1" || h[len(h)-1].Detail != fmt.Sprint(maxHistory-1) {
		t.Fatalf("%d entries: first %+v %+v %+v, last %+v", len(h), h[0], h[1], h[2], h[len(h)-1])
	}
}

func TestDeletingAnIncidentDeletesItsHistory(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	if err := s.Delete(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	if h, _ := s.History(ctx, "a"); len(h) != 1 {
		t.Fatalf("a new incident of a deleted one's ID inherited its trail: %+v", h)
	}
}
