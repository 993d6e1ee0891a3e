package incident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

// raiser makes alerts of one rule, each with a fresh ID, a minute apart.
type raiser struct {
	t    *testing.T
	s    *Incidents
	rule string
	n    int
}

func (r *raiser) alert(entities ...alert.Entity) *alert.Alert {
	r.n++
	at := testNow.Add(time.Duration(r.n) * time.Minute)
	return &alert.Alert{
		SystemAlertID: fmt.Sprintf("%s-alert-%03d", r.rule, r.n), DisplayName: "Brute force", Description: "failures then success",
		Severity: "High", Tactics: []string{"CredentialAccess"}, Techniques: []string{"T1110"},
		StartTime: at.Add(-5 * time.Minute), EndTime: at.Add(-time.Minute), TimeGenerated: at,
		RuleID: r.rule, RuleName: "Brute force", Query: "SigninLogs", QueryStart: at.Add(-time.Hour), QueryEnd: at,
		Entities: entities, CustomDetails: map[string][]any{},
	}
}

func (r *raiser) raise(a *alert.Alert, g Grouping) (*Incident, bool) {
	r.t.Helper()
	inc, created, err := r.s.RaiseFromAlert(context.Background(), a, r.rule, g)
	if err != nil {
		r.t.Fatalf("raise %s: %v", a.SystemAlertID, err)
	}
	return inc, created
}

