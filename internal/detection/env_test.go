package detection

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// clock is the tests' fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one workspace with real sealed stores, a scheduler on a fake
// clock, and a key that can be revoked.
type env struct {
	t     testing.TB
	ctx   context.Context
	clock *clock
	keys  *envelopetest.Keys
	docs  *docstore.Store
	logs  *logstore.Store
	// logsCfg is how logs was opened, to open it again
	logsCfg logstore.Config
	ws      workspace.WorkspaceInfo
	sched   *Scheduler
}

const testCustomer = "11111111-2222-3333-4444-555555555555"

var errKeyRevoked = errors.New("the workspace's key is revoked")

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, ctx: t.Context(), clock: &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}, keys: envelopetest.New("aek")}
	db, err := boltkv.Open(filepath.Join(dir, "documents.db"), boltkv.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if e.docs, err = docstore.New(db, e.keys); err != nil {
		t.Fatal(err)
	}
	e.logsCfg = logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: e.keys, Now: e.clock.Now, Retention: 30 * 24 * time.Hour}
	e.logs, err = logstore.New(e.logsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.logs.Close() })
	e.ws = workspace.WorkspaceInfo{Onboarded: true, Workspace: workspace.Workspace{
		ID:   "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w",
		Name: "w", Properties: workspace.WorkspaceProperties{CustomerID: testCustomer, RetentionInDays: 30},
	}}
	// the stores refuse to open while the key is revoked, as the node's do
	gate := func() error {
		if e.keys.Revoked() {
			return errKeyRevoked
		}
		return nil
	}
	cfg := Config{
		Workspaces: func(context.Context) ([]workspace.WorkspaceInfo, error) { return []workspace.WorkspaceInfo{e.ws}, nil },
		Docs:       func(context.Context, *workspace.WorkspaceInfo) (*docstore.Store, error) { return e.docs, gate() },
		Logs:       func(context.Context, *workspace.WorkspaceInfo) (*logstore.Store, error) { return e.logs, gate() },
		Source: func(context.Context, *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			return wsdata.NewSource(e.logs, testCustomer), func() {}, gate()
		},
		Now: e.clock.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	if e.sched, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) advance(d time.Duration) { e.clock.advance(d) }

// tick runs the scheduler once and fails the test on an error.
func (e *env) tick() {
	e.t.Helper()
	if err := e.sched.Tick(e.ctx); err != nil {
		e.t.Fatalf("tick at %s: %v", e.clock.Now().Format("15:04:05"), err)
	}
}

// tickFor advances the clock in steps, ticking after each, for d.
func (e *env) tickFor(d, step time.Duration) {
	e.t.Helper()
	for end := e.clock.Now().Add(d); e.clock.Now().Before(end); {
		e.advance(step)
		e.tick()
	}
}

// ingest writes rows to table; each row's TimeGenerated is at its offset
// from now.
func (e *env) ingest(table string, rows ...row) {
	e.t.Helper()
	e.ingestIn(testCustomer, table, rows...)
}

// ingestIn is ingest into the workspace customer.
func (e *env) ingestIn(customer, table string, rows ...row) {
	e.t.Helper()
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		m := map[string]any{"TimeGenerated": e.clock.Now().Add(r.at)}
		for k, v := range r.cols {
			m[k] = v
		}
		out[i] = m
	}
	body, _ := json.Marshal(out)
	if _, err := e.logs.Ingest(e.ctx, customer, table, body); err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
}

type row struct {
	at   time.Duration
	cols map[string]any
}

// signin is a SigninLogs row at offset at.
func signin(at time.Duration, user, ip, result string) row {
	return row{at: at, cols: map[string]any{"UserPrincipalName": user, "IPAddress": ip, "ResultType": result}}
}

// putRule saves a rule; props are the rule's properties.
func (e *env) putRule(id, kind string, props map[string]any) {
	e.t.Helper()
	e.putRuleIn(&e.ws, id, kind, props)
}

// putRuleIn is putRule in the workspace ws.
func (e *env) putRuleIn(ws *workspace.WorkspaceInfo, id, kind string, props map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(props)
	customer := ws.Workspace.Properties.CustomerID
	rules := analyticrule.New(e.docs, customer, ws.Workspace.ID, func(ctx context.Context) (kql.Catalog, error) {
		return kql.CatalogOf(ctx, wsdata.NewSource(e.logs, customer))
	}, e.clock.Now)
	if _, _, err := rules.Put(e.ctx, id, kind, body, ""); err != nil {
		e.t.Fatalf("put rule %s: %v", id, err)
	}
}

// scheduled returns the properties of a Scheduled rule over query.
func scheduled(query, freq, period string, more map[string]any) map[string]any {
	p := map[string]any{
		"displayName": "test rule", "severity": "Medium", "enabled": true, "query": query,
		"queryFrequency": freq, "queryPeriod": period, "triggerOperator": "GreaterThan", "triggerThreshold": 0,
		"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"},
	}
	for k, v := range more {
		p[k] = v
	}
	return p
}

// query runs KQL over the workspace.
func (e *env) query(q string) [][]any {
	e.t.Helper()
	return e.queryIn(testCustomer, q)
}

// queryIn runs KQL over the workspace customer.
func (e *env) queryIn(customer, q string) [][]any {
	e.t.Helper()
	src := wsdata.NewSource(e.logs, customer)
	cat, err := kql.CatalogOf(e.ctx, src)
	if err != nil {
		e.t.Fatal(err)
	}
	cq, err := kql.Compile(q, cat)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	res, err := cq.Run(e.ctx, src, kql.Options{Now: e.clock.Now().Add(time.Hour), Timespan: 365 * 24 * time.Hour})
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer res.Release()
	return res.Tables[0].Rows
}

// alertCount is how many alerts rule raised, from the SecurityAlert table.
func (e *env) alertCount(ruleID string) int64 {
	e.t.Helper()
	if _, ok := e.tables()[AlertTable]; !ok {
		return 0
	}
	return e.query(`SecurityAlert | where AlertType == "` + ruleID + `" | count`)[0][0].(int64)
}

func (e *env) tables() map[string]bool {
	names, err := e.logs.Tables(e.ctx, testCustomer)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// outcomes are the health records' outcomes of rule, oldest first.
func (e *env) outcomes(ruleID string) []string {
	e.t.Helper()
	if !e.tables()[HealthTable] {
		return nil
	}
	var out []string
	for _, r := range e.query(`SentinelHealth | where SentinelResourceName == "` + ruleID + `" | sort by RecordId asc | project o = tostring(ExtendedProperties.Outcome)`) {
		out = append(out, r[0].(string))
	}
	return out
}

func (e *env) incidents() []incident.Incident {
	e.t.Helper()
	list, err := incident.New(e.docs, testCustomer, e.ws.Workspace.ID, e.clock.Now).List(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// ingestRaw writes a JSON array of rows to table.
func (e *env) ingestRaw(table string, body []byte) {
	e.t.Helper()
	if _, err := e.logs.Ingest(e.ctx, testCustomer, table, body); err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
}
