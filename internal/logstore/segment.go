package logstore

import (
	"cmp"
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/objstore"
)

// A segment is an immutable file of rows of one table and one time
// partition, flushed from one WAL:
//
//	header (plaintext, see header)
//	column chunks: nonce ‖ AES-GCM(zstd(column encoding)) ‖ tag, one per
//	               column per block; AAD: workspace, table, segment ID,
//	               block ordinal, column name; from segment version 3
//	               (segPagedVersion) on, AES-GCM(paged chunk, see page.go):
//	               the encoding compressed in pages of rows, one seal still;
//	               from version 4 (segPageFilterVersion) on, a chunk of long
//	               text holds a filter of its pages' terms too
//	               (the hidden ingestion-time column, IngestionTimeColumn,
//	               is one of them; a segment written before it lacks it)
//	bloom chunks:  nonce ‖ AES-GCM(bloom filter) ‖ tag, after the column
//	               chunk of a string column, same AAD fields; apart from
//	               the index so that only == and has predicates read them
//	any-column bloom chunk (segment version 2 on): nonce ‖ AES-GCM(filter
//	               of the terms of all the block's text, see anyTerms) ‖
//	               tag, after the block's columns; AAD: workspace, table,
//	               segment ID, block ordinal
//	index:         nonce ‖ AES-GCM(index encoding) ‖ tag; AAD: workspace,
//	               table, segment ID, file name
//	footer:        u64 index offset | u32 index length | u32 CRC-32C of
//	               those 12 bytes | "SWSE"
//
// Its file name, <min ns>_<max ns>_<wal seq hex>_<part>.seg, is all a
// reader without the key can learn: the time range (for retention) and which
// WAL it came from (for crash recovery). The name is bound into the index's
// AAD, so a renamed segment fails to open.
const (
	segExt      = ".seg"
	tmpExt      = ".tmp"
	footerSize  = 20
	footerMagic = "SWSE"
)

// segName is the parsed file name of a segment.
type segName struct {
	minT, maxT int64 // Unix ns, inclusive
	walSeq     uint64
	part       int
}

// String is the file name: <min ns>_<max ns>_<wal seq, 16 hex digits>_<part>.seg.
// A scan names every segment it reads, so it is built without fmt.
func (n segName) String() string {
	return string(n.appendTo(make([]byte, 0, 64)))
}

// appendTo appends the file name to b.
func (n segName) appendTo(b []byte) []byte {
	b = strconv.AppendInt(b, n.minT, 10)
	b = append(b, '_')
	b = strconv.AppendInt(b, n.maxT, 10)
	b = append(b, '_')
	for shift := 60; shift >= 0; shift -= 4 { // 16 hex digits, zero-padded
		b = append(b, "0123456789abcdef"[n.walSeq>>shift&0xf])
	}
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(n.part), 10)
	return append(b, segExt...)
}

func parseSegName(s string) (segName, bool) {
	f := strings.Split(strings.TrimSuffix(s, segExt), "_")
	if !strings.HasSuffix(s, segExt) || len(f) != 4 || len(f[2]) != 16 {
		return segName{}, false
	}
	var n segName
	var err1, err2, err3, err4 error
	n.minT, err1 = strconv.ParseInt(f[0], 10, 64)
	n.maxT, err2 = strconv.ParseInt(f[1], 10, 64)
	n.walSeq, err3 = strconv.ParseUint(f[2], 16, 64)
	n.part, err4 = strconv.Atoi(f[3])
	if errors.Join(err1, err2, err3, err4) != nil || n.minT > n.maxT || n.part < 0 || n.String() != s {
		return segName{}, false
	}
	return n, true
}

// blockMeta and colMeta are the sealed index of a segment.
type blockMeta struct {
	minT, maxT int64
	rows       int
	cols       []colMeta
	// anyOff and anySize locate the sealed any-column bloom filter;
	// anySize 0: none (too many terms, or a segment of version 1)
	anyOff, anySize int64
}

type colMeta struct {
	name      string
	typ       Type
	off       int64 // of the sealed chunk in the file
	size      int64 // of the sealed chunk
	raw       int   // length of the encoding before compression
	bloomOff  int64 // of the sealed bloom filter; bloomSize 0: none
	bloomSize int64
	colStats
}

