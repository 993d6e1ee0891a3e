package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// The sessions' records, in the database every node shares. A session is
// one record in bucketSessions, named by the MAC of its ID (never the ID
// itself): its last use and expiry in the clear (headerSize bytes, for the
// sweep), then what it holds (principal, tokens, CSRF token, expiry)
// sealed under the secrets key and bound to the record's name. One record
// in one top-level bucket is what a request reads: on PostgreSQL, each
// bucket and each key looked up is a query of its own.
var (
	bucketSessions = []byte("console.sessions")
	bucketSweep    = []byte("console.sessionSweep")
	keySweptAt     = []byte("at")
)

const (
	// touchEvery is how stale a session's recorded last use may grow
	// before a use writes it again. Each write is a kv Update, and
	// Updates run one at a time across the cluster, so a session in
	// constant use writes once a minute, not once a request. The price: a
	// session ends up to touchEvery before its idle time is up since its
	// very last use. Shorter idle times (tests) write at a tenth of theirs.
	touchEvery = time.Minute
	// sweepEvery is how often, cluster-wide, an Update of the sessions
	// also deletes the records of those that ended without a sign-out.
	sweepEvery = 5 * time.Minute
	// headerSize is a record's clear header: last use and expiry, Unix
	// nanoseconds.
	headerSize = 16
)

var (
	errTooManySessions = errors.New("too many sessions")
	// errSessionUnreadable is a record that does not open under the
	// secrets key and its own name: altered, or moved from another's. (A
	// node given another secrets key finds no record at all: their names
	// are MACs under that key.)
	errSessionUnreadable = errors.New("session record unreadable")
)

// store keeps the console's sessions in a kv database that every node
// shares: a session made on one node is served by any, and its sign-out
// ends it on all of them at once, as every request reads its record.
// Whoever reads the database finds no session ID, token or CSRF token.
type store struct {
	db    kv.DB
	seal  *rootkey.Key
	idKey []byte // MAC key of session IDs
	idle  time.Duration
	touch time.Duration
	max   int
	now   func() time.Time
}

func newStore(db kv.DB, seal *rootkey.Key, idle time.Duration, max int, now func() time.Time) *store {
	return &store{db: db, seal: seal, idKey: seal.Derive("console-session-id"),
		idle: idle, touch: min(touchEvery, idle/10), max: max, now: now}
}

// sealedSession is what a record holds after its header, once sealed.
type sealedSession struct {
	Principal identity.Principal           `json:"principal"`
	Tokens    map[identity.Audience]string `json:"tokens"`
	CSRF      string                       `json:"csrf"`
	Expires   time.Time                    `json:"expires"`
}

// recordKey is the key of the session id names: a MAC under a key derived
// from the secrets key, so that reading the database gives no ID and
// writing it cannot make a record for one.
func (st *store) recordKey(id string) []byte {
	m := hmac.New(sha256.New, st.idKey)
	m.Write([]byte(id))
	return m.Sum(nil)
}

// sealAAD names the session a sealed record belongs to: moved under
// another key, it no longer opens.
func sealAAD(key []byte) []byte {
	return append([]byte("sealwatch/console/session\x00"), key...)
}

// add keeps s and returns the cookie value that names it. The bound on
// sessions is the cluster's: the records in the database.
func (st *store) add(ctx context.Context, s *session) (string, error) {
	id := randomToken()
	key := st.recordKey(id)
	plain, err := json.Marshal(sealedSession{Principal: s.principal, Tokens: s.tokens, CSRF: s.csrf, Expires: s.expires})
	if err != nil {
		return "", fmt.Errorf("console: encode session: %w", err)
	}
	sealed, err := st.seal.Seal(plain, sealAAD(key))
	clear(plain)
	if err != nil {
		return "", fmt.Errorf("console: seal session: %w", err)
	}
	now := st.now()
	err = st.db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		if err := st.maybeSweep(tx, b, now, b.KeyN() >= st.max); err != nil {
			return err
		}
		if b.KeyN() >= st.max {
			return errTooManySessions
		}
		return b.Put(key, append(header(now, s.expires), sealed...))
	})
	if err != nil {
		return "", fmt.Errorf("console: keep session: %w", err)
	}
	s.key, s.lastSeen = key, now
	return id, nil
}

