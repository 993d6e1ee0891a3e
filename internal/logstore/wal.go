package logstore

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A WAL file holds the acknowledged rows of one table not yet flushed into
// segments:
//
//	header (plaintext, see header; its own salt, so its own object key)
//	mark:    two slots of markSlotSize, each nonce ‖ AES-GCM(u64 records |
//	         i64 min time | i64 max time) ‖ tag, zero until first written;
//	         AAD: workspace, table, WAL ID, file sequence number, slot
//	records: u32 length | u32 CRC-32C of the length | nonce ‖
//	         AES-GCM(payload) ‖ tag; AAD: workspace, table, WAL ID,
//	         file sequence number, record ordinal, length
//
// The length's checksum tells a torn tail from damage: a record cut short by
// a crash (or a zero-filled tail) may be cut on replay, while a flipped bit
// in a complete record is damage, never silently dropped data. The length is
// authenticated by the record's tag.
//
// The mark says how many records were acknowledged (durable), and the time
// range of their rows, so that a WAL cut at a record boundary — which no
// checksum can see — is damage, not a shorter WAL. A sync writes the mark of
// the records the previous syncs made durable, in place, alternating slots,
// at most every markEvery, so the mark costs no extra sync and little extra
// writing under load. When the WAL goes quiet (markDelay), the mark is
// brought up to date by a write without a sync of its own: the next sync of
// the WAL, its Close, or the kernel's writeback of dirty pages takes it to
// the disk. A WAL that takes a call now and then (one table of a thousand)
// so costs one fsync a call, not two. The mark never vouches for a record
// not yet durable, whenever it reaches the disk. After the process is
// killed, the mark lags the last acknowledgement by at most markEvery +
// markDelay (the kernel keeps the written mark); after a power loss, a
// quiet WAL's mark may lag until the WAL's next sync or the kernel's
// writeback (dirty_expire_centisecs, 30 s, at the flusher's next pass,
// every dirty_writeback_centisecs, 5 s, by default on Linux), and a cut of
// the records it does not vouch for then reads as a torn tail.
// Version 1 WALs have no mark and do not authenticate lengths. From version
// 3 on, a record's payload starts with its rows' ingestion time (rows.go).
const (
	walExt        = ".wal"
	recHeaderSize = 8
	markSlots     = 2
	markSlotSize  = 12 + 24 + 16 // nonce, count and time range, tag
	markDelay     = 100 * time.Millisecond
	markEvery     = 50 * time.Millisecond
)

func walFileName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, walExt) }

func parseWALName(s string) (uint64, bool) {
	if len(s) != 16+len(walExt) || filepath.Ext(s) != walExt {
		return 0, false
	}
	seq, err := strconv.ParseUint(s[:16], 16, 64)
	return seq, err == nil
}

// walMark is a count of records and the time range of their rows.
type walMark struct {
	records    uint64
	minT, maxT int64
}

func (m *walMark) widen(minT, maxT int64) {
	if m.records == 0 && m.minT == 0 && m.maxT == 0 {
		m.minT, m.maxT = minT, maxT
		return
	}
	m.minT, m.maxT = min(m.minT, minT), max(m.maxT, maxT)
}

// walWriter appends sealed records to one WAL file, with group commit:
// writers that arrive while a sync runs share the next one.
type walWriter struct {
	path      string
	seq       uint64
	hdr       header
	hlen      int64
	ws, table string
	lineage   string // bound into a version 5 WAL's AADs

	mu      sync.Mutex
	f       *os.File
	written walMark   // records written, and their rows' time range
	durable walMark   // records on stable storage
	marked  uint64    // records the mark on stable storage vouches for
	inFile  uint64    // records the mark in the file vouches for, synced or not (≥ marked)
	markAt  time.Time // when the mark was last written
	slot    int       // the mark slot written next
	aead    cipher.AEAD
	size    int64
	syncing chan struct{} // closed when the running sync ends; nil if none
	err     error         // sticky: after a failed write or sync nothing more is acknowledged
	closed  bool
	recBuf  []byte
	quiet   *time.Timer  // brings the mark up to date once appends stop
	syncs   atomic.Int64 // fsyncs done, to show group commit at work
}

