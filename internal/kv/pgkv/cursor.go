package pgkv

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// A cursor fetches keys a page at a time, at most pageKeys keys and,
// past the first, pageBytes bytes of values: a Seek that reads one key
// does not bring a bucket's worth of documents.
const (
	pageKeys  = 256
	pageBytes = 4 << 20
)

// cursor is a kv.Cursor: a page of consecutive keys fetched around its
// position, fetched again from the position once the transaction writes.
type cursor struct {
	b           *bucket
	bucketsOnly bool // for ForEachBucket: the nested buckets' keys alone

	page   []entry // consecutive keys, in order
	i      int     // the position in page
	writes int     // the transaction's writes when page was fetched
	// first and last are set when page holds the bucket's first or last
	// key, as fetched: a move past that end of it needs no round trip to
	// find nothing there.
	first, last bool
	// pastEnd is set when First or Seek found no key: the cursor is then
	// past every key, as bbolt's is, and a Prev lands on the last one.
	pastEnd bool
}

type entry struct{ key, value []byte }

// current returns the key the cursor is on, or nil.
func (c *cursor) current() *entry {
	if c.i < 0 || c.i >= len(c.page) {
		return nil
	}
	return &c.page[c.i]
}

func (c *cursor) First() ([]byte, []byte) {
	k, v := c.move(">=", []byte{}, false, pageKeys)
	c.first = k != nil
	return k, v
}

// Last fetches the last key alone: its callers mostly want that key (the
// head of a chain), and a Prev fetches a page.
func (c *cursor) Last() ([]byte, []byte) {
	k, v := c.move("", nil, true, 1)
	c.last = k != nil
	return k, v
}

func (c *cursor) Seek(seek []byte) ([]byte, []byte) {
	if seek == nil {
		seek = []byte{}
	}
	return c.move(">=", seek, false, pageKeys)
}

// move positions the cursor afresh, for First, Last and Seek. Finding no
// key, it leaves the cursor on none, not where it was: a Next then finds
// none either, and a Prev after First or Seek the last key.
func (c *cursor) move(op string, from []byte, desc bool, limit int) ([]byte, []byte) {
	if h := c.b.tx.headOf(c.b.path); h != nil && h.whole {
		return c.moveInHead(h, from, desc)
	}
	k, v := c.fetch(op, from, desc, limit)
	c.pastEnd = k == nil && !desc
	if k == nil {
		c.page = nil
	}
	return k, v
}

// moveInHead is move in a bucket read whole with its lookup: its keys are
// the page, with both of its ends.
func (c *cursor) moveInHead(h *head, from []byte, desc bool) ([]byte, []byte) {
	page := h.entries
	if c.bucketsOnly {
		page = slices.DeleteFunc(slices.Clone(page), func(e entry) bool { return e.value != nil })
	}
	i := len(page) - 1
	if !desc {
		i, _ = slices.BinarySearchFunc(page, from, func(e entry, k []byte) int { return bytes.Compare(e.key, k) })
	}
	if i < 0 || i >= len(page) {
		c.page, c.pastEnd = nil, !desc
		return nil, nil
	}
	c.page, c.i, c.writes, c.first, c.last, c.pastEnd = page, i, h.writes, true, true, false
	return c.at()
}

func (c *cursor) Next() ([]byte, []byte) {
	e := c.current()
	if e == nil {
		return nil, nil
	}
	if c.writes == c.b.tx.writes && c.i+1 < len(c.page) {
		c.i++
		return c.at()
	}
	if c.writes == c.b.tx.writes && c.last {
		return nil, nil
	}
	return c.fetch(">", e.key, false, pageKeys)
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.pastEnd {
		return c.Last()
	}
	e := c.current()
	if e == nil {
		return nil, nil
	}
	if c.writes == c.b.tx.writes && c.i > 0 {
		c.i--
		return c.at()
	}
	if c.writes == c.b.tx.writes && c.first {
		return nil, nil
	}
	return c.fetch("<", e.key, true, pageKeys)
}

// Delete deletes the key under the cursor; the transaction's write makes
// the next move fetch again from that key, the first key past it being
// the next.
func (c *cursor) Delete() error {
	if !c.b.tx.writable {
		return kv.ErrTxNotWritable
	}
	e := c.current()
	if e == nil {
		return nil
	}
	if e.value == nil {
		return kv.ErrIncompatibleValue
	}
	return c.b.Delete(e.key)
}

func (c *cursor) at() ([]byte, []byte) {
	e := c.page[c.i]
	return e.key, e.value
}

// fetch reads the page of up to limit keys op from (all of them for op
// ""), in descending order if desc, and moves to its first. Finding none,
// the cursor stays where it was and returns nils, as past either end.
func (c *cursor) fetch(op string, from []byte, desc bool, limit int) ([]byte, []byte) {
	t := c.b.tx
	if t.err != nil {
		return nil, nil
	}
	order := "key"
	if desc {
		order = "key DESC"
	}
	args := []any{t.db.ns, c.b.path}
	where := "ns = $1 AND path = $2"
	if op != "" {
		where += " AND key " + op + " $3"
		args = append(args, from)
	}
	if c.bucketsOnly {
		where += " AND value IS NULL"
	}
	// The running total of the values' sizes cuts the page once it passes
	// pageBytes; the first key always comes.
	sql := fmt.Sprintf(`SELECT key, value FROM (
			SELECT key, value, sum(coalesce(octet_length(value), 0)) OVER (ORDER BY %[1]s ROWS UNBOUNDED PRECEDING)
				- coalesce(octet_length(value), 0) AS before
			FROM (SELECT key, value FROM %[2]s WHERE %[3]s ORDER BY %[1]s LIMIT %[4]d) keys) sized
		WHERE before < %[5]d ORDER BY %[1]s`, order, table, where, limit, pageBytes)
	var (
		page  []entry
		bytes int
	)
	t.do("read keys", sql, args, func(rows pgx.Rows) error {
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.key, &e.value); err != nil {
				return err
			}
			page = append(page, e)
			bytes += len(e.value)
		}
		return nil
	})
	if t.err != nil {
		return nil, nil
	}
	if len(page) == 0 {
		return nil, nil
	}
	// A page cut short by neither bound (a key cut by the bytes' bound
	// follows keys of pageBytes or more) ends where the bucket does.
	end := len(page) < limit && bytes < pageBytes
	c.i = 0
	c.first, c.last = false, end
	if desc {
		slices.Reverse(page)
		c.i = len(page) - 1
		c.first, c.last = end, false
	}
	c.page, c.writes = page, t.writes
	return c.at()
}
