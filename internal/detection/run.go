package detection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/incident"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// wsRun is one tick's work on one workspace: its stores, opened under its
// keys, and the ingestion watermark every rule of the tick runs up to.
type wsRun struct {
	s          *Scheduler
	ws         *workspace.WorkspaceInfo
	customerID string
	docs       *docstore.Store
	logs       *logstore.Store
	src        kql.Source
	release    func() // of src (see Config.Source); nil for a sweep, which has none
	cat        kql.Catalog
	alerts     *alert.Store
	incidents  *incident.Incidents
	now        time.Time
	watermark  time.Time
	retention  time.Duration
	// resumed says the workspace's stores could not be opened from
	// resumed.since until now: its runs were skipped, and why.
	resumed *blocked
	// lease is the scheduler's lease of the workspace, which every
	// commit of the tick renews.
	lease *held
}

// ruleRun is the work of one rule in one tick, and its health records.
type ruleRun struct {
	*wsRun
	spec *analyticrule.Spec
	st   ruleState
	// watermark is the tick's, or the rule's last if the tick's is before
	// it (a node joining a cluster may publish a mark behind those passed):
	// a rule's watermark never goes back, so no row is evaluated twice.
	watermark time.Time
	// stateTag is the etag st was read under, to replace it under.
	stateTag string
	keys     *keyBook
	health   []healthRecord
	// budget is how many alerts the run may still raise.
	budget int
}

// windowResult is what one window's evaluation found and did.
type windowResult struct {
	results, fresh, alerts, deferred int
	created, updated                 int
	suppressed                       bool
}

// errDeferred stops a run that reached the alert cap: its state is not
// advanced, so that the next tick raises the rest.
var errDeferred = errors.New("alert cap reached")

// runScheduled runs what is due of a Scheduled rule: late windows, then
// the on-time or caught-up windows.
func (r *ruleRun) runScheduled(ctx context.Context) error {
	windows, newEnd := dueWindows(r.st.LastEnd, r.now, r.spec.Frequency, r.spec.Period, r.retention)
	if len(windows) == 0 {
		return r.writeHealth(ctx) // a pause noted, with nothing due yet
	}
	q, err := r.compile()
	if err != nil {
		return r.failed(ctx, windows[0], err)
	}
	if !r.st.Watermark.IsZero() {
		late, lateRows, err := r.lateWindows(ctx, q, windows[0].start)
		if err != nil {
			return r.failed(ctx, windows[0], err)
		}
		if lateRows > 0 {
			r.note(windows[0], healthDetails{Outcome: OutcomeLate, LateRows: lateRows}, statusSuccess,
				fmt.Sprintf("%d rows arrived after their windows had run; %d windows are evaluated again", lateRows, len(late)))
		}
		windows = append(late, windows...)
	}
	for _, w := range windows {
		if err := r.s.keep(ctx, r.docs, r.lease); err != nil { // a long catch-up keeps it
			return err
		}
		start := time.Now()
		res, err := r.evaluate(ctx, q, w, kql.Options{IngestedUpTo: r.watermark})
		if err != nil {
			return r.failed(ctx, w, err)
		}
		wr, err := r.process(ctx, w, res)
		r.record(w, wr, time.Since(start))
		if errors.Is(err, errDeferred) {
			r.st.RetryAt = r.now // the rest on the next tick, from the same state
			return r.save(ctx)
		}
		if err != nil {
			return r.failed(ctx, w, err)
		}
	}
	r.st.LastEnd, r.st.Watermark, r.st.Failures, r.st.RetryAt = newEnd, r.watermark, 0, time.Time{}
	return r.save(ctx)
}