// get returns the live session id names, or nil: none, signed out, idle
// too long or past its tokens' expiry.
func (st *store) get(ctx context.Context, id string) (*session, error) {
	key := st.recordKey(id)
	var rec []byte
	err := st.db.View(ctx, func(tx kv.Tx) error {
		if b := tx.Bucket(bucketSessions); b != nil {
			rec = slices.Clone(b.Get(key))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read session: %w", err)
	}
	if rec == nil {
		return nil, nil
	}
	if len(rec) < headerSize {
		return nil, fmt.Errorf("console: %w: %d bytes", errSessionUnreadable, len(rec))
	}
	lastSeen, _ := parseHeader(rec)
	plain, err := st.seal.Open(rec[headerSize:], sealAAD(key))
	if err != nil {
		return nil, fmt.Errorf("console: %w: %w", errSessionUnreadable, err)
	}
	var ss sealedSession
	err = json.Unmarshal(plain, &ss)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("console: %w: %w", errSessionUnreadable, err)
	}
	if st.expired(lastSeen, ss.Expires, st.now()) {
		return nil, nil
	}
	return &session{key: key, principal: ss.Principal, tokens: ss.Tokens, csrf: ss.CSRF,
		expires: ss.Expires, lastSeen: lastSeen}, nil
}

// markUsed records that s was used now, restarting its idle time, unless
// its recorded last use is more recent than st.touch: most uses write
// nothing. It never brings back a session signed out or ended meanwhile.
func (st *store) markUsed(ctx context.Context, s *session) error {
	now := st.now()
	if now.Sub(s.lastSeen) < st.touch {
		return nil
	}
	err := st.db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		rec := b.Get(s.key)
		if len(rec) < headerSize {
			return nil // signed out on another node
		}
		lastSeen, expires := parseHeader(rec)
		if st.expired(lastSeen, expires, now) || now.Sub(lastSeen) < st.touch {
			return nil // ended, or a request on another node wrote it meanwhile
		}
		updated := append(header(now, expires), rec[headerSize:]...)
		if err := b.Put(s.key, updated); err != nil {
			return err
		}
		return st.maybeSweep(tx, b, now, false)
	})
	if err != nil {
		return fmt.Errorf("console: record a session's use: %w", err)
	}
	s.lastSeen = now
	return nil
}

// remove ends the session whose record is under key, on every node.
func (st *store) remove(ctx context.Context, key []byte) error {
	now := st.now()
	err := st.db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		return st.maybeSweep(tx, b, now, false)
	})
	if err != nil {
		return fmt.Errorf("console: end session: %w", err)
	}
	return nil
}

func (st *store) expired(lastSeen, expires, now time.Time) bool {
	return now.Sub(lastSeen) >= st.idle || !now.Before(expires)
}

// maybeSweep deletes the records of ended sessions from b when no Update
// did for sweepEvery, or now if force: a sweep reads every record, so it
// runs in one Update of the cluster's every few minutes, not in each.
func (st *store) maybeSweep(tx kv.Tx, b kv.Bucket, now time.Time, force bool) error {
	sweep, err := tx.CreateBucketIfNotExists(bucketSweep)
	if err != nil {
		return err
	}
	if v := sweep.Get(keySweptAt); !force && len(v) == 8 {
		if last := time.Unix(0, int64(binary.BigEndian.Uint64(v))); now.Sub(last) < sweepEvery && !now.Before(last) {
			return nil
		}
	}
	var ended [][]byte
	err = b.ForEach(func(k, v []byte) error {
		if len(v) < headerSize {
			ended = append(ended, slices.Clone(k))
		} else if lastSeen, expires := parseHeader(v); st.expired(lastSeen, expires, now) {
			ended = append(ended, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range ended {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return sweep.Put(keySweptAt, binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
}

// header is a record's clear header: the session's last use and expiry.
func header(lastSeen, expires time.Time) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, headerSize), uint64(lastSeen.UnixNano()))
	return binary.BigEndian.AppendUint64(v, uint64(expires.UnixNano()))
}

func parseHeader(rec []byte) (lastSeen, expires time.Time) {
	return time.Unix(0, int64(binary.BigEndian.Uint64(rec[:8]))), time.Unix(0, int64(binary.BigEndian.Uint64(rec[8:16])))
}
