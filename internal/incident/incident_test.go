package incident

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

func newIncidents(t *testing.T) *Incidents {
	t.Helper()
	s, _ := newIncidentsFile(t)
	return s
}

// newIncidentsFile is newIncidents, and the path of its database file.
func newIncidentsFile(t *testing.T) (*Incidents, string) {
	t.Helper()
	return newIncidentsWith(t, envelopetest.New("doc-aek"))
}

func newIncidentsWith(t *testing.T, keys envelope.Keys) (*Incidents, string) {
	t.Helper()
	docs, path := docstoretest.Open(t, keys)
	return New(docs, "ws-1", testWorkspaceID, func() time.Time { return testNow }), path
}

const testWorkspaceID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestIncidentsAreNumberedInOrderAndKeepTheirNumber(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c"} {
		inc, created, err := s.Put(ctx, id, Properties{Title: "t", Severity: "High"}, "")
		if err != nil || !created || inc.Properties.IncidentNumber != int64(i+1) || inc.Properties.Status != "New" {
			t.Fatalf("create %s: %v %+v", id, err, inc)
		}
	}
	inc, created, err := s.Put(ctx, "b", Properties{Title: "t2", Severity: "Low", Status: "Active"}, "")
	if err != nil || created || inc.Properties.IncidentNumber != 2 {
		t.Fatalf("update keeps the number: %v %+v", err, inc)
	}
	list, _ := s.List(ctx)
	if len(list) != 3 || list[0].Properties.IncidentNumber != 3 {
		t.Fatalf("list: %+v", list)
	}
}

func TestStaleEtagIsRefusedWith412(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	first, _, _ := s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	second, _, err := s.Put(ctx, "a", Properties{Title: "t", Severity: "Medium"}, first.Etag)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, "a", Properties{Title: "t", Severity: "Low"}, first.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("stale etag: %v", err)
	}
	if _, _, err := s.Put(ctx, "a", Properties{Title: "t", Severity: "Low"}, second.Etag); err != nil {
		t.Fatalf("current etag: %v", err)
	}
	if _, _, err := s.Put(ctx, "new", Properties{Title: "t", Severity: "Low"}, `"abc"`); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("etag on a new incident: %v", err)
	}
}

func TestBadIncidentsAreRefused(t *testing.T) {
	s := newIncidents(t)
	cases := map[string]Properties{
		"no title":                    {Severity: "High"},
		"unknown severity":            {Title: "t", Severity: "Critical"},
		"unknown status":              {Title: "t", Severity: "High", Status: "Open"},
		"closed without class":        {Title: "t", Severity: "High", Status: "Closed"},
		"true positive without cause": {Title: "t", Severity: "High", Status: "Closed", Classification: "TruePositive"},
		"wrong reason":                {Title: "t", Severity: "High", Status: "Closed", Classification: "FalsePositive", ClassificationReason: "SuspiciousActivity"},
		"classified while open":       {Title: "t", Severity: "High", Classification: "Undetermined"},
		"empty label":                 {Title: "t", Severity: "High", Labels: []Label{{}}},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Put(context.Background(), "x", p, ""); fault.KindOf(err) != fault.Invalid {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, _, err := s.Put(context.Background(), "bad/id", Properties{Title: "t", Severity: "High"}, ""); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("bad id: %v", err)
	}
	ok := Properties{Title: "t", Severity: "High", Status: "Closed", Classification: "FalsePositive", ClassificationReason: "InaccurateData"}
	if _, _, err := s.Put(context.Background(), "x", ok, ""); err != nil {
		t.Fatalf("a proper close: %v", err)
	}
}

func TestCommentsBelongToTheirIncident(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	s.Put(ctx, "a", Properties{Title: "t", Severity: "High"}, "")
	s.Put(ctx, "ab", Properties{Title: "t", Severity: "High"}, "")
	if _, err := s.PutComment(ctx, "a", "c1", "looking", "oid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutComment(ctx, "ab", "c1", "other", "oid-1"); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Comments(ctx, "a")
	if err != nil || len(cs) != 1 || cs[0].Properties.Message != "looking" || cs[0].Properties.Author.ObjectID != "oid-1" {
		t.Fatalf("comments: %v %+v", err, cs)
	}
	if _, err := s.PutComment(ctx, "missing", "c1", "x", "oid"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("comment on a missing incident: %v", err)
	}
	if err := s.Delete(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Comments(ctx, "ab"); len(cs) != 1 {
		t.Fatal("deleting one incident removed another's comments")
	}
}

// TestConcurrentFirstIncidentsGetDistinctNumbers creates the first incidents
// of a fresh workspace all at once: each gets its own number, 1 to N.
func TestConcurrentFirstIncidentsGetDistinctNumbers(t *testing.T) {
	s := newIncidents(t)
	const n = 8
	numbers := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			inc, _, err := s.Put(context.Background(), fmt.Sprintf("i%d", i), Properties{Title: "t", Severity: "Low"}, "")
			if err == nil {
				numbers[i] = inc.Properties.IncidentNumber
			}
			errs[i] = err
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, num := range numbers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if num < 1 || num > n || seen[num] {
			t.Fatalf("incident numbers %v: not 1 to %d, each once", numbers, n)
		}
		seen[num] = true
	}
}
