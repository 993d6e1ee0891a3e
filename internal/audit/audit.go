// Package audit keeps a vault's tamper-evident audit log: one record per key operation,
// chained with HMAC-SHA256 and written to a kv bucket in batches.
//
// Each record's MAC covers the previous record's MAC and every other field of the record,
// under a key derived from the vault's root key. Someone who can write the database file
// but does not hold the root key therefore cannot edit a record, remove or reorder records
// in the middle, or forge one, without Verify naming the first broken record.
//
// What the chain cannot show from the file alone: removing the newest records. A log cut
// after record n is a valid chain of n records. While a Log is open, Verify and every
// write compare against its memory of the newest record it wrote or continued from, and do
// catch this; after a restart only a copy of the head kept elsewhere (see Head: another
// host, a ticket, a signed note) can tell. The same holds for replacing the whole file with
// an older copy.
//
// Several nodes may each open a Log on one shared database: each batch continues from the
// newest stored record, read and verified inside its kv Update, and kv serializes Updates
// across nodes, so their records form one chain.
//
// Records are batched because every wrap and unwrap is audited, and a commit (an fsync,
// or a round trip to PostgreSQL) per request would dominate the vault's latency. One writer
// goroutine per Log commits all queued records in one transaction every FlushInterval, or as
// soon as MaxPending are queued. Appenders never wait for the disk unless the queue is full; then they wait
// rather than lose a record.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Record is one audited operation. Seq, PrevMAC and MAC are assigned when the record is
// written; values set by the caller are ignored.
type Record struct {
	Seq            uint64    `json:"seq"`
	Time           time.Time `json:"time"`
	Vault          string    `json:"vault"`
	CallerObjectID string    `json:"callerObjectId,omitempty"`
	// CallerTenantID tells a trusted issuer's principals (an operator's
	// cluster identities) from the vault tenant's own.
	CallerTenantID string  `json:"callerTenantId,omitempty"`
	CallerAppID    string  `json:"callerAppId,omitempty"`
	ClientIP       string  `json:"clientIp,omitempty"`
	Operation      string  `json:"operation"` // KeyCreate, KeyGet, KeyWrap, KeyUnwrap, KeyRotate, VaultCreate, ...
	KeyName        string  `json:"keyName,omitempty"`
	KeyVersion     string  `json:"keyVersion,omitempty"`
	Status         int     `json:"httpStatus"`
	ErrorCode      string  `json:"errorCode,omitempty"`
	DurationMs     float64 `json:"durationMs"`
	RequestID      string  `json:"requestId,omitempty"`
	PrevMAC        string  `json:"prevMac"` // hex
	MAC            string  `json:"mac"`     // hex HMAC-SHA256(macKey, prevMAC || canonical encoding of every other field)
}

// Options tunes batching. Zero values take the defaults.
type Options struct {
	FlushInterval time.Duration // longest a record waits before its batch is written; default 20ms
	MaxPending    int           // records that trigger a write at once, and the queue's capacity; default 512
	Logger        *slog.Logger  // default discards
}

// Filter selects records for List. Empty fields match everything.
type Filter struct {
	Vault   string    // vault name, compared case-insensitively like the vault's own names
	KeyName string    // key name, compared case-insensitively
	Since   time.Time // records at or after this time
	Limit   int       // at most this many, the newest ones; 0 means no limit
}

// TamperError names the first record at which the chain is broken.
type TamperError struct {
	Seq    uint64
	Reason string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit log tampered at record %d: %s", e.Seq, e.Reason)
}

// ErrClosed is returned by calls on a Log after Close.
var ErrClosed = errors.New("audit log closed")

const (
	defaultFlushInterval = 20 * time.Millisecond
	defaultMaxPending    = 512
	// maxRetryDelay caps the back-off while the store refuses writes, so that records
	// are written soon after it recovers.
	maxRetryDelay = time.Second
	minMACKeySize = 32
	macSize       = sha256.Size
)

