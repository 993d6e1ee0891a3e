package wsdata

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// A workspace deleted through one node must be closed on every node, and
// written by none again. DeleteWorkspace leaves a tombstone in the control
// plane, in the Update before its data goes: the ledger refuses every
// write of a tombstoned workspace's pointers and records in the same
// transaction that would make it (so a store still open on another node
// cannot bring its tables back), a store is not opened for it, and each
// node closes the stores it has open for it and removes their files
// (CloseDeleted). Lookups already miss it on every node: the workspace
// records' generation moves on.

// deletedBucket holds a tombstone per deleted workspace, under its
// customer ID (never used again): the Unix ns it was deleted.
var deletedBucket = []byte("wsdata-deleted")

// tombstoned reports whether tx sees workspace id deleted.
func tombstoned(tx kv.Tx, id string) bool {
	b := tx.Bucket(deletedBucket)
	return b != nil && b.Get([]byte(id)) != nil
}

// bury leaves the tombstone of workspace id.
func (d *Data) bury(ctx context.Context, id string) error {
	if d.opts.ControlDB == nil {
		return nil
	}
	return d.opts.ControlDB.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(deletedBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(d.now().UnixNano())))
	})
}

// buried reports whether another node deleted workspace id; this node then
// treats it as deleted too.
func (d *Data) buried(ctx context.Context, id string) (bool, error) {
	if d.opts.ControlDB == nil {
		return false, nil
	}
	var gone bool
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		gone = tombstoned(tx, id)
		return nil
	})
	return gone, err
}

// forgetLocal marks workspace id deleted on this node, closes its store and
// removes its directory.
func (d *Data) forgetLocal(id string) error {
	d.mu.Lock()
	s := d.logs[id]
	delete(d.logs, id)
	d.deleted[id] = true
	d.mu.Unlock()
	var errs []error
	if s != nil {
		s.mu.Lock()
		s.gone = true
		if s.open != nil {
			errs = append(errs, s.open.store.Close())
			s.open = nil
			d.open.Add(-1)
		}
		s.mu.Unlock()
	}
	errs = append(errs, os.RemoveAll(filepath.Join(d.dir, id)))
	d.scrubs.forget(id)
	d.functions.Forget(id)
	return errors.Join(errs...)
}

// CloseDeleted closes the stores this node holds of workspaces deleted
// through another node, removes their files, and deletes again what a flush
// of theirs put in the object store before its manifest was refused, and
// what they wrote to the shared WAL. It returns how many it closed.
func (d *Data) CloseDeleted(ctx context.Context) (int, error) {
	if d.opts.ControlDB == nil {
		return 0, nil
	}
	var gone []string
	err := d.opts.ControlDB.View(ctx, func(tx kv.Tx) error {
		for id := range d.slots() {
			if tombstoned(tx, id) {
				gone = append(gone, id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, id := range gone {
		errs = append(errs, d.forgetLocal(id), d.deleteObjects(ctx, id))
		if d.opts.SharedWAL != nil { // what this node's store wrote there after the deletion
			errs = append(errs, d.opts.SharedWAL.DeleteWorkspace(ctx, id))
		}
		d.log.Info("closed the store of a workspace deleted through another node", "workspace", id)
	}
	return len(gone), errors.Join(errs...)
}
