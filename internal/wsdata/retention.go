package wsdata

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// retentionBucket holds the retention given to tables through the tables
// API, in days, under "<workspace>/<table>". It is kept in the clear beside
// the ledger, not in the sealed table documents: purging expired rows
// needs no key, and must not forget a table's retention while the key is
// revoked.
var retentionBucket = []byte("wsdata.tableRetention")

// tableRetention is the retention of each workspace's tables that has one
// of its own: in the control plane's database, or in memory without one.
type tableRetention struct {
	db  kv.DB
	mu  sync.Mutex
	mem map[string]map[string]int
}

func retentionKey(ws, table string) []byte { return []byte(ws + "/" + table) }

// set records that table keeps its rows days days; 0 returns it to the
// workspace's retention.
func (r *tableRetention) set(ctx context.Context, ws, table string, days int) error {
	if r.db == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.mem == nil {
			r.mem = map[string]map[string]int{}
		}
		if r.mem[ws] == nil {
			r.mem[ws] = map[string]int{}
		}
		if days == 0 {
			delete(r.mem[ws], table)
		} else {
			r.mem[ws][table] = days
		}
		return nil
	}
	return r.db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(retentionBucket)
		if err != nil {
			return err
		}
		if days == 0 {
			return b.Delete(retentionKey(ws, table))
		}
		return b.Put(retentionKey(ws, table), []byte(strconv.Itoa(days)))
	})
}

// of returns the retention of a workspace's tables that have their own.
func (r *tableRetention) of(ctx context.Context, ws string) (map[string]time.Duration, error) {
	days := map[string]int{}
	if r.db == nil {
		r.mu.Lock()
		for table, d := range r.mem[ws] {
			days[table] = d
		}
		r.mu.Unlock()
	} else if err := r.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(retentionBucket)
		if b == nil {
			return nil
		}
		prefix := []byte(ws + "/")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			d, err := strconv.Atoi(string(v))
			if err != nil || d <= 0 {
				return fmt.Errorf("the retention of table %s is not a number of days", k)
			}
			days[string(k[len(prefix):])] = d
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration, len(days))
	for table, d := range days {
		out[table] = time.Duration(d) * 24 * time.Hour
	}
	return out, nil
}

// forget drops a deleted workspace's records.
func (r *tableRetention) forget(ctx context.Context, ws string) error {
	if r.db == nil {
		r.mu.Lock()
		delete(r.mem, ws)
		r.mu.Unlock()
		return nil
	}
	return r.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(retentionBucket)
		if b == nil {
			return nil
		}
		prefix := []byte(ws + "/")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetTableRetention records how many days a workspace's table keeps its
// rows, which the log store purges it at and takes rows as old as; 0
// returns the table to the workspace's retention. The workspace's log
// store is reopened with it at its next use.
func (d *Data) SetTableRetention(ctx context.Context, customerID, table string, days int) error {
	if days < 0 {
		return fmt.Errorf("the retention of table %s must not be negative", table)
	}
	if err := d.retention.set(ctx, customerID, table, days); err != nil {
		return fmt.Errorf("record the retention of table %s of workspace %s: %w", table, customerID, err)
	}
	return nil
}
