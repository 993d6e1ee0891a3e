package kql

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Column is a named, typed column of a schema or a result.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

// TableSchema is a table's name and columns.
type TableSchema struct {
	Name    string
	Columns []Column
	// Empty says the source holds no rows of the table: a built-in or declared table never
	// written. A query may name it; a wildcard union (union *, union Device*) leaves it out
	// unless the pattern matches no table that holds rows.
	Empty bool
	// Hidden are the table's columns a query reads only by naming them, such as the
	// standard _ResourceId and _BilledSize (hidden.go): no result, getschema or search
	// shows them otherwise. A name is in Columns or Hidden, not both.
	Hidden []Column
}

// Catalog is what a query may name besides its own lets: the workspace's tables and its
// stored functions. Compile binds against it.
type Catalog struct {
	Tables    []TableSchema
	Functions []Function
}

// Table returns the schema of the named table (names are case-sensitive, as in KQL).
func (c Catalog) Table(name string) (TableSchema, bool) {
	for _, t := range c.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return TableSchema{}, false
}

// Function returns the stored function of that name (case-sensitive).
func (c Catalog) Function(name string) (Function, bool) {
	for _, f := range c.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// TimeColumn is the column whose range a scan may prune on.
const TimeColumn = "TimeGenerated"

// AnyColumn is the column of a pushed-down predicate that holds when it holds for any column
// of the row (see Predicate). Were a table to have a column named *, reading the predicate
// as one on every column would still drop no row it holds for.
const AnyColumn = "*"

// PredOp is the operator of a pushed-down predicate.
type PredOp uint8

// Pushed-down predicate operators; the string ones follow the KQL operators of the same name.
const (
	PredEq           PredOp = iota + 1 // ==, case-sensitive for strings
	PredNe                             // !=
	PredEqFold                         // =~
	PredLt                             // <
	PredLe                             // <=
	PredGt                             // >
	PredGe                             // >=
	PredIn                             // in (Values)
	PredInFold                         // in~ (Values)
	PredHas                            // has (whole term, case-insensitive)
	PredHasCS                          // has_cs
	PredContains                       // contains (case-insensitive)
	PredContainsCS                     // contains_cs
	PredStartsWith                     // startswith (case-insensitive)
	PredStartsWithCS                   // startswith_cs
	PredEndsWith                       // endswith (case-insensitive)
	PredEndsWithCS                     // endswith_cs
	PredHasAny                         // has_any (Values, each as has)
)

var predNames = map[PredOp]string{PredEq: "==", PredNe: "!=", PredEqFold: "=~", PredLt: "<", PredLe: "<=", PredGt: ">", PredGe: ">=",
	PredIn: "in", PredInFold: "in~", PredHas: "has", PredHasCS: "has_cs", PredContains: "contains", PredContainsCS: "contains_cs",
	PredStartsWith: "startswith", PredStartsWithCS: "startswith_cs", PredEndsWith: "endswith", PredEndsWithCS: "endswith_cs",
	PredHasAny: "has_any"}

func (o PredOp) String() string { return predNames[o] }

// Predicate is a simple condition on one column that a source may use to skip data (segment
// statistics, bloom filters) and may apply to rows. It is advisory: the engine evaluates the
// full where clause again, so a source may return extra rows but must never drop a row for
// which the predicate holds.
//
// Column AnyColumn asks for the rows in which some column's value, read as text, satisfies
// the predicate (has or contains, and their _cs forms, with a string): search "x" and where *
// has "x". A source may also search columns the query does not, never fewer.
type Predicate struct {
	Column string
	Op     PredOp
	Value  any   // for all but In/InFold/HasAny; a run-time value of the column's type
	Values []any // for In/InFold/HasAny
}

func (p Predicate) String() string {
	if p.Op == PredIn || p.Op == PredInFold || p.Op == PredHasAny {
		return fmt.Sprintf("%s %s %v", p.Column, p.Op, p.Values)
	}
	return fmt.Sprintf("%s %s %v", p.Column, p.Op, p.Value)
}

// Match reports whether value v satisfies the predicate with the engine's semantics, so that
// adapters filtering rows agree with the where clause exactly.
func (p Predicate) Match(v any) bool {
	switch p.Op {
	case PredEq:
		return valuesEqual(v, p.Value)
	case PredNe:
		return v != nil && !valuesEqual(v, p.Value)
	case PredEqFold:
		return strings.EqualFold(toString(v), toString(p.Value))
	case PredLt, PredLe, PredGt, PredGe:
		c, ok := compareValues(v, p.Value)
		if !ok {
			return false
		}
		switch p.Op {
		case PredLt:
			return c < 0
		case PredLe:
			return c <= 0
		case PredGt:
			return c > 0
		}
		return c >= 0
	case PredIn, PredInFold:
		for _, w := range p.Values {
			if p.Op == PredIn && valuesEqual(v, w) || p.Op == PredInFold && strings.EqualFold(toString(v), toString(w)) {
				return true
			}
		}
		return false
	case PredHasAny:
		for _, w := range p.Values {
			if hasTerm(toString(v), toString(w), false) {
				return true
			}
		}
		return false
	}
	s, n := toString(v), toString(p.Value)
	switch p.Op {
	case PredHas:
		return hasTerm(s, n, false)
	case PredHasCS:
		return hasTerm(s, n, true)
	case PredContains:
		return indexFold(s, n) >= 0
	case PredContainsCS:
		return strings.Contains(s, n)
	case PredStartsWith:
		return len(s) >= len(n) && strings.EqualFold(s[:len(n)], n)
	case PredStartsWithCS:
		return strings.HasPrefix(s, n)
	case PredEndsWith:
		return len(s) >= len(n) && strings.EqualFold(s[len(s)-len(n):], n)
	case PredEndsWithCS:
		return strings.HasSuffix(s, n)
	}
	return true
}

// ScanRequest asks a source for some columns of one table. From and To bound TimeGenerated
// inclusively (zero means unbounded); like Predicates they are advisory.
//
// IngestedAfter and IngestedUpTo bound the rows' ingestion time, exclusively and inclusively
// (zero means unbounded), and are not advisory: a source returns no row outside them, as the
// engine cannot filter on a column it may not have asked for. A row whose ingestion time is
// unknown counts as ingested before any bound. Columns may name IngestionTimeColumn.
type ScanRequest struct {
	Table                       string
	From, To                    time.Time
	IngestedAfter, IngestedUpTo time.Time
	Columns                     []string
	Predicates                  []Predicate
}

// Batch is a run of rows in columnar form: Columns[i] holds the values of the request's
// Columns[i]; Len is the row count (meaningful even when no column was requested). A source
// that holds a column typed may hand it over as Vectors[i] instead (Vectors as long as
// Columns, Columns[i] then nil): the engine's filters, group keys and join keys read typed
// columns without boxing every cell. The engine never writes to a batch, so a source may hand
// out views of its own storage.
type Batch struct {
	Len     int
	Columns [][]any
	Vectors []*Vector
}

// Vector is one column of a batch held by type. Type must be the column's type in the
// table's schema; Type says which slice holds the values.
type Vector struct {
	Type    Type      // TypeString, TypeInt, TypeLong, TypeReal, TypeBool or TypeDatetime
	Valid   []bool    // false where the row is null, whose value must then be zero; nil: no nulls
	Strings []string  // TypeString, unless Dict holds the values
	Ints    []int64   // TypeInt and TypeLong; TypeDatetime as Unix nanoseconds
	Reals   []float64 // TypeReal
	Bools   []bool    // TypeBool
	// Dict and Codes may hold a string column with few distinct values, in place of
	// Strings or beside it: row r is Dict[Codes[r]] where it is not null. Group keys and
	// filters are then found once per entry, not once per row, and no row's string is built
	// unless an operator asks for it (Str).
	Dict  []string
	Codes []uint32
}

// Str is row r of a string vector: its value, or "" for a null, as everywhere in the
// engine.
func (v *Vector) Str(r int) string {
	switch {
	case v.Strings != nil:
		return v.Strings[r]
	case v.Valid != nil && !v.Valid[r]:
		return ""
	}
	return v.Dict[v.Codes[r]]
}

// Value is row r as the engine's run-time value: nil for a null, except that a string
// column's null is the empty string, as everywhere in the engine.
func (v *Vector) Value(r int) any {
	if v.Type == TypeString {
		return v.Str(r)
	}
	if v.Valid != nil && !v.Valid[r] {
		return nil
	}
	switch v.Type {
	case TypeInt, TypeLong:
		return v.Ints[r]
	case TypeDatetime:
		return time.Unix(0, v.Ints[r]).UTC()
	case TypeReal:
		return v.Reals[r]
	case TypeBool:
		return v.Bools[r]
	}
	return nil
}

// integers reports whether the vector holds whole numbers in Ints: an int
// or a long column, which the engine holds alike (as int64).
func (v *Vector) integers() bool { return v.Type == TypeInt || v.Type == TypeLong }

// vector is column i as a Vector, or nil when the source boxed it.
func (b *Batch) vector(i int) *Vector {
	if b.Vectors == nil {
		return nil
	}
	return b.Vectors[i]
}

// BatchIterator yields batches until it returns io.EOF.
type BatchIterator interface {
	Next(ctx context.Context) (*Batch, error)
	Close() error
}

// RowCounter is a Source that can count a table's rows without reading them. CountRows
// counts exactly the rows of req.Table whose TimeGenerated is within [req.From, req.To]
// (inclusive, a zero time: no bound), whose ingestion time is within the request's
// ingestion bounds, and that match every predicate of req, which are not advisory here:
// only == or has of a non-empty string (has of ASCII, ignoring ASCII case, on term
// boundaries as has does) and ==, <, <=, > or >= of a long, none of which a null cell
// matches; and has of a non-empty ASCII string on AnyColumn: some column of the table but
// the hidden ones has it, its value read as text as search reads it. req has no columns. A source that cannot count that table, or those predicates
// on it, exactly returns false, and the engine reads the rows instead.
type RowCounter interface {
	CountRows(ctx context.Context, req ScanRequest) (RowCount, bool, error)
}

// RowCount is what a RowCounter found of the rows it counted: how many, and the earliest
// and latest TimeGenerated among them (zero when it counted none, or does not know them).
type RowCount struct {
	Rows             int64
	MinTime, MaxTime time.Time
}

// Source is where tables come from: the log store through an adapter, or memory in tests.
type Source interface {
	Tables(ctx context.Context) ([]TableSchema, error)
	Scan(ctx context.Context, req ScanRequest) (BatchIterator, error)
}

// MemTable is an in-memory table held by columns.
type MemTable struct {
	Schema  TableSchema
	Columns [][]any
	// Ingested holds the rows' ingestion times, for tests of ingestion_time() and of the
	// ingestion bounds; a row past its end, or with the zero time, has none (unknown).
	Ingested []time.Time
}

// NewMemTable returns an empty table with the given columns.
func NewMemTable(name string, cols ...Column) *MemTable {
	return &MemTable{Schema: TableSchema{Name: name, Columns: cols}, Columns: make([][]any, len(cols))}
}

// Append adds a row, converting each value to its column's type (ints to long, times to UTC,
// strings to datetimes where the column is a datetime).
func (t *MemTable) Append(vals ...any) error {
	if len(vals) != len(t.Schema.Columns) {
		return fmt.Errorf("table %s: row has %d values, want %d", t.Schema.Name, len(vals), len(t.Schema.Columns))
	}
	for i, v := range vals {
		t.Columns[i] = append(t.Columns[i], convertTo(normDynamic(v), t.Schema.Columns[i].Type))
	}
	return nil
}

// AppendIngested adds a row ingested at the given time (see Append).
func (t *MemTable) AppendIngested(at time.Time, vals ...any) error {
	if err := t.Append(vals...); err != nil {
		return err
	}
	t.Ingested = append(t.Ingested, make([]time.Time, t.Len()-1-len(t.Ingested))...)
	t.Ingested = append(t.Ingested, normTime(at))
	return nil
}

// ingested is row r's ingestion time, zero if unknown.
func (t *MemTable) ingested(r int) time.Time {
	if r < len(t.Ingested) {
		return t.Ingested[r]
	}
	return time.Time{}
}

// Len is the number of rows.
func (t *MemTable) Len() int {
	if len(t.Columns) == 0 {
		return 0
	}
	return len(t.Columns[0])
}

// MemSource serves MemTables; it applies the time range and predicates itself, as a real store
// would use them to skip blocks.
type MemSource struct {
	tables    map[string]*MemTable
	order     []string
	funcs     []Function
	BatchSize int
}

// NewMemSource returns a source over the given tables.
func NewMemSource(tables ...*MemTable) *MemSource {
	s := &MemSource{tables: map[string]*MemTable{}, BatchSize: 4096}
	for _, t := range tables {
		s.tables[t.Schema.Name] = t
		s.order = append(s.order, t.Schema.Name)
	}
	return s
}

// Catalog lists the tables' schemas and the stored functions.
func (s *MemSource) Catalog() Catalog {
	c := Catalog{Functions: s.funcs}
	for _, n := range s.order {
		c.Tables = append(c.Tables, s.tables[n].Schema)
	}
	return c
}

// Tables implements Source.
func (s *MemSource) Tables(ctx context.Context) ([]TableSchema, error) {
	return s.Catalog().Tables, nil
}

// SetFunctions stores the functions the source serves as its workspace's stored functions.
func (s *MemSource) SetFunctions(fs ...Function) { s.funcs = fs }

// Functions implements FunctionSource.
func (s *MemSource) Functions(ctx context.Context) ([]Function, error) { return s.funcs, nil }

// Scan implements Source.
func (s *MemSource) Scan(ctx context.Context, req ScanRequest) (BatchIterator, error) {
	t, ok := s.tables[req.Table]
	if !ok {
		return nil, fmt.Errorf("scan %s: no such table", req.Table)
	}
	idx := func(name string) (int, error) {
		for i, c := range t.Schema.Columns {
			if c.Name == name {
				return i, nil
			}
		}
		return -1, fmt.Errorf("scan %s: no column %s", req.Table, name)
	}
	it := &memIter{t: t, req: req, timeCol: -1, batch: s.BatchSize}
	if it.batch <= 0 {
		it.batch = 4096
	}
	for _, c := range req.Columns {
		if c == IngestionTimeColumn {
			it.cols = append(it.cols, ingestedCol)
			continue
		}
		i, err := idx(c)
		if err != nil {
			return nil, err
		}
		it.cols = append(it.cols, i)
	}
	it.ingestBound = !req.IngestedAfter.IsZero() || !req.IngestedUpTo.IsZero()
	for _, p := range req.Predicates {
		if p.Column == AnyColumn {
			it.preds = append(it.preds, memPred{col: anyCol, p: p})
			continue
		}
		i, err := idx(p.Column)
		if err != nil {
			return nil, err
		}
		it.preds = append(it.preds, memPred{col: i, p: p})
	}
	if !req.From.IsZero() || !req.To.IsZero() {
		if i, err := idx(TimeColumn); err == nil {
			it.timeCol = i
		}
	}
	return it, nil
}

type memPred struct {
	col int
	p   Predicate
}

// ingestedCol stands, in memIter.cols, for the ingestion time.
const ingestedCol = -1

// anyCol stands, in memPred.col, for every column (AnyColumn).
const anyCol = -2

type memIter struct {
	t           *MemTable
	req         ScanRequest
	cols        []int // of the table's columns, or ingestedCol
	preds       []memPred
	timeCol     int
	ingestBound bool // the request bounds the ingestion time
	pos         int
	batch       int
	sel         []int
}

// column is the values of the iterator's column c (an entry of cols) in rows [from, to).
func (it *memIter) column(c, from, to int) []any {
	if c != ingestedCol {
		return it.t.Columns[c][from:to:to]
	}
	out := make([]any, to-from)
	for r := from; r < to; r++ {
		out[r-from] = it.cell(c, r)
	}
	return out
}

// cell is row r of the iterator's column c.
func (it *memIter) cell(c, r int) any {
	if c != ingestedCol {
		return it.t.Columns[c][r]
	}
	if at := it.t.ingested(r); !at.IsZero() {
		return at
	}
	return nil
}

// ingestedIn reports whether row r is inside the request's ingestion bounds, an unknown time
// counting as before any.
func (it *memIter) ingestedIn(r int) bool {
	at := it.t.ingested(r)
	if a := it.req.IngestedAfter; !a.IsZero() && (at.IsZero() || !at.After(a)) {
		return false
	}
	u := it.req.IngestedUpTo
	return u.IsZero() || at.IsZero() || !at.After(u)
}

func (it *memIter) Next(ctx context.Context) (*Batch, error) {
	n := it.t.Len()
	for it.pos < n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(it.pos+it.batch, n)
		if it.timeCol < 0 && len(it.preds) == 0 && !it.ingestBound {
			// nothing to filter: hand out windows on the table's columns (callers never
			// write to a batch)
			b := &Batch{Len: end - it.pos, Columns: make([][]any, len(it.cols))}
			for i, c := range it.cols {
				b.Columns[i] = it.column(c, it.pos, end)
			}
			it.pos = end
			return b, nil
		}
		it.sel = it.sel[:0]
		for r := it.pos; r < end; r++ {
			if !it.ingestBound || it.ingestedIn(r) {
				it.sel = append(it.sel, r)
			}
		}
		it.pos = end
		if it.timeCol >= 0 {
			col := it.t.Columns[it.timeCol]
			keep := it.sel[:0]
			for _, r := range it.sel {
				tm, ok := col[r].(time.Time)
				if !ok || (!it.req.From.IsZero() && tm.Before(it.req.From)) || (!it.req.To.IsZero() && tm.After(it.req.To)) {
					continue
				}
				keep = append(keep, r)
			}
			it.sel = keep
		}
		for _, p := range it.preds {
			keep := it.sel[:0]
			for _, r := range it.sel {
				if it.matches(p, r) {
					keep = append(keep, r)
				}
			}
			it.sel = keep
		}
		if len(it.sel) == 0 {
			continue
		}
		b := &Batch{Len: len(it.sel), Columns: make([][]any, len(it.cols))}
		for i, c := range it.cols {
			out := make([]any, len(it.sel))
			for j, r := range it.sel {
				out[j] = it.cell(c, r)
			}
			b.Columns[i] = out
		}
		return b, nil
	}
	return nil, io.EOF
}

// matches reports whether row r satisfies p: in its column, or in any column.
func (it *memIter) matches(p memPred, r int) bool {
	if p.col != anyCol {
		return p.p.Match(it.t.Columns[p.col][r])
	}
	for _, col := range it.t.Columns {
		if p.p.Match(col[r]) {
			return true
		}
	}
	return false
}

func (it *memIter) Close() error { return nil }

// CatalogOf reads a source's tables, and its stored functions when it is a FunctionSource,
// as a Catalog for Compile.
func CatalogOf(ctx context.Context, src Source) (Catalog, error) {
	ts, err := src.Tables(ctx)
	if err != nil {
		return Catalog{}, fmt.Errorf("list tables: %w", err)
	}
	cat := Catalog{Tables: ts}
	if fs, ok := src.(FunctionSource); ok {
		if cat.Functions, err = fs.Functions(ctx); err != nil {
			return Catalog{}, fmt.Errorf("list functions: %w", err)
		}
	}
	return cat, nil
}
