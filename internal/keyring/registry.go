package keyring

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/kv"
)

// The key registry lives in the caller's kv database:
//
//	keyring.rings/<cluster>\x00<resource>/meta          JSON meta: which key is in force, current AEK
//	keyring.rings/<cluster>\x00<resource>/aeks/<id>     sha256(JSON) || JSON record: one wrapped AEK
//	keyring.rings/<cluster>\x00<resource>/usage/<uri>   JSON: last wrap and unwrap per KEK version
//	keyring.rings/<cluster>\x00<resource>/check         MAC || JSON: the last key check (checkrecord.go)
//
// Account keys are stored only wrapped. Every change of wrapping is one
// transaction, so a crash leaves the old or the new wrapping, never neither.
var (
	bucketRings = []byte("keyring.rings")
	bucketAEKs  = []byte("aeks")
	bucketUsage = []byte("usage")
	keyMeta     = []byte("meta")
	keyCheck    = []byte("check")
)

const registryFormat = 1

// meta says which key wraps a ring's account keys and which one is current.
type meta struct {
	Format   int    `json:"format"`
	Provider string `json:"provider"`
	Key      string `json:"key"` // versionless: replacement compares it
	// KEKRef names the KEK in force as its caller configured it (see
	// Config.KEKRef); "" in rings written before it was kept.
	KEKRef  string `json:"kekRef,omitempty"`
	Current string `json:"current"`
	// Version counts the ring's writes. Nodes sharing the registry write
	// only over the version they read (write fails with ErrRegistryChanged
	// otherwise) and reload when it moves, so no node undoes another's
	// change from a stale copy.
	Version uint64 `json:"version,omitempty"`
}

// ErrRegistryChanged: another node wrote the ring since it was read here.
// The keyring reloads it and, where the operation allows, tries again; a
// key change that still collides returns it, for its caller to retry.
var ErrRegistryChanged = errors.New("the key registry changed since it was read (another node changed the ring)")

// errRingRemoved: the ring's registry is gone, its cluster deleted.
var errRingRemoved = errors.New("the ring was removed from the key registry")

// record is one account key as stored: wrapped, with the version that wraps it.
type record struct {
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	Resource  string    `json:"resource"`
	Epoch     uint64    `json:"epoch"`
	Created   time.Time `json:"created"`
	Rewrapped time.Time `json:"rewrapped,omitzero"`
	Wrapped   Wrapped   `json:"wrapped"`
	// Check is HMAC-SHA256(AEK, label || id, cluster, resource, epoch): it
	// reveals nothing about the AEK, yet tells whether unwrapped bytes are
	// this account key — a swapped or forged wrapping is refused, never used.
	Check []byte `json:"check"`
}

type usageRecord struct {
	LastWrap   time.Time `json:"lastWrap,omitzero"`
	LastUnwrap time.Time `json:"lastUnwrap,omitzero"`
}

func ringName(cluster, resource string) []byte {
	return []byte(cluster + "\x00" + resource)
}

func checkValue(aek []byte, r *record) []byte {
	m := hmac.New(sha256.New, aek)
	m.Write([]byte("sealwatch/keyring/aek-check/v1"))
	m.Write(envelope.AAD(r.ID, r.Cluster, r.Resource, strconv.FormatUint(r.Epoch, 10)))
	return m.Sum(nil)
}

// verify tells whether aek is the account key r describes.
func (r *record) verify(aek []byte) error {
	if len(aek) != aekSize {
		return fmt.Errorf("account key %s unwrapped to %d bytes, want %d: %w", r.ID, len(aek), aekSize, ErrIntegrity)
	}
	if subtle.ConstantTimeCompare(checkValue(aek, r), r.Check) != 1 {
		return fmt.Errorf("account key %s: unwrapped key does not match the record's check value: %w", r.ID, ErrIntegrity)
	}
	return nil
}

func encodeRecord(r *record) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(js)
	return append(sum[:], js...), nil
}

func decodeRecord(id, raw []byte, cluster, resource string) (*record, error) {
	if len(raw) < sha256.Size {
		return nil, fmt.Errorf("registry record of account key %q is truncated: %w", id, ErrIntegrity)
	}
	sum := sha256.Sum256(raw[sha256.Size:])
	if !bytes.Equal(sum[:], raw[:sha256.Size]) {
		return nil, fmt.Errorf("registry record of account key %q fails its checksum: %w", id, ErrIntegrity)
	}
	var r record
	if err := json.Unmarshal(raw[sha256.Size:], &r); err != nil {
		return nil, fmt.Errorf("registry record of account key %q: %v: %w", id, err, ErrIntegrity)
	}
	if r.ID != string(id) || r.Cluster != cluster || r.Resource != resource {
		return nil, fmt.Errorf("registry record %q names account key %q of %s/%s: %w", id, r.ID, r.Cluster, r.Resource, ErrIntegrity)
	}
	return &r, nil
}