// createWAL creates the WAL file seq. The header and empty mark slots are
// written and synced under a temporary name first, so a file with a WAL's
// name always has them whole: a crash can tear only records.
func createWAL(dir string, seq uint64, ws, table, lineage, aekID string) (*walWriter, error) {
	hdr, err := newHeader(magicWAL, aekID)
	if err != nil {
		return nil, err
	}
	if lineage != "" {
		hdr.version = walLineageVersion
	}
	f, err := os.CreateTemp(dir, "wal-*"+tmpExt)
	if err != nil {
		return nil, fmt.Errorf("create WAL: %w", err)
	}
	path := filepath.Join(dir, walFileName(seq))
	h := hdr.encode()
	hlen := int64(len(h))
	h = append(h, make([]byte, markSlots*markSlotSize)...)
	_, err = f.Write(h)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create WAL: %w", err)
	}
	return &walWriter{path: path, seq: seq, hdr: hdr, hlen: hlen, ws: ws, table: table, lineage: lineage, f: f, size: int64(len(h))}, nil
}

// recordAAD binds a record to its place: its WAL (and, from version 5 on,
// the WAL's lineage, so that a record kept in the shared WAL cannot be
// passed off as another node's), its ordinal and its length.
func recordAAD(hdr header, ws, table, lineage string, seq, ordinal uint64, length uint32) []byte {
	switch {
	case hdr.version == 1:
		return hdr.aad("wal.record", ws, table, strconv.FormatUint(seq, 10), strconv.FormatUint(ordinal, 10))
	case hdr.version < walLineageVersion:
		return hdr.aad("wal.record", ws, table, strconv.FormatUint(seq, 10), strconv.FormatUint(ordinal, 10),
			strconv.FormatUint(uint64(length), 10))
	}
	return hdr.aad("wal.record", ws, table, strconv.FormatUint(seq, 10), strconv.FormatUint(ordinal, 10),
		strconv.FormatUint(uint64(length), 10), lineage)
}

func markAAD(hdr header, ws, table, lineage string, seq uint64, slot int) []byte {
	if hdr.version < walLineageVersion {
		return hdr.aad("wal.mark", ws, table, strconv.FormatUint(seq, 10), strconv.Itoa(slot))
	}
	return hdr.aad("wal.mark", ws, table, strconv.FormatUint(seq, 10), strconv.Itoa(slot), lineage)
}

// append seals and writes one record of rows in [minT, maxT] and returns its
// ordinal; it is durable only once waitDurable(ordinal) returns nil. With
// keep, it returns the record as written too, for the shared WAL.
func (w *walWriter) append(aead cipher.AEAD, payload []byte, minT, maxT int64, keep bool) (uint64, []byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, nil, w.err
	}
	if w.closed {
		return 0, nil, ErrClosed
	}
	ord := w.written.records
	n := aead.NonceSize() + len(payload) + aead.Overhead()
	if n > math.MaxUint32 {
		return 0, nil, fmt.Errorf("%w: a record of %d bytes", ErrInvalidInput, n)
	}
	buf := w.recBuf[:0]
	if keep {
		buf = make([]byte, 0, recHeaderSize+n) // the caller's to keep
	}
	b := sealRecord(buf, aead, w.hdr, w.ws, w.table, w.lineage, w.seq, ord, payload)
	if _, err := w.f.Write(b); err != nil {
		w.err = fmt.Errorf("write WAL: %w", err)
		return 0, nil, w.err
	}
	if !keep && cap(b) <= 1<<20 {
		w.recBuf = b
	}
	w.aead = aead
	w.written.widen(minT, maxT)
	w.written.records++
	w.size += int64(len(b))
	if !keep {
		b = nil
	}
	return ord, b, nil
}

// sealRecord appends record ord of a WAL, payload sealed, to dst: its
// length, the length's checksum, the sealed payload.
func sealRecord(dst []byte, aead cipher.AEAD, hdr header, ws, table, lineage string, seq, ord uint64, payload []byte) []byte {
	n := aead.NonceSize() + len(payload) + aead.Overhead()
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderSize)...)
	dst = seal(dst, aead, payload, recordAAD(hdr, ws, table, lineage, seq, ord, uint32(n)))
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start:start+4], castagnoli))
	return dst
}

// openRecord opens one whole record of a WAL, as sealRecord made it.
func openRecord(aead cipher.AEAD, hdr header, ws, table, lineage string, seq, ord uint64, rec []byte) ([]byte, error) {
	if len(rec) < recHeaderSize {
		return nil, corruptf("record %d: shorter than its header", ord)
	}
	n := binary.BigEndian.Uint32(rec)
	if crc32.Checksum(rec[:4], castagnoli) != binary.BigEndian.Uint32(rec[4:]) || uint64(n) != uint64(len(rec)-recHeaderSize) {
		return nil, corruptf("record %d: bad record header", ord)
	}
	return open(nil, aead, rec[recHeaderSize:], recordAAD(hdr, ws, table, lineage, seq, ord, n))
}