func (b *blockMeta) col(name string) *colMeta {
	for i := range b.cols {
		if b.cols[i].name == name {
			return &b.cols[i]
		}
	}
	return nil
}

// Index encoding:
//
//	uvarint blocks; per block: varint minT | varint maxT | uvarint rows |
//	uvarint columns; per column: uvarint name length | name | type |
//	uvarint offset | uvarint size | uvarint raw size | uvarint nulls | stats
//	stats: long, datetime, bool: varint min | varint max;
//	       real: 8 bytes min | 8 bytes max; string, dynamic: uvarint bloom
//	       chunk offset | uvarint bloom chunk size (0: none); from segment
//	       version 5 (segCharsVersion) on, string: uvarint characters
//	       (textChars; 0: unknown)
//
// From segment version 2 (segAnyBloomVersion) on, each block ends with
// uvarint any-column bloom chunk offset | uvarint its size (0: none).
// encodeIndex writes version 2 or a later one.
func encodeIndex(blocks []blockMeta, version uint16) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(blocks)))
	for _, bm := range blocks {
		b = binary.AppendVarint(b, bm.minT)
		b = binary.AppendVarint(b, bm.maxT)
		b = binary.AppendUvarint(b, uint64(bm.rows))
		b = binary.AppendUvarint(b, uint64(len(bm.cols)))
		for _, c := range bm.cols {
			b = binary.AppendUvarint(b, uint64(len(c.name)))
			b = append(b, c.name...)
			b = append(b, byte(c.typ))
			b = binary.AppendUvarint(b, uint64(c.off))
			b = binary.AppendUvarint(b, uint64(c.size))
			b = binary.AppendUvarint(b, uint64(c.raw))
			b = binary.AppendUvarint(b, uint64(c.nulls))
			switch c.typ {
			case TypeLong, TypeDatetime, TypeBool:
				b = binary.AppendVarint(b, c.minI)
				b = binary.AppendVarint(b, c.maxI)
			case TypeReal:
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.minF))
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.maxF))
			case TypeString, TypeDynamic:
				b = binary.AppendUvarint(b, uint64(c.bloomOff))
				b = binary.AppendUvarint(b, uint64(c.bloomSize))
				if c.typ == TypeString && version >= segCharsVersion {
					b = binary.AppendUvarint(b, c.chars)
				}
			}
		}
		b = binary.AppendUvarint(b, uint64(bm.anyOff))
		b = binary.AppendUvarint(b, uint64(bm.anySize))
	}
	return b
}

// indexReader reads the index encoding, remembering the first error.
type indexReader struct {
	b   []byte
	err error
}

