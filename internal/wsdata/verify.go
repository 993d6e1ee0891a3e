package wsdata

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// Report is what verifying one workspace found.
type Report struct {
	CustomerID  string
	Tables      int
	Objects     int // log manifests, segments and WALs
	Documents   int
	Bytes       int64
	Damaged     []logstore.IntegrityError
	DamagedDocs []docstore.IntegrityError
	Finished    time.Time
}

// Healthy reports whether nothing damaged was found.
func (r *Report) Healthy() bool { return len(r.Damaged) == 0 && len(r.DamagedDocs) == 0 }

// Integrity is a workspace's integrity as last seen: damage found by reads,
// by opens and by the last verification, and when that was.
type Integrity struct {
	Damaged      []logstore.IntegrityError
	DamagedDocs  []docstore.IntegrityError
	LastVerified time.Time // zero: not verified since the node started
}

// scrubState is the last verification of each workspace: this node's, and
// on a cluster any node's as last read (reports.go).
type scrubState struct {
	mu     sync.Mutex
	last   map[string]*Report // customerID →
	others map[string]remoteReport
}

type remoteReport struct {
	r  *Report // nil: none
	at time.Time
}

func (s *scrubState) remote(id string) (*Report, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.others[id]
	return e.r, e.at, ok
}

func (s *scrubState) putRemote(id string, r *Report, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.others == nil {
		s.others = make(map[string]remoteReport)
	}
	s.others[id] = remoteReport{r: r, at: at}
}

func (s *scrubState) put(r *Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[string]*Report)
	}
	s.last[r.CustomerID] = r
}

// forget drops a deleted workspace's last verification.
func (s *scrubState) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, id)
	delete(s.others, id)
}

func (s *scrubState) get(id string) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[id]
}

// VerifySize is the number of log bytes Verify reads in a workspace, for
// progress. It needs no key.
func (d *Data) VerifySize(ctx context.Context, ws *workspace.WorkspaceInfo) (int64, error) {
	st, err := d.Logs(ctx, ws)
	if err != nil {
		return 0, err
	}
	return st.VerifySize(ctx, ws.Workspace.Properties.CustomerID)
}

// Verify authenticates every sealed object of a workspace — its log
// tables (logstore.Store.Verify) and its documents — reporting log bytes
// read to progress, which may block to pace the work.
func (d *Data) Verify(ctx context.Context, ws *workspace.WorkspaceInfo, progress func(bytes int64)) (*Report, error) {
	id := ws.Workspace.Properties.CustomerID
	st, err := d.Logs(ctx, ws)
	if err != nil {
		return nil, err
	}
	logs, err := st.Verify(ctx, id, progress)
	if err != nil {
		return nil, err
	}
	docs, err := d.Docs(ctx, ws)
	if err != nil {
		return nil, err
	}
	ndocs := 0
	damagedDocs, err := docs.Verify(ctx, id, func(n int) { ndocs += n })
	if err != nil {
		return nil, fmt.Errorf("verify the documents of workspace %s: %w", id, err)
	}
	r := &Report{CustomerID: id, Tables: logs.Tables, Objects: logs.Objects, Documents: ndocs, Bytes: logs.Bytes,
		Damaged: logs.Damaged, DamagedDocs: damagedDocs, Finished: d.now()}
	d.scrubs.put(r)
	d.verified(id)
	if err := d.publishReport(ctx, r); err != nil {
		d.log.Warn("keep the verification's report for the other nodes", "workspace", id, "err", err)
	}
	for _, e := range r.Damaged {
		d.log.Warn("verify found damaged data", "workspace", id, "table", e.Table, "object", e.Object, "problem", string(e.Problem))
	}
	for _, e := range r.DamagedDocs {
		d.log.Warn("verify found a damaged document", "workspace", id, "collection", e.Collection, "document", e.ID)
	}
	return r, nil
}

