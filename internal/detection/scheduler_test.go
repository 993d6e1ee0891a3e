package detection

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

const failedSignins = `SigninLogs | where ResultType != "0" | project TimeGenerated, UserPrincipalName, IPAddress`

// TestLateRowIsAlertedExactlyOnce: a row that arrives after its window has
// run, and would fall between the windows of a rule whose period equals its
// frequency, raises one alert — not none, and not one per later run.
func TestLateRowIsAlertedExactlyOnce(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("late", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick() // first run: [09:55, 10:00)
	e.tickFor(5*time.Minute, 5*time.Minute)
	// arrives at 10:05+, stamped 10:01: its window [10:00,10:05) has run
	e.ingest("SigninLogs", signin(-4*time.Minute, "late@contoso.com", "10.0.0.2", "50126"))
	e.tickFor(30*time.Minute, time.Minute)
	if n := e.alertCount("late"); n != 1 {
		t.Fatalf("the late row raised %d alerts, want 1", n)
	}
	if o := e.outcomes("late"); !slices.Contains(o, OutcomeLate) {
		t.Fatalf("no run is recorded as late: %v", o)
	}
}

// TestOverlappingWindowsRaiseOnce: a rule looking back an hour every five
// minutes sees a row in twelve runs and alerts on it once.
func TestOverlappingWindowsRaiseOnce(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-10*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("overlap", "Scheduled", scheduled(failedSignins, "PT5M", "PT1H", nil))
	e.tick()
	e.tickFor(75*time.Minute, 5*time.Minute)
	if n := e.alertCount("overlap"); n != 1 {
		t.Fatalf("%d alerts, want 1", n)
	}
	rows := e.query(`SentinelHealth | where SentinelResourceName == "overlap" | summarize sum(toint(ExtendedProperties.ResultsCount)), sum(toint(ExtendedProperties.NewResultsCount)), count()`)
	if seen, fresh, runs := rows[0][0].(int64), rows[0][1].(int64), rows[0][2].(int64); seen < 10 || fresh != 1 || runs < 15 {
		t.Fatalf("over %d runs the row was seen %d times and new %d times; want ≥15 runs, ≥10 sightings, new once", runs, seen, fresh)
	}
	if len(e.incidents()) != 1 {
		t.Fatalf("%d incidents, want 1", len(e.incidents()))
	}
}

// TestGrowingResultAlertsAgain: the same user's count going up is a new
// result, and alerts; the unchanged count does not.
func TestGrowingResultAlertsAgain(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-2*time.Minute, "a@contoso.com", "10.0.0.1", "50126"), signin(-1*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("count", "Scheduled", scheduled(`SigninLogs | where ResultType != "0" | summarize Failures = count() by UserPrincipalName`, "PT5M", "PT1H", nil))
	e.tick()
	e.tickFor(10*time.Minute, 5*time.Minute)
	e.ingest("SigninLogs", signin(-1*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.tickFor(10*time.Minute, 5*time.Minute)
	if n := e.alertCount("count"); n != 2 {
		t.Fatalf("%d alerts, want 2 (2 failures, then 3)", n)
	}
}

// TestCatchUpAfterRevocation: while the key is revoked nothing runs and no
// incident is made; once it is restored the missed windows are evaluated,
// the alerts and incidents appear, and the health table says what happened.
func TestCatchUpAfterRevocation(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("revoked", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	// rows stamped in the windows that will be missed (within the clock skew the store allows)
	e.ingest("SigninLogs", signin(3*time.Minute, "a@contoso.com", "10.0.0.1", "50126"), signin(8*time.Minute, "b@contoso.com", "10.0.0.2", "50126"))
	e.keys.Revoke()
	e.tickFor(40*time.Minute, 5*time.Minute)
	e.keys.Restore()
	if n := e.alertCount("revoked"); n != 0 {
		t.Fatalf("%d alerts raised while the key was revoked", n)
	}
	if n := len(e.incidents()); n != 0 {
		t.Fatalf("%d incidents made while the key was revoked", n)
	}
	e.advance(time.Minute)
	e.tick()
	if n := e.alertCount("revoked"); n != 2 {
		t.Fatalf("%d alerts after restore, want 2", n)
	}
	if n := len(e.incidents()); n != 2 {
		t.Fatalf("%d incidents after restore, want 2", n)
	}
	o := e.outcomes("revoked")
	if !slices.Contains(o, OutcomeSkipped) || !slices.Contains(o, OutcomeCaughtUp) {
		t.Fatalf("health outcomes %v: want a skipped record and caught-up runs", o)
	}
	reason := e.query(`SentinelHealth | where SentinelResourceName == "revoked" and ExtendedProperties.Outcome == "skipped" | project Description`)[0][0].(string)
	if !strings.Contains(reason, errKeyRevoked.Error()) {
		t.Fatalf("the skip record does not say why: %q", reason)
	}
}

// TestCatchUpAfterDowntime: a scheduler that did not tick for hours
// evaluates every missed row once when it comes back.
func TestCatchUpAfterDowntime(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("down", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	users := 0
	for range 36 { // three hours without a tick, a failed sign-in every five minutes
		e.advance(5 * time.Minute)
		e.ingest("SigninLogs", signin(-time.Minute, fmt.Sprintf("u%d@contoso.com", users), "10.0.0.1", "50126"))
		users++
	}
	e.advance(time.Minute)
	e.tick()
	e.tickFor(10*time.Minute, 5*time.Minute)
	if n := e.alertCount("down"); n != int64(users) {
		t.Fatalf("%d alerts after downtime, want %d", n, users)
	}
	if o := e.outcomes("down"); !slices.Contains(o, OutcomeCaughtUp) {
		t.Fatalf("no caught-up run on record: %v", o)
	}
}

// TestSuppressionWithholdsAlertsThenResumes: after an alert, a suppressed
// rule raises nothing for the suppression's duration, records why, and
// alerts on new results after it.
func TestSuppressionWithholdsAlertsThenResumes(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Minute, "a0@contoso.com", "10.0.0.1", "50126"))
	e.putRule("quiet", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", map[string]any{
		"suppressionEnabled": true, "suppressionDuration": "PT30M"}))
	e.tick()
	for i := 1; i <= 5; i++ { // new failures until 10:25, each in its own window
		e.advance(5 * time.Minute)
		e.ingest("SigninLogs", signin(-time.Minute, fmt.Sprintf("a%d@contoso.com", i), "10.0.0.1", "50126"))
		e.tick()
	}
	if n := e.alertCount("quiet"); n != 1 {
		t.Fatalf("%d alerts during suppression, want the first only", n)
	}
	if o := e.outcomes("quiet"); !slices.Contains(o, OutcomeSuppressed) {
		t.Fatalf("suppressed runs not on record: %v", o)
	}
	e.advance(5 * time.Minute)
	e.ingest("SigninLogs", signin(-time.Minute, "after@contoso.com", "10.0.0.1", "50126"))
	e.tickFor(5*time.Minute, 5*time.Minute)
	if n := e.alertCount("quiet"); n != 2 {
		t.Fatalf("%d alerts after suppression ended, want 2", n)
	}
}

// TestAlertPerResultHasNoSmallCap: 45 results raise 45 alerts, and a
// safety cap below that defers the rest to the next tick with a warning
// instead of dropping them.
func TestAlertPerResultHasNoSmallCap(t *testing.T) {
	for _, cap := range []int{0, 20} {
		t.Run(fmt.Sprintf("cap %d", cap), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxAlertsPerRun = cap })
			var rows []row
			for i := range 45 {
				rows = append(rows, signin(-time.Duration(i+1)*time.Second, fmt.Sprintf("u%02d@contoso.com", i), "10.0.0.1", "50126"))
			}
			e.ingest("SigninLogs", rows...)
			e.putRule("many", "Scheduled", scheduled(failedSignins, "PT5M", "PT1H", nil))
			e.tick()
			e.tick()
			e.tick()
			if n := e.alertCount("many"); n != 45 {
				t.Fatalf("%d alerts, want 45", n)
			}
			warned := len(e.query(`SentinelHealth | where SentinelResourceName == "many" and Status == "Warning"`)) > 0
			if warned != (cap == 20) {
				t.Fatalf("warning recorded: %v, with cap %d", warned, cap)
			}
			e.tickFor(time.Hour, 5*time.Minute)
			if n := e.alertCount("many"); n != 45 {
				t.Fatalf("%d alerts an hour later, want still 45", n)
			}
		})
	}
}