func account(t *testing.T, name string) alert.Entity {
	t.Helper()
	e, err := alert.NewEntity("Account", map[string]string{"Name": name})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ip(t *testing.T, addr string) alert.Entity {
	t.Helper()
	e, err := alert.NewEntity("IP", map[string]string{"Address": addr})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func grouping(method string) Grouping {
	return Grouping{Enabled: true, Lookback: time.Hour, Method: method}
}

func TestWithoutGroupingEachAlertMakesAnIncidentShapedLikeIt(t *testing.T) {
	s := newIncidents(t)
	r := &raiser{t: t, s: s, rule: "rule-1"}
	a1 := r.alert(account(t, "alice"), ip(t, "10.0.0.7"))
	inc, created := r.raise(a1, Grouping{})
	p := inc.Properties
	if !created || inc.Name != a1.SystemAlertID || p.Title != "Brute force" || p.Severity != "High" || p.Status != "New" ||
		p.Description != a1.Description || !p.FirstActivityTimeUtc.Equal(a1.StartTime) || !p.LastActivityTimeUtc.Equal(a1.EndTime) ||
		len(p.Labels) != 0 || p.Labels == nil || p.IncidentNumber != 1 || p.ProviderName != "Azure Sentinel" {
		t.Fatalf("incident: %+v", inc)
	}
	d := p.AdditionalData
	if d.AlertsCount != 1 || d.CommentsCount != 0 || !slices.Equal(d.AlertProductNames, []string{"Azure Sentinel"}) ||
		!slices.Equal(d.Tactics, []string{"CredentialAccess"}) || !slices.Equal(d.Techniques, []string{"T1110"}) ||
		!slices.Equal(p.RelatedAnalyticRuleIDs, []string{testWorkspaceID + "/providers/Microsoft.SecurityInsights/alertRules/rule-1"}) {
		t.Fatalf("additional data: %+v, rules %v", d, p.RelatedAnalyticRuleIDs)
	}
	inc2, created := r.raise(r.alert(account(t, "alice"), ip(t, "10.0.0.7")), Grouping{})
	if !created || inc2.Name == inc.Name || inc2.Properties.IncidentNumber != 2 {
		t.Fatalf("second alert without grouping: %+v", inc2)
	}
	alerts, err := s.Alerts(context.Background(), inc.Name)
	if err != nil || len(alerts) != 1 || alerts[0].SystemAlertID != a1.SystemAlertID {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	h, _ := s.History(context.Background(), inc.Name)
	if len(h) != 1 || h[0].Action != ActionCreated || h[0].Actor != "rule:rule-1" {
		t.Fatalf("history: %+v", h)
	}
}

func TestGroupingMethods(t *testing.T) {
	type step struct {
		alert func(r *raiser) *alert.Alert
		into  int // the incident it must go into: the nth made, from 1
	}
	withDetail := func(r *raiser, name string, vals ...any) *alert.Alert {
		a := r.alert(account(t, "alice"))
		a.CustomDetails[name] = vals
		return a
	}
	cases := []struct {
		name  string
		g     Grouping
		steps []step
	}{
		{"AllEntities joins exactly the same entities, in any order and case", grouping(MatchAllEntities), []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice"), ip(t, "10.0.0.7")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(ip(t, "10.0.0.7"), account(t, "ALICE")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice")) }, 2},
			{func(r *raiser) *alert.Alert {
				return r.alert(account(t, "alice"), ip(t, "10.0.0.7"), ip(t, "10.0.0.8"))
			}, 3},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice")) }, 2},
		}},
		{"AnyAlert joins every alert of the rule", grouping(MatchAnyAlert), []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(ip(t, "10.9.9.9")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert() }, 1},
		}},
		{"Selected by entity type compares only that type", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByEntities: []string{"Account"}}, []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice"), ip(t, "10.0.0.7")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice"), ip(t, "10.0.0.8")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "bob"), ip(t, "10.0.0.7")) }, 2},
		}},
		{"Selected by IP maps the rule's type to the entity kind", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByEntities: []string{"IP"}}, []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice"), ip(t, "10.0.0.7")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "bob"), ip(t, "10.0.0.7")) }, 1},
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "bob"), ip(t, "10.0.0.8")) }, 2},
		}},
		{"Selected by alert detail", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByAlertDetails: []string{"Severity"}}, []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice")) }, 1},
			{func(r *raiser) *alert.Alert { a := r.alert(account(t, "bob")); a.DisplayName = "other name"; return a }, 1},
			{func(r *raiser) *alert.Alert { a := r.alert(account(t, "alice")); a.Severity = "Low"; return a }, 2},
		}},
		{"Selected by display name", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByAlertDetails: []string{"DisplayName"}}, []step{
			{func(r *raiser) *alert.Alert { return r.alert(account(t, "alice")) }, 1},
			{func(r *raiser) *alert.Alert { a := r.alert(account(t, "bob")); a.Severity = "Low"; return a }, 1},
			{func(r *raiser) *alert.Alert {
				a := r.alert(account(t, "alice"))
				a.DisplayName = "Brute force on dc02"
				return a
			}, 2},
		}},
		{"Selected by custom detail compares its values as a set", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByCustomDetails: []string{"Target"}}, []step{
			{func(r *raiser) *alert.Alert { return withDetail(r, "Target", "dc01", "dc02") }, 1},
			{func(r *raiser) *alert.Alert { return withDetail(r, "Target", "dc02", "dc01") }, 1},
			{func(r *raiser) *alert.Alert { return withDetail(r, "Target", "dc03") }, 2},
			{func(r *raiser) *alert.Alert { return withDetail(r, "Other", "dc01", "dc02") }, 3},
		}},
		{"Selected by entity, detail and custom detail together", Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected,
			ByEntities: []string{"Account"}, ByAlertDetails: []string{"Severity"}, ByCustomDetails: []string{"Target"}}, []step{
			{func(r *raiser) *alert.Alert { return withDetail(r, "Target", "dc01") }, 1},
			{func(r *raiser) *alert.Alert { return withDetail(r, "Target", "dc01") }, 1},
			{func(r *raiser) *alert.Alert { a := withDetail(r, "Target", "dc01"); a.Severity = "Medium"; return a }, 2},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newIncidents(t)
			r := &raiser{t: t, s: s, rule: "rule-1"}
			var made []string
			for i, st := range c.steps {
				wantNew := st.into == len(made)+1
				inc, created := r.raise(st.alert(r), c.g)
				if created {
					made = append(made, inc.Name)
				}
				if created != wantNew || made[st.into-1] != inc.Name {
					t.Fatalf("alert %d went into %s (created %v); want incident %d of %v", i+1, inc.Name, created, st.into, made)
				}
			}
			list, _ := s.List(context.Background())
			if len(list) != len(made) {
				t.Fatalf("%d incidents, want %d", len(list), len(made))
			}
		})
	}
}