// Integrity is what is known of a workspace's damage, without reading
// anything: from the open log store (and what it found before it was last
// closed as idle) and the last verification.
func (d *Data) Integrity(customerID string) Integrity {
	var in Integrity
	d.mu.Lock()
	s := d.logs[customerID]
	d.mu.Unlock()
	var o *openStore
	if s != nil {
		s.mu.Lock()
		o, in.Damaged = s.open, slices.Clone(s.damage)
		s.mu.Unlock()
	}
	if o != nil {
		in.Damaged = mergeDamage(in.Damaged, workspaceDamage(o.store, customerID))
	}
	r := d.scrubs.get(customerID)
	if c := d.clusterReport(customerID); c != nil && (r == nil || c.Finished.After(r.Finished)) {
		// Another node verified it last (on a cluster, one node scrubs a
		// workspace per interval): what it found holds here too.
		r = c
		in.Damaged = mergeDamage(in.Damaged, c.Damaged)
	}
	if r != nil {
		in.LastVerified = r.Finished
		in.DamagedDocs = r.DamagedDocs
		if o == nil && len(in.Damaged) == 0 {
			in.Damaged = r.Damaged
		}
	}
	return in
}

// Scrub verifies every workspace in turn, then waits interval and starts
// again, until ctx ends. On a cluster (a lineage in a shared control
// plane) one node scrubs each workspace per interval: every node's round
// skips the workspaces another began within it (claimScrub), and one
// node's round covers every lineage of them (logstore.Store.Verify). It reads at most rate bytes a second, so that it
// does not crowd out queries. A workspace whose key is revoked or
// unreachable is skipped until the next round.
func (d *Data) Scrub(ctx context.Context, workspaces func(context.Context) ([]workspace.WorkspaceInfo, error), rate int64, interval time.Duration) {
	for {
		all, err := workspaces(ctx)
		if err != nil {
			d.log.Error("scrub: list workspaces", "err", err)
		}
		for i := range all {
			ws := &all[i]
			if mine, err := d.claimScrub(ctx, ws.Workspace.Properties.CustomerID, interval); err != nil || !mine {
				if err != nil && ctx.Err() == nil {
					d.log.Warn("scrub: claim a workspace's round", "workspace", ws.Workspace.Properties.CustomerID, "err", err)
				}
				continue
			}
			pace := newPacer(d.now, rate)
			_, err := d.Verify(ctx, ws, func(n int64) { pace.wait(ctx, n) })
			if ctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, logstore.ErrCorrupt) {
				d.log.Debug("scrub skipped a workspace", "workspace", ws.Workspace.Properties.CustomerID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// pacer keeps a reader at or under rate bytes a second.
type pacer struct {
	now   func() time.Time
	rate  int64
	start time.Time
	done  int64
}

func newPacer(now func() time.Time, rate int64) *pacer {
	return &pacer{now: now, rate: rate, start: now()}
}

// wait notes n more bytes read and waits until the rate allows them.
func (p *pacer) wait(ctx context.Context, n int64) {
	if p.rate <= 0 {
		return
	}
	p.done += n
	due := p.start.Add(time.Duration(float64(p.done) / float64(p.rate) * float64(time.Second)))
	if d := due.Sub(p.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// scrubBucket holds per workspace when a node last began to scrub it (Unix
// ns, 8 bytes), so that nodes sharing the control plane take turns.
var scrubBucket = []byte("wsdata-scrub")

// claimScrub reports whether this node scrubs a workspace now: no node
// began to within interval. A node in no cluster always does.
func (d *Data) claimScrub(ctx context.Context, id string, interval time.Duration) (bool, error) {
	if d.opts.ControlDB == nil || d.Lineage() == "" {
		return true, nil
	}
	now := d.now().UnixNano()
	mine := false
	err := d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		mine = false
		b, err := tx.CreateBucketIfNotExists(scrubBucket)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(id)); len(v) == 8 && now-int64(binary.BigEndian.Uint64(v)) < int64(interval) {
			return nil
		}
		mine = true
		return b.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(now)))
	})
	return mine, err
}