var bucketName = []byte("audit")

// Log is an open audit log. All methods are safe for concurrent use.
type Log struct {
	db         kv.DB
	macKey     []byte
	interval   time.Duration
	maxPending int
	log        *slog.Logger

	// mu orders senders on queue against Close closing it: Append and Flush hold it shared
	// while they send, Close holds it exclusively to set closed and close the queue.
	mu        sync.RWMutex
	closed    bool
	queue     chan item
	closing   chan struct{} // closed when Close starts: the writer then takes everything
	done      chan struct{} // closed when the writer has exited
	closeOnce sync.Once
	closeErr  error // set by the writer before done is closed

	headMu sync.Mutex
	head   chainHead // newest durable record

	onCommit func(head uint64) // tests only
}

type chainHead struct {
	seq uint64
	mac []byte
}

// item is a record to write or, when flushed is set, a request to report once everything
// queued before it is durable.
type item struct {
	rec     Record
	flushed chan<- error
}

// Open continues the audit log in db's "audit" bucket, creating the bucket if needed, and
// starts its writer. macKey (at least 32 bytes, derived from the vault's root key) must be
// the key the log was written with: Open checks the newest record against it and refuses,
// with a *TamperError, a log it does not verify. The caller keeps db open until Close.
func Open(db kv.DB, macKey []byte, opts Options) (*Log, error) {
	return open(db, macKey, opts, nil)
}

// open is Open with a hook the writer calls after each successful commit, so that tests can
// wait for a write they did not ask for with Flush.
func open(db kv.DB, macKey []byte, opts Options, onCommit func(head uint64)) (*Log, error) {
	if db == nil {
		return nil, errors.New("audit: nil database")
	}
	if len(macKey) < minMACKeySize {
		return nil, fmt.Errorf("audit: MAC key is %d bytes, want at least %d", len(macKey), minMACKeySize)
	}
	if opts.FlushInterval < 0 || opts.MaxPending < 0 {
		return nil, fmt.Errorf("audit: negative FlushInterval %v or MaxPending %d", opts.FlushInterval, opts.MaxPending)
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = defaultFlushInterval
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = defaultMaxPending
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		db:         db,
		macKey:     bytes.Clone(macKey),
		interval:   opts.FlushInterval,
		maxPending: opts.MaxPending,
		log:        opts.Logger,
		queue:      make(chan item, opts.MaxPending),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		onCommit:   onCommit,
	}
	head, err := l.loadHead()
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l.head = head
	go l.run()
	return l, nil
}

// loadHead finds the newest record so that the chain continues across restarts.
func (l *Log) loadHead() (chainHead, error) {
	var head chainHead
	err := l.db.Update(context.Background(), func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		head, err = l.readHead(b, chainHead{mac: make([]byte, macSize)})
		return err
	})
	return head, err
}

// readHead returns the newest stored record as a chain head, or known when the bucket is
// empty and known is the empty head. It refuses, with a *TamperError, a newest record that
// does not verify under the MAC key, and a head behind known (the newest record this Log
// has written or continued from): every node only ever appends, so a log that went back
// lost its newest records.
func (l *Log) readHead(b kv.Bucket, known chainHead) (chainHead, error) {
	k, v := b.Cursor().Last()
	if k == nil {
		if known.seq != 0 {
			return chainHead{}, &TamperError{Seq: 1, Reason: fmt.Sprintf("the log is empty but this process saw it reach record %d: every record was removed", known.seq)}
		}
		return known, nil
	}
	seq, r, err := decodeStored(k, v)
	if err != nil {
		return chainHead{}, err
	}
	prev, err := hex.DecodeString(r.PrevMAC)
	if err != nil || len(prev) != macSize {
		return chainHead{}, &TamperError{Seq: seq, Reason: "newest record has a malformed prevMac"}
	}
	mac := computeMAC(l.macKey, prev, &r)
	if !macEqual(mac, r.MAC) {
		return chainHead{}, &TamperError{Seq: seq, Reason: "newest record does not verify under this MAC key: the key is not the one the log was written with, or the record was altered"}
	}
	switch {
	case seq < known.seq:
		return chainHead{}, &TamperError{Seq: seq + 1, Reason: fmt.Sprintf("log ends at record %d but this process saw it reach %d: the newest records were removed", seq, known.seq)}
	case seq == known.seq && !hmac.Equal(mac, known.mac):
		return chainHead{}, &TamperError{Seq: seq, Reason: "differs from the record this process wrote or continued from"}
	}
	return chainHead{seq: seq, mac: mac}, nil
}

