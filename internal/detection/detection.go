// Package detection runs a workspace's analytics rules: Scheduled rules
// over TimeGenerated windows every queryFrequency, NRT rules over the rows
// ingested since their last run. It raises alerts into the SecurityAlert
// table and the alert store, raises or groups incidents, and records every
// run in the SentinelHealth table.
//
// Beyond the cloud's behaviour it keeps two promises. Every row is
// evaluated by at least one run: each run sees the rows ingested up to an
// ingestion watermark, and the next run evaluates again the windows that
// rows ingested after it belong to. And no alert is raised twice for the
// same result: a fingerprint of each alerted result row is kept with its
// window, and an overlapping window's identical row raises nothing.
// Missed runs — the node down, the key revoked or unreachable — are caught
// up once the stores open again, and every run, skip and failure is on
// record; nothing is disabled or dropped silently. Nodes that share the
// documents run each workspace's rules one at a time, under a lease that
// also fences the rules' state (lease.go).
package detection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Defaults for Config fields left zero.
const (
	DefaultInterval        = 10 * time.Second
	DefaultNRTInterval     = time.Minute
	MinNRTInterval         = 10 * time.Second
	DefaultMaxAlertsPerRun = 500
)

// Config configures a Scheduler. The store functions are required.
type Config struct {
	// Workspaces lists every workspace; rules run in the onboarded ones.
	Workspaces func(ctx context.Context) ([]workspace.WorkspaceInfo, error)
	// Docs, Logs and Source open a workspace's stores under its keys. They
	// fail while its key is revoked, locked or unreachable: no rule of the
	// workspace runs then, and its missed windows are caught up later.
	// Source holds what the source reads open until release is called,
	// which the scheduler does once it no longer uses the source: the
	// workspace's rules of one tick run over one source.
	Docs   func(ctx context.Context, ws *workspace.WorkspaceInfo) (*docstore.Store, error)
	Logs   func(ctx context.Context, ws *workspace.WorkspaceInfo) (*logstore.Store, error)
	Source func(ctx context.Context, ws *workspace.WorkspaceInfo) (src kql.Source, release func(), err error)
	// ClusterMark, on a node of a cluster, returns the instant up to which
	// the rows the other live nodes took of a workspace are visible here,
	// and the lineage whose mark it is (wsdata.Data.ClusterMark); a zero
	// instant when no other node is live. A tick runs the workspace's
	// rules up to the lesser of it and this node's ingestion watermark, so
	// that no rule passes a row another node acknowledged and this one
	// cannot see yet. It fails while a live node has published no mark:
	// the tick does not run the workspace's rules, and catches up later.
	// Nil: a single node.
	ClusterMark func(ctx context.Context, workspace string) (at time.Time, lineage string, err error)
	// OnAlert is told of each alert a run raises, after it and its
	// incident are stored: automation rules run there.
	OnAlert func(ctx context.Context, ev AlertEvent)

	// Interval is how often the scheduler looks for due runs (default 10 s).
	Interval time.Duration
	// NRTInterval is how often NRT rules run (default 1 minute, at least
	// 10 s).
	NRTInterval time.Duration
	// MaxAlertsPerRun is a safety limit on the alerts one rule raises in one
	// tick (default 500). A run that reaches it records a warning, and the
	// next tick raises the rest: nothing is dropped.
	MaxAlertsPerRun int
	// MaxQueryMemory, QueryMemory and QueryTimeout bound each query as the
	// query API's are bounded.
	MaxQueryMemory int64
	QueryMemory    *kql.MemoryPool
	QueryTimeout   time.Duration
	// GeoIP is the database geo_info_from_ip_address() reads in rules' queries;
	// nil: it answers null.
	GeoIP *kql.GeoIPDB
	// ExternalData is what externaldata may fetch in rules' queries; nil: nothing,
	// and a rule that reads externaldata fails its runs.
	ExternalData kql.ExternalFetcher

	// Node names this node among those sharing the documents database,
	// and LeaseTTL is how long a workspace's lease lasts without renewal
	// (default and at least 3 Intervals): a workspace's rules are run by
	// one node at a time, the one holding its lease (see lease.go). An
	// empty Node is a random name, this Scheduler's own.
	Node     string
	LeaseTTL time.Duration

	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// AlertEvent is an alert a run raised, and the incident it went into: one
// the alert created, or one it was grouped into (nil when the rule creates
// no incidents).
type AlertEvent struct {
	Workspace *workspace.WorkspaceInfo
	Docs      *docstore.Store
	Incidents *incident.Incidents
	Alert     *alert.Alert
	Incident  *incident.Incident
	Created   bool
}

// Scheduler runs analytics rules. Tick does one round; Run ticks until its
// context ends.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	mu sync.Mutex
	// blocked are the workspaces whose stores could not be opened at the
	// last tick, since when and why.
	blocked map[string]*blocked
	// swept is when each workspace's state of deleted rules was last
	// cleared.
	swept map[string]time.Time
	// held are the workspaces' leases the scheduler holds, by customer
	// ID, as it last wrote them.
	held map[string]*held
	// lastHolds is how many workspaces each scheduler held at the last
	// tick, by lease.holder.
	lastHolds map[string]int
	// incarnation tells this Scheduler from the node's earlier ones.
	incarnation string
	// alertColumns and healthColumns are the standard schemas of the
	// tables the scheduler writes, which its rows are converted to.
	alertColumns, healthColumns []logstore.DeclaredColumn
}