func (r *indexReader) uvarint(limit uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if r.err == nil && (n <= 0 || v > limit) {
		r.err = corruptf("bad index")
	}
	if r.err != nil {
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *indexReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if r.err == nil && n <= 0 {
		r.err = corruptf("bad index")
	}
	if r.err != nil {
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *indexReader) bytes(n uint64) []byte {
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = corruptf("bad index")
	}
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decodeIndex parses the index of a segment of the given version and checks
// that every chunk lies in [dataStart, dataEnd).
func decodeIndex(b []byte, version uint16, dataStart, dataEnd int64) ([]blockMeta, error) {
	r := &indexReader{b: b}
	nb := r.uvarint(uint64(len(b)))
	var blocks []blockMeta
	for range nb {
		bm := blockMeta{minT: r.varint(), maxT: r.varint(), rows: int(r.uvarint(maxBlockRows))}
		nc := r.uvarint(uint64(len(r.b)))
		for range nc {
			c := colMeta{name: string(r.bytes(r.uvarint(maxNameBytes)))}
			t := r.bytes(1)
			if r.err != nil {
				break
			}
			c.typ = Type(t[0])
			c.off = int64(r.uvarint(math.MaxInt64))
			c.size = int64(r.uvarint(math.MaxInt64))
			c.raw = int(r.uvarint(math.MaxInt32))
			c.nulls = int(r.uvarint(maxBlockRows))
			switch c.typ {
			case TypeLong, TypeDatetime, TypeBool:
				c.minI, c.maxI = r.varint(), r.varint()
			case TypeReal:
				v := r.bytes(16)
				if r.err == nil {
					c.minF = math.Float64frombits(binary.LittleEndian.Uint64(v))
					c.maxF = math.Float64frombits(binary.LittleEndian.Uint64(v[8:]))
				}
			case TypeString, TypeDynamic:
				c.bloomOff = int64(r.uvarint(math.MaxInt64))
				c.bloomSize = int64(r.uvarint(math.MaxInt64))
				if c.typ == TypeString && version >= segCharsVersion {
					c.chars = r.uvarint(charsAll)
				}
			default:
				r.err = corruptf("bad column type in index")
			}
			if r.err == nil && c.name == IngestionTimeColumn && c.typ != TypeDatetime {
				r.err = corruptf("ingestion time of type %s in index", c.typ)
			}
			if r.err == nil && (c.off < dataStart || c.size > dataEnd-c.off ||
				c.bloomSize > 0 && (c.bloomOff < dataStart || c.bloomSize > dataEnd-c.bloomOff)) {
				r.err = corruptf("column chunk outside the data")
			}
			bm.cols = append(bm.cols, c)
		}
		if version >= segAnyBloomVersion {
			bm.anyOff = int64(r.uvarint(math.MaxInt64))
			bm.anySize = int64(r.uvarint(math.MaxInt64))
			if r.err == nil && bm.anySize > 0 && (bm.anyOff < dataStart || bm.anySize > dataEnd-bm.anyOff) {
				r.err = corruptf("any-column bloom chunk outside the data")
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		blocks = append(blocks, bm)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = corruptf("trailing bytes in index")
	}
	if r.err != nil {
		return nil, r.err
	}
	return blocks, nil
}

// segWriter writes one segment into a temporary local file, stored as an
// object under its name when finished (objects.putFile), so that a crash
// never leaves a half segment under a segment's name.
type segWriter struct {
	ctx       context.Context // bounds the store's write of the object
	st        *Store
	ws, table string
	lineage   string // whose segment it is (segmentKey)
	f         *os.File
	tmp       string
	hdr       header
	sealer    envelope.Sealer
	off       int64
	blocks    []blockMeta
	seals     uint64
	enc       blockEncoder
	eb        encodedBlock // writeBlock's
	out       []byte
}

// newSegWriter starts a segment, written under dir (the table's local
// directory) until it is finished.
func (st *Store) newSegWriter(ctx context.Context, dir, ws, table, lineage string, sealer envelope.Sealer) (*segWriter, error) {
	hdr, err := newHeader(magicSegment, sealer.KeyID())
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "seg-*"+tmpExt)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if st.segVersion != 0 {
		hdr.version = st.segVersion
	}
	w := &segWriter{ctx: ctx, st: st, ws: ws, table: table, lineage: lineage, f: f, tmp: f.Name(), hdr: hdr, sealer: sealer, enc: st.blockEncoder()}
	h := hdr.encode()
	if _, err := f.Write(h); err != nil {
		w.abort()
		return nil, fmt.Errorf("write segment: %w", err)
	}
	w.off = int64(len(h))
	w.seals = 1 // the index
	return w, nil
}

// full reports whether a block of ncols more columns (each with a bloom
// filter, at most) and its any-column filter would take the object key past
// its seal budget.
func (w *segWriter) full(ncols int) bool {
	return w.seals+2*uint64(ncols)+1 > w.st.maxSeals
}

// fits reports whether the encoded block eb can be sealed with the object
// key without passing its seal budget.
func (w *segWriter) fits(eb *encodedBlock) bool {
	seals, _ := eb.sealing()
	return w.seals+seals <= w.st.maxSeals
}

// writeBlock seals the columns of bb as the next block.
func (w *segWriter) writeBlock(bb *blockBuilder) error {
	w.enc.encodeInto(bb, &w.eb)
	return w.writeEncoded(&w.eb)
}

// encodedBlock is a block's columns encoded and compressed, not yet sealed:
// the costly part of writing a block, which a flush does for several blocks
// at once, and which needs neither the key nor the block's place.
type encodedBlock struct {
	meta   blockMeta // offsets, sizes and bloom filters not yet set
	data   []byte    // the compressed chunks, one after another
	ends   []int     // of each column's chunk in data
	blooms [][]byte  // of each column; nil: none
	any    []byte    // the any-column filter; nil: none
}

// sealing is how many sealed chunks the block takes, and their bytes
// before sealing.
func (eb *encodedBlock) sealing() (seals uint64, size int) {
	seals, size = uint64(len(eb.ends)), len(eb.data)
	for _, b := range eb.blooms {
		if b != nil {
			seals++
			size += len(b)
		}
	}
	if eb.any != nil {
		seals++
		size += len(eb.any)
	}
	return seals, size
}

// blockEncoder encodes blocks; one is used by one goroutine at a time, and
// reuses its buffers from block to block.
type blockEncoder struct {
	zenc  *zstd.Encoder
	paged bool       // chunks in pages (segPagedVersion on)
	pages pageWriter // if paged
	plain []byte
	terms anyTerms // of the block being encoded, for its any-column filter
}

// blockEncoder is an encoder of blocks for the segments st writes.
func (st *Store) blockEncoder() blockEncoder {
	version := cmp.Or(st.segVersion, segmentVersion)
	return blockEncoder{zenc: st.zenc, paged: version >= segPagedVersion,
		pages: pageWriter{enc: st.zenc, pageRows: cmp.Or(st.pageRows, defaultPageRows), filters: version >= segPageFilterVersion}}
}

// encodeInto encodes and compresses each column of bb, with its bloom
// filter, and the block's any-column filter, into eb, whose buffers it
// reuses.
func (e *blockEncoder) encodeInto(bb *blockBuilder, eb *encodedBlock) {
	*eb = encodedBlock{meta: blockMeta{rows: bb.rows(), cols: eb.meta.cols[:0]}, data: eb.data[:0], ends: eb.ends[:0], blooms: eb.blooms[:0]}
	eb.meta.minT, eb.meta.maxT = bb.timeSpan()
	e.terms.reset()
	bb.eachColumn(func(name string, t Type, cells []cell, times []int64) {
		var st colStats
		var raw int
		if e.paged {
			start := len(eb.data)
			eb.data, st = e.pages.appendColumn(eb.data, t, cells, times, &e.terms)
			raw = len(eb.data) - start // the paged chunk, compressed page by page
		} else {
			e.plain, st = appendColumn(e.plain[:0], t, cells, times, true, &e.terms)
			eb.data = e.zenc.EncodeAll(e.plain, eb.data)
			raw = len(e.plain)
		}
		eb.ends = append(eb.ends, len(eb.data))
		eb.blooms = append(eb.blooms, st.bloom)
		st.bloom = nil
		eb.meta.cols = append(eb.meta.cols, colMeta{name: name, typ: t, raw: raw, colStats: st})
	})
	eb.any = e.terms.filter()
}

// writeEncoded seals eb as the next block. The object key is derived for
// this block only, so a revoked key stops a flush at once.
func (w *segWriter) writeEncoded(eb *encodedBlock) error {
	aead, err := w.sealer.AEAD(w.hdr.salt[:], purposeSegment)
	if err != nil {
		return fmt.Errorf("derive segment key: %w", err)
	}
	ordinal := strconv.Itoa(len(w.blocks))
	bm := eb.meta
	bm.cols = slices.Clone(bm.cols) // eb's are reused
	seals, size := eb.sealing()
	w.out = slices.Grow(w.out[:0], size+int(seals)*(aead.NonceSize()+aead.Overhead()))
	start := 0
	for i := range bm.cols {
		cm := &bm.cols[i]
		cstart := len(w.out)
		w.out = seal(w.out, aead, eb.data[start:eb.ends[i]], w.hdr.aad("segment.column", w.ws, w.table, ordinal, cm.name))
		w.seals++
		start = eb.ends[i]
		cm.off, cm.size = w.off+int64(cstart), int64(len(w.out)-cstart)
		if b := eb.blooms[i]; b != nil {
			bstart := len(w.out)
			w.out = seal(w.out, aead, b, w.hdr.aad("segment.bloom", w.ws, w.table, ordinal, cm.name))
			w.seals++
			cm.bloomOff, cm.bloomSize = w.off+int64(bstart), int64(len(w.out)-bstart)
		}
	}
	if eb.any != nil {
		astart := len(w.out)
		w.out = seal(w.out, aead, eb.any, w.hdr.aad("segment.anybloom", w.ws, w.table, ordinal))
		w.seals++
		bm.anyOff, bm.anySize = w.off+int64(astart), int64(len(w.out)-astart)
	}
	if _, err := w.f.Write(w.out); err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	w.off += int64(len(w.out))
	w.blocks = append(w.blocks, bm)
	return nil
}

// finish seals the index, syncs the file and stores it as the segment's
// object. It returns the segment as the manifest lists it.
func (w *segWriter) finish(name segName) (segFile, error) {
	aead, err := w.sealer.AEAD(w.hdr.salt[:], purposeSegment)
	if err != nil {
		w.abort()
		return segFile{}, fmt.Errorf("derive segment key: %w", err)
	}
	index := seal(nil, aead, encodeIndex(w.blocks, w.hdr.version), w.hdr.aad("segment.index", w.ws, w.table, name.String()))
	footer := binary.BigEndian.AppendUint64(nil, uint64(w.off))
	footer = binary.BigEndian.AppendUint32(footer, uint32(len(index)))
	footer = binary.BigEndian.AppendUint32(footer, crc32.Checksum(footer, castagnoli))
	footer = append(footer, footerMagic...)
	if _, err := w.f.Write(append(index, footer...)); err != nil {
		w.abort()
		return segFile{}, fmt.Errorf("write segment: %w", err)
	}
	f := segFile{name: name, lineage: w.lineage, size: w.off + int64(len(index)+len(footer)), ingested: blocksIngestRange(w.blocks)}
	copy(f.tag[:], index[len(index)-indexTagSize:])
	for _, b := range w.blocks {
		f.rows += int64(b.rows)
	}
	if err := w.f.Sync(); err != nil {
		w.abort()
		return segFile{}, fmt.Errorf("sync segment: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.abort()
		return segFile{}, fmt.Errorf("close segment: %w", err)
	}
	key := segmentKey(w.ws, w.table, w.lineage, name)
	w.st.indexes.forget(key) // of a segment of this name a crashed flush left
	if err := w.st.objects.putFile(w.ctx, key, w.tmp, f.size); err != nil {
		return segFile{}, fmt.Errorf("store segment: %w", err)
	}
	return f, nil
}

func (w *segWriter) abort() {
	w.f.Close()
	os.Remove(w.tmp)
}

// segReader reads one segment: the index once when opened, then the chunks a
// scan asks for.
type segReader struct {
	f         objstore.Object
	hdr       header
	tag       [indexTagSize]byte // of the sealed index
	ws, table string
	blocks    []blockMeta
	st        *Store
	bloomBuf  []byte // readBloom's, reused from filter to filter
}

// openSegment opens a segment and reads its index. want is the segment as
// the manifest lists it: a file of another size or with another index is
// damage, as is a file that fails to open. Damage is an *IntegrityError.
func (st *Store) openSegment(ctx context.Context, ws, table string, want segFile) (*segReader, error) {
	return st.openSegmentIn(ctx, st.objects.open, ws, table, want)
}

// openSegmentIn is openSegment with the segment's object opened by open.
func (st *Store) openSegmentIn(ctx context.Context, open func(context.Context, string) (objstore.Object, error), ws, table string, want segFile) (*segReader, error) {
	damage := func(p Problem, err error) error {
		return &IntegrityError{Workspace: ws, Table: table, Object: want.object(), Problem: p, Detail: err.Error(),
			MinT: want.name.minT, MaxT: want.name.maxT}
	}
	key := segmentKey(ws, table, want.lineage, want.name)
	f, err := open(ctx, key)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, damage(ProblemMissing, errors.New(fileGone))
	}
	if err != nil {
		return nil, st.foreignUnreachable(ws, table, want.lineage, want.object(), err)
	}
	size := f.Size()
	if want.size > 0 && size != want.size {
		f.Close()
		p := ProblemAuthentication
		if size < want.size {
			p = ProblemTruncated
		}
		return nil, damage(p, fmt.Errorf("the file has %d bytes, the manifest lists %d", size, want.size))
	}
	r, err := st.readSegmentIndex(ctx, f, key, ws, table, want.name, size)
	switch {
	case err != nil:
	case want.tag != ([indexTagSize]byte{}) && r.tag != want.tag:
		err = corruptf("the index is not the one the manifest lists")
	case want.ingested.known && blocksIngestRange(r.blocks) != want.ingested:
		// Scans skip the segment by the manifest's range: it must be the index's.
		err = corruptf("the index's ingestion times are not those the manifest lists")
	}
	if err != nil {
		f.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, damage(ProblemAuthentication, err)
		}
		return nil, st.foreignUnreachable(ws, table, want.lineage, want.object(), fmt.Errorf("segment %s/%s/%s: %w", ws, table, want.name, err))
	}
	return r, nil
}

func (st *Store) readSegmentIndex(ctx context.Context, f objstore.Object, key, ws, table string, name segName, size int64) (*segReader, error) {
	hb := make([]byte, min(size, maxHeaderSize))
	if _, err := f.ReadAt(hb, 0); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corruptf("short segment")
		}
		// A read that failed (a bucket's network) tells nothing of the
		// segment.
		return nil, fmt.Errorf("read segment: %w", err)
	}
	hdr, hlen, err := decodeHeader(hb, magicSegment)
	if err != nil {
		return nil, err
	}
	// The key first, cached index or not: without it, no index.
	aead, err := st.aead(ctx, hdr, purposeSegment)
	if err != nil {
		return nil, err
	}
	if size < int64(hlen)+footerSize {
		return nil, corruptf("short segment")
	}
	footer := make([]byte, footerSize)
	if _, err := f.ReadAt(footer, size-footerSize); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	if string(footer[16:]) != footerMagic || crc32.Checksum(footer[:12], castagnoli) != binary.BigEndian.Uint32(footer[12:]) {
		return nil, corruptf("bad segment footer")
	}
	ioff, ilen := int64(binary.BigEndian.Uint64(footer)), int64(binary.BigEndian.Uint32(footer[8:]))
	if ioff < int64(hlen) || ioff+ilen != size-footerSize {
		return nil, corruptf("bad segment footer")
	}
	sealed := make([]byte, ilen)
	if _, err := f.ReadAt(sealed, ioff); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	// A cached index is used only for the very bytes it was decrypted from:
	// a changed file is opened, and checked, afresh.
	var tag [indexTagSize]byte
	copy(tag[:], sealed[max(0, len(sealed)-indexTagSize):])
	if blocks, ok := st.indexes.get(key, size, hdr, sealed); ok {
		return &segReader{f: f, hdr: hdr, tag: tag, ws: ws, table: table, blocks: blocks, st: st}, nil
	}
	plain, err := open(nil, aead, sealed, hdr.aad("segment.index", ws, table, name.String()))
	if err != nil {
		return nil, err
	}
	blocks, err := decodeIndex(plain, hdr.version, int64(hlen), ioff)
	if err != nil {
		return nil, err
	}
	st.indexes.put(key, size, hdr, sealed, blocks)
	return &segReader{f: f, hdr: hdr, tag: tag, ws: ws, table: table, blocks: blocks, st: st}, nil
}