func TestGroupsAreKeptPerRule(t *testing.T) {
	s := newIncidents(t)
	r1 := &raiser{t: t, s: s, rule: "rule-1"}
	r2 := &raiser{t: t, s: s, rule: "rule-2"}
	inc1, _ := r1.raise(r1.alert(account(t, "alice")), grouping(MatchAnyAlert))
	inc2, created := r2.raise(r2.alert(account(t, "alice")), grouping(MatchAnyAlert))
	if !created || inc1.Name == inc2.Name {
		t.Fatal("another rule's alert joined the first rule's incident")
	}
}

func TestGroupingMergesEntitiesOnceAndCountsAlerts(t *testing.T) {
	s := newIncidents(t)
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	first, _ := r.raise(r.alert(account(t, "alice"), ip(t, "10.0.0.7")), g)
	a2 := r.alert(account(t, "Alice"), ip(t, "10.0.0.8"))
	a2.Tactics, a2.Techniques, a2.StartTime = []string{"InitialAccess", "CredentialAccess"}, []string{"T1078"}, testNow.Add(-time.Hour)
	inc, created := r.raise(a2, g)
	if created || inc.Name != first.Name {
		t.Fatal("AnyAlert made a second incident")
	}
	d := inc.Properties.AdditionalData
	if d.AlertsCount != 2 || !slices.Equal(d.Tactics, []string{"CredentialAccess", "InitialAccess"}) || !slices.Equal(d.Techniques, []string{"T1110", "T1078"}) {
		t.Fatalf("additional data: %+v", d)
	}
	if !inc.Properties.FirstActivityTimeUtc.Equal(a2.StartTime) || !inc.Properties.LastActivityTimeUtc.Equal(a2.EndTime) {
		t.Fatalf("activity window %v–%v does not span both alerts", inc.Properties.FirstActivityTimeUtc, inc.Properties.LastActivityTimeUtc)
	}
	es, err := s.Entities(context.Background(), inc.Name)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, fmt.Sprint(e.Kind, " ", e.Properties["friendlyName"]))
	}
	if want := []string{"Account alice", "Ip 10.0.0.7", "Ip 10.0.0.8"}; !slices.Equal(keys, want) {
		t.Fatalf("entities %v, want %v", keys, want)
	}
	h, _ := s.History(context.Background(), inc.Name)
	if len(h) != 2 || h[1].Action != ActionAlertAdded || h[1].Detail != "alert "+a2.SystemAlertID {
		t.Fatalf("history: %+v", h)
	}
}

func TestLookbackExpiryMakesANewIncident(t *testing.T) {
	s := newIncidents(t)
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	a1 := r.alert(account(t, "alice"))
	first, _ := r.raise(a1, g)
	a2 := r.alert(account(t, "alice"))
	a2.TimeGenerated = a1.TimeGenerated.Add(g.Lookback) // the edge is still in
	if inc, created := r.raise(a2, g); created || inc.Name != first.Name {
		t.Fatal("an alert at the lookback's edge made a new incident")
	}
	a3 := r.alert(account(t, "alice"))
	a3.TimeGenerated = a2.TimeGenerated.Add(g.Lookback + time.Second) // measured from the last alert, not the first
	inc, created := r.raise(a3, g)
	if !created || inc.Name == first.Name {
		t.Fatal("an alert past the lookback joined the old incident")
	}
	a4 := r.alert(account(t, "alice"))
	a4.TimeGenerated = a3.TimeGenerated.Add(time.Minute)
	if inc4, _ := r.raise(a4, g); inc4.Name != inc.Name {
		t.Fatal("the next alert did not join the newest incident of the group")
	}
}

