// Package replay refuses a signed request that was taken before: it keeps the signature of
// every accepted request until the request's signing date has left the clock window, in a
// kv database that every node shares, so that a captured request is taken once by the
// whole cluster, whichever node it is sent to.
//
// The signatures are a set of kv claims (kv.Claimer), written beside the database's
// serialized writer: on PostgreSQL a reservation is one INSERT that takes no writer's lock,
// the table's key deciding between copies sent to two nodes, so every node's requests do
// not queue behind one Update at a time. Reservations that arrive while one is written are
// gathered and written together in the next (group commit): a burst pays one statement per
// round, not per request. Records whose date has left the window are deleted by the same
// writes, at most once a second, so no loop of its own runs.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Errors Reserve returns; the caller chooses how to answer each.
var (
	// ErrOutsideWindow: the request was signed further from now than the clock window.
	ErrOutsideWindow = errors.New("replay: signing date outside the clock window")
	// ErrSeen: a request with this signature was already taken.
	ErrSeen = errors.New("replay: signature already taken")
	// ErrBeforeRecord: the request was signed before the record of signatures began, so
	// whether it was taken cannot be told.
	ErrBeforeRecord = errors.New("replay: signed before the record of signatures began")
)

// Options tunes a Guard. Zero values take the defaults.
type Options struct {
	// Window is how far a signing date may be from now; default 15 minutes.
	Window time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

const (
	defaultWindow = 15 * time.Minute
	// expireEvery is how often a node deletes the expired records, in one of its writes.
	// No claim can meet an expired record (its date is outside the window), and the
	// deletion takes no lock that others wait for, so its size needs no bound.
	expireEvery = time.Second
)

var (
	bucketName = []byte("collectorReplay") // the record's beginning, in a bucket
	sinceKey   = []byte("since")
	seenSet    = []byte("collectorReplay") // the signatures, a set of claims
)

// Guard is the record of taken signatures. It is safe for concurrent use.
type Guard struct {
	claims kv.Claimer
	window time.Duration
	now    func() time.Time
	since  time.Time // when the record began, cluster-wide, to the second

	mu         sync.Mutex
	latest     time.Time // the latest time this node's clock read, so that it never goes back
	expired    time.Time // when this node last deleted the expired records
	queue      []*op     // reservations and releases waiting for the next commit
	committing bool      // a caller is committing; the queue waits for it
}

// op is one reservation (or, with release set, the removal of one) waiting in the queue.
type op struct {
	key     []byte
	release bool
	done    chan error // receives the outcome, or errLead: the receiver commits next
}

// errLead hands the next commit to the op that receives it.
var errLead = errors.New("commit the queue")

// New opens the record in db, creating it the first time; the time of that first opening,
// shared by every node, is the earliest signing date the record can vouch for. db keeps
// the signatures as claims: it must be a kv.Claimer.
func New(ctx context.Context, db kv.DB, opts Options) (*Guard, error) {
	if db == nil {
		return nil, errors.New("replay: nil database")
	}
	claims, ok := db.(kv.Claimer)
	if !ok {
		return nil, fmt.Errorf("replay: the database (%T) keeps no claims", db)
	}
	if opts.Window < 0 {
		return nil, fmt.Errorf("replay: negative window %v", opts.Window)
	}
	if opts.Window == 0 {
		opts.Window = defaultWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Guard{claims: claims, window: opts.Window, now: opts.Now}
	now := opts.Now().Truncate(time.Second) // signing dates have whole seconds
	err := db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if v := b.Get(sinceKey); len(v) == 8 {
			g.since = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
			return nil
		}
		g.since = now
		return b.Put(sinceKey, binary.BigEndian.AppendUint64(nil, uint64(now.Unix())))
	})
	if err != nil {
		return nil, fmt.Errorf("replay: open: %w", err)
	}
	return g, nil
}

// Window is how far a signing date may be from now.
func (g *Guard) Window() time.Duration { return g.window }

// Since is when the record began: requests signed before it are refused.
func (g *Guard) Since() time.Time { return g.since }

// CheckDate returns ErrOutsideWindow if a request signed at date is outside the clock
// window now. It lets a caller refuse a stale request before reading its body.
func (g *Guard) CheckDate(date time.Time) error {
	return g.checkDate(date, g.clock())
}