// Append queues r for writing and returns without waiting for the disk, unless the queue
// is full: then it waits, because an audit record is never dropped. A zero r.Time becomes
// the current time; Seq and the MACs are assigned by the writer. Append after Close drops
// the record and logs an error, since nothing can write it any more.
func (l *Log) Append(r Record) {
	r = clean(r)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.log.Error("audit record dropped: log is closed", "vault", r.Vault, "operation", r.Operation, "requestId", r.RequestID)
		return
	}
	l.queue <- item{rec: r}
}

// clean makes r survive a JSON round trip unchanged, since the MAC computed over r must
// verify over what is read back: encoding/json replaces invalid UTF-8, refuses NaN and
// infinities, and cannot write years outside 0..9999.
func clean(r Record) Record {
	if y := r.Time.Year(); r.Time.IsZero() || y < 1 || y > 9999 {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC().Round(0) // Round(0) drops the monotonic reading
	for _, s := range []*string{&r.Vault, &r.CallerObjectID, &r.CallerTenantID, &r.CallerAppID, &r.ClientIP,
		&r.Operation, &r.KeyName, &r.KeyVersion, &r.ErrorCode, &r.RequestID} {
		if !utf8.ValidString(*s) {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
	}
	if math.IsNaN(r.DurationMs) || math.IsInf(r.DurationMs, 0) {
		r.DurationMs = 0
	}
	r.Seq, r.PrevMAC, r.MAC = 0, "", ""
	return r
}

// Flush returns once every record appended before the call is durable, or with the
// store's error if they could not be written (they stay queued and are retried).
func (l *Log) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.queue <- item{flushed: done}:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: flush: %w", ctx.Err())
	}
}

// Close writes every queued record and stops the writer. It does not close the database.
// The error, if any, says how many records could not be written.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		// Let the writer take everything first, so that Appends blocked on a full queue
		// finish and release mu.
		close(l.closing)
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		<-l.done
	})
	return l.closeErr
}

// Head returns the sequence number and MAC (hex) of the newest durable record, whichever
// node wrote it; 0 and the all-zero MAC for an empty log. Keeping them outside the database
// is what makes removal of the newest records detectable after a restart. Head refuses, with
// a *TamperError, a newest record that does not verify or that is older than one this Log
// has seen.
func (l *Log) Head(ctx context.Context) (seq uint64, mac string, err error) {
	known := l.currentHead()
	h := known
	err = l.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return errors.New("bucket audit is missing")
		}
		var err error
		h, err = l.readHead(b, known)
		return err
	})
	if err != nil {
		return 0, "", fmt.Errorf("audit: head: %w", err)
	}
	return h.seq, hex.EncodeToString(h.mac), nil
}

func (l *Log) currentHead() chainHead {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.head
}