// waitDurable returns once record ord is on stable storage. One writer syncs
// for all records written so far; the others wait for it and, if their
// record came too late for that sync, start the next.
func (w *walWriter) waitDurable(ord uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.durable.records <= ord {
		if w.err != nil {
			return w.err
		}
		if ch := w.syncing; ch != nil {
			w.mu.Unlock()
			<-ch
			w.mu.Lock()
			continue
		}
		if err := w.syncLocked(false); err != nil {
			return err
		}
	}
	return nil
}

// syncLocked writes the mark of the records already durable (if it is due,
// or always when closing), syncs the file and so makes every record written
// so far, and the mark, durable. It releases w.mu during the sync; other
// writers wait on w.syncing.
func (w *walWriter) syncLocked(closing bool) error {
	ch := make(chan struct{})
	w.syncing = ch
	target := w.written
	mark := w.inFile // written before this sync, so made durable by it
	var err error
	if now := time.Now(); closing || now.Sub(w.markAt) >= markEvery {
		mark, err = w.writeMarkLocked()
		w.markAt = now
	}
	w.mu.Unlock()
	if err == nil {
		err = w.f.Sync()
		w.syncs.Add(1)
	}
	w.mu.Lock()
	w.syncing = nil
	close(ch)
	if err != nil {
		w.err = fmt.Errorf("sync WAL: %w", err)
		return w.err
	}
	w.marked = max(w.marked, mark)
	if target.records > w.durable.records {
		w.durable = target
	}
	w.armQuietLocked()
	return nil
}

// writeMarkLocked writes the durable records' mark into the next slot and
// returns the count it vouches for (it is durable after the next sync).
func (w *walWriter) writeMarkLocked() (uint64, error) {
	if w.durable.records <= w.inFile || w.aead == nil {
		return w.inFile, nil
	}
	var p [24]byte
	binary.BigEndian.PutUint64(p[:], w.durable.records)
	binary.BigEndian.PutUint64(p[8:], uint64(w.durable.minT))
	binary.BigEndian.PutUint64(p[16:], uint64(w.durable.maxT))
	slot := make([]byte, 0, markSlotSize)
	slot = seal(slot, w.aead, p[:], markAAD(w.hdr, w.ws, w.table, w.lineage, w.seq, w.slot))
	slot = slot[:markSlotSize]
	if _, err := w.f.WriteAt(slot, w.hlen+int64(w.slot*markSlotSize)); err != nil {
		return 0, fmt.Errorf("write WAL mark: %w", err)
	}
	w.slot = (w.slot + 1) % markSlots
	w.inFile = w.durable.records
	return w.durable.records, nil
}

// armQuietLocked schedules a write of the mark, to bring it up to date, for
// when no append has come for markDelay.
func (w *walWriter) armQuietLocked() {
	if w.durable.records <= w.inFile || w.closed || w.err != nil {
		return
	}
	if w.quiet == nil {
		w.quiet = time.AfterFunc(markDelay, w.markQuiet)
		return
	}
	w.quiet.Reset(markDelay)
}

// markQuiet writes the mark of every durable record, without a sync: see
// the file format's comment. A sync under way rearms it when it ends.
func (w *walWriter) markQuiet() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil || w.syncing != nil || w.durable.records <= w.inFile {
		return
	}
	if _, err := w.writeMarkLocked(); err != nil {
		w.err = err // sticky: the next append reports it
		return
	}
	w.markAt = time.Now()
}

// markPending reports whether the mark is yet to be brought up to date
// once the WAL goes quiet.
func (w *walWriter) markPending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncing != nil || w.durable.records > w.inFile
}

// state reports the file's size, records written and whether it failed.
func (w *walWriter) state() (size int64, records uint64, failed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size, w.written.records, w.err != nil
}

// acked is how many records are acknowledged (durable), and whether that is
// final: the WAL is closed with every record written durable.
func (w *walWriter) acked() (walMark, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable, w.closed && w.durable.records == w.written.records
}

