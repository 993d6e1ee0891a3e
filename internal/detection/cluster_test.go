package detection

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// cluster is several nodes' schedulers over one documents store and one
// log store, as nodes sharing a documents database are, on one fake clock.
type cluster struct {
	*env
	wss   []workspace.WorkspaceInfo
	nodes []*node
	steps int
}

// node is one node's scheduler, and what it was told of.
type node struct {
	name   string
	sched  *Scheduler
	docs   *docstore.Store // its handle on the documents
	alerts atomic.Int64    // OnAlert calls
	// onAlert, if set, is called from OnAlert: a test pauses the node there
	onAlert func()
	stopped bool // killed: it ticks no more, and releases nothing
	metrics *prometheus.Registry
}

func newCluster(t *testing.T, workspaces, nodes int, mod ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{env: newEnv(t)}
	for i := range workspaces {
		ws := c.ws
		ws.Workspace.Name = fmt.Sprintf("w%d", i)
		ws.Workspace.ID = ws.Workspace.ID[:len(ws.Workspace.ID)-1] + ws.Workspace.Name
		ws.Workspace.Properties.CustomerID = fmt.Sprintf("11111111-2222-3333-4444-%012d", i+1)
		c.wss = append(c.wss, ws)
	}
	for i := range nodes {
		n := &node{name: fmt.Sprintf("node-%d", i), docs: c.docs, metrics: prometheus.NewRegistry()}
		cfg := Config{
			Workspaces: func(context.Context) ([]workspace.WorkspaceInfo, error) { return c.wss, nil },
			Docs:       func(context.Context, *workspace.WorkspaceInfo) (*docstore.Store, error) { return n.docs, nil },
			Logs:       func(context.Context, *workspace.WorkspaceInfo) (*logstore.Store, error) { return c.logs, nil },
			Source: func(_ context.Context, ws *workspace.WorkspaceInfo) (kql.Source, func(), error) {
				return wsdata.NewSource(c.logs, ws.Workspace.Properties.CustomerID), func() {}, nil
			},
			OnAlert: func(context.Context, AlertEvent) {
				n.alerts.Add(1)
				if n.onAlert != nil {
					n.onAlert()
				}
			},
			Node:       n.name,
			Registerer: n.metrics,
			Interval:   time.Minute, // as the tests step: the leases last 3 steps
			Now:        c.clock.Now,
		}
		for _, m := range mod {
			m(&cfg)
		}
		var err error
		if n.sched, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

// onPostgreSQL moves the cluster's documents to a fresh PostgreSQL
// database, each node reaching it through connections of its own, and the
// test through others, as separate processes do.
func (c *cluster) onPostgreSQL(t *testing.T) *cluster {
	url := pgtest.New(t)
	open := func() *docstore.Store {
		docs, err := docstore.New(pgkvtest.Open(t, url, "documents"), c.keys)
		if err != nil {
			t.Fatal(err)
		}
		return docs
	}
	c.docs = open()
	for _, n := range c.nodes {
		n.docs = open()
	}
	return c
}

// onEachBackend runs test on a cluster of newCluster(t, workspaces,
// nodes, mod...) twice: with the nodes sharing one boltkv handle on the
// documents, and with the documents in PostgreSQL.
func onEachBackend(t *testing.T, test func(*testing.T, *cluster), workspaces, nodes int, mod ...func(*Config)) {
	t.Run("boltkv", func(t *testing.T) { test(t, newCluster(t, workspaces, nodes, mod...)) })
	t.Run("postgresql", func(t *testing.T) { test(t, newCluster(t, workspaces, nodes, mod...).onPostgreSQL(t)) })
}

// step advances the clock by d and ticks every live node at once, as
// nodes do.
func (c *cluster) step(d time.Duration) {
	c.t.Helper()
	c.advance(d)
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if !n.stopped {
			wg.Go(func() { errs[i] = n.sched.Tick(c.ctx) })
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("%s's tick at %s: %v", c.nodes[i].name, c.clock.Now().Format("15:04:05"), err)
		}
	}
	c.steps++
}

// stepFor steps a minute at a time for d.
func (c *cluster) stepFor(d time.Duration) {
	c.t.Helper()
	for range d / time.Minute {
		c.step(time.Minute)
	}
}

func (c *cluster) tickNode(n *node) {
	c.t.Helper()
	if n.stopped {
		return
	}
	if err := n.sched.Tick(c.ctx); err != nil {
		c.t.Fatalf("%s's tick at %s: %v", n.name, c.clock.Now().Format("15:04:05"), err)
	}
}

// failures ingests one failed sign-in, stamped now, into every workspace,
// and returns how many it ingested.
func (c *cluster) failures() int {
	c.t.Helper()
	for _, ws := range c.wss {
		user := fmt.Sprintf("u%d@contoso.com", c.steps)
		c.ingestIn(ws.Workspace.Properties.CustomerID, "SigninLogs", signin(0, user, "10.0.0.1", "50126"))
	}
	return len(c.wss)
}

// holder is the node holding a workspace's lease, and the lease.
func (c *cluster) holder(ws *workspace.WorkspaceInfo) lease {
	c.t.Helper()
	l, _, err := readLease(c.ctx, c.docs, ws.Workspace.Properties.CustomerID)
	if err != nil {
		c.t.Fatal(err)
	}
	return l
}

// span is a window a run covered, and how.
type span struct {
	start, end time.Time
	outcome    string
}

// runsOnce checks that the windows rule ran in ws, on time or caught up,
// follow each other without a gap or an overlap — each once, none missed —
// and returns them.
func (c *cluster) runsOnce(ws *workspace.WorkspaceInfo, rule string) []span {
	c.t.Helper()
	from, to := "QueryStartTimeUtc", "QueryEndTimeUtc"
	if rule == "nrt" {
		from, to = "IngestedAfter", "IngestedUpTo"
	}
	rows := c.queryIn(ws.Workspace.Properties.CustomerID, fmt.Sprintf(`SentinelHealth
		| where SentinelResourceName == %q and tostring(ExtendedProperties.Outcome) in ("ran", "caughtUp")
		| project s = todatetime(ExtendedProperties.%s), e = todatetime(ExtendedProperties.%s), o = tostring(ExtendedProperties.Outcome)
		| sort by s asc`, rule, from, to))
	var out []span
	for _, r := range rows {
		sp := span{r[0].(time.Time), r[1].(time.Time), r[2].(string)}
		if len(out) > 0 && !sp.start.Equal(out[len(out)-1].end) {
			c.t.Fatalf("%s, rule %s: window [%s, %s) follows one ending %s: a window ran twice or was missed",
				ws.Workspace.Name, rule, sp.start.Format("15:04:05"), sp.end.Format("15:04:05"), out[len(out)-1].end.Format("15:04:05"))
		}
		out = append(out, sp)
	}
	return out
}

// alertRows is how many SecurityAlert rows rule wrote in ws.
func (c *cluster) alertRows(ws *workspace.WorkspaceInfo, rule string) int {
	c.t.Helper()
	customer := ws.Workspace.Properties.CustomerID
	if names, _ := c.logs.Tables(c.ctx, customer); !slices.Contains(names, AlertTable) {
		return 0
	}
	return int(c.queryIn(customer, `SecurityAlert | where AlertType == "`+rule+`" | count`)[0][0].(int64))
}

func (c *cluster) onAlertCalls() int {
	n := 0
	for _, nd := range c.nodes {
		n += int(nd.alerts.Load())
	}
	return n
}

// putRules saves, in every workspace, a Scheduled rule ("sched", every five
// minutes over five minutes) and an NRT rule ("nrt") over failed sign-ins,
// each raising an alert per result.
func (c *cluster) putRules() {
	c.t.Helper()
	for i := range c.wss {
		c.putRuleIn(&c.wss[i], "sched", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
		c.putRuleIn(&c.wss[i], "nrt", "NRT", map[string]any{"displayName": "nrt", "severity": "High", "enabled": true, "query": failedSignins,
			"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"}})
	}
}

// checkOnce checks that every workspace's rules ran each window once, and
// raised one alert row, one incident and one automation call per failed
// sign-in and rule.
func (c *cluster) checkOnce(failures int) {
	c.t.Helper()
	perWS := failures / len(c.wss)
	incidents := 0
	for i := range c.wss {
		ws := &c.wss[i]
		if len(c.runsOnce(ws, "sched")) == 0 || len(c.runsOnce(ws, "nrt")) == 0 {
			c.t.Fatalf("%s: a rule never ran", ws.Workspace.Name)
		}
		for _, rule := range []string{"sched", "nrt"} {
			if n := c.alertRows(ws, rule); n != perWS {
				c.t.Fatalf("%s, rule %s: %d alert rows for %d failed sign-ins", ws.Workspace.Name, rule, n, perWS)
			}
		}
		list, err := c.incidentsIn(ws)
		if err != nil {
			c.t.Fatal(err)
		}
		incidents += list
	}
	if incidents != 2*failures {
		c.t.Fatalf("%d incidents for %d alerts", incidents, 2*failures)
	}
	if n := c.onAlertCalls(); n != 2*failures {
		c.t.Fatalf("automation was called %d times for %d alerts", n, 2*failures)
	}
}

func (c *cluster) incidentsIn(ws *workspace.WorkspaceInfo) (int, error) {
	docs, err := c.docs.List(c.ctx, ws.Workspace.Properties.CustomerID, "incidents")
	return len(docs), err
}

// TestTwoNodesRunEveryWindowOnce: two nodes' schedulers over the same
// workspaces, ticking in turn for two hours, run each window of each rule
// once: one health record, one alert row, one incident and one automation
// call per failed sign-in and rule — no more, no fewer.
func TestTwoNodesRunEveryWindowOnce(t *testing.T) {
	onEachBackend(t, func(t *testing.T, c *cluster) {
		c.putRules()
		failures := 0
		for i := range 120 {
			c.step(time.Minute)
			if i%7 == 3 {
				failures += c.failures()
			}
		}
		c.stepFor(10 * time.Minute) // the last failures' windows end
		c.checkOnce(failures)
		for i := range c.wss {
			if l := c.holder(&c.wss[i]); l.Fence == 0 || l.Node == "" {
				t.Fatalf("%s: lease %+v", c.wss[i].Workspace.Name, l)
			}
		}
	}, 4, 2)
}

// TestAKilledNodesWorkspacesAreTakenAfterTheTTLAndCaughtUp: a node that
// stops without releasing its leases keeps its workspaces until the leases
// expire; then the other node takes them and catches up the windows missed
// meanwhile — each once, none missed.
func TestAKilledNodesWorkspacesAreTakenAfterTheTTLAndCaughtUp(t *testing.T) {
	const ttl = 12 * time.Minute
	onEachBackend(t, func(t *testing.T, c *cluster) {
		c.putRules()
		failures := 0
		for i := range 30 {
			c.step(time.Minute)
			if i%4 == 1 {
				failures += c.failures()
			}
		}
		victim := c.nodes[0]
		var taken []*workspace.WorkspaceInfo
		for i := range c.wss {
			if c.holder(&c.wss[i]).Node == victim.name {
				taken = append(taken, &c.wss[i])
			}
		}
		if len(taken) == 0 {
			t.Fatal("the node to kill holds no workspace")
		}
		victim.stopped = true
		killedAt := c.clock.Now()
		for i := range 40 {
			c.step(time.Minute)
			if i%4 == 1 {
				failures += c.failures()
			}
			for _, ws := range taken {
				if l := c.holder(ws); l.Node != victim.name && c.clock.Now().Before(killedAt.Add(ttl)) {
					t.Fatalf("%s was taken %s after the kill, before its lease expired", ws.Workspace.Name, c.clock.Now().Sub(killedAt))
				}
			}
		}
		c.stepFor(10 * time.Minute)
		c.checkOnce(failures)
		for _, ws := range taken {
			if l := c.holder(ws); l.Node == victim.name || l.Fence < 2 {
				t.Fatalf("%s after the kill: lease %+v", ws.Workspace.Name, l)
			}
			caughtUp := 0
			for _, sp := range c.runsOnce(ws, "sched") {
				if sp.outcome == OutcomeCaughtUp {
					caughtUp++
				}
			}
			if caughtUp < 2 {
				t.Fatalf("%s: %d windows caught up after the kill, want the ones missed while the lease ran out", ws.Workspace.Name, caughtUp)
			}
		}
	}, 3, 2, func(cfg *Config) { cfg.LeaseTTL = ttl })
}

// TestAPausedHolderWhoseLeaseWasTakenCommitsNothing: a node pauses in the
// middle of a window (here, while its automation runs) for longer than the
// lease; the other node takes the workspace and runs the window. The
// paused node, resuming, writes no alert row, no health record and no
// state: the window is on record once, from the node that holds the lease.
// The one effect that was under way when it paused — the automation call —
// is the one that happens twice.
func TestAPausedHolderWhoseLeaseWasTakenCommitsNothing(t *testing.T) {
	onEachBackend(t, func(t *testing.T, c *cluster) {
		ws := &c.wss[0]
		c.putRuleIn(ws, "sched", "Scheduled", scheduled(failedSignins, "PT5M", "PT5M", nil))
		paused, other := c.nodes[0], c.nodes[1]
		c.advance(time.Minute)
		c.tickNode(paused)
		c.tickNode(other)
		if c.holder(ws).Node != paused.name {
			t.Fatalf("the first node to tick does not hold the workspace: %+v", c.holder(ws))
		}
		before, _, err := loadState(c.ctx, c.docs, ws.Workspace.Properties.CustomerID, "sched")
		if err != nil {
			t.Fatal(err)
		}
		c.ingestIn(ws.Workspace.Properties.CustomerID, "SigninLogs", signin(0, "a@contoso.com", "10.0.0.1", "50126"))
		paused.onAlert = func() {
			paused.onAlert = nil
			c.advance(2 * paused.sched.cfg.LeaseTTL) // the pause
			c.tickNode(other)
		}
		c.advance(5 * time.Minute)
		c.tickNode(paused)
		if l := c.holder(ws); l.Node != other.name || l.Fence != 2 {
			t.Fatalf("after the pause the lease is %+v, want %s's second claim", l, other.name)
		}
		after, _, err := loadState(c.ctx, c.docs, ws.Workspace.Properties.CustomerID, "sched")
		if err != nil {
			t.Fatal(err)
		}
		if !after.LastEnd.After(before.LastEnd) {
			t.Fatalf("the window's state was not committed: last end %s, then %s", before.LastEnd, after.LastEnd)
		}
		spans := c.runsOnce(ws, "sched")
		if n := c.alertRows(ws, "sched"); n != 1 {
			t.Fatalf("%d alert rows, want 1", n)
		}
		if n, _ := c.incidentsIn(ws); n != 1 {
			t.Fatalf("%d incidents, want 1", n)
		}
		if a, b := paused.alerts.Load(), other.alerts.Load(); a != 1 || b != 1 {
			t.Fatalf("automation calls: %d by the paused node, %d by the other; want the one in flight and the holder's", a, b)
		}
		for range 3 { // the paused node stays off the workspace
			c.step(time.Minute)
		}
		if l := c.holder(ws); l.Node != other.name || len(c.runsOnce(ws, "sched")) != len(spans) {
			t.Fatalf("after the pause: lease %+v", l)
		}
	}, 1, 2)
}

// TestAnNRTRunRedoneByAnotherNodeRaisesNoSecondIncident: an NRT run that
// paused past its lease after raising an alert is redone by the node that
// took the workspace, over rows ingested up to a later instant: the row
// alerted on before the pause is the same alert, in the same incident.
func TestAnNRTRunRedoneByAnotherNodeRaisesNoSecondIncident(t *testing.T) {
	onEachBackend(t, func(t *testing.T, c *cluster) {
		ws := &c.wss[0]
		customer := ws.Workspace.Properties.CustomerID
		c.putRuleIn(ws, "nrt", "NRT", map[string]any{"displayName": "nrt", "severity": "High", "enabled": true, "query": failedSignins,
			"eventGroupingSettings": map[string]any{"aggregationKind": "AlertPerResult"}})
		paused, other := c.nodes[0], c.nodes[1]
		c.advance(time.Minute)
		c.tickNode(paused)
		c.ingestIn(customer, "SigninLogs", signin(0, "a@contoso.com", "10.0.0.1", "50126"))
		paused.onAlert = func() {
			paused.onAlert = nil
			c.advance(2 * paused.sched.cfg.LeaseTTL) // the pause, in which another row arrives
			c.ingestIn(customer, "SigninLogs", signin(0, "b@contoso.com", "10.0.0.2", "50126"))
			c.tickNode(other)
		}
		c.advance(time.Minute)
		c.tickNode(paused)
		if l := c.holder(ws); l.Node != other.name {
			t.Fatalf("after the pause the lease is %+v, want %s's", l, other.name)
		}
		if n, _ := c.incidentsIn(ws); n != 2 {
			t.Fatalf("%d incidents for two failed sign-ins", n)
		}
		if n := c.alertRows(ws, "nrt"); n != 2 {
			t.Fatalf("%d alert rows for two failed sign-ins", n)
		}
	}, 1, 2)
}

// TestACleanStopReleasesTheLeasesAtOnce: a scheduler whose Run ends gives
// its workspaces up, and another node takes them at its next tick, without
// waiting for the TTL.
func TestACleanStopReleasesTheLeasesAtOnce(t *testing.T) {
	onEachBackend(t, func(t *testing.T, c *cluster) {
		c.putRules()
		first, second := c.nodes[0], c.nodes[1]
		opened := make(chan struct{}, len(c.wss))
		source := first.sched.cfg.Source
		first.sched.cfg.Source = func(ctx context.Context, ws *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			opened <- struct{}{} // after the workspace's lease is taken
			return source(ctx, ws)
		}
		ctx, cancel := context.WithCancel(c.ctx)
		done := make(chan struct{})
		go func() {
			first.sched.Run(ctx)
			close(done)
		}()
		for range c.wss {
			<-opened
		}
		cancel()
		<-done
		c.tickNode(second) // the clock has not moved: no lease has expired
		for i := range c.wss {
			if l := c.holder(&c.wss[i]); l.Node != second.name {
				t.Fatalf("%s after a clean stop: %+v", c.wss[i].Workspace.Name, l)
			}
		}
	}, 2, 2, func(cfg *Config) { cfg.Interval = time.Hour })
}

// TestWorkspacesSpreadOverTheNodes: a node that starts after another has
// taken every workspace asks for some, and gets them, until no node holds
// two more than another; every window still runs once.
func TestWorkspacesSpreadOverTheNodes(t *testing.T) {
	onEachBackend(t, func(t *testing.T, c *cluster) {
		c.putRules()
		late := c.nodes[1:]
		for _, n := range late {
			n.stopped = true
		}
		failures := 0
		c.step(time.Minute)
		if !c.holdsAll(c.nodes[0]) {
			t.Fatal("the only node running does not hold every workspace")
		}
		for _, n := range late {
			n.stopped = false
		}
		for i := range 20 {
			c.step(time.Minute)
			if i%3 == 0 {
				failures += c.failures()
			}
		}
		c.stepFor(10 * time.Minute)
		held := map[string]int{}
		for i := range c.wss {
			held[c.holder(&c.wss[i]).Node]++
		}
		for _, n := range c.nodes {
			if held[n.name] < 2 || held[n.name] > 3 {
				t.Fatalf("the nodes hold %v workspaces of %d", held, len(c.wss))
			}
			if m := n.leasedMetric(t); m != held[n.name] {
				t.Fatalf("%s holds %d workspaces, and says %d in its metrics", n.name, held[n.name], m)
			}
		}
		c.checkOnce(failures)
	}, 7, 3)
}

// leasedMetric is n's sealwatch_rule_leased_workspaces.
func (n *node) leasedMetric(t *testing.T) int {
	t.Helper()
	fams, err := n.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "sealwatch_rule_leased_workspaces" {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatal("no sealwatch_rule_leased_workspaces")
	return 0
}

// holdsAll says whether n holds every workspace's lease.
func (c *cluster) holdsAll(n *node) bool {
	for i := range c.wss {
		if c.holder(&c.wss[i]).Node != n.name {
			return false
		}
	}
	return true
}