// run is the single writer: it owns the batch and is the only one to advance the chain.
func (l *Log) run() {
	defer close(l.done)
	var (
		batch    []Record
		waiters  []chan<- error
		timer    = time.NewTimer(time.Hour)
		timerSet bool
		retry    = l.interval
		failing  bool
		closing  = l.closing
	)
	timer.Stop()
	defer timer.Stop()
	for {
		intake := l.queue
		if failing && len(batch) >= l.maxPending && closing != nil {
			// The store refuses writes: push back on appenders rather than grow without bound.
			intake = nil
		}
		write := false
		select {
		case it, ok := <-intake:
			if !ok { // closed by Close, after every sender has finished
				err := l.commit(batch)
				if err != nil {
					err = fmt.Errorf("audit: %d records lost at close: %w", len(batch), err)
					l.log.Error("audit records lost at close", "records", len(batch), "err", err)
				}
				for _, w := range waiters {
					w <- err
				}
				l.closeErr = err
				return
			}
			if it.flushed != nil {
				waiters = append(waiters, it.flushed)
				write = true
			} else {
				batch = append(batch, it.rec)
				write = len(batch) >= l.maxPending
			}
		case <-timer.C:
			timerSet = false
			write = true
		case <-closing:
			closing = nil
		}

		if !write {
			if len(batch) > 0 && !timerSet {
				timer.Reset(l.interval)
				timerSet = true
			}
			continue
		}
		err := l.commit(batch)
		if err == nil {
			clear(batch) // let the strings go
			batch = batch[:0]
			failing, retry = false, l.interval
			if timerSet {
				timer.Stop()
				timerSet = false
			}
		} else {
			if !failing {
				l.log.Error("audit records not written; retrying", "records", len(batch), "err", err)
			}
			failing = true
			timer.Reset(retry)
			timerSet = true
			retry = min(2*retry, maxRetryDelay)
		}
		for _, w := range waiters {
			w <- err
		}
		clear(waiters)
		waiters = waiters[:0]
	}
}

// commit writes batch in one transaction, continuing the chain from the newest stored
// record. That record is read inside the transaction rather than taken from memory, because
// other nodes sharing the database append to the same chain: kv serializes their Updates,
// so each batch extends whatever the previous one, from any node, left.
func (l *Log) commit(batch []Record) error {
	if len(batch) == 0 {
		return nil
	}
	known := l.currentHead() // only this goroutine moves the head
	var next chainHead
	// No caller's context: a queued record is written whoever asked for it.
	err := l.db.Update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return errors.New("bucket audit is missing")
		}
		if a, ok := b.(kv.Appender); ok {
			a.AppendOnly() // sequence numbers only ever grow
		}
		var err error
		if next, err = l.readHead(b, known); err != nil {
			return err
		}
		for _, r := range batch {
			r.Seq = next.seq + 1
			r.PrevMAC = hex.EncodeToString(next.mac)
			mac := computeMAC(l.macKey, next.mac, &r)
			r.MAC = hex.EncodeToString(mac)
			v, err := json.Marshal(&r)
			if err != nil {
				return fmt.Errorf("encode record %d: %w", r.Seq, err)
			}
			if err := b.Put(seqKey(r.Seq), v); err != nil {
				return fmt.Errorf("store record %d: %w", r.Seq, err)
			}
			next = chainHead{seq: r.Seq, mac: mac}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: write %d records: %w", len(batch), err)
	}
	l.headMu.Lock()
	l.head = next
	l.headMu.Unlock()
	if l.onCommit != nil {
		l.onCommit(next.seq)
	}
	return nil
}