// runNRT runs an NRT rule over the rows ingested since its last run.
func (r *ruleRun) runNRT(ctx context.Context) error {
	if !r.st.LastEnd.IsZero() && r.now.Before(r.st.LastEnd.Add(r.s.cfg.NRTInterval)) {
		return r.writeHealth(ctx)
	}
	after := r.st.Watermark
	if after.IsZero() {
		after = r.spec.LastModified // the rows ingested since the rule was saved
	}
	w := window{start: after, end: r.watermark, outcome: OutcomeRan}
	if !r.st.LastEnd.IsZero() && r.now.Sub(r.st.LastEnd) > 2*r.s.cfg.NRTInterval {
		w.outcome = OutcomeCaughtUp
	}
	q, err := r.compile()
	if err != nil {
		return r.failed(ctx, w, err)
	}
	start := time.Now()
	res, err := r.evaluate(ctx, q, w, kql.Options{IngestedAfter: after, IngestedUpTo: r.watermark})
	if err != nil {
		return r.failed(ctx, w, err)
	}
	wr, err := r.process(ctx, w, res)
	r.record(w, wr, time.Since(start))
	if errors.Is(err, errDeferred) {
		r.st.RetryAt = r.now
		return r.save(ctx)
	}
	if err != nil {
		return r.failed(ctx, w, err)
	}
	r.st.LastEnd, r.st.Watermark, r.st.Failures, r.st.RetryAt = r.now, r.watermark, 0, time.Time{}
	return r.save(ctx)
}

func (r *ruleRun) compile() (*kql.Query, error) {
	q, err := kql.Compile(r.spec.Query, r.cat)
	if err != nil {
		return nil, fmt.Errorf("the rule's query no longer compiles against the workspace's tables: %w", err)
	}
	return q, nil
}

// evaluate runs the rule's query over window w: a Scheduled rule's
// TimeGenerated window, an NRT rule's ingestion window (opts say which).
func (r *ruleRun) evaluate(ctx context.Context, q *kql.Query, w window, opts kql.Options) (*kql.Table, error) {
	opts.MaxMemory, opts.Memory, opts.Timeout = r.s.cfg.MaxQueryMemory, r.s.cfg.QueryMemory, r.s.cfg.QueryTimeout
	opts.GeoIP, opts.ExternalData = r.s.cfg.GeoIP, r.s.cfg.ExternalData
	if r.spec.Kind == analyticrule.KindScheduled {
		// [start, end): the engine's window is inclusive at both ends
		opts.Now, opts.Timespan = w.end.Add(-time.Nanosecond), w.end.Sub(w.start)-time.Nanosecond
	} else {
		opts.Now, opts.Timespan = r.now, r.retention
	}
	res, err := q.Run(ctx, r.src, opts)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	if len(res.Tables) == 0 {
		return &kql.Table{}, nil
	}
	t := res.Tables[len(res.Tables)-1]
	return &t, nil
}