// TestGroupingFollowsTheRule: AnyAlert puts a rule's alerts in one
// incident; without grouping each alert has its own; AllEntities groups by
// the mapped account.
func TestGroupingFollowsTheRule(t *testing.T) {
	accounts := map[string]any{"entityMappings": []any{map[string]any{"entityType": "Account",
		"fieldMappings": []any{map[string]any{"identifier": "FullName", "columnName": "UserPrincipalName"}}}}}
	for _, tc := range []struct {
		name      string
		grouping  map[string]any
		incidents int
	}{
		{"none", nil, 4},
		{"AnyAlert", map[string]any{"enabled": true, "matchingMethod": "AnyAlert", "lookbackDuration": "PT5H"}, 1},
		{"AllEntities", map[string]any{"enabled": true, "matchingMethod": "AllEntities", "lookbackDuration": "PT5H"}, 2},
		{"Selected by account", map[string]any{"enabled": true, "matchingMethod": "Selected", "lookbackDuration": "PT5H", "groupByEntities": []string{"Account"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
			more := map[string]any{"entityMappings": accounts["entityMappings"]}
			if tc.grouping != nil {
				more["incidentConfiguration"] = map[string]any{"createIncident": true, "groupingConfiguration": tc.grouping}
			}
			e.putRule("grouped", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", more))
			e.tick()
			for i := range 4 {
				e.advance(5 * time.Minute)
				e.ingest("SigninLogs", signin(-time.Minute, []string{"a@contoso.com", "b@contoso.com"}[i%2], "10.0.0.1", "50126"))
				e.tick()
			}
			if n := e.alertCount("grouped"); n != 4 {
				t.Fatalf("%d alerts, want 4", n)
			}
			if n := len(e.incidents()); n != tc.incidents {
				t.Fatalf("%d incidents, want %d", n, tc.incidents)
			}
		})
	}
}

// TestNRTRuleAlertsOnNewRowsWhateverTheirTime: an NRT rule runs every
// minute on the rows ingested since its last run, so a row stamped an hour
// ago alerts as soon as it lands, once.
func TestNRTRuleAlertsOnNewRowsWhateverTheirTime(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("nrt", "NRT", map[string]any{"displayName": "nrt", "severity": "High", "enabled": true, "query": failedSignins})
	e.tick()
	e.advance(30 * time.Second)
	e.ingest("SigninLogs", signin(-time.Hour, "old@contoso.com", "10.0.0.9", "50126"))
	e.tickFor(5*time.Minute, 10*time.Second)
	if n := e.alertCount("nrt"); n != 1 {
		t.Fatalf("%d alerts, want 1", n)
	}
}

// TestFailedRunIsRecordedAndRetried: a run that fails leaves a Failure
// record with the error, and its window is evaluated when it succeeds.
func TestFailedRunIsRecordedAndRetried(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-2*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("flaky", "Scheduled", scheduled(failedSignins+" | sort by UserPrincipalName", "PT5M", "PT5M", nil))
	e.sched.cfg.MaxQueryMemory = 1 // every query is refused for memory
	e.tick()
	if n := len(e.query(`SentinelHealth | where SentinelResourceName == "flaky" and Status == "Failure" and ExtendedProperties.Error has "memory"`)); n != 1 {
		t.Fatalf("%d failure records naming the cause, want 1", n)
	}
	e.sched.cfg.MaxQueryMemory = 0
	e.tickFor(2*time.Minute, time.Minute)
	if n := e.alertCount("flaky"); n != 1 {
		t.Fatalf("%d alerts after the retry, want 1", n)
	}
}

// TestDisabledRuleIsOnRecordAndResumesFromEnable: disabling is recorded,
// nothing runs while disabled, and enabling starts from then.
func TestDisabledRuleIsOnRecordAndResumesFromEnable(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	props := scheduled(failedSignins, "PT5M", "PT5M", nil)
	e.putRule("off", "Scheduled", props)
	e.tick()
	props["enabled"] = false
	e.putRule("off", "Scheduled", props)
	e.tickFor(20*time.Minute, 5*time.Minute)
	o := e.outcomes("off")
	if len(o) != 2 || o[1] != OutcomeSkipped {
		t.Fatalf("outcomes %v: want one run, then one record of the rule being disabled", o)
	}
	props["enabled"] = true
	e.putRule("off", "Scheduled", props)
	e.tickFor(5*time.Minute, 5*time.Minute)
	if o := e.outcomes("off"); len(o) != 3 || o[2] != OutcomeRan {
		t.Fatalf("outcomes %v: want a run once enabled", o)
	}
}

// TestDeletedRuleLeavesNoState: the scheduler's state and alert keys of a
// deleted rule are removed by the next hourly sweep.
func TestDeletedRuleLeavesNoState(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("gone", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	st, _, err := loadState(e.ctx, e.docs, testCustomer, "gone")
	if err != nil || len(st.KeyDays) != 1 || st.LastEnd.IsZero() {
		t.Fatalf("state after a run with an alert: %+v, %v", st, err)
	}
	rules := analyticrule.New(e.docs, testCustomer, e.ws.Workspace.ID, nil, e.clock.Now)
	if err := rules.Delete(e.ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	e.tickFor(61*time.Minute, 5*time.Minute)
	for _, c := range []struct{ coll, id string }{{collRuleState, "gone"}, {collAlertKeys, "gone." + st.KeyDays[0]}} {
		if _, err := e.docs.Get(e.ctx, testCustomer, c.coll, c.id); !errors.Is(err, docstore.ErrNotFound) {
			t.Fatalf("%s/%s after the rule was deleted: %v", c.coll, c.id, err)
		}
	}
}

// TestAlertKeysExpireAfterRetention: the days of alert keys older than the
// retention (and the rule's period) are deleted as the rule runs.
func TestAlertKeysExpireAfterRetention(t *testing.T) {
	e := newEnv(t)
	e.ws.Workspace.Properties.RetentionInDays = 2
	e.ingest("SigninLogs", signin(-time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("old", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	first, _, _ := loadState(e.ctx, e.docs, testCustomer, "old")
	e.tickFor(4*24*time.Hour, time.Hour)
	st, _, _ := loadState(e.ctx, e.docs, testCustomer, "old")
	if slices.Contains(st.KeyDays, first.KeyDays[0]) {
		t.Fatalf("key days %v still hold %s, four days on with two days' retention", st.KeyDays, first.KeyDays[0])
	}
	if _, err := e.docs.Get(e.ctx, testCustomer, collAlertKeys, "old."+first.KeyDays[0]); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("expired alert keys still stored: %v", err)
	}
}

// TestRevokedKeyPausesEvenWhenTheStoresOpen: stores that open but cannot
// be read for the key pause the workspace's rules as well, without error,
// and runs resume when the key is back.
func TestRevokedKeyPausesEvenWhenTheStoresOpen(t *testing.T) {
	var e *env
	e = newEnv(t, func(c *Config) {
		c.Docs = func(context.Context, *workspace.WorkspaceInfo) (*docstore.Store, error) { return e.docs, nil }
		c.Logs = func(context.Context, *workspace.WorkspaceInfo) (*logstore.Store, error) { return e.logs, nil }
		c.Source = func(context.Context, *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			return wsdata.NewSource(e.logs, testCustomer), func() {}, nil
		}
	})
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("ungated", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	e.ingest("SigninLogs", signin(2*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.keys.Revoke()
	e.tickFor(10*time.Minute, 5*time.Minute)
	if p := e.sched.paused(); p != 1 {
		t.Fatalf("%v workspaces paused while the key is revoked, want 1", p)
	}
	e.keys.Restore()
	e.tickFor(5*time.Minute, 5*time.Minute)
	if p := e.sched.paused(); p != 0 {
		t.Fatalf("%v workspaces paused after restore", p)
	}
	if n := e.alertCount("ungated"); n != 1 {
		t.Fatalf("%d alerts after restore, want 1", n)
	}
}

// TestALateRunSaysHowLate: a run that happens after its window ended says
// by how much, so a scheduler falling behind is on record.
func TestALateRunSaysHowLate(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("slow", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	e.advance(7 * time.Minute) // due at 10:05, run at 10:07
	e.tick()
	got := e.query(`SentinelHealth | where SentinelResourceName == "slow" | sort by RecordId asc | project d = toint(ExtendedProperties.DelayMs)`)
	if len(got) != 2 || got[1][0] != int64(2*60*1000) {
		t.Fatalf("delays %v, want the second run 2 minutes late", got)
	}
}

// TestAFirstRunIsNeverEarly: a new rule's first window ends on the next
// whole second, after the run; the run is on time, and neither its health
// record nor sealwatch_rule_run_delay_seconds says it ran before its window
// ended (a negative observation would make the histogram's sum go down).
func TestAFirstRunIsNeverEarly(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Registerer = reg })
	e.advance(300 * time.Millisecond) // 10:00:00.3: the first window ends at 10:00:01
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	e.putRule("new", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	got := e.query(`SentinelHealth | where SentinelResourceName == "new" | project d = toint(ExtendedProperties.DelayMs)`)
	if len(got) != 1 || got[0][0] != nil {
		t.Fatalf("first run's DelayMs %v, want none (on time)", got)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sealwatch_rule_run_delay_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 1 || h.GetSampleSum() != 0 {
			t.Fatalf("delay histogram: %d runs, sum %vs; want 1 run, on time", h.GetSampleCount(), h.GetSampleSum())
		}
		return
	}
	t.Fatal("sealwatch_rule_run_delay_seconds is not exported")
}

// TestEveryRunOutcomeIsCountedFromZero: sealwatch_rule_runs_total has a
// series for each outcome before any run, so that the first failed run is
// an increase the alert on failed runs sees, not a series appearing.
func TestEveryRunOutcomeIsCountedFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	newEnv(t, func(c *Config) { c.Registerer = reg })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "sealwatch_rule_runs_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{OutcomeRan: 0, OutcomeCaughtUp: 0, OutcomeLate: 0, OutcomeSuppressed: 0, OutcomeSkipped: 0, OutcomeFailed: 0}
	if !maps.Equal(got, want) {
		t.Fatalf("runs by outcome before any run: %v, want %v", got, want)
	}
}

// TestWorkspaceWithoutRulesIsNotOpened: a tick reads the rules of a
// workspace from its documents and opens its log store only when there is
// one to run, so that the stores of workspaces without rules can stay
// closed while idle, however many workspaces a tick goes over.
func TestWorkspaceWithoutRulesIsNotOpened(t *testing.T) {
	var opened atomic.Int64
	var e *env
	e = newEnv(t, func(c *Config) {
		c.Logs = func(context.Context, *workspace.WorkspaceInfo) (*logstore.Store, error) {
			opened.Add(1)
			return e.logs, nil
		}
		c.Source = func(context.Context, *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			opened.Add(1)
			return wsdata.NewSource(e.logs, testCustomer), func() {}, nil
		}
	})
	e.tickFor(10*time.Minute, 5*time.Minute)
	if n := opened.Load(); n != 0 {
		t.Fatalf("ticks over a workspace without rules opened its log store %d times", n)
	}
	e.putRule("ungated", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	if opened.Load() == 0 {
		t.Fatal("a workspace with a rule was not opened to run it")
	}
}

// TestRulesOfATickUseTheStoreOpenNow: the data plane may close a store in
// the middle of a long tick (a change of the workspace's retention reopens
// it, in use or not) and open a new one when asked; the tick's later
// writes and rules ask again, and so land in the store open now.
func TestRulesOfATickUseTheStoreOpenNow(t *testing.T) {
	var e *env
	reopened := false
	e = newEnv(t, func(c *Config) {
		c.OnAlert = func(context.Context, AlertEvent) {
			if reopened {
				return
			}
			reopened = true // the first alert: the store is closed as idle, and a new one opens
			if err := e.logs.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := logstore.New(e.logsCfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e.logs = st
		}
	})
	e.ingest("SigninLogs", signin(-2*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("first", "Scheduled", scheduled(failedSignins, "PT5M", "PT1H", nil))
	e.putRule("second", "Scheduled", scheduled(failedSignins, "PT5M", "PT1H", nil))
	e.tick()
	if !reopened {
		t.Fatal("no alert was raised")
	}
	for _, rule := range []string{"first", "second"} {
		if n := e.alertCount(rule); n != 1 {
			t.Fatalf("rule %s raised %d alerts after the store was reopened, want 1", rule, n)
		}
	}
}

// heldSource counts the scans of a source that run while it is not held.
type heldSource struct {
	kql.Source
	held     *atomic.Int64
	unheld   *atomic.Int64
	released atomic.Bool
}

func (h *heldSource) Scan(ctx context.Context, req kql.ScanRequest) (kql.BatchIterator, error) {
	if h.released.Load() || h.held.Load() <= 0 {
		h.unheld.Add(1)
	}
	return h.Source.Scan(ctx, req)
}

// TestEverySourceATickTakesIsHeldWhileUsedAndReleased: the workspace's
// rules of a tick scan only sources the scheduler holds (their stores
// cannot be closed under them), and by the tick's end it has released
// each one it took, the ones it swapped between rules too, and one taken
// while a later store failed to open.
func TestEverySourceATickTakesIsHeldWhileUsedAndReleased(t *testing.T) {
	var held, unheld, taken atomic.Int64
	var failLogs atomic.Bool
	var e *env
	e = newEnv(t, func(c *Config) {
		gated := c.Logs
		c.Logs = func(ctx context.Context, ws *workspace.WorkspaceInfo) (*logstore.Store, error) {
			if failLogs.Load() {
				return nil, errors.New("the log store cannot be opened")
			}
			return gated(ctx, ws)
		}
		c.Source = func(context.Context, *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			taken.Add(1)
			held.Add(1)
			src := &heldSource{Source: wsdata.NewSource(e.logs, testCustomer), held: &held, unheld: &unheld}
			return src, func() {
				if src.released.CompareAndSwap(false, true) {
					held.Add(-1)
				}
			}, nil
		}
	})
	e.ingest("SigninLogs", signin(-2*time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	for _, rule := range []string{"first", "second", "third"} {
		e.putRule(rule, "Scheduled", scheduled(failedSignins, "PT5M", "PT1H", nil))
	}
	e.tickFor(10*time.Minute, 5*time.Minute)
	if taken.Load() < 3 {
		t.Fatalf("%d sources taken over two ticks of three rules", taken.Load())
	}
	if n := held.Load(); n != 0 {
		t.Fatalf("%d sources still held after the ticks", n)
	}
	if n := unheld.Load(); n != 0 {
		t.Fatalf("%d scans ran over a source not held", n)
	}
	if n := e.alertCount("first"); n != 1 {
		t.Fatalf("%d alerts from the first rule, want 1", n)
	}
	failLogs.Store(true)
	before := taken.Load()
	e.advance(5 * time.Minute)
	if err := e.sched.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	if taken.Load() == before {
		t.Fatal("no source was taken in the tick whose log store failed to open")
	}
	if n := held.Load(); n != 0 {
		t.Fatalf("%d sources still held after a log store failed to open", n)
	}
}

// TestSweepKeepsTheStateOfARuleMadeAfterItsListing: a node lists a
// workspace's rules (none yet, or not the newest), and before it sweeps, a
// rule is made and run — by the node holding the workspace's lease — which
// stores its state and alert keys. The sweep must not take that rule for
// a deleted one: it would delete its state and alert keys, and the rule
// would alert again on windows it alerted on.
func TestSweepKeepsTheStateOfARuleMadeAfterItsListing(t *testing.T) {
	e := newEnv(t)
	e.ingest("SigninLogs", signin(-time.Minute, "a@contoso.com", "10.0.0.1", "50126"))
	e.putRule("new", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
	e.tick()
	st, _, err := loadState(e.ctx, e.docs, testCustomer, "new")
	if err != nil || len(st.KeyDays) != 1 {
		t.Fatalf("state after a run with an alert: %+v, %v", st, err)
	}

	other, err := New(e.sched.cfg) // another node, holding no lease
	if err != nil {
		t.Fatal(err)
	}
	w := &wsRun{s: other, ws: &e.ws, customerID: testCustomer, docs: e.docs, now: e.clock.Now()}
	if err := other.sweep(e.ctx, w); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ coll, id string }{{collRuleState, "new"}, {collAlertKeys, "new." + st.KeyDays[0]}} {
		if _, err := e.docs.Get(e.ctx, testCustomer, c.coll, c.id); err != nil {
			t.Fatalf("%s/%s of a rule that exists, after another node's sweep: %v", c.coll, c.id, err)
		}
	}
}