// blockAEAD derives the object key for reading one block.
func (r *segReader) blockAEAD(ctx context.Context) (cipher.AEAD, error) {
	return r.st.aead(ctx, r.hdr, purposeSegment)
}

// chunkBuffers are a scan's scratch space for one column chunk at a time:
// nothing decoded refers to them, so each chunk reuses the last one's.
type chunkBuffers struct {
	sealed, plain []byte
	pages         pageBuffers
}

// readColumn opens one column chunk of block bi, and decodes the given rows
// of it (nil: all), or leaves a plain string column's values raw in buf. A
// read of all rows leaves out the rows that skip (nil: none) rules out by
// the chunk's page filter, if it has one (see decodePaged).
func (r *segReader) readColumn(aead cipher.AEAD, bi int, cm *colMeta, buf *chunkBuffers, rows []int, raw bool, skip *pageSkip) (Column, error) {
	comp, err := r.openChunk(aead, bi, cm, buf)
	if err != nil {
		return Column{}, err
	}
	return r.decodeChunk(bi, cm, comp, buf, rows, raw, skip)
}

// matchColumn clears sel (one per row of block bi) where column cm's value
// does not match p, as evaluate would on the column read whole. A paged
// chunk with a dictionary is matched by its entry numbers alone (see
// selectPaged); any other is read, raw, but for the rows its page filter
// rules out, and evaluated.
func (r *segReader) matchColumn(aead cipher.AEAD, bi int, cm *colMeta, buf *chunkBuffers, p *pred, sel []bool) error {
	comp, err := r.openChunk(aead, bi, cm, buf)
	if err != nil {
		return err
	}
	if r.hdr.version >= segPagedVersion && dictMatchable(p) {
		if len(comp) != cm.raw {
			return corruptf("column does not match the index")
		}
		d, err := parsePageDir(comp, r.hdr.version >= segPageFilterVersion)
		if err != nil {
			return err
		}
		if d.dict != nil {
			if d.typ != cm.typ || d.rows != r.blocks[bi].rows || d.rows != len(sel) {
				return corruptf("column does not match the index")
			}
			return selectPaged(&d, p, sel, r.st.zdec, &buf.pages)
		}
	}
	col, err := r.decodeChunk(bi, cm, comp, buf, nil, true, &pageSkip{of: []*pred{p}})
	if err != nil {
		return err
	}
	evaluate(&col, p, sel)
	return nil
}

