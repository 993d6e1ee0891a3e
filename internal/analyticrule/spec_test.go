package analyticrule

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestSpecReadsASavedRuleForRunning(t *testing.T) {
	s := newRules(t)
	ctx := context.Background()
	if _, _, err := s.Put(ctx, "r1", KindScheduled, raw(t, scheduled()), ""); err != nil {
		t.Fatal(err)
	}
	rule, err := s.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := rule.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if spec.Frequency != time.Hour || spec.Period != 24*time.Hour || !spec.AlertPerResult || !spec.CreateIncident {
		t.Fatalf("schedule %s/%s, per result %v, incident %v", spec.Frequency, spec.Period, spec.AlertPerResult, spec.CreateIncident)
	}
	if spec.Suppression != 0 {
		t.Fatalf("suppression %s while suppressionEnabled is false", spec.Suppression)
	}
	g := spec.Grouping
	if !g.Enabled || g.Lookback != 5*time.Hour || g.Method != "Selected" || !slices.Equal(g.ByEntities, []string{"Account"}) {
		t.Fatalf("grouping %+v", g)
	}
	if len(spec.EntityMappings) != 2 || spec.EntityMappings[1].Fields[0] != (FieldMapping{Identifier: "Address", Column: "IPAddress"}) {
		t.Fatalf("entity mappings %+v", spec.EntityMappings)
	}
	if spec.Override.DisplayNameFormat != "Brute force on {{UserPrincipalName}}" || !spec.LastModified.Equal(testNow) {
		t.Fatalf("override %+v, last modified %s", spec.Override, spec.LastModified)
	}

	p := nrt()
	delete(p, "incidentConfiguration")
	if _, _, err := s.Put(ctx, "r2", KindNRT, raw(t, p), ""); err != nil {
		t.Fatal(err)
	}
	rule, _ = s.Get(ctx, "r2")
	if spec, err = rule.Spec(); err != nil {
		t.Fatal(err)
	}
	if spec.Frequency != 0 || !spec.CreateIncident || spec.Grouping.Enabled {
		t.Fatalf("an NRT rule without incidentConfiguration: frequency %s, creates incidents %v, grouping %v", spec.Frequency, spec.CreateIncident, spec.Grouping.Enabled)
	}
}

func TestTriggerOperators(t *testing.T) {
	for _, tc := range []struct {
		op        string
		threshold int64
		n         int64
		want      bool
	}{
		{"GreaterThan", 0, 1, true}, {"GreaterThan", 0, 0, false}, {"GreaterThan", 5, 5, false},
		{"LessThan", 1, 0, true}, {"LessThan", 1, 1, false},
		{"Equal", 3, 3, true}, {"Equal", 3, 4, false},
		{"NotEqual", 3, 4, true}, {"NotEqual", 3, 3, false},
	} {
		s := Spec{TriggerOperator: tc.op, TriggerThreshold: tc.threshold}
		if got := s.Triggered(tc.n); got != tc.want {
			t.Errorf("%d rows %s %d: %v, want %v", tc.n, tc.op, tc.threshold, got, tc.want)
		}
	}
}
