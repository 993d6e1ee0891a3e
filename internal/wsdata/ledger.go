package wsdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// ledgerBucket holds the log store's ledger in the control plane's
// database: per workspace and table, the manifest epoch and the retention
// horizon, 16 bytes under "<workspace>/<table>".
var ledgerBucket = []byte("logstore-ledger")

// kvLedger is logstore.Ledger in the control plane's database, outside
// the log directories it vouches for.
type kvLedger struct{ db kv.DB }

func ledgerKey(ws, table string) []byte { return []byte(ws + "/" + table) }

func (l kvLedger) Table(ctx context.Context, ws, table string) (logstore.TableRecord, error) {
	var rec logstore.TableRecord
	err := l.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return nil
		}
		v := b.Get(ledgerKey(ws, table))
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return errors.New("a log store ledger record is not 16 bytes")
		}
		rec.Epoch = binary.BigEndian.Uint64(v)
		rec.PurgedBefore = int64(binary.BigEndian.Uint64(v[8:]))
		return nil
	})
	return rec, err
}

func (l kvLedger) Tables(ctx context.Context, ws string) ([]string, error) {
	var out []string
	err := l.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return nil
		}
		prefix := []byte(ws + "/")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 16 && binary.BigEndian.Uint64(v) > 0 {
				out = append(out, string(k[len(prefix):]))
			}
		}
		return nil
	})
	return out, err
}

func (l kvLedger) update(ctx context.Context, ws, table string, f func(*logstore.TableRecord)) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(ledgerBucket)
		if err != nil {
			return err
		}
		var rec logstore.TableRecord
		if v := b.Get(ledgerKey(ws, table)); len(v) == 16 {
			rec.Epoch = binary.BigEndian.Uint64(v)
			rec.PurgedBefore = int64(binary.BigEndian.Uint64(v[8:]))
		}
		f(&rec)
		v := binary.BigEndian.AppendUint64(nil, rec.Epoch)
		v = binary.BigEndian.AppendUint64(v, uint64(rec.PurgedBefore))
		return b.Put(ledgerKey(ws, table), v)
	})
}

func (l kvLedger) SetEpoch(ctx context.Context, ws, table string, epoch uint64) error {
	return l.update(ctx, ws, table, func(r *logstore.TableRecord) { r.Epoch = max(r.Epoch, epoch) })
}

func (l kvLedger) SetPurgedBefore(ctx context.Context, ws, table string, before int64) error {
	return l.update(ctx, ws, table, func(r *logstore.TableRecord) { r.PurgedBefore = max(r.PurgedBefore, before) })
}

func (l kvLedger) ForgetWorkspace(ctx context.Context, ws string) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return nil
		}
		prefix := []byte(ws + "/")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}