// List returns the records matching f, oldest first; with a Limit, the newest Limit of
// them. It flushes first, so it sees everything appended before the call; after Close it
// returns ErrClosed.
func (l *Log) List(ctx context.Context, f Filter) ([]Record, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("audit: list: negative limit %d", f.Limit)
	}
	if err := l.Flush(ctx); err != nil {
		return nil, err
	}
	var out []Record
	err := l.db.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		n := 0
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			if !f.match(&r) {
				continue
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

func (f *Filter) match(r *Record) bool {
	return (f.Vault == "" || strings.EqualFold(f.Vault, r.Vault)) &&
		(f.KeyName == "" || strings.EqualFold(f.KeyName, r.KeyName)) &&
		!r.Time.Before(f.Since)
}

// Verify walks the whole chain and returns a *TamperError for the first broken link: an
// edited field or forged MAC, a missing record, records moved or reordered, or (while this
// Log is open) newest records removed. It flushes first; after Close it returns ErrClosed.
func (l *Log) Verify(ctx context.Context) error {
	if err := l.Flush(ctx); err != nil {
		return err
	}
	// The head is read before the transaction starts, so everything up to it is committed
	// and must be visible to the transaction.
	head := l.currentHead()
	err := l.db.View(ctx, func(tx kv.Tx) error {
		expect := uint64(1)
		prev := make([]byte, macSize)
		if b := tx.Bucket(bucketName); b != nil {
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if expect%1024 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if len(k) != 8 {
					return &TamperError{Seq: expect, Reason: fmt.Sprintf("malformed key %x where record %d belongs", k, expect)}
				}
				if next := binary.BigEndian.Uint64(k); next > expect {
					return &TamperError{Seq: expect, Reason: fmt.Sprintf("record %d is missing; the next stored record is %d", expect, next)}
				}
				seq, r, terr := decodeStored(k, v)
				if terr != nil {
					return terr
				}
				if seq < expect {
					return &TamperError{Seq: seq, Reason: "sequence numbers start at 1"}
				}
				if r.PrevMAC != hex.EncodeToString(prev) {
					return &TamperError{Seq: seq, Reason: fmt.Sprintf("prevMac does not match the MAC of record %d: a record before it was removed or replaced", seq-1)}
				}
				mac := computeMAC(l.macKey, prev, &r)
				if !macEqual(mac, r.MAC) {
					return &TamperError{Seq: seq, Reason: "MAC does not match: the record was edited or its MAC forged"}
				}
				if seq == head.seq && !hmac.Equal(mac, head.mac) {
					return &TamperError{Seq: seq, Reason: "differs from the record this process wrote"}
				}
				prev, expect = mac, seq+1
			}
		}
		if last := expect - 1; last < head.seq {
			return &TamperError{Seq: expect, Reason: fmt.Sprintf("log ends at record %d but this process wrote up to %d: the newest records were removed", last, head.seq)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	return nil
}

// decodeStored parses one stored record and checks that it sits under its own key.
func decodeStored(k, v []byte) (uint64, Record, error) {
	var r Record
	if len(k) != 8 {
		return 0, r, &TamperError{Reason: fmt.Sprintf("malformed key %x", k)}
	}
	seq := binary.BigEndian.Uint64(k)
	if err := json.Unmarshal(v, &r); err != nil {
		return seq, r, &TamperError{Seq: seq, Reason: "record does not decode: " + err.Error()}
	}
	if r.Seq != seq {
		return seq, r, &TamperError{Seq: seq, Reason: fmt.Sprintf("stored at position %d but says seq %d: records were moved or reordered", seq, r.Seq)}
	}
	return seq, r, nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

func macEqual(mac []byte, stored string) bool {
	got, err := hex.DecodeString(stored)
	return err == nil && hmac.Equal(mac, got)
}

// computeMAC is HMAC-SHA256(macKey, prevMAC || canonical(r)). The canonical encoding is
// fixed-width integers and length-prefixed strings in field order, so that no two records
// encode alike and JSON's freedoms (field order, whitespace, escapes) do not matter.
func computeMAC(macKey, prevMAC []byte, r *Record) []byte {
	h := hmac.New(sha256.New, macKey)
	h.Write(prevMAC)
	h.Write(canonical(r))
	return h.Sum(nil)
}

func canonical(r *Record) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "sealwatch/audit/v1\x00"...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Time.Nanosecond()))
	for _, s := range []string{r.Vault, r.CallerObjectID, r.CallerAppID, r.ClientIP, r.Operation, r.KeyName, r.KeyVersion} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(int64(r.Status)))
	b = appendString(b, r.ErrorCode)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.DurationMs))
	b = appendString(b, r.RequestID)
	// Added after v1's first records: left out when empty, so that records
	// written before it still verify.
	if r.CallerTenantID != "" {
		b = appendString(b, r.CallerTenantID)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