// openChunk reads and decrypts column chunk cm of block bi, in place in buf.
func (r *segReader) openChunk(aead cipher.AEAD, bi int, cm *colMeta, buf *chunkBuffers) ([]byte, error) {
	buf.sealed = slices.Grow(buf.sealed[:0], int(cm.size))[:cm.size]
	if _, err := r.f.ReadAt(buf.sealed, cm.off); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	ns := aead.NonceSize() // decrypted in place
	return open(buf.sealed[ns:ns], aead, buf.sealed, r.hdr.aad("segment.column", r.ws, r.table, strconv.Itoa(bi), cm.name))
}

// decodeChunk decodes the opened column chunk comp of block bi, as
// readColumn says.
func (r *segReader) decodeChunk(bi int, cm *colMeta, comp []byte, buf *chunkBuffers, rows []int, raw bool, skip *pageSkip) (Column, error) {
	var col Column
	var n int
	var err error
	if r.hdr.version >= segPagedVersion {
		if len(comp) != cm.raw {
			return Column{}, corruptf("column does not match the index")
		}
		// only the pages holding rows are decompressed
		col, n, err = decodePaged(comp, pagedRead{name: cm.name, rows: rows, raw: raw, skip: skip, filtered: r.hdr.version >= segPageFilterVersion, dec: r.st.zdec, buf: &buf.pages})
		if err != nil {
			return col, err
		}
		if col.Type != cm.typ || n != r.blocks[bi].rows {
			return col, corruptf("column does not match the index")
		}
		return col, nil
	}
	plain, err := r.st.zdec.DecodeAll(comp, slices.Grow(buf.plain[:0], cm.raw))
	if err != nil || len(plain) != cm.raw {
		return Column{}, corruptf("column does not decompress")
	}
	buf.plain = plain
	if raw {
		col, n, err = decodeRaw(plain, cm.name)
	} else {
		col, n, err = decodeChunk(plain, cm.name, rows)
	}
	if err != nil {
		return col, err
	}
	if col.Type != cm.typ || n != r.blocks[bi].rows {
		return col, corruptf("column does not match the index")
	}
	return col, nil
}

// readBloom opens the bloom filter of one column of block bi, in place in
// a buffer of the reader's: the filter is good until the next readBloom.
func (r *segReader) readBloom(aead cipher.AEAD, bi int, cm *colMeta) ([]byte, error) {
	r.bloomBuf = slices.Grow(r.bloomBuf[:0], int(cm.bloomSize))[:cm.bloomSize]
	if _, err := r.f.ReadAt(r.bloomBuf, cm.bloomOff); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	ns := min(aead.NonceSize(), len(r.bloomBuf)) // decrypted in place; a short one fails to open
	return open(r.bloomBuf[ns:ns], aead, r.bloomBuf, r.hdr.aad("segment.bloom", r.ws, r.table, strconv.Itoa(bi), cm.name))
}

// readAnyBloom opens the any-column bloom filter of block bi.
func (r *segReader) readAnyBloom(aead cipher.AEAD, bi int) ([]byte, error) {
	bm := &r.blocks[bi]
	sealed := make([]byte, bm.anySize)
	if _, err := r.f.ReadAt(sealed, bm.anyOff); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	return open(nil, aead, sealed, r.hdr.aad("segment.anybloom", r.ws, r.table, strconv.Itoa(bi)))
}

func (r *segReader) close() error { return r.f.Close() }
