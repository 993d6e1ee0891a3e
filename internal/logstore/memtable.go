package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// memtable is the rows of one generation: payloads as written to the WAL,
// which a flush writes into segments, and the same rows built into blocks
// of columns (memBlock) the first time a scan reads them, so that scans do
// not parse the payloads again and read fresh rows as they read segments.
type memtable struct {
	mu      sync.Mutex
	batches []memBatch
	rows    int
	span    walMark // batches, and their rows' time range
	// blocks[k] is rows [k*blockRows, (k+1)*blockRows) in arrival order,
	// listed once they have all arrived and built when first read; tail is
	// the rows after them, as the last view saw them, in blocks of falling
	// size (see view).
	blocks []*memBlock
	tail   []*memBlock
	// shapes are the classes of value of each column of the rows, mixed
	// whether one holds more than one (see noteLocked).
	shapes shapes
	mixed  bool
	// oldest is the earliest known ingestion time of the rows (Unix ns);
	// zero: none known (see Store.SharedWatermark).
	oldest int64
}

type memBatch struct {
	payload  []byte
	refs     []rowRef
	ingested int64 // the rows' ingestion time (Unix ns), or unknownIngest
	first    int   // the row number, in the memtable, of refs[0]
}

// add holds one record's rows, whose times are in [minT, maxT], which
// were ingested at ingested and whose columns hold the classes of value
// shape (payloadShapes). It reports whether what Schema answers may change
// with them (see noteLocked).
func (m *memtable) add(p []byte, refs []rowRef, shape shapes, minT, maxT, ingested int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, memBatch{p, refs, ingested, m.rows})
	m.rows += len(refs)
	m.span.widen(minT, maxT)
	m.span.records++
	if ingested != unknownIngest && (m.oldest == 0 || ingested < m.oldest) {
		m.oldest = ingested
	}
	return m.noteLocked(shape)
}

// oldestIngest returns the earliest known ingestion time of the rows, if
// any row has one.
func (m *memtable) oldestIngest() (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oldest, m.oldest != 0
}

func (m *memtable) mark() walMark {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.span
}

func (m *memtable) snapshot() []memBatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batches[:len(m.batches):len(m.batches)]
}

// view returns the blocks that hold the memtable's rows as they stand:
// complete blocks of blockRows rows, then the rows after them in a few
// smaller ones. Each is built when first read (see memBlock.build):
// complete ones once; of the others, only the rows that arrived since the
// last view make a new block, which takes in the one before it when as
// big (and so on), so that the tail stays a few blocks of falling size and
// a row is built again only a few times (log2(blockRows) at most) before
// its complete block is built.
func (m *memtable) view(blockRows int) []*memBlock {
	m.mu.Lock()
	defer m.mu.Unlock()
	for (len(m.blocks)+1)*blockRows <= m.rows {
		m.blocks = append(m.blocks, &memBlock{src: m, first: len(m.blocks) * blockRows, rows: blockRows})
	}
	end := len(m.blocks) * blockRows
	if len(m.tail) > 0 && m.tail[0].first < end {
		m.tail = nil // its rows are in a complete block now
	}
	if n := len(m.tail); n > 0 {
		end = m.tail[n-1].first + m.tail[n-1].rows
	}
	if end < m.rows {
		m.tail = append(m.tail, &memBlock{src: m, first: end, rows: m.rows - end})
		for n := len(m.tail); n >= 2 && m.tail[n-1].rows >= m.tail[n-2].rows; n = len(m.tail) {
			a, b := m.tail[n-2], m.tail[n-1]
			m.tail = append(m.tail[:n-2], &memBlock{src: m, first: a.first, rows: a.rows + b.rows})
		}
	}
	return append(m.blocks[:len(m.blocks):len(m.blocks)], m.tail...)
}

// memBlock is rows of a memtable built into one block as a flush builds a
// segment's blocks: each column in the same plain encoding (data, where
// meta's colMeta.off and size locate its chunk) and the statistics a
// segment's index holds, but for bloom filters. It is held in memory only,
// neither compressed nor sealed, like the payloads it is built from, and
// goes with them when their WAL is flushed. Kept encoded, it takes about
// 0.4 times the memory of its payloads (SecurityEvent-like rows); decoded,
// it would take 0.9 times, in values the collector must scan, to read a
// dictionary column about twice as fast.
type memBlock struct {
	src         *memtable
	first, rows int // rows [first, first+rows) of src

	once sync.Once
	meta blockMeta
	data []byte
	err  error
}

// build builds the block, once; later calls return at once.
func (b *memBlock) build() error {
	b.once.Do(func() {
		b.meta, b.data, b.err = buildMemBlock(b.src.snapshot(), b.first, b.rows)
		b.src = nil // the block no longer needs the payloads
	})
	return b.err
}

// buildBlocks builds the blocks not built yet, one per core at a time: the
// first read of a WAL's rows (a query's schema) builds them all.
func buildBlocks(blocks []*memBlock) error {
	var next atomic.Int64
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(blocks)) && errs[w] == nil; i = next.Add(1) - 1 {
				errs[w] = blocks[i].build()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildMemBlock builds rows [first, first+n) of batches into a block.
func buildMemBlock(batches []memBatch, first, n int) (blockMeta, []byte, error) {
	bb := newBlockBuilder(nil)
	i := sort.Search(len(batches), func(i int) bool { return batches[i].first+len(batches[i].refs) > first })
	for ; i < len(batches) && bb.rows() < n; i++ {
		b := &batches[i]
		from := max(0, first-b.first)
		to := min(len(b.refs), first+n-b.first)
		for _, ref := range b.refs[from:to] {
			if err := bb.add(b.payload, ref, b.ingested); err != nil {
				return blockMeta{}, nil, err
			}
		}
	}
	if bb.rows() != n {
		return blockMeta{}, nil, fmt.Errorf("build block of rows %d to %d: only %d rows held", first, first+n, bb.rows())
	}
	bm := blockMeta{rows: n}
	bm.minT, bm.maxT = bb.timeSpan()
	var data []byte
	bb.eachColumn(func(name string, t Type, cells []cell, times []int64) {
		start := len(data)
		var st colStats
		data, st = appendColumn(data, t, cells, times, false, nil)
		size := int64(len(data) - start)
		bm.cols = append(bm.cols, colMeta{name: name, typ: t, off: int64(start), size: size, raw: int(size), colStats: st})
	})
	return bm, bytes.Clone(data), nil // without the spare capacity of appending
}

// column decodes one column of the block (see segReader.readColumn).
func (b *memBlock) column(cm *colMeta, _ *chunkBuffers, rows []int, raw bool, _ *pageSkip) (Column, error) {
	plain := b.data[cm.off : cm.off+cm.size]
	if raw {
		col, _, err := decodeRaw(plain, cm.name)
		return col, err
	}
	col, _, err := decodeChunk(plain, cm.name, rows)
	return col, err
}

// match reads column cm raw and evaluates p on it.
func (b *memBlock) match(cm *colMeta, buf *chunkBuffers, p *pred, sel []bool) error {
	col, err := b.column(cm, buf, nil, true, nil)
	if err != nil {
		return err
	}
	evaluate(&col, p, sel)
	return nil
}

// bloom is no filter, which admits every value: a block in memory has
// none (prune asks for none), since a predicate reads its column at little
// more cost than a filter would, and building one costs as much as the
// rest of the block.
func (b *memBlock) bloom(*colMeta) ([]byte, error) { return nil, nil }

// anyBloom is no filter either (see bloom).
func (b *memBlock) anyBloom() ([]byte, error) { return nil, nil }
