package keyring

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Test-only access to internals, for the external tests in keyring_test
// (which import kektest, which imports keyring).

// SetRewrapHook stops a rewrap at a step when f returns an error.
func SetRewrapHook(k *Keyring, f func(step string) error) { k.hook = f }

// AccountKeyBytes returns a copy of an account key held in memory, or nil.
func AccountKeyBytes(k *Keyring, id string) []byte {
	k.mu.RLock()
	m := k.mat[id]
	k.mu.RUnlock()
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.key)
}

// StoredRecord returns the raw registry value of an account key.
func StoredRecord(db kv.DB, cluster, resource, id string) (raw []byte) {
	g := &registry{db: db, cluster: cluster, resource: resource}
	db.View(context.Background(), func(tx kv.Tx) error {
		raw = bytes.Clone(g.ring(tx).Bucket(bucketAEKs).Get([]byte(id)))
		return nil
	})
	return raw
}

// RewriteWrapping changes an account key's stored wrapping and recomputes
// the record checksum, as a tamperer who knows the format would.
func RewriteWrapping(db kv.DB, cluster, resource, id string, f func(*Wrapped)) error {
	g := &registry{db: db, cluster: cluster, resource: resource}
	s, err := g.load(context.Background())
	if err != nil {
		return err
	}
	r := s.records[id]
	if r == nil {
		return errors.New("no such record")
	}
	f(&r.Wrapped)
	return g.write(context.Background(), s.meta, false, []*record{r}, nil)
}

// CheckRecord is a ring's check record as tests read and forge it.
type CheckRecord struct {
	Node, State    string
	Seq, Registry  uint64
	Since, Checked time.Time
}

// ReadCheckRecord decodes the ring's stored check record under secret.
func ReadCheckRecord(db kv.DB, cluster, resource string, secret []byte) (CheckRecord, error) {
	key, err := checkMACKey(secret)
	if err != nil {
		return CheckRecord{}, err
	}
	r, err := decodeCheck(key, cluster, resource, CheckRecordRaw(db, cluster, resource))
	if err != nil {
		return CheckRecord{}, err
	}
	return CheckRecord{Node: r.Node, State: string(r.State), Seq: r.Seq, Registry: r.Registry, Since: r.Since, Checked: r.CheckedAt}, nil
}

// WriteCheckRecord stores c as the ring's check record, MAC'd under
// secret, over whatever is stored: what a writer who holds secret (or, with
// another secret, one who does not) could put there.
func WriteCheckRecord(db kv.DB, cluster, resource string, secret []byte, c CheckRecord) error {
	key, err := checkMACKey(secret)
	if err != nil {
		return err
	}
	raw, err := encodeCheck(key, &checkRecord{Cluster: cluster, Resource: resource, Seq: c.Seq, Node: c.Node,
		State: checkState(c.State), Since: c.Since, CheckedAt: c.Checked, Registry: c.Registry})
	if err != nil {
		return err
	}
	return PutCheckRecordRaw(db, cluster, resource, raw)
}

// CheckRecordRaw returns the ring's stored check record, nil when none.
func CheckRecordRaw(db kv.DB, cluster, resource string) (raw []byte) {
	_, raw, _ = (&registry{db: db, cluster: cluster, resource: resource}).readHeadAndCheck(context.Background())
	return raw
}

// PutCheckRecordRaw stores raw as the ring's check record, as the
// database's operator could.
func PutCheckRecordRaw(db kv.DB, cluster, resource string, raw []byte) error {
	g := &registry{db: db, cluster: cluster, resource: resource}
	return db.Update(context.Background(), func(tx kv.Tx) error {
		return g.ring(tx).Put(keyCheck, raw)
	})
}

// NextCheckIn is how long Run waits before its next check.
func NextCheckIn(k *Keyring) time.Duration { return k.interval() }
