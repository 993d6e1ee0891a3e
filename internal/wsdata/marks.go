package wsdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// A scheduled rule runs on one node of a cluster, up to an ingestion
// watermark W, and its next run starts after W: a row with an ingestion
// time ≤ W that the node could not see when the rule ran is never seen by
// the rule. A node's own IngestionWatermark vouches only for its own rows;
// another node's rows reach it once their segments are published (or,
// with a shared WAL, once acknowledged). So each node publishes, every few
// seconds, a mark per lineage (PublishMarks): an instant up to which
// every row its lineage took is visible to every node, per workspace
// (logstore.Store.SharedWatermark). A rule's watermark is its node's own,
// held back to the least mark of the other live lineages (ClusterMark).

// markBucket holds each lineage's marks, under its name.
var markBucket = []byte("logstore-marks")

// lineageMarks is what a lineage published: Floor for every workspace not
// in Workspaces, which holds those with rows other nodes cannot see yet.
type lineageMarks struct {
	Published  int64            `json:"published"` // Unix ns, by the publisher's control-plane clock
	Floor      int64            `json:"floor"`     // Unix ns, by its stores' clock
	Workspaces map[string]int64 `json:"workspaces,omitempty"`
}

func (m lineageMarks) of(workspace string) int64 {
	if v, ok := m.Workspaces[workspace]; ok {
		return min(v, m.Floor)
	}
	return m.Floor
}

// ErrNoMark is a live lineage that has published no mark yet (a node
// starting, or one that does not publish): nothing tells up to when its
// rows are visible, so no watermark can be vouched for.
var ErrNoMark = errors.New("a live lineage has published no ingestion mark yet")

// PublishMarks publishes this node's marks, in one Update: every row its
// lineage took is visible to every node if its ingestion time is at most
// its workspace's mark. It does nothing without a lineage (a single node).
func (d *Data) PublishMarks(ctx context.Context) error {
	own := d.Lineage()
	if own == "" || d.opts.ControlDB == nil {
		return nil
	}
	// Taken first, by the stores' clock: a store opened after this stamps
	// its rows after it, and one open now is read below.
	m := lineageMarks{Floor: time.Now().UnixNano()}
	for id := range d.slots() {
		o := d.openStoreOf(id)
		if o == nil {
			continue
		}
		if v := o.store.SharedWatermark(id).UnixNano(); v < m.Floor {
			if m.Workspaces == nil {
				m.Workspaces = map[string]int64{}
			}
			m.Workspaces[id] = v
		}
	}
	m.Published = d.now().UnixNano()
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(markBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(own), v)
	})
}

// ClusterMark is the least of the marks the other live lineages published
// for a workspace.
type ClusterMark struct {
	At time.Time // zero: no other live lineage
	// Lineage published it, at Published: a mark long unpublished holds
	// the watermark back, and names the node that holds it.
	Lineage   string
	Published time.Time
}

// ClusterMark returns the least mark of the workspace among the live
// lineages other than this node's (leased, not adopted): a row another
// node took with an ingestion time at most it is visible here. A lineage
// whose lease this node has seen run out and stay unrenewed for a whole
// lease is not waited for: its rows that were flushed are
// visible, and its adopter takes them; those it held unflushed on its
// disk were never acknowledged to any other node (without a shared WAL,
// they stay on its disk). It fails with ErrNoMark when a live lineage
// published none. Without a lineage it returns a zero ClusterMark.
func (d *Data) ClusterMark(ctx context.Context, workspace string) (ClusterMark, error) {
	own := d.Lineage()
	if own == "" || d.opts.ControlDB == nil {
		return ClusterMark{}, nil
	}
	now, term := d.now().UnixNano(), int64(d.leaseTerm())
	leases := make(map[string]lineageLease)
	var marks map[string]lineageMarks
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(lineageBucket)
		if b == nil {
			return nil
		}
		err := b.ForEach(func(k, v []byte) error {
			var lease lineageLease
			if err := json.Unmarshal(v, &lease); err != nil {
				return fmt.Errorf("the lease of lineage %s: %w", k, err)
			}
			leases[string(k)] = lease
			return nil
		})
		if err != nil {
			return err
		}
		marks, err = readMarks(tx.Bucket(markBucket), own, leases)
		return err
	})
	if err != nil {
		return ClusterMark{}, err
	}
	// Gone is judged as a claim is (leaseWatch), not by the owner's
	// Expires against this clock: a node whose clock runs ahead would
	// stop waiting for live nodes' rows.
	d.watch.note(leases, now)
	var out ClusterMark
	for _, l := range slices.Sorted(maps.Keys(leases)) {
		lease := leases[l]
		if l == own || d.watch.stale(l, lease, now, term) || lease.Adopter != "" {
			continue
		}
		m, ok := marks[l]
		if !ok {
			return ClusterMark{}, fmt.Errorf("lineage %s: %w", l, ErrNoMark)
		}
		if at := time.Unix(0, m.of(workspace)).UTC(); out.At.IsZero() || at.Before(out.At) {
			out = ClusterMark{At: at, Lineage: l, Published: time.Unix(0, m.Published).UTC()}
		}
	}
	return out, nil
}

// readMarks reads the marks of the lineages other than own that leases
// hold and no node adopted; a lineage that published none is left out.
func readMarks(b kv.Bucket, own string, leases map[string]lineageLease) (map[string]lineageMarks, error) {
	marks := make(map[string]lineageMarks, len(leases))
	for l, lease := range leases {
		if l == own || lease.Adopter != "" {
			continue
		}
		m, err := markOf(b, l)
		if errors.Is(err, ErrNoMark) {
			continue
		}
		if err != nil {
			return nil, err
		}
		marks[l] = m
	}
	return marks, nil
}

func markOf(b kv.Bucket, lineage string) (lineageMarks, error) {
	var m lineageMarks
	var v []byte
	if b != nil {
		v = b.Get([]byte(lineage))
	}
	if v == nil {
		return m, fmt.Errorf("lineage %s: %w", lineage, ErrNoMark)
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return m, fmt.Errorf("the marks of lineage %s: %w", lineage, err)
	}
	return m, nil
}

// dropMarks deletes the marks of a lineage adopted and swept: no node
// waits for it any more.
func dropMarks(tx kv.Tx, lineage string) error {
	b := tx.Bucket(markBucket)
	if b == nil {
		return nil
	}
	return b.Delete([]byte(lineage))
}
