package logstore

import (
	"encoding/binary"
	"math"
)

// Type is the type of a column in one block or batch. Types are inferred from
// the values of each block, so one column may have different types in
// different batches (a column that held only integers, then a string).
type Type uint8

// Column types. TypeNull is a column with no value in the batch.
const (
	TypeNull Type = iota
	TypeString
	TypeLong
	TypeReal
	TypeBool
	TypeDatetime
	TypeDynamic // JSON text: objects, arrays, and columns of mixed types
	typeEnd
)

func (t Type) String() string {
	switch t {
	case TypeNull:
		return "null"
	case TypeString:
		return "string"
	case TypeLong:
		return "long"
	case TypeReal:
		return "real"
	case TypeBool:
		return "bool"
	case TypeDatetime:
		return "datetime"
	case TypeDynamic:
		return "dynamic"
	}
	return "invalid"
}

// A payload is the plaintext of one WAL record: the rows of one ingest call,
// typed as they were parsed. A column without a declared type gets the type
// of its JSON values, and datetime is inferred later, per block, from
// strings; a declared one holds values converted to its type (see
// convert), among them datetimes and text, a string never read as a
// datetime (WAL version 4 on):
//
//	per row: varint time (Unix ns) | uvarint fieldCount | fields
//	field:   uvarint nameLen | name | kind byte | value
//	value:   long, datetime (Unix ns) → varint; real → 8 bytes little-endian;
//	         bool → 1 byte; string, text, dynamic → uvarint length | bytes
//
// Rows are found again through rowRefs (offset and time), which are rebuilt
// from the payload on replay.
//
// A WAL record (version 3 on) is the payload after the ingestion time of
// its rows, which one ingest call shares: i64 big-endian Unix ns | payload.
// The eight bytes are reserved by parseRows and filled when the record is
// written (putIngestTime), so that stamping costs no copy of the rows. A
// record of an older WAL is the payload alone, and its rows' ingestion time
// is unknown (see unknownIngest).
type rowRef struct {
	off  uint32
	time int64
}

// Limits that keep a decoder of hostile input from allocating without bound.
const (
	maxPayloadBytes = 1 << 30
	maxNameBytes    = 1 << 10
)

// cell is one value of a row as decoded from a payload; s points into the
// payload, which is immutable once written.
type cell struct {
	kind Type
	// text marks a string of a column declared string or guid: a block of
	// such strings stays string even when they all read as datetimes.
	text bool
	i    int64 // long; datetime as Unix ns; bool as 0/1; real as float64 bits
	s    []byte
}

// kindText is the kind byte of a string cell marked text.
const kindText = 0x80 | byte(TypeString)

// appendField appends one field of a row.
func appendField(b []byte, name []byte, c cell) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	kind := byte(c.kind)
	if c.text {
		kind = kindText
	}
	b = append(b, kind)
	switch c.kind {
	case TypeLong, TypeDatetime:
		b = binary.AppendVarint(b, c.i)
	case TypeReal:
		b = binary.LittleEndian.AppendUint64(b, uint64(c.i))
	case TypeBool:
		b = append(b, byte(c.i))
	default:
		b = binary.AppendUvarint(b, uint64(len(c.s)))
		b = append(b, c.s...)
	}
	return b
}

// appendRow appends a row whose fields were encoded with appendField.
func appendRow(b []byte, t int64, nfields int, fields []byte) []byte {
	b = binary.AppendVarint(b, t)
	b = binary.AppendUvarint(b, uint64(nfields))
	return append(b, fields...)
}

// ingestTimeSize is the length of a record's ingestion time.
const ingestTimeSize = 8

// unknownIngest is the ingestion time of a row stored before ingestion
// times were (a WAL before version 3, a segment without the hidden column):
// it sorts before every real one, so such a row is inside every
// IngestedUpTo bound and outside every IngestedAfter bound, and reads as
// null.
const unknownIngest = math.MinInt64

func putIngestTime(rec []byte, t int64) {
	binary.BigEndian.PutUint64(rec, uint64(t))
}

// splitRecord returns the ingestion time and payload of a record read from a
// WAL of the given version.
func splitRecord(version uint16, rec []byte) (int64, []byte, error) {
	if version < walStampVersion {
		return unknownIngest, rec, nil
	}
	if len(rec) < ingestTimeSize {
		return 0, nil, corruptf("record of %d bytes has no ingestion time", len(rec))
	}
	t := int64(binary.BigEndian.Uint64(rec))
	if t == unknownIngest {
		return 0, nil, corruptf("bad ingestion time")
	}
	return t, rec[ingestTimeSize:], nil
}

// decodeRecord validates a record of a WAL of the given version and returns
// its ingestion time, payload and rows.
func decodeRecord(version uint16, rec []byte) (int64, []byte, []rowRef, error) {
	ingested, p, err := splitRecord(version, rec)
	if err != nil {
		return 0, nil, nil, err
	}
	refs, err := indexPayload(p)
	return ingested, p, refs, err
}

// indexPayload validates a whole payload and returns its rows.
func indexPayload(p []byte) ([]rowRef, error) {
	if len(p) > maxPayloadBytes {
		return nil, corruptf("payload of %d bytes", len(p))
	}
	var refs []rowRef
	for off := 0; off < len(p); {
		t, next, err := walkRow(p, off, nil)
		if err != nil {
			return nil, err
		}
		refs = append(refs, rowRef{off: uint32(off), time: t})
		off = next
	}
	return refs, nil
}

// walkRow decodes the row at off, calls fn (if not nil) for each field, and
// returns the row's time and the offset after it.
func walkRow(p []byte, off int, fn func(name []byte, c cell)) (int64, int, error) {
	t, n := binary.Varint(p[off:])
	if n <= 0 {
		return 0, 0, corruptf("bad row time")
	}
	off += n
	nf, n := binary.Uvarint(p[off:])
	if n <= 0 || nf > uint64(len(p)-off) {
		return 0, 0, corruptf("bad field count")
	}
	off += n
	for range nf {
		l, n := binary.Uvarint(p[off:])
		if n <= 0 || l > maxNameBytes || l >= uint64(len(p)-off-n) {
			return 0, 0, corruptf("bad field name")
		}
		off += n
		name := p[off : off+int(l)]
		off += int(l)
		c := cell{kind: Type(p[off])}
		if p[off] == kindText {
			c.kind, c.text = TypeString, true
		}
		off++
		switch c.kind {
		case TypeLong, TypeDatetime:
			c.i, n = binary.Varint(p[off:])
			if n <= 0 {
				return 0, 0, corruptf("bad %s", c.kind)
			}
			off += n
		case TypeReal:
			if len(p)-off < 8 {
				return 0, 0, corruptf("bad real")
			}
			c.i = int64(binary.LittleEndian.Uint64(p[off:]))
			if math.IsNaN(math.Float64frombits(uint64(c.i))) {
				return 0, 0, corruptf("bad real")
			}
			off += 8
		case TypeBool:
			if off >= len(p) || p[off] > 1 {
				return 0, 0, corruptf("bad bool")
			}
			c.i = int64(p[off])
			off++
		case TypeString, TypeDynamic:
			l, n := binary.Uvarint(p[off:])
			if n <= 0 || l > uint64(len(p)-off-n) {
				return 0, 0, corruptf("bad string")
			}
			off += n
			c.s = p[off : off+int(l) : off+int(l)]
			off += int(l)
		default:
			return 0, 0, corruptf("bad value kind %d", c.kind)
		}
		if fn != nil {
			fn(name, c)
		}
	}
	return t, off, nil
}