// close brings the mark up to date and closes the file.
func (w *walWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	for w.syncing != nil {
		ch := w.syncing
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	if w.quiet != nil {
		w.quiet.Stop()
	}
	// Two syncs at most: the records, then the mark that vouches for them.
	for range 2 {
		if w.err != nil || (w.durable.records == w.written.records && w.marked >= w.durable.records) {
			break
		}
		w.syncLocked(true)
	}
	w.closed = true
	return w.f.Close()
}

// walReplay is what replayWAL read from a WAL file.
type walReplay struct {
	hdr      header
	payloads [][]byte // the whole records read, damaged or not
	mark     walMark  // the acknowledged mark the file holds (none in version 1)
	// markRead is set once the header and mark are read: from then on,
	// payloads and mark tell what the file held, even when it is damaged.
	markRead bool
}

// replayWAL reads the records of a WAL file, of which acked (the manifest's
// count) or more are acknowledged. A torn tail past every acknowledged
// record is cut from the file (and never returned); anything else wrong is
// an *IntegrityError, and the file is left as it is.
func (st *Store) replayWAL(ctx context.Context, path string, seq uint64, ws, table, lineage string, acked uint64) (walReplay, error) {
	return st.readWAL(ctx, path, seq, ws, table, lineage, acked, true)
}

// readWAL is replayWAL; with cut false it leaves a torn tail as it is (the
// WAL may be being written).
func (st *Store) readWAL(ctx context.Context, path string, seq uint64, ws, table, lineage string, acked uint64, cut bool) (walReplay, error) {
	name := filepath.Base(path)
	damage := func(p Problem, format string, args ...any) error {
		return &IntegrityError{Workspace: ws, Table: table, Object: name, Problem: p, Detail: fmt.Sprintf(format, args...)}
	}
	var out walReplay
	data, err := os.ReadFile(path)
	if err != nil {
		return out, fmt.Errorf("read WAL: %w", err)
	}
	hdr, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		return out, damage(ProblemAuthentication, "%v", err)
	}
	out.hdr = hdr
	aead, err := st.aead(ctx, hdr, purposeWAL)
	if err != nil {
		return out, fmt.Errorf("WAL %s/%s/%s: %w", ws, table, name, err)
	}
	off := hlen
	if hdr.version >= walMarkVersion {
		if len(data) < hlen+markSlots*markSlotSize {
			return out, damage(ProblemTruncated, "the file ends inside its acknowledged mark")
		}
		if out.mark, err = readMark(data[hlen:], aead, hdr, ws, table, lineage, seq); err != nil {
			return out, damage(ProblemAuthentication, "%v", err)
		}
		off += markSlots * markSlotSize
	}
	out.markRead = true
	want := max(acked, out.mark.records)
	for off < len(data) {
		rest := data[off:]
		if len(rest) < recHeaderSize {
			break // torn inside a record header
		}
		n := binary.BigEndian.Uint32(rest)
		if crc32.Checksum(rest[:4], castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			if allZero(rest) {
				break // a zero-filled tail: the crash came before the data
			}
			return out, damage(ProblemAuthentication, "record %d: bad record header", len(out.payloads))
		}
		if uint64(n) > uint64(len(rest)-recHeaderSize) {
			break // torn inside a record
		}
		ord := uint64(len(out.payloads))
		p, err := open(nil, aead, rest[recHeaderSize:recHeaderSize+n], recordAAD(hdr, ws, table, lineage, seq, ord, n))
		if err != nil {
			return out, damage(ProblemAuthentication, "record %d: %v", ord, err)
		}
		out.payloads = append(out.payloads, p)
		off += recHeaderSize + int(n)
	}
	if got := uint64(len(out.payloads)); got < want {
		return out, damage(ProblemTruncated, "%d of %d acknowledged records are left", got, want)
	}
	if off < len(data) && cut {
		if err := cutTail(path, int64(off)); err != nil {
			return out, err
		}
		st.log.Info("cut a torn WAL tail that was never acknowledged", "workspace", ws, "table", table, "wal", name, "records", len(out.payloads), "bytesCut", len(data)-off)
	}
	return out, nil
}

// readMark returns the mark of the slot that vouches for the most records.
// Both slots lie in the file's first sector, whose writes are atomic, so a
// written slot that fails to open is damage, never a torn write.
func readMark(b []byte, aead cipher.AEAD, hdr header, ws, table, lineage string, seq uint64) (walMark, error) {
	var best walMark
	for i := range markSlots {
		slot := b[i*markSlotSize : (i+1)*markSlotSize]
		if allZero(slot) {
			continue
		}
		p, err := open(nil, aead, slot[:aead.NonceSize()+24+aead.Overhead()], markAAD(hdr, ws, table, lineage, seq, i))
		if err != nil || len(p) != 24 {
			return best, corruptf("acknowledged mark, slot %d", i)
		}
		m := walMark{
			records: binary.BigEndian.Uint64(p),
			minT:    int64(binary.BigEndian.Uint64(p[8:])),
			maxT:    int64(binary.BigEndian.Uint64(p[16:])),
		}
		if m.records > best.records {
			best = m
		}
	}
	return best, nil
}

// union is the records of m and o together: the larger count, and the time
// range of both.
func (m walMark) union(o walMark) walMark {
	switch {
	case o.records == 0:
		return m
	case m.records == 0:
		return o
	}
	return walMark{records: max(m.records, o.records), minT: min(m.minT, o.minT), maxT: max(m.maxT, o.maxT)}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func cutTail(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cut WAL tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("cut WAL tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cut WAL tail: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