type blocked struct {
	since  time.Time
	reason string
}

// New returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Workspaces == nil || cfg.Docs == nil || cfg.Logs == nil || cfg.Source == nil {
		return nil, errors.New("detection: the workspace list and store functions are required")
	}
	if cfg.NRTInterval != 0 && cfg.NRTInterval < MinNRTInterval {
		return nil, errors.New("detection: the NRT interval is at least 10 seconds")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.NRTInterval == 0 {
		cfg.NRTInterval = DefaultNRTInterval
	}
	if cfg.MaxAlertsPerRun <= 0 {
		cfg.MaxAlertsPerRun = DefaultMaxAlertsPerRun
	}
	if cfg.LeaseTTL < 3*cfg.Interval {
		cfg.LeaseTTL = 3 * cfg.Interval
	}
	if cfg.Node == "" {
		cfg.Node = "scheduler-" + newIncarnation()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, blocked: map[string]*blocked{}, swept: map[string]time.Time{},
		held: map[string]*held{}, incarnation: newIncarnation()}
	var err error
	if s.alertColumns, err = standardColumns(AlertTable); err != nil {
		return nil, err
	}
	if s.healthColumns, err = standardColumns(HealthTable); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(cfg.Registerer, s.paused, func() float64 { return float64(s.holds()) })
	return s, nil
}

// standardColumns are the built-in columns of a standard table the
// scheduler writes.
func standardColumns(table string) ([]logstore.DeclaredColumn, error) {
	schema, ok := tables.StandardSchema(table)
	if !ok {
		return nil, fmt.Errorf("detection: %s is not a built-in table", table)
	}
	return schema.LogColumns()
}

// paused is how many workspaces' rules cannot run now.
func (s *Scheduler) paused() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(len(s.blocked))
}

// Run ticks every Interval until ctx ends, then releases the workspaces'
// leases it holds, for other nodes to take at once.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("analytics rules: a tick did not finish", "err", err)
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Interval)
			defer cancel()
			s.release(rctx)
			return
		case <-t.C:
		}
	}
}

