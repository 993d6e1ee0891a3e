package logstore

import "math/bits"

// valueClasses is a set of the classes of value a column holds, as
// resolveType tells them apart in picking a block's type: a bit per Type,
// and for strings apart from those of TypeString, one for text (of a
// column declared string or guid) and one for strings that read as
// datetimes. A memtable notes the classes of each column of its rows
// (shapes), so that an ingest moves Store.Changes only when it may change
// what Schema answers (see memtable.add).
type valueClasses uint16

const (
	classText valueClasses = 1 << (typeEnd + iota)
	classTimeString
)

// classOf is the class of the value of c.
func classOf(c cell) valueClasses {
	if c.kind == TypeString {
		if c.text {
			return classText
		}
		if _, ok := stringTime(c.s); ok {
			return classTimeString
		}
	}
	return 1 << c.kind
}

// mixed reports whether a column of the classes cs may take a different
// type in different blocks: more than one class beside null. Nulls take
// no part in a block's type (see resolveType).
func (cs valueClasses) mixed() bool {
	return bits.OnesCount16(uint16(cs&^(1<<TypeNull))) > 1
}

// shapes are the classes of value of each column of a memtable's rows.
type shapes map[string]valueClasses

// payloadShapes are the classes of each column of the rows of payload p,
// or nil when p does not decode (which a payload parsed or replayed does).
// An ingest notes them as it parses (see scanner.row); a replay of a WAL
// reads them here.
func payloadShapes(p []byte, refs []rowRef) shapes {
	var n shapeNoter
	for _, ref := range refs {
		k := -1
		_, _, err := walkRow(p, int(ref.off), func(name []byte, c cell) {
			k++
			n.note(k, name, c)
		})
		if err != nil {
			return nil
		}
	}
	return n.noted()
}

// shapeNoter notes the classes of each column of rows, field by field.
// Rows mostly repeat the fields of the row before in the same order: a
// field of the name and class its predecessor at that place had is not
// looked up.
type shapeNoter struct {
	shapes shapes
	prev   []shapeField
}

type shapeField struct {
	name  string
	class valueClasses
}

// noted are the shapes noted: none, not nil, when no row had a field.
func (n *shapeNoter) noted() shapes {
	if n.shapes == nil {
		return shapes{}
	}
	return n.shapes
}

// note notes the value c of column name, the field at place k of its row.
func (n *shapeNoter) note(k int, name []byte, c cell) {
	if string(name) == timeColumn || string(name) == IngestionTimeColumn {
		return
	}
	class := classOf(c)
	if n.shapes == nil {
		n.shapes = shapes{}
	}
	if k < len(n.prev) && n.prev[k].class == class && n.prev[k].name == string(name) {
		return
	}
	n.shapes[string(name)] |= class
	f := shapeField{string(name), class}
	switch {
	case k < len(n.prev):
		n.prev[k] = f
	case k == len(n.prev):
		n.prev = append(n.prev, f)
	}
}

// note adds the classes of add to the memtable's and reports whether what
// Schema answers of its rows may change with them: a column or a class of
// a column it did not hold, or any rows once one of its columns is mixed,
// whose blocks' types then depend on how the rows fall into blocks. A nil
// add (undecoded) may change it. The caller holds m.mu.
func (m *memtable) noteLocked(add shapes) bool {
	if add == nil || m.mixed {
		m.mixed = true
		return true
	}
	if m.shapes == nil {
		m.shapes = shapes{}
	}
	changes := false
	for name, cs := range add {
		have := m.shapes[name]
		if have|cs != have {
			m.shapes[name] = have | cs
			m.mixed = m.mixed || (have | cs).mixed()
			changes = true
		}
	}
	return changes
}