func (g *Guard) checkDate(date, now time.Time) error {
	if d := now.Sub(date); d > g.window || d < -g.window {
		return ErrOutsideWindow
	}
	return nil
}

// clock reads now, never earlier than a previous reading: a wall clock stepped back must
// not readmit a date that already left the window.
func (g *Guard) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Before(g.latest) {
		now = g.latest
	}
	g.latest = now
	return now
}

// Reserve records mac, the signature of a request signed at date, or refuses the request:
// ErrOutsideWindow, ErrBeforeRecord, ErrSeen, or the database's failure. The caller calls
// release if the request is then not taken, so that a retry of it is not refused as a
// replay. The window is checked again here, on the clock that deletes expired records.
func (g *Guard) Reserve(ctx context.Context, mac []byte, date time.Time) (release func(context.Context) error, err error) {
	if err := g.checkDate(date, g.clock()); err != nil {
		return nil, err
	}
	if date.Before(g.since) {
		return nil, ErrBeforeRecord
	}
	k := recordKey(mac, date)
	if err := g.do(ctx, &op{key: k}); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return g.do(ctx, &op{key: k, release: true}) }, nil
}

// recordKey is the signing date (seconds, big-endian, so that the oldest sort first and
// expire from the front) and a hash of the signature: the record holds nothing a request
// could be made from.
func recordKey(mac []byte, date time.Time) []byte {
	sum := sha256.Sum256(mac)
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(sum)), uint64(date.Unix())), sum[:]...)
}

// do queues o and waits for its outcome. The first caller to find no commit under way
// commits the queue itself; whoever commits hands the next commit to the first op that
// queued meanwhile, so that nobody waits for more than the commit after their own.
func (g *Guard) do(ctx context.Context, o *op) error {
	o.done = make(chan error, 1)
	g.mu.Lock()
	g.queue = append(g.queue, o)
	lead := !g.committing
	g.committing = true
	g.mu.Unlock()
	if !lead {
		if err := <-o.done; !errors.Is(err, errLead) {
			return err
		}
	}
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	// The batch carries other callers' ops: their commit must not end with this caller's
	// context, only its values are kept.
	g.commit(context.WithoutCancel(ctx), batch)
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errLead
	} else {
		g.committing = false
	}
	g.mu.Unlock()
	return <-o.done
}

// commit writes batch, its releases and the expired records in one statement, then its
// reservations in another, and tells each op its outcome. A retry queued behind the
// release of its own first attempt is then taken.
func (g *Guard) commit(ctx context.Context, batch []*op) {
	outcome := make([]error, len(batch))
	var released, reserved [][]byte
	for _, o := range batch {
		if o.release {
			released = append(released, o.key)
		} else {
			reserved = append(reserved, o.key)
		}
	}
	var err error
	if expired := g.expiredBefore(); len(released) > 0 || expired != nil {
		err = g.claims.Unclaim(ctx, seenSet, released, expired)
	}
	var claimed []bool // of reserved, in order
	if err == nil && len(reserved) > 0 {
		claimed, err = g.claims.Claim(ctx, seenSet, reserved)
	}
	for i, o := range batch {
		if err != nil || o.release {
			continue
		}
		if !claimed[0] {
			outcome[i] = ErrSeen
		}
		claimed = claimed[1:]
	}
	for i, o := range batch {
		if err != nil {
			outcome[i] = fmt.Errorf("replay: record signatures: %w", err)
		}
		o.done <- outcome[i]
	}
}

// expiredBefore returns the key before which records have expired, if this node last
// deleted them expireEvery ago or more, and nil otherwise.
func (g *Guard) expiredBefore() []byte {
	now := g.clock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.expired.IsZero() && now.Sub(g.expired) < expireEvery {
		return nil
	}
	g.expired = now
	// A date alone sorts after every key of an earlier date and before every key of its own.
	return binary.BigEndian.AppendUint64(nil, uint64(now.Add(-g.keep()).Unix()))
}

// keep is how long past its signing date a record is kept: the window, and the window
// again for the clocks of other nodes, which may be behind this one's.
func (g *Guard) keep() time.Duration { return 2 * g.window }
