package wsdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// ledgerBucket holds the log store's ledger in the control plane's
// database: per workspace and table, the manifest epoch and the retention
// horizon, 16 bytes under "<workspace>/<table>"; and per lineage of a table
// (nodes sharing the table, logstore.LineageLedger) its pointer, 48 bytes
// under "<workspace>/<table>/<lineage>": epoch, retention horizon, SHA-256
// of the manifest; 56 once the lineage is retired (absorbed by another),
// with the time it was.
var ledgerBucket = []byte("logstore-ledger")

const (
	tableRecordSize    = 16
	pointerSize        = 48
	retiredPointerSize = pointerSize + 8
)

// kvLedger is logstore.Ledger in the control plane's database, outside
// the log directories it vouches for. Every nodes' writes of it are kv
// Updates, which kv serializes across the nodes sharing the database: a
// lineage's pointer is compared and swapped in one.
type kvLedger struct{ db kv.DB }

var _ logstore.LineageLedger = kvLedger{}

func ledgerKey(ws, table string) []byte { return []byte(ws + "/" + table) }

func lineagePrefix(ws, table string) []byte { return []byte(ws + "/" + table + "/") }

func decodePointer(v []byte) (logstore.Pointer, error) {
	if len(v) != pointerSize && len(v) != retiredPointerSize {
		return logstore.Pointer{}, errors.New("a log store lineage record is not 48 or 56 bytes")
	}
	p := logstore.Pointer{Epoch: binary.BigEndian.Uint64(v), PurgedBefore: int64(binary.BigEndian.Uint64(v[8:]))}
	copy(p.Hash[:], v[16:pointerSize])
	if len(v) == retiredPointerSize {
		p.Retired = int64(binary.BigEndian.Uint64(v[pointerSize:]))
	}
	return p, nil
}

func encodePointer(p logstore.Pointer) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, pointerSize), p.Epoch)
	v = binary.BigEndian.AppendUint64(v, uint64(p.PurgedBefore))
	v = append(v, p.Hash[:]...)
	if p.Retired != 0 {
		v = binary.BigEndian.AppendUint64(v, uint64(p.Retired))
	}
	return v
}

// Lineages implements logstore.LineageLedger, in one View.
func (l kvLedger) Lineages(ctx context.Context, ws, table string) (map[string]logstore.Pointer, error) {
	out := map[string]logstore.Pointer{}
	err := l.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return nil
		}
		prefix := lineagePrefix(ws, table)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			p, err := decodePointer(v)
			if err != nil {
				return err
			}
			out[string(k[len(prefix):])] = p
		}
		return nil
	})
	return out, err
}

// ledgerBucketOf is the ledger's bucket, to write a workspace's records in;
// none for a workspace deleted (tombstones.go): a store still open on
// another node must not write its records again.
func ledgerBucketOf(tx kv.Tx, ws string) (kv.Bucket, error) {
	if tombstoned(tx, ws) {
		return nil, fmt.Errorf("log store ledger: %w", deletedError(ws))
	}
	return tx.CreateBucketIfNotExists(ledgerBucket)
}

// UpdateLineage implements logstore.LineageLedger, in one Update.
func (l kvLedger) UpdateLineage(ctx context.Context, ws, table, lineage string, f func(*logstore.Pointer) error) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b, err := ledgerBucketOf(tx, ws)
		if err != nil {
			return err
		}
		key := append(lineagePrefix(ws, table), lineage...)
		var p logstore.Pointer
		if v := b.Get(key); v != nil {
			if p, err = decodePointer(v); err != nil {
				return err
			}
		} else if err := unclaimed(tx, lineage); err != nil {
			return err
		}
		if err := f(&p); err != nil {
			return err
		}
		return b.Put(key, encodePointer(p))
	})
}

// AbsorbLineage implements logstore.LineageLedger, in one Update.
func (l kvLedger) AbsorbLineage(ctx context.Context, ws, table, lineage, dead string, f func(own, absorbed *logstore.Pointer) error) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b, err := ledgerBucketOf(tx, ws)
		if err != nil {
			return err
		}
		ownKey, deadKey := append(lineagePrefix(ws, table), lineage...), append(lineagePrefix(ws, table), dead...)
		var own, absorbed logstore.Pointer
		for _, r := range []struct {
			key []byte
			p   *logstore.Pointer
		}{{ownKey, &own}, {deadKey, &absorbed}} {
			if v := b.Get(r.key); v != nil {
				if *r.p, err = decodePointer(v); err != nil {
					return err
				}
			}
		}
		if own.Epoch == 0 && own.Retired == 0 {
			if err := unclaimed(tx, lineage); err != nil {
				return err
			}
		}
		if err := f(&own, &absorbed); err != nil {
			return err
		}
		if err := b.Put(ownKey, encodePointer(own)); err != nil {
			return err
		}
		return b.Put(deadKey, encodePointer(absorbed))
	})
}

// unclaimed refuses a table's first pointer of a lineage another node
// claimed: its owner, paused past its lease, writes a table it never wrote
// before its renewal finds the claim. The adoption retires only the
// pointers it found, and the claim may be done: such a table's rows would
// be left in a lineage nothing adopts, purges or compacts again. A pointer
// swept after its adoption (ForgetLineage) is refused so too.
func unclaimed(tx kv.Tx, lineage string) error {
	b := tx.Bucket(lineageBucket)
	if b == nil {
		return nil
	}
	l, err := getLease(b, lineage)
	if err != nil {
		return err
	}
	if l.Adopter != "" {
		return fmt.Errorf("log store ledger: lineage %s claimed %s: %w", l.Adopter, lineage, logstore.ErrLineageAdopted)
	}
	return nil
}

// ForgetLineage implements logstore.LineageLedger, in one Update.
func (l kvLedger) ForgetLineage(ctx context.Context, ws, table, lineage string) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(ledgerBucket)
		if b == nil {
			return nil
		}
		key := append(lineagePrefix(ws, table), lineage...)
		v := b.Get(key)
		if v == nil {
			return nil
		}
		if p, err := decodePointer(v); err != nil || p.Retired == 0 {
			return err
		}
		return b.Delete(key)
	})
}

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
			// "<table>" or "<table>/<lineage>", a table's keys one after another
			table, _, _ := strings.Cut(string(k[len(prefix):]), "/")
			recorded := (len(v) == tableRecordSize || len(v) == pointerSize || len(v) == retiredPointerSize) && binary.BigEndian.Uint64(v) > 0
			if recorded && (len(out) == 0 || out[len(out)-1] != table) {
				out = append(out, table)
			}
		}
		return nil
	})
	return out, err
}

func (l kvLedger) update(ctx context.Context, ws, table string, f func(*logstore.TableRecord)) error {
	return l.db.Update(ctx, func(tx kv.Tx) error {
		b, err := ledgerBucketOf(tx, ws)
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
