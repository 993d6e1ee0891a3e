// Package replay refuses a signed request that was taken before: it keeps the signature of
// every accepted request until the request's signing date has left the clock window, in a
// kv database that every node shares, so that a captured request is taken once by the
// whole cluster, whichever node it is sent to.
//
// Each reservation is a kv Update, and kv serializes Updates across nodes, so reservations
// that arrive while one commits are gathered and written together in the next (group
// commit): a lone request pays one commit, a burst pays one commit per round, not per
// request. Records whose date has left the window are deleted by the same commits, a few at
// a time, so no loop of its own runs.
package replay

import (
	"bytes"
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
	// deletesPerCommit bounds the expired records one commit deletes, beyond twice its
	// own reservations, so that a backlog is cleared over several commits, not in one
	// long transaction every node waits behind.
	deletesPerCommit = 256
)

var (
	bucketName = []byte("collectorReplay")
	seenName   = []byte("seen")
	sinceKey   = []byte("since")
)

// Guard is the record of taken signatures. It is safe for concurrent use.
type Guard struct {
	db     kv.DB
	window time.Duration
	now    func() time.Time
	since  time.Time // when the record began, cluster-wide, to the second

	mu         sync.Mutex
	latest     time.Time // the latest time this node's clock read, so that it never goes back
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
// shared by every node, is the earliest signing date the record can vouch for.
func New(ctx context.Context, db kv.DB, opts Options) (*Guard, error) {
	if db == nil {
		return nil, errors.New("replay: nil database")
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
	g := &Guard{db: db, window: opts.Window, now: opts.Now}
	now := opts.Now().Truncate(time.Second) // signing dates have whole seconds
	err := db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if _, err := b.CreateBucketIfNotExists(seenName); err != nil {
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

// commit writes batch in one Update and tells each op its outcome. Expired records go in
// the same Update.
func (g *Guard) commit(ctx context.Context, batch []*op) {
	outcome := make([]error, len(batch))
	expired := binary.BigEndian.AppendUint64(nil, uint64(g.clock().Add(-g.keep()).Unix()))
	err := g.db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return errors.New("bucket collectorReplay is missing")
		}
		seen := b.Bucket(seenName)
		if seen == nil {
			return errors.New("bucket collectorReplay/seen is missing")
		}
		for i, o := range batch {
			switch {
			case o.release:
				if err := seen.Delete(o.key); err != nil {
					return err
				}
			case seen.Get(o.key) != nil:
				outcome[i] = ErrSeen
			default:
				if err := seen.Put(o.key, []byte{}); err != nil {
					return err
				}
			}
		}
		return deleteExpired(seen, expired, deletesPerCommit+2*len(batch))
	})
	for i, o := range batch {
		if err != nil {
			outcome[i] = fmt.Errorf("replay: record signatures: %w", err)
		}
		o.done <- outcome[i]
	}
}

// keep is how long past its signing date a record is kept: the window, and the window
// again for the clocks of other nodes, which may be behind this one's.
func (g *Guard) keep() time.Duration { return 2 * g.window }

// deleteExpired deletes up to n records signed before the date key expired.
func deleteExpired(seen kv.Bucket, expired []byte, n int) error {
	c := seen.Cursor()
	// expired is a date alone: it sorts after every key of an earlier date and before
	// every key of its own.
	for k, _ := c.First(); k != nil && n > 0 && bytes.Compare(k, expired) < 0; k, _ = c.Next() {
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return nil
}
