package logstore

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// A WAL file holds the acknowledged rows of one table not yet flushed into
// segments:
//
//	header (plaintext, see header; its own salt, so its own object key)
//	records: u32 length | u32 CRC-32C of the length | nonce ‖
//	         AES-GCM(payload) ‖ tag; AAD: workspace, table, WAL ID,
//	         file sequence number, record ordinal
//
// The length's checksum tells a torn tail from damage: a record cut short by
// a crash (or a zero-filled tail) is cut on replay, while a flipped bit in a
// complete record is ErrCorrupt, never silently dropped data.
const (
	walExt        = ".wal"
	recHeaderSize = 8
)

func walFileName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, walExt) }

func parseWALName(s string) (uint64, bool) {
	if len(s) != 16+len(walExt) || filepath.Ext(s) != walExt {
		return 0, false
	}
	seq, err := strconv.ParseUint(s[:16], 16, 64)
	return seq, err == nil
}

// walWriter appends sealed records to one WAL file, with group commit:
// writers that arrive while a sync runs share the next one.
type walWriter struct {
	path      string
	seq       uint64
	hdr       header
	ws, table string

	mu      sync.Mutex
	f       *os.File
	records uint64 // written
	synced  uint64 // durable
	size    int64
	syncing chan struct{} // closed when the running sync ends; nil if none
	err     error         // sticky: after a failed write or sync nothing more is acknowledged
	closed  bool
	recBuf  []byte
	syncs   atomic.Int64 // fsyncs done, to show group commit at work
}

// createWAL creates the WAL file seq. The header is written and synced under
// a temporary name first, so a file with a WAL's name always has a whole
// header: a crash can tear only records.
func createWAL(dir string, seq uint64, ws, table, aekID string) (*walWriter, error) {
	hdr, err := newHeader(magicWAL, aekID)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "wal-*"+tmpExt)
	if err != nil {
		return nil, fmt.Errorf("create WAL: %w", err)
	}
	path := filepath.Join(dir, walFileName(seq))
	h := hdr.encode()
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
	return &walWriter{path: path, seq: seq, hdr: hdr, ws: ws, table: table, f: f, size: int64(len(h))}, nil
}

func (w *walWriter) recordAAD(ordinal uint64) []byte {
	return w.hdr.aad("wal.record", w.ws, w.table, strconv.FormatUint(w.seq, 10), strconv.FormatUint(ordinal, 10))
}

// append seals and writes one record and returns its ordinal; it is durable
// only once waitDurable(ordinal) returns nil.
func (w *walWriter) append(aead cipher.AEAD, payload []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	ord := w.records
	b := append(w.recBuf[:0], make([]byte, recHeaderSize)...)
	b = seal(b, aead, payload, w.recordAAD(ord))
	binary.BigEndian.PutUint32(b, uint32(len(b)-recHeaderSize))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[:4], castagnoli))
	if _, err := w.f.Write(b); err != nil {
		w.err = fmt.Errorf("write WAL: %w", err)
		return 0, w.err
	}
	if cap(b) <= 1<<20 {
		w.recBuf = b
	}
	w.records++
	w.size += int64(len(b))
	return ord, nil
}

// waitDurable returns once record ord is on stable storage. One writer syncs
// for all records written so far; the others wait for it and, if their
// record came too late for that sync, start the next.
func (w *walWriter) waitDurable(ord uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.synced <= ord {
		if w.err != nil {
			return w.err
		}
		if ch := w.syncing; ch != nil {
			w.mu.Unlock()
			<-ch
			w.mu.Lock()
			continue
		}
		ch := make(chan struct{})
		w.syncing = ch
		target := w.records
		w.mu.Unlock()
		err := w.f.Sync()
		w.syncs.Add(1)
		w.mu.Lock()
		w.syncing = nil
		close(ch)
		if err != nil {
			w.err = fmt.Errorf("sync WAL: %w", err)
			return w.err
		}
		w.synced = max(w.synced, target)
	}
	return nil
}

// state reports the file's size, records written and whether it failed.
func (w *walWriter) state() (size int64, records uint64, failed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size, w.records, w.err != nil
}

func (w *walWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

// replayWAL reads the records of a WAL file. A torn tail is cut from the file
// (and never returned); damage anywhere else is ErrCorrupt.
func (st *Store) replayWAL(ctx context.Context, path string, seq uint64, ws, table string) (header, [][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return header{}, nil, fmt.Errorf("read WAL: %w", err)
	}
	hdr, hlen, err := decodeHeader(data, magicWAL)
	if err != nil {
		return hdr, nil, fmt.Errorf("WAL %s/%s/%s: %w", ws, table, filepath.Base(path), err)
	}
	w := &walWriter{seq: seq, hdr: hdr, ws: ws, table: table}
	var aead cipher.AEAD
	var payloads [][]byte
	off := hlen
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
			return hdr, nil, fmt.Errorf("WAL %s/%s/%s record %d: %w", ws, table, filepath.Base(path), len(payloads), corruptf("bad record header"))
		}
		if uint64(n) > uint64(len(rest)-recHeaderSize) {
			break // torn inside a record
		}
		if aead == nil {
			// One derivation for the replay of one file: it is one operation.
			if aead, err = st.aead(ctx, hdr, purposeWAL); err != nil {
				return hdr, nil, fmt.Errorf("WAL %s/%s/%s: %w", ws, table, filepath.Base(path), err)
			}
		}
		p, err := open(nil, aead, rest[recHeaderSize:recHeaderSize+n], w.recordAAD(uint64(len(payloads))))
		if err != nil {
			return hdr, nil, fmt.Errorf("WAL %s/%s/%s record %d: %w", ws, table, filepath.Base(path), len(payloads), err)
		}
		payloads = append(payloads, p)
		off += recHeaderSize + int(n)
	}
	if off < len(data) {
		if err := cutTail(path, int64(off)); err != nil {
			return hdr, nil, err
		}
		st.log.Info("cut a torn WAL tail", "workspace", ws, "table", table, "wal", filepath.Base(path), "records", len(payloads), "bytesCut", len(data)-off)
	}
	return hdr, payloads, nil
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