// registry is one ring's bucket in the caller's database.
type registry struct {
	db                kv.DB
	cluster, resource string
}

// stored is a ring as read from the registry.
type stored struct {
	meta    *meta // nil: the ring was never created
	records map[string]*record
	usage   map[string]usageRecord
}

func (g *registry) ring(tx kv.Tx) kv.Bucket {
	if b := tx.Bucket(bucketRings); b != nil {
		return b.Bucket(ringName(g.cluster, g.resource))
	}
	return nil
}

// readMeta decodes the ring's meta; nil when the ring was never created.
func (g *registry) readMeta(ring kv.Bucket) (*meta, error) {
	if ring == nil {
		return nil, nil
	}
	raw := ring.Get(keyMeta)
	if raw == nil {
		return nil, nil
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("registry meta of %s/%s: %v: %w", g.cluster, g.resource, err, ErrIntegrity)
	}
	if m.Format != registryFormat {
		return nil, fmt.Errorf("registry of %s/%s has format %d; this build reads %d", g.cluster, g.resource, m.Format, registryFormat)
	}
	return &m, nil
}

// readHead reads only the ring's meta, the one point read a probe makes to
// learn whether another node changed the ring; nil when it is gone.
func (g *registry) readHead(ctx context.Context) (*meta, error) {
	var m *meta
	err := g.db.View(ctx, func(tx kv.Tx) error {
		var err error
		m, err = g.readMeta(g.ring(tx))
		return err
	})
	return m, err
}

// readHeadAndCheck reads, in one transaction, the ring's meta (nil when the
// ring is gone) and its check record as stored (nil when there is none):
// what a node that does not probe reads each time it checks.
func (g *registry) readHeadAndCheck(ctx context.Context) (*meta, []byte, error) {
	var (
		m     *meta
		check []byte
	)
	err := g.db.View(ctx, func(tx kv.Tx) error {
		ring := g.ring(tx)
		var err error
		if m, err = g.readMeta(ring); m == nil || err != nil {
			return err
		}
		check = bytes.Clone(ring.Get(keyCheck))
		return nil
	})
	return m, check, err
}

// errCheckChanged: another node wrote the ring's check record since it was
// read here.
var errCheckChanged = errors.New("another node wrote the key check record first")

// writeCheck stores a check record provided the stored one is still prev
// (nil: none), byte for byte, so that of two nodes publishing over one
// record one wins and the other reads it. It fails with errCheckChanged
// otherwise, and with errRingRemoved when the ring is gone: a record never
// makes a removed ring again.
func (g *registry) writeCheck(ctx context.Context, prev, next []byte) error {
	return g.db.Update(ctx, func(tx kv.Tx) error {
		ring := g.ring(tx)
		if ring == nil || ring.Get(keyMeta) == nil {
			return errRingRemoved
		}
		if !bytes.Equal(ring.Get(keyCheck), prev) {
			return errCheckChanged
		}
		return ring.Put(keyCheck, next)
	})
}

