package wsdata

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// On a cluster one node verifies each workspace per scrub interval
// (claimScrub), so what it found is kept in the control plane, where every
// node reads it for the workspace's integrity: the last report of any node,
// its time and the damage it named (object names and problems, never rows
// or keys), under the workspace's customer ID.
var reportBucket = []byte("wsdata-verified")

// reportFresh is how long a node answers from the report it last read
// before it reads the control plane's again.
const reportFresh = 30 * time.Second

// clustered reports whether the node shares its workspaces with others.
func (d *Data) clustered() bool { return d.opts.ControlDB != nil && d.Lineage() != "" }

// publishReport keeps r in the control plane, unless a newer one is there.
func (d *Data) publishReport(ctx context.Context, r *Report) error {
	if !d.clustered() {
		return nil
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		if tombstoned(tx, r.CustomerID) {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(reportBucket)
		if err != nil {
			return err
		}
		var stored Report
		if old := b.Get([]byte(r.CustomerID)); old != nil && json.Unmarshal(old, &stored) == nil && stored.Finished.After(r.Finished) {
			return nil
		}
		return b.Put([]byte(r.CustomerID), v)
	})
}

// clusterReport is the last report of any node of a workspace, read at
// most every reportFresh; nil if none, or not on a cluster.
func (d *Data) clusterReport(id string) *Report {
	if !d.clustered() {
		return nil
	}
	now := d.now()
	if r, at, ok := d.scrubs.remote(id); ok && now.Sub(at) < reportFresh {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r *Report
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(reportBucket)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(id)); v != nil {
			r = new(Report)
			return json.Unmarshal(v, r)
		}
		return nil
	})
	if err != nil {
		d.log.Warn("read the workspace's last verification", "workspace", id, "err", err)
		r, _, _ = d.scrubs.remote(id)
		return r
	}
	d.scrubs.putRemote(id, r, now)
	return r
}

// forgetReport drops a deleted workspace's report from the control plane.
func (d *Data) forgetReport(ctx context.Context, id string) error {
	if d.opts.ControlDB == nil {
		return nil
	}
	return d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		if b := tx.Bucket(reportBucket); b != nil {
			return b.Delete([]byte(id))
		}
		return nil
	})
}