// Tick runs every due rule of every onboarded workspace whose lease it
// holds or can claim once. Its error
// joins the workspaces' that could not be worked; each is recorded in the
// workspace's health table where that can be written.
func (s *Scheduler) Tick(ctx context.Context) error {
	all, err := s.cfg.Workspaces(ctx)
	if err != nil {
		return err
	}
	var errs []error
	tl := &tickLeases{holds: map[string]int{}}
	for i := range all {
		ws := &all[i]
		if !ws.Onboarded {
			continue
		}
		if err := s.tickWorkspace(ctx, ws, tl); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.mu.Lock()
	s.lastHolds = tl.holds
	s.mu.Unlock()
	return errors.Join(errs...)
}

// tickWorkspace lists a workspace's rules and, if it has any, opens its
// stores and runs those due. A workspace without rules costs a tick one
// read of its documents: its log store is not opened, so that it can stay
// closed while the workspace is idle, and a tick over many workspaces
// does not open them all.
func (s *Scheduler) tickWorkspace(ctx context.Context, ws *workspace.WorkspaceInfo, tl *tickLeases) error {
	now := s.cfg.Now().UTC()
	id := ws.Workspace.Properties.CustomerID
	docs, err := s.cfg.Docs(ctx, ws)
	var rules []analyticrule.Rule
	if err == nil {
		rules, err = analyticrule.New(docs, id, ws.Workspace.ID, nil, nil).List(ctx)
	}
	var w *wsRun
	var h *held
	switch {
	case err != nil:
	case len(rules) == 0:
		s.unblock(id) // nothing was missed: there is nothing to catch up
		s.forget(id)  // a lease of it, if any, is left to expire
		return s.sweep(ctx, &wsRun{s: s, ws: ws, customerID: id, docs: docs, now: now})
	default:
		if h, err = s.acquire(ctx, docs, ws, now, tl); err == nil && h == nil {
			s.unblock(id) // its holder catches up what was missed
			return nil
		}
		if err == nil {
			w, err = s.open(ctx, ws, now)
		}
	}
	if err != nil {
		s.block(ws, now, err)
		return nil // the missed windows are caught up once the stores open
	}
	defer w.close()
	w.lease = h
	w.resumed = s.unblock(id)

	var errs []error
	for i := range rules {
		spec, err := rules[i].Spec()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		start := time.Now()
		if i > 0 { // a store reopened meanwhile (its retention changed) is taken anew
			if err := w.refresh(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err = s.keep(ctx, docs, h)
		if err == nil {
			err = w.runRule(ctx, spec)
		}
		s.metrics.seconds.Observe(time.Since(start).Seconds())
		if errors.Is(err, errLeaseLost) {
			s.log.Info("analytics rules: another node took the workspace, or changed a rule's state; this node stops running its rules until it holds the lease again",
				"workspace", ws.Workspace.ID, "rule", spec.ID, "err", err)
			return errors.Join(errs...)
		}
		errs = append(errs, err)
	}
	errs = append(errs, s.sweep(ctx, w))
	return errors.Join(errs...)
}

// unblock notes that a workspace's stores opened, and returns the outage
// that ended, if there was one.
func (s *Scheduler) unblock(id string) *blocked {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.blocked[id]
	delete(s.blocked, id)
	return b
}

// open opens a workspace's stores and takes the tick's ingestion watermark.
func (s *Scheduler) open(ctx context.Context, ws *workspace.WorkspaceInfo, now time.Time) (*wsRun, error) {
	docs, err := s.cfg.Docs(ctx, ws)
	if err != nil {
		return nil, err
	}
	src, release, err := s.cfg.Source(ctx, ws)
	if err != nil {
		return nil, err
	}
	logs, err := s.cfg.Logs(ctx, ws) // the store src holds open
	if err != nil {
		release()
		return nil, err
	}
	cat, err := kql.CatalogOf(ctx, src)
	if err != nil {
		release()
		return nil, err
	}
	id := ws.Workspace.Properties.CustomerID
	watermark, err := s.watermark(ctx, id, logs)
	if err != nil {
		release()
		return nil, err
	}
	retention := time.Duration(ws.Workspace.Properties.RetentionInDays) * 24 * time.Hour
	if retention <= 0 {
		retention = 30 * 24 * time.Hour
	}
	return &wsRun{
		s: s, ws: ws, customerID: id, docs: docs, logs: logs, src: src, release: release, cat: cat,
		alerts:    alert.New(docs, id, ws.Workspace.ID),
		incidents: incident.New(docs, id, ws.Workspace.ID, s.cfg.Now),
		now:       now, watermark: watermark, retention: retention,
	}, nil
}

// heldWarning is how far behind this node's own watermark another node's
// mark may hold a workspace's before each tick says so in the log.
const heldWarning = time.Minute

// watermark is the ingestion watermark the workspace's rules run up to in
// this tick: this node's own, held back to the other nodes' least mark
// (Config.ClusterMark).
func (s *Scheduler) watermark(ctx context.Context, workspace string, logs *logstore.Store) (time.Time, error) {
	own := logs.IngestionWatermark() // first: the others' marks are read after it
	if s.cfg.ClusterMark == nil {
		return own, nil
	}
	at, lineage, err := s.cfg.ClusterMark(ctx, workspace)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the other nodes' ingestion marks: %w", err)
	}
	if at.IsZero() || !at.Before(own) {
		s.metrics.held.Observe(0)
		return own, nil
	}
	held := own.Sub(at)
	s.metrics.held.Observe(held.Seconds())
	if held > heldWarning {
		s.log.Warn("analytics rules wait for rows another node has not made visible to this one yet",
			"workspace", workspace, "lineage", lineage, "behind", held.Round(time.Second))
	}
	return at, nil
}

// block notes that a workspace's rules could not run, once per outage.
func (s *Scheduler) block(ws *workspace.WorkspaceInfo, now time.Time, err error) {
	id := ws.Workspace.Properties.CustomerID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[id] != nil {
		return
	}
	s.blocked[id] = &blocked{since: now, reason: runError(err)}
	s.log.Warn("analytics rules paused: the workspace's stores cannot be opened; missed runs are caught up when they can",
		"workspace", ws.Workspace.ID, "err", err)
}

// runRule runs what is due of one rule.
func (w *wsRun) runRule(ctx context.Context, spec *analyticrule.Spec) error {
	st, etag, err := loadState(ctx, w.docs, w.customerID, spec.ID)
	if err != nil {
		return err
	}
	r := &ruleRun{wsRun: w, spec: spec, st: st, stateTag: etag, budget: w.s.cfg.MaxAlertsPerRun, watermark: w.watermark}
	if r.watermark.Before(st.Watermark) {
		r.watermark = st.Watermark
	}
	if !spec.Enabled {
		if st.Disabled {
			return nil
		}
		r.st.Disabled = true
		r.note(window{end: w.now}, healthDetails{Outcome: OutcomeSkipped}, statusSkipped, "the rule was disabled; it runs again from when it is enabled")
		return r.save(ctx)
	}
	if st.Disabled {
		// enabled again: start afresh, as a new rule does, keeping the alert keys
		r.st = ruleState{KeyDays: st.KeyDays}
	}
	if w.resumed != nil {
		r.note(window{start: w.resumed.since, end: w.now}, healthDetails{Outcome: OutcomeSkipped, SkippedFrom: w.resumed.since, SkippedTo: w.now},
			statusSkipped, "no run from "+w.resumed.since.Format(time.RFC3339)+": the workspace's stores could not be opened ("+w.resumed.reason+"); the missed windows are caught up now")
	}
	if w.now.Before(r.st.RetryAt) {
		return r.writeHealth(ctx)
	}
	if spec.Kind == analyticrule.KindNRT {
		return r.runNRT(ctx)
	}
	r.keys = newKeyBook(w.docs, w.customerID, spec.ID)
	return r.runScheduled(ctx)
}

// sweep deletes, at most hourly, the scheduler's state of deleted rules.
// It lists the states before the rules: no state is stored before its rule
// exists, so a rule made since the caller listed its own (and run by the
// node holding the workspace, on a node that holds none) is listed too,
// and its state and alert keys are kept.
func (s *Scheduler) sweep(ctx context.Context, w *wsRun) error {
	s.mu.Lock()
	due := w.now.Sub(s.swept[w.customerID]) >= time.Hour
	if due {
		s.swept[w.customerID] = w.now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	states, err := w.docs.List(ctx, w.customerID, collRuleState)
	if err != nil {
		return err
	}
	rules, err := analyticrule.New(w.docs, w.customerID, w.ws.Workspace.ID, nil, nil).List(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, r := range rules {
		live[r.Name] = true
	}
	var errs []error
	for _, d := range states {
		if live[d.ID] {
			continue
		}
		st, _, err := loadState(ctx, w.docs, w.customerID, d.ID)
		if err == nil {
			err = forgetRule(ctx, w.docs, w.customerID, d.ID, st)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