func (g *registry) load(ctx context.Context) (*stored, error) {
	s := &stored{records: map[string]*record{}, usage: map[string]usageRecord{}}
	err := g.db.View(ctx, func(tx kv.Tx) error {
		ring := g.ring(tx)
		if ring == nil {
			return nil
		}
		m, err := g.readMeta(ring)
		if m == nil || err != nil {
			return err
		}
		s.meta = m
		if b := ring.Bucket(bucketAEKs); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				r, err := decodeRecord(k, v, g.cluster, g.resource)
				if err != nil {
					return err
				}
				s.records[r.ID] = r
				return nil
			}); err != nil {
				return err
			}
		}
		if b := ring.Bucket(bucketUsage); b != nil {
			return b.ForEach(func(k, v []byte) error {
				var u usageRecord
				if json.Unmarshal(v, &u) == nil { // usage is informative; a damaged entry is only forgotten
					s.usage[string(k)] = u
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.meta != nil {
		if _, ok := s.records[s.meta.Current]; !ok {
			return nil, fmt.Errorf("registry of %s/%s names current account key %q, which it does not hold: %w", g.cluster, g.resource, s.meta.Current, ErrIntegrity)
		}
	}
	return s, nil
}

// write stores m and records in one transaction, provided the ring is
// still at the version m was read at (absent, to create it), and then sets
// m.Version to the new one; otherwise it fails with ErrRegistryChanged. A
// record not stored yet must have an epoch above every stored one, so that
// no two nodes' new epochs share a number. before runs inside the
// transaction, after the writes and before the commit: an error from it
// rolls all back.
func (g *registry) write(ctx context.Context, m *meta, create bool, records []*record, before func() error) error {
	next := *m
	next.Version++
	err := g.db.Update(ctx, func(tx kv.Tx) error {
		rings, err := tx.CreateBucketIfNotExists(bucketRings)
		if err != nil {
			return err
		}
		have, err := g.readMeta(rings.Bucket(ringName(g.cluster, g.resource)))
		if err != nil {
			return err
		}
		switch {
		case create && have != nil, !create && have != nil && have.Version != m.Version:
			return ErrRegistryChanged
		case !create && have == nil:
			return errRingRemoved
		}
		ring, err := rings.CreateBucketIfNotExists(ringName(g.cluster, g.resource))
		if err != nil {
			return err
		}
		aeks, err := ring.CreateBucketIfNotExists(bucketAEKs)
		if err != nil {
			return err
		}
		if err := g.epochsAbove(aeks, records); err != nil {
			return err
		}
		for _, r := range records {
			raw, err := encodeRecord(r)
			if err != nil {
				return err
			}
			if err := aeks.Put([]byte(r.ID), raw); err != nil {
				return err
			}
		}
		mj, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		if err := ring.Put(keyMeta, mj); err != nil {
			return err
		}
		if before != nil {
			return before()
		}
		return nil
	})
	if err == nil {
		m.Version = next.Version
	}
	return err
}

// epochsAbove refuses, as a change made elsewhere, a new record whose epoch
// is not above every stored record's: the version check already keeps a
// node from minting from a stale copy, this states the rule where it holds.
func (g *registry) epochsAbove(aeks kv.Bucket, records []*record) error {
	var fresh []*record
	for _, r := range records {
		if aeks.Get([]byte(r.ID)) == nil {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return aeks.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(k, v, g.cluster, g.resource)
		if err != nil {
			return err
		}
		for _, f := range fresh {
			if f.Epoch <= r.Epoch {
				return fmt.Errorf("new account key %s of epoch %d, stored %s has epoch %d: %w", f.ID, f.Epoch, r.ID, r.Epoch, ErrRegistryChanged)
			}
		}
		return nil
	})
}

func (g *registry) writeUsage(ctx context.Context, u map[string]usageRecord) error {
	return g.db.Update(ctx, func(tx kv.Tx) error {
		ring := g.ring(tx)
		if ring == nil {
			return errors.New("registry ring missing")
		}
		b, err := ring.CreateBucketIfNotExists(bucketUsage)
		if err != nil {
			return err
		}
		for uri, rec := range u {
			// Nodes write the times of their own calls: keep the later of
			// theirs and this one's.
			var have usageRecord
			if raw := b.Get([]byte(uri)); raw != nil && json.Unmarshal(raw, &have) == nil {
				rec.LastWrap = later(rec.LastWrap, have.LastWrap)
				rec.LastUnwrap = later(rec.LastUnwrap, have.LastUnwrap)
			}
			js, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(uri), js); err != nil {
				return err
			}
		}
		return nil
	})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// KeyRef names the key a registry says is in force for a (cluster, storage
// resource): after a crash between SetKEK and the caller saving its own
// configuration, the registry is the truth the caller reconciles with.
type KeyRef struct {
	Provider string
	Key      string   // versionless
	KeyURIs  []string // versions wrapping account keys now
}

// InForce reads which key wraps a ring's account keys, without any KEK. It
// returns a zero KeyRef and no error for a ring that was never created.
func InForce(ctx context.Context, db kv.DB, cluster, resource string) (KeyRef, error) {
	s, err := (&registry{db: db, cluster: cluster, resource: resource}).load(ctx)
	if err != nil || s.meta == nil {
		return KeyRef{}, err
	}
	ref := KeyRef{Provider: s.meta.Provider, Key: s.meta.Key}
	seen := map[string]bool{}
	for _, r := range sortedRecords(s.records) {
		if !seen[r.Wrapped.KeyURI] {
			seen[r.Wrapped.KeyURI] = true
			ref.KeyURIs = append(ref.KeyURIs, r.Wrapped.KeyURI)
		}
	}
	return ref, nil
}