// lateWindows finds the rows of the rule's tables that were ingested since
// the last run but belong before first, the start of the earliest window
// this run evaluates anyway, and returns the windows that hold them.
func (r *ruleRun) lateWindows(ctx context.Context, q *kql.Query, first time.Time) ([]window, int64, error) {
	var minutes []time.Time
	var rows int64
	for _, table := range q.Tables() {
		if _, ok := r.cat.Table(table); !ok {
			continue
		}
		lq, err := kql.Compile(fmt.Sprintf("table(%q) | summarize n = count() by m = bin(TimeGenerated, 1m)", table), r.cat)
		if err != nil {
			return nil, 0, fmt.Errorf("look for late rows in %s: %w", table, err)
		}
		res, err := lq.Run(ctx, r.src, kql.Options{
			Now: first.Add(-time.Nanosecond), Timespan: r.retention,
			IngestedAfter: r.st.Watermark, IngestedUpTo: r.watermark,
			MaxMemory: r.s.cfg.MaxQueryMemory, Memory: r.s.cfg.QueryMemory, Timeout: r.s.cfg.QueryTimeout,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("look for late rows in %s: %w", table, err)
		}
		for _, row := range res.Tables[0].Rows { // m, n
			m, ok := row[0].(time.Time)
			if !ok {
				continue // rows without a TimeGenerated fall in no window
			}
			minutes = append(minutes, m)
			rows += row[1].(int64)
		}
		res.Release()
	}
	return lateWindows(minutes, first, r.spec.Period), rows, nil
}

// process turns a window's result into alerts: if the result meets the
// trigger, each row not already alerted on from an overlapping window is
// new; new rows raise alerts (one per row, or one for the result), or,
// while the rule is suppressed, are only remembered.
func (r *ruleRun) process(ctx context.Context, w window, t *kql.Table) (windowResult, error) {
	wr := windowResult{results: len(t.Rows)}
	if !r.triggered(len(t.Rows)) {
		return wr, nil
	}
	var fresh []int
	fps := make([]string, len(t.Rows))
	for i, row := range t.Rows {
		fps[i] = fingerprint(t.Columns, row)
		if r.keys != nil {
			seen, err := r.keys.seen(ctx, fps[i], w.start, w.end, max(r.spec.Period, 24*time.Hour))
			if err != nil {
				return wr, err
			}
			if seen {
				continue
			}
		}
		fresh = append(fresh, i)
	}
	wr.fresh = len(fresh)
	if len(fresh) == 0 {
		return wr, nil
	}
	if r.now.Before(r.st.SuppressedUntil) {
		wr.suppressed = true
		return wr, r.remember(ctx, w, fps, fresh)
	}
	rr := newResultRows(t.Columns, t.Rows)
	if !r.spec.AlertPerResult {
		if r.budget < 1 {
			wr.deferred = len(fresh)
			return wr, errDeferred
		}
		if err := r.raise(ctx, w, rr, fps, len(t.Rows), &wr); err != nil {
			return wr, err
		}
		return wr, r.remember(ctx, w, fps, fresh)
	}
	for n, i := range fresh {
		if r.budget < 1 {
			wr.deferred = len(fresh) - n
			return wr, errDeferred
		}
		one := newResultRows(t.Columns, t.Rows[i:i+1])
		if err := r.raise(ctx, w, one, fps[i:i+1], len(t.Rows), &wr); err != nil {
			return wr, err
		}
		if err := r.remember(ctx, w, fps, []int{i}); err != nil {
			return wr, err
		}
	}
	return wr, nil
}

// triggered applies the rule's trigger; an NRT rule alerts on any result.
func (r *ruleRun) triggered(n int) bool {
	if r.spec.Kind == analyticrule.KindNRT {
		return n > 0
	}
	return r.spec.Triggered(int64(n))
}

// remember records that rows fresh of a window's result were alerted on
// (or suppressed), so that an overlapping window does not alert on them
// again. NRT rules see each row once, by ingestion time, and keep none.
func (r *ruleRun) remember(ctx context.Context, w window, fps []string, fresh []int) error {
	if r.keys == nil {
		return nil
	}
	for _, i := range fresh {
		if err := r.keys.add(ctx, fps[i], w.start, w.end); err != nil {
			return err
		}
	}
	return nil
}

// raise raises one alert from rows rr, writes it to the alert store and the
// SecurityAlert table, and raises or groups its incident.
//
// Each of its effects is preceded by a check of the workspace's lease (see
// Scheduler.keep), so that a node paused past the lease's expiry, whose
// workspace another node took meanwhile, stops rather than raise what that
// node raises too.
func (r *ruleRun) raise(ctx context.Context, w window, rr resultRows, fps []string, total int, wr *windowResult) error {
	if err := r.s.keep(ctx, r.docs, r.lease); err != nil {
		return err
	}
	a := buildAlert(r.spec, w, rr, fps, total, r.now, r.ws.Workspace.ID)
	ev := AlertEvent{Workspace: r.ws, Docs: r.docs, Incidents: r.incidents, Alert: a}
	if r.spec.CreateIncident {
		inc, created, err := r.incidents.RaiseFromAlert(ctx, a, r.spec.ID, grouping(r.spec.Grouping)) // stores the alert too
		if err != nil {
			return fmt.Errorf("raise the incident of an alert: %w", err)
		}
		if created {
			wr.created++
		} else {
			wr.updated++
		}
		ev.Incident, ev.Created = inc, created
	} else if err := r.alerts.Put(ctx, a); err != nil {
		return fmt.Errorf("store alert: %w", err)
	}
	if r.s.cfg.OnAlert != nil {
		if err := r.s.keep(ctx, r.docs, r.lease); err != nil {
			return err
		}
		r.s.cfg.OnAlert(ctx, ev)
	}
	if err := r.s.keep(ctx, r.docs, r.lease); err != nil {
		return err
	}
	body, err := json.Marshal([]map[string]any{a.Row()})
	if err != nil {
		return err
	}
	logs, err := r.logStore(ctx)
	if err != nil {
		return fmt.Errorf("write the alert to %s: %w", AlertTable, err)
	}
	if _, err := logs.IngestDeclared(ctx, r.customerID, AlertTable, body, r.s.alertColumns); err != nil {
		return fmt.Errorf("write the alert to %s: %w", AlertTable, err)
	}
	wr.alerts++
	r.budget--
	r.s.metrics.alerts.Inc()
	if r.spec.Suppression > 0 {
		r.st.SuppressedUntil = r.now.Add(r.spec.Suppression)
	}
	return nil
}

func grouping(g analyticrule.Grouping) incident.Grouping {
	return incident.Grouping{Enabled: g.Enabled, ReopenClosed: g.ReopenClosed, Lookback: g.Lookback, Method: g.Method,
		ByEntities: g.ByEntities, ByAlertDetails: g.ByAlertDetails, ByCustomDetails: g.ByCustomDetails}
}

// failed records a failed run and when it is tried again: the rule's state
// does not move, so the window is evaluated when it is.
func (r *ruleRun) failed(ctx context.Context, w window, cause error) error {
	if errors.Is(cause, errLeaseLost) {
		return cause // the run is another node's now
	}
	r.st.Failures++
	r.st.RetryAt = r.now.Add(retryAfter(r.st.Failures, r.spec.Frequency))
	r.note(w, healthDetails{Outcome: OutcomeFailed, Error: runError(cause)}, statusFailure,
		fmt.Sprintf("the run failed (%d in a row); it is tried again at %s", r.st.Failures, r.st.RetryAt.Format(time.RFC3339)))
	return r.save(ctx)
}

// retryAfter backs off from one minute, doubling, to at most the rule's
// frequency (an NRT rule's: five minutes).
func retryAfter(failures int, freq time.Duration) time.Duration {
	if freq <= 0 {
		freq = 5 * time.Minute
	}
	d := time.Minute << min(failures-1, 10)
	return min(d, freq)
}

// runError is what a health record says of a failure: the error's text,
// which names operators, tables and limits but never a row.
func runError(err error) string {
	s := err.Error()
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}

// record adds the health record of one evaluated window.
func (r *ruleRun) record(w window, wr windowResult, took time.Duration) {
	d := healthDetails{Outcome: w.outcome, ResultsCount: wr.results, NewResultsCount: wr.fresh, AlertsGenerated: wr.alerts,
		AlertsDeferred: wr.deferred, IncidentsCreated: wr.created, IncidentsUpdated: wr.updated, DurationMs: took.Milliseconds()}
	if w.outcome == OutcomeRan && r.spec.Kind == analyticrule.KindScheduled {
		// A rule's first window ends on the next whole second, after now:
		// a run before its window's end is on time, not early.
		delay := max(r.now.Sub(w.end), 0)
		d.DelayMs = delay.Milliseconds()
		r.s.metrics.delay.Observe(delay.Seconds())
	}
	status, desc := statusSuccess, fmt.Sprintf("%d results, %d new, %d alerts", wr.results, wr.fresh, wr.alerts)
	switch {
	case wr.deferred > 0:
		status = statusWarning
		desc = fmt.Sprintf("%d alerts raised, %d more deferred to the next run: a run raises at most %d (--max-alerts-per-run)",
			wr.alerts, wr.deferred, r.s.cfg.MaxAlertsPerRun)
	case wr.suppressed:
		d.Outcome = OutcomeSuppressed
		desc = fmt.Sprintf("%d new results; no alert while the rule's suppression lasts (until %s)", wr.fresh, r.st.SuppressedUntil.Format(time.RFC3339))
	case w.outcome == OutcomeCaughtUp:
		desc = "caught up a window missed " + r.missedBecause() + "; " + desc
	case w.outcome == OutcomeLate:
		desc = "evaluated again for rows that arrived late; " + desc
	}
	r.note(w, d, status, desc)
}

func (r *ruleRun) missedBecause() string {
	if r.resumed != nil {
		return fmt.Sprintf("while the workspace's stores could not be opened (%s)", r.resumed.reason)
	}
	return "while the scheduler was not running"
}

// note adds a health record for window w.
func (r *ruleRun) note(w window, d healthDetails, status, desc string) {
	d.RuleDisplayName = r.spec.DisplayName
	if r.spec.Kind == analyticrule.KindScheduled {
		d.QueryStartTimeUtc, d.QueryEndTimeUtc, d.IngestedUpTo = w.start, w.end, r.watermark
	} else {
		d.IngestedAfter, d.IngestedUpTo = w.start, w.end
	}
	op := "Scheduled analytics rule run"
	if r.spec.Kind == analyticrule.KindNRT {
		op = "NRT analytics rule run"
	}
	r.s.metrics.runs.WithLabelValues(d.Outcome).Inc()
	r.health = append(r.health, healthRecord{
		TimeGenerated: r.now, OperationName: op, SentinelResourceID: r.ruleResourceID(),
		SentinelResourceName: r.spec.ID, SentinelResourceKind: r.spec.Kind, SentinelResourceType: "Analytics Rule",
		Status: status, Description: desc, WorkspaceID: r.customerID, RecordID: recordID(r.spec.ID, r.now, len(r.health)),
		ExtendedProperties: d,
	})
}

func (r *ruleRun) ruleResourceID() string {
	return r.ws.Workspace.ID + "/providers/Microsoft.SecurityInsights/alertRules/" + r.spec.ID
}

func recordID(ruleID string, at time.Time, n int) string {
	return fmt.Sprintf("%s-%d-%04d", ruleID, at.UnixNano(), n)
}

// save commits the rule's alert keys, writes its health records, then
// commits its state: a crash between them runs the windows again, and the
// keys make that raise nothing twice. Both commits are fenced by the
// workspace's lease (see lease.go): a scheduler that lost it commits
// neither, and gets errLeaseLost.
func (r *ruleRun) save(ctx context.Context) error {
	if r.keys != nil {
		writes, changed := r.keys.writes()
		keep, deletes := expiredKeys(r.spec.ID, r.st.KeyDays, r.now.Add(-r.retention-r.spec.Period-24*time.Hour))
		etags, err := r.s.fenced(ctx, r.docs, r.lease, append(writes, deletes...))
		if err != nil {
			return fmt.Errorf("save the alert keys of rule %s: %w", r.spec.ID, err)
		}
		r.st.KeyDays = r.keys.saved(changed, etags, keep)
	}
	if err := r.writeHealth(ctx); err != nil {
		return err
	}
	etags, err := r.s.fenced(ctx, r.docs, r.lease, []docstore.Write{stateWrite(r.spec.ID, r.st, r.stateTag)})
	if err != nil {
		return fmt.Errorf("save the run state of rule %s: %w", r.spec.ID, err)
	}
	r.stateTag = etags[0]
	return nil
}

// writeHealth writes the run's health records to the health table.
func (r *ruleRun) writeHealth(ctx context.Context) error {
	if len(r.health) == 0 {
		return nil
	}
	body, err := json.Marshal(r.health)
	if err != nil {
		return err
	}
	logs, err := r.logStore(ctx)
	if err != nil {
		return fmt.Errorf("write the rule's health records: %w", err)
	}
	if _, err := logs.IngestDeclared(ctx, r.customerID, HealthTable, body, r.s.healthColumns); err != nil {
		return fmt.Errorf("write the rule's health records: %w", err)
	}
	r.health = r.health[:0]
	return nil
}

// logStore is the workspace's log store, asked for again: a tick over many
// rules can outlast the data plane's idle time, after which it closes a
// store not asked for (and opens it again when asked). The answer is kept
// for the tick's later scans.
func (w *wsRun) logStore(ctx context.Context) (*logstore.Store, error) {
	logs, err := w.s.cfg.Logs(ctx, w.ws)
	if err != nil {
		return nil, err
	}
	w.logs = logs
	return logs, nil
}

// refresh takes the workspace's query source and log store again before a
// rule runs (see logStore), and releases the source it had.
func (w *wsRun) refresh(ctx context.Context) error {
	src, release, err := w.s.cfg.Source(ctx, w.ws)
	if err != nil {
		return err
	}
	if _, err := w.logStore(ctx); err != nil { // the store src holds open
		release()
		return err
	}
	w.close()
	w.src, w.release = src, release
	return nil
}

// close releases the run's source.
func (w *wsRun) close() {
	if w.release != nil {
		w.release()
	}
}