func TestAClosedIncidentIsReopenedOrReplaced(t *testing.T) {
	for _, reopen := range []bool{true, false} {
		t.Run(fmt.Sprintf("reopenClosed=%v", reopen), func(t *testing.T) {
			s := newIncidents(t)
			ctx := context.Background()
			r := &raiser{t: t, s: s, rule: "rule-1"}
			g := grouping(MatchAnyAlert)
			g.ReopenClosed = reopen
			first, _ := r.raise(r.alert(account(t, "alice")), g)
			p := first.Properties
			p.Status, p.Classification, p.ClassificationReason = "Closed", "FalsePositive", "InaccurateData"
			if _, _, err := s.PutAs(ctx, "oid-analyst", first.Name, p, first.Etag); err != nil {
				t.Fatal(err)
			}
			inc, created := r.raise(r.alert(account(t, "alice")), g)
			if reopen {
				if created || inc.Name != first.Name || inc.Properties.Status != "Active" || inc.Properties.Classification != "" || inc.Properties.AdditionalData.AlertsCount != 2 {
					t.Fatalf("not reopened: created %v %+v", created, inc.Properties)
				}
				h, _ := s.History(ctx, first.Name)
				if acts := actions(h); !slices.Equal(acts, []string{ActionCreated, ActionModified, ActionModified, ActionModified, ActionReopened, ActionAlertAdded}) {
					t.Fatalf("history: %v", acts)
				}
				return
			}
			if !created || inc.Name == first.Name {
				t.Fatal("a closed incident took an alert without reopenClosed")
			}
			if again, _ := s.Get(ctx, first.Name); again.Properties.Status != "Closed" || again.Properties.AdditionalData.AlertsCount != 1 {
				t.Fatalf("the closed incident changed: %+v", again.Properties)
			}
			if inc3, _ := r.raise(r.alert(account(t, "alice")), g); inc3.Name != inc.Name {
				t.Fatal("the group did not move to the new incident")
			}
		})
	}
}

func actions(h []HistoryEntry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Action)
	}
	return out
}

func TestRaisingAnAlertAgainCountsItOnce(t *testing.T) {
	for _, g := range []Grouping{{}, grouping(MatchAllEntities), grouping(MatchAnyAlert)} {
		t.Run("grouping="+g.Method, func(t *testing.T) {
			s := newIncidents(t)
			r := &raiser{t: t, s: s, rule: "rule-1"}
			a := r.alert(account(t, "alice"))
			first, _ := r.raise(a, g)
			again := *a
			again.Entities = []alert.Entity{account(t, "alice")}
			inc, created := r.raise(&again, g)
			if created || inc.Name != first.Name || inc.Properties.AdditionalData.AlertsCount != 1 {
				t.Fatalf("second raise: created %v, %+v", created, inc.Properties)
			}
			h, _ := s.History(context.Background(), inc.Name)
			if len(h) != 1 {
				t.Fatalf("history: %v", actions(h))
			}
			if list, _ := s.List(context.Background()); len(list) != 1 {
				t.Fatalf("%d incidents", len(list))
			}
		})
	}
}

