package watchlist

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"time"
)

// A chunk is a document holding some of a watchlist's items in a compact
// binary form, base64 inside the JSON the document store keeps:
//
//	{"items":<n>,"data":"<base64>"}
//
// Each item in data is its ID, etag, created and updated times and values,
// the strings length-prefixed. Decoding 10,000 items as JSON objects cost a
// query fifty times what holding them in memory does, most of it in JSON's
// scanner; even one long base64 string through encoding/json costs half of
// a query's time, so a chunk is written and read back in exactly the layout
// above by this file alone (docs/BENCHMARKS.md).
type chunk struct {
	Items int
	Data  []byte
}

// chunkBytes is the size of the items' encoding past which a chunk is
// split: about a megabyte once in base64.
const chunkBytes = 768 << 10

const (
	chunkHead = `{"items":`
	chunkData = `,"data":"`
	chunkTail = `"}`
)

// encodeChunk is the document of a chunk of items.
func encodeChunk(items []storedItem) []byte {
	var data []byte
	for _, it := range items {
		data = appendItem(data, it)
	}
	b := make([]byte, 0, len(chunkHead)+20+len(chunkData)+base64.StdEncoding.EncodedLen(len(data))+len(chunkTail))
	b = append(b, chunkHead...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	b = append(b, chunkData...)
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, chunkTail...)
}

// unmarshal reads a chunk that encodeChunk wrote.
func (c *chunk) unmarshal(body []byte) error {
	rest, ok := bytes.CutPrefix(body, []byte(chunkHead))
	if !ok {
		return errChunk
	}
	items, rest, ok := bytes.Cut(rest, []byte(chunkData))
	if !ok {
		return errChunk
	}
	data, ok := bytes.CutSuffix(rest, []byte(chunkTail))
	if !ok {
		return errChunk
	}
	n, err := strconv.Atoi(string(items))
	if err != nil || n < 0 {
		return errChunk
	}
	if c.Data, err = base64.StdEncoding.AppendDecode(nil, data); err != nil {
		return errChunk
	}
	c.Items = n
	return nil
}

// split cuts items into chunks of at most chunkBytes (an item larger than
// that alone).
func split(items []storedItem) [][]storedItem {
	var out [][]storedItem
	start, size := 0, 0
	for i, it := range items {
		n := itemSize(it)
		if i > start && size+n > chunkBytes {
			out = append(out, items[start:i:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(items) {
		out = append(out, items[start:len(items):len(items)])
	}
	return out
}

// chunkSize bounds the encoding of items.
func chunkSize(items []storedItem) int {
	n := 0
	for _, it := range items {
		n += itemSize(it)
	}
	return n
}

func itemSize(it storedItem) int {
	n := len(it.ID) + len(it.Etag) + 4*binary.MaxVarintLen64
	for _, v := range it.Values {
		n += binary.MaxVarintLen64 + len(v)
	}
	return n
}

func appendItem(b []byte, it storedItem) []byte {
	b = appendString(b, it.ID)
	b = appendString(b, it.Etag)
	b = binary.AppendVarint(b, it.Created.UnixNano())
	b = binary.AppendVarint(b, it.Updated.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(it.Values)))
	for _, v := range it.Values {
		b = appendString(b, v)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errChunk = errors.New("malformed items")

// decode appends the chunk's items to items; each has columns values.
// The strings are cut from one copy of the chunk's data, not allocated one
// by one: a watchlist's items are read at every query that names it.
func (c *chunk) decode(items []storedItem, columns int) ([]storedItem, error) {
	d := decoder{s: string(c.Data)}
	for range c.Items {
		it := storedItem{ID: d.string(), Etag: d.string(), Created: d.time(), Updated: d.time()}
		n := d.uvarint()
		if n != uint64(columns) || d.err != nil {
			return nil, errChunk
		}
		it.Values = make([]string, n)
		for i := range it.Values {
			it.Values[i] = d.string()
		}
		if d.err != nil {
			return nil, d.err
		}
		items = append(items, it)
	}
	if len(d.s) != 0 {
		return nil, errChunk
	}
	return items, nil
}

// decoder reads what appendItem wrote; the first error sticks.
type decoder struct {
	s   string
	err error
}

// uvarint reads an unsigned varint as encoding/binary writes it.
func (d *decoder) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		b := d.s[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.err, d.s = errChunk, ""
	return 0
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.err, d.s = errChunk, ""
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// time reads a time as binary.AppendVarint wrote its Unix nanoseconds.
func (d *decoder) time() time.Time {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return time.Unix(0, v).UTC()
}