// TestConcurrentAlertsOfOneGroupMakeOneIncident raises alerts of one group
// all at once, some of them twice: one incident takes each alert once.
func TestConcurrentAlertsOfOneGroupMakeOneIncident(t *testing.T) {
	s, _ := newIncidentsWith(t, slowSealing{envelopetest.New("doc-aek")})
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAllEntities)
	const n = 16
	alerts := make([]*alert.Alert, n)
	for i := range alerts {
		alerts[i] = r.alert(account(t, "alice"))
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	created := make([]bool, 2*n)
	start := make(chan struct{})
	for i := range 2 * n {
		wg.Go(func() {
			a := *alerts[i%n] // the second half raises the first half's alerts again
			<-start
			_, created[i], errs[i] = s.RaiseFromAlert(context.Background(), &a, "rule-1", g)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, _ := s.List(context.Background())
	if len(list) != 1 || list[0].Properties.AdditionalData.AlertsCount != n {
		t.Fatalf("%d incidents; the first has %d alerts; want 1 with %d", len(list), list[0].Properties.AdditionalData.AlertsCount, n)
	}
	if c := len(slices.DeleteFunc(created, func(c bool) bool { return !c })); c != 1 {
		t.Fatalf("%d raises say they created the incident", c)
	}
	got, _ := s.Alerts(context.Background(), list[0].Name)
	if len(got) != n {
		t.Fatalf("%d alerts listed", len(got))
	}
}

func TestAUserPutKeepsTheIncidentsAlertsAndEntities(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	r := &raiser{t: t, s: s, rule: "rule-1"}
	inc, _ := r.raise(r.alert(account(t, "alice")), Grouping{})
	p := Properties{Title: "renamed", Severity: "Low", Status: "Active",
		AdditionalData: AdditionalData{AlertsCount: 99}, RelatedAnalyticRuleIDs: []string{"forged"}}
	put, created, err := s.PutAs(ctx, "oid-analyst", inc.Name, p, "")
	if err != nil || created {
		t.Fatal(err)
	}
	if put.Properties.AdditionalData.AlertsCount != 1 || !slices.Equal(put.Properties.RelatedAnalyticRuleIDs, inc.Properties.RelatedAnalyticRuleIDs) ||
		put.Properties.IncidentNumber != inc.Properties.IncidentNumber {
		t.Fatalf("a PUT set what the node sets: %+v", put.Properties)
	}
	if got, _ := s.Alerts(ctx, inc.Name); len(got) != 1 {
		t.Fatal("a PUT erased the incident's alerts")
	}
	if es, _ := s.Entities(ctx, inc.Name); len(es) != 1 {
		t.Fatal("a PUT erased the incident's entities")
	}
	if _, err := s.PutComment(ctx, inc.Name, "c1", "looking", "oid-analyst"); err != nil {
		t.Fatal(err)
	}
	s.PutComment(ctx, inc.Name, "c1", "looking again", "oid-analyst")
	s.PutComment(ctx, inc.Name, "c2", "done", "oid-analyst")
	if got, _ := s.Get(ctx, inc.Name); got.Properties.AdditionalData.CommentsCount != 2 {
		t.Fatalf("commentsCount %d after two comments, one edited", got.Properties.AdditionalData.CommentsCount)
	}
}

func TestBadRaisesAreRefused(t *testing.T) {
	s := newIncidents(t)
	r := &raiser{t: t, s: s, rule: "rule-1"}
	cases := []struct {
		name string
		rule string
		g    Grouping
		edit func(a *alert.Alert)
	}{
		{"bad rule ID", "rule/1", Grouping{}, nil},
		{"alert of another rule", "rule-2", Grouping{}, nil},
		{"grouping without lookback", "rule-1", Grouping{Enabled: true, Method: MatchAnyAlert}, nil},
		{"lookback over 7 days", "rule-1", Grouping{Enabled: true, Method: MatchAnyAlert, Lookback: 8 * 24 * time.Hour}, nil},
		{"unknown method", "rule-1", Grouping{Enabled: true, Method: "Some", Lookback: time.Hour}, nil},
		{"Selected with nothing selected", "rule-1", Grouping{Enabled: true, Method: MatchSelected, Lookback: time.Hour}, nil},
		{"Selected by an unknown entity type", "rule-1", Grouping{Enabled: true, Method: MatchSelected, Lookback: time.Hour, ByEntities: []string{"Printer"}}, nil},
		{"Selected by an unknown alert detail", "rule-1", Grouping{Enabled: true, Method: MatchSelected, Lookback: time.Hour, ByAlertDetails: []string{"Title"}}, nil},
		{"an invalid alert", "rule-1", Grouping{}, func(a *alert.Alert) { a.Severity = "Critical" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := r.alert(account(t, "alice"))
			if c.edit != nil {
				c.edit(a)
			}
			if _, _, err := s.RaiseFromAlert(context.Background(), a, c.rule, c.g); fault.KindOf(err) != fault.Invalid {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if list, _ := s.List(context.Background()); len(list) != 0 {
		t.Fatalf("refused raises made %d incidents", len(list))
	}
}

// TestAlertsIncidentsAndHistoryNeverReachDiskInTheClear raises alerts with
// canary strings in every field a rule fills and checks the file's bytes.
func TestAlertsIncidentsAndHistoryNeverReachDiskInTheClear(t *testing.T) {
	s, path := newIncidentsFile(t)
	ctx := context.Background()
	const canary = "CANARY-9e41-incident"
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := Grouping{Enabled: true, Lookback: time.Hour, Method: MatchSelected, ByEntities: []string{"Account"}, ByCustomDetails: []string{"Who"}}
	for range 2 {
		a := r.alert(account(t, canary+"-account"), ip(t, "203.0.113.77"))
		a.DisplayName, a.Description, a.Query = canary+"-title", canary+"-description", "T | where x == '"+canary+"-query'"
		a.CustomDetails["Who"] = []any{canary + "-detail"}
		r.raise(a, g)
	}
	list, _ := s.List(ctx)
	if len(list) != 1 {
		t.Fatalf("%d incidents", len(list))
	}
	if err := s.AppendHistory(ctx, list[0].Name, HistoryEntry{Actor: "automation:a1", Action: "Webhook", Detail: canary + "-history"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(list[0].Name)) {
		t.Fatal("the incident is not in the file: the check below would prove nothing")
	}
	for _, needle := range []string{"CANARY", "203.0.113.77", "Brute force", "T1110"} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Errorf("%q is on disk in the clear", needle)
		}
	}
}

// slowSealing is a key service that takes a while to hand out the key new
// documents are sealed under, as a remote one does: it widens the window
// between a raise's read of the grouping state and its write, in which a
// concurrent raise must not slip.
type slowSealing struct{ *envelopetest.Keys }

func (k slowSealing) Current(ctx context.Context) (envelope.Sealer, error) {
	time.Sleep(200 * time.Microsecond)
	return k.Keys.Current(ctx)
}

func TestADeletedIncidentsGroupStartsANewIncident(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	first, _ := r.raise(r.alert(account(t, "alice")), g)
	r.raise(r.alert(account(t, "alice")), g)
	if err := s.Delete(ctx, first.Name, ""); err != nil {
		t.Fatal(err)
	}
	inc, created := r.raise(r.alert(account(t, "alice")), g)
	if !created || inc.Name == first.Name || inc.Properties.AdditionalData.AlertsCount != 1 {
		t.Fatalf("after deleting the group's incident: created %v, %s with %d alerts", created, inc.Name, inc.Properties.AdditionalData.AlertsCount)
	}
}

// TestNoIncidentIsRaisedWhileTheKeyIsRevoked: a raise under a revoked key
// fails and leaves nothing half done; raising the alert again once the key
// is back makes the incident, once.
func TestNoIncidentIsRaisedWhileTheKeyIsRevoked(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	s, _ := newIncidentsWith(t, keys)
	ctx := context.Background()
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	r.raise(r.alert(account(t, "alice")), g)
	keys.Revoke()
	a := r.alert(account(t, "alice"))
	if _, _, err := s.RaiseFromAlert(ctx, a, "rule-1", g); err == nil {
		t.Fatal("an alert was raised under a revoked key")
	}
	keys.Restore()
	inc, _ := r.raise(a, g)
	inc, _ = r.raise(a, g)
	if inc.Properties.AdditionalData.AlertsCount != 2 {
		t.Fatalf("after restore: %d alerts, want 2", inc.Properties.AdditionalData.AlertsCount)
	}
	if list, _ := s.List(ctx); len(list) != 1 {
		t.Fatalf("%d incidents", len(list))
	}
}

func TestGroupingStateDropsGroupsPastTheLookbackAndTheIdlestPastItsLimit(t *testing.T) {
	s := newIncidents(t)
	gs := groups{Groups: map[string]group{"expired": {IncidentID: "x", LastAlert: testNow.Add(-2 * time.Hour)}}}
	for i := range maxGroupsPerShard + 2 {
		gs.Groups[fmt.Sprint(i)] = group{IncidentID: "i", LastAlert: testNow.Add(-time.Hour + time.Duration(i)*time.Millisecond)}
	}
	a := &alert.Alert{TimeGenerated: testNow.Add(time.Minute)}
	s.prune(&gs, a, time.Hour)
	_, expired := gs.Groups["expired"]
	_, idlest := gs.Groups["1"]
	_, kept := gs.Groups["2"]
	if len(gs.Groups) != maxGroupsPerShard || expired || idlest || !kept {
		t.Fatalf("%d groups left; expired kept %v, the second idlest kept %v, the third kept %v", len(gs.Groups), expired, idlest, kept)
	}
	// A run catching up raises an alert older than now: groups within the
	// lookback of that alert stay.
	gs = groups{Groups: map[string]group{"old": {LastAlert: testNow.Add(-90 * time.Minute)}}}
	s.prune(&gs, &alert.Alert{TimeGenerated: testNow.Add(-time.Hour)}, time.Hour)
	if len(gs.Groups) != 1 {
		t.Fatal("a catching-up alert's group was dropped")
	}
}

func TestAFullIncidentPassesItsGroupToANewOne(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	first, _ := r.raise(r.alert(account(t, "alice")), g)
	rec, etag, err := s.read(ctx, first.Name)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(rec.Links.AlertIDs); i < maxAlertsPerIncident; i++ {
		rec.Links.AlertIDs = append(rec.Links.AlertIDs, fmt.Sprintf("filler-%d", i))
	}
	if _, _, err := s.commit(ctx, first.Name, rec, etag, nil); err != nil {
		t.Fatal(err)
	}
	inc, created := r.raise(r.alert(account(t, "alice")), g)
	if !created || inc.Name == first.Name {
		t.Fatal("an incident with the most alerts it may hold took another")
	}
	if next, _ := r.raise(r.alert(account(t, "alice")), g); next.Name != inc.Name {
		t.Fatal("the group did not move to the new incident")
	}
	big := func(tag string) *alert.Alert {
		a := r.alert(account(t, "alice"))
		for i := range 200 {
			e, _ := alert.NewEntity("URL", map[string]string{"Url": fmt.Sprintf("https://x.example/%s/%d/%s", tag, i, strings.Repeat("p", 3000))})
			a.Entities = append(a.Entities, e)
		}
		return a
	}
	if grown, _ := r.raise(big("a"), g); grown.Name != inc.Name {
		t.Fatal("an alert that fits did not join")
	}
	if grown, created := r.raise(big("b"), g); !created || grown.Name == inc.Name {
		t.Fatal("an alert whose entities would grow the incident past its size limit joined it")
	}
}

// TestGroupingOutlivesTheStoreValue: the scheduler and the API each open
// the incidents anew; alerts raised through different ones still group.
func TestGroupingOutlivesTheStoreValue(t *testing.T) {
	s := newIncidents(t)
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAllEntities)
	first, _ := r.raise(r.alert(account(t, "alice")), g)
	r.s = New(s.docs, s.workspace, testWorkspaceID, s.now)
	if inc, created := r.raise(r.alert(account(t, "alice")), g); created || inc.Name != first.Name {
		t.Fatal("an alert raised through a fresh store value did not join its group")
	}
}

// TestARaiseThatReadTheLinkBeforeAnotherCommittedPutsTheAlertNowhereElse:
// two raises of one alert at once (two nodes running one window) both find
// it unlinked; the first puts it into the group's incident, which is then
// closed, and the group's next alert opens a new one, so the second raise
// would put the alert into that one too. The link is the second's
// precondition: it finds the first's incident instead.
func TestARaiseThatReadTheLinkBeforeAnotherCommittedPutsTheAlertNowhereElse(t *testing.T) {
	s := newIncidents(t)
	ctx := context.Background()
	r := &raiser{t: t, s: s, rule: "rule-1"}
	g := grouping(MatchAnyAlert)
	a := r.alert(account(t, "alice"))
	_, linkMatch, err := s.raisedInto(ctx, a.SystemAlertID) // the second raise's read
	if err != nil || linkMatch != docstore.CreateOnly {
		t.Fatalf("an unraised alert's link: %q, %v", linkMatch, err)
	}
	first, _ := r.raise(a, g)
	p := first.Properties
	p.Status, p.Classification, p.ClassificationReason = "Closed", "FalsePositive", "InaccurateData"
	if _, _, err := s.PutAs(ctx, "oid-analyst", first.Name, p, first.Etag); err != nil {
		t.Fatal(err)
	}
	if next, created := r.raise(r.alert(account(t, "alice")), g); !created || next.Name == first.Name {
		t.Fatal("the group's next alert did not open a new incident")
	}
	again := *a
	stored, err := alert.New(s.docs, s.workspace, s.workspaceID).Write(&again)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.place(ctx, &again, stored, g, linkMatch); !errors.Is(err, errRaisedMeanwhile) {
		t.Fatalf("the second raise placed the alert again: %v", err)
	}
	if inc, created := r.raise(&again, g); created || inc.Name != first.Name {
		t.Fatalf("raised again: created %v into %s, want %s", created, inc.Name, first.Name)
	}
	list, _ := s.List(ctx)
	holding := 0
	for _, inc := range list {
		alerts, err := s.Alerts(ctx, inc.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range alerts {
			if x.SystemAlertID == a.SystemAlertID {
				holding++
			}
		}
	}
	if holding != 1 {
		t.Fatalf("%d incidents hold the alert, want 1", holding)
	}
}
