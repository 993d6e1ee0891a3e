// Package transform compiles a data collection rule's transformKql against
// the stream it reads and the table it writes, and runs it with the query
// engine over each ingested batch, before the rows are converted to the
// table's types and stored.
package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/jsonscan"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// Source is the table a transformation reads: the rows of one call, as the
// stream declares them.
const Source = "source"

// allowed are the tabular operators the cloud takes in a transformation,
// which is applied to each row on its own: those that take one row and
// give at most one (filter is where's other name).
var allowed = map[string]bool{
	"where": true, "filter": true, "extend": true, "project": true, "project-away": true,
	"project-rename": true, "parse": true, "print": true,
}

const allowedList = "where, extend, project, project-away, project-rename, parse and print"

// Error refuses a transformation, at Line:Col of its text when the fault
// is at a place in it (0 otherwise).
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("transformKql at %d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return "transformKql: " + e.Msg
}

func refuse(format string, args ...any) *Error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// column is a declared column as a transformation reads or writes it.
type column struct {
	name string
	decl logstore.DeclaredType
	kql  kql.Type
}

// Transform is a compiled transformation of one stream into one table.
type Transform struct {
	stream string
	table  string
	query  *kql.Query // nil: the pass-through "source"
	input  []column   // the stream's columns
	byName map[string]int
	output []logstore.DeclaredColumn // the table's columns
	// through is, for the pass-through, the stream's columns with the
	// table's types, which rows are stored by.
	through []logstore.DeclaredColumn
}

// Compile checks the transformation text of a flow from stream, whose
// declared columns are streamCols (nil for a Microsoft- stream: it is
// shaped as its table is), into table. The pass-through "source" (or no
// text) needs each stream column in the table with the same type (or a
// string stream column for a guid one). Any other text must read only
// source, use only the operators the cloud takes in a transformation, and
// give columns of the table, of types that convert to the table's, with
// TimeGenerated a datetime.
func Compile(text, stream string, streamCols []tables.Column, table tables.Schema) (*Transform, error) {
	out, err := declare(table.Columns)
	if err != nil {
		return nil, refuse("table %s: %v", table.Name, err)
	}
	if streamCols == nil {
		streamCols = table.Columns
	}
	in, err := declare(streamCols)
	if err != nil {
		return nil, refuse("stream %s: %v", stream, err)
	}
	t := &Transform{stream: stream, table: table.Name, input: in, byName: make(map[string]int, len(in))}
	for i, c := range in {
		t.byName[c.name] = i
	}
	for _, c := range out {
		t.output = append(t.output, logstore.DeclaredColumn{Name: c.name, Type: c.decl})
	}
	text = strings.TrimSpace(text)
	if text == "" || text == Source {
		if err := t.checkPassThrough(out); err != nil {
			return nil, err
		}
		return t, nil
	}
	if t.query, err = compile(text, in); err != nil {
		return nil, err
	}
	if err := t.checkOutput(out); err != nil {
		return nil, err
	}
	return t, nil
}

// Derive gives the schema of table name as a flow from stream would write
// it, for a flow into a custom table not yet declared (the portal's wizard
// declares the table with the rule): the stream's columns for the
// pass-through, the transformation's output columns otherwise (a timespan
// as a string), TimeGenerated first when the stream lacks it.
func Derive(text, stream string, streamCols []tables.Column, name string) (tables.Schema, error) {
	schema := tables.Schema{Name: name}
	text = strings.TrimSpace(text)
	if text == "" || text == Source {
		schema.Columns = slices.Clone(streamCols)
	} else {
		in, err := declare(streamCols)
		if err != nil {
			return tables.Schema{}, refuse("stream %s: %v", stream, err)
		}
		q, err := compile(text, in)
		if err != nil {
			return tables.Schema{}, err
		}
		for _, c := range q.ResultColumns() {
			typ := c.Type.String()
			switch c.Type {
			case kql.TypeBool:
				typ = "boolean"
			case kql.TypeTimespan:
				typ = "string"
			}
			schema.Columns = append(schema.Columns, tables.Column{Name: c.Name, Type: typ})
		}
	}
	if !slices.ContainsFunc(schema.Columns, func(c tables.Column) bool { return c.Name == tables.TimeColumn }) {
		schema.Columns = append([]tables.Column{{Name: tables.TimeColumn, Type: "datetime"}}, schema.Columns...)
	}
	return schema, nil
}

// declare reads declared columns' types.
func declare(cols []tables.Column) ([]column, error) {
	out := make([]column, len(cols))
	for i, c := range cols {
		d, ok1 := logstore.ParseDeclaredType(c.Type)
		k, ok2 := kql.ParseType(c.Type)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("column %s has type '%s', which is not one of string, int, long, real, boolean, datetime, guid, dynamic", c.Name, c.Type)
		}
		out[i] = column{name: c.Name, decl: d, kql: k}
	}
	return out, nil
}

// checkPassThrough checks that rows pass from the stream to the table
// unchanged: each stream column's type is the table's, or one the table's
// holds every value of (see widens), and sets what they are stored by.
func (t *Transform) checkPassThrough(out []column) error {
	byName := make(map[string]column, len(out))
	for _, c := range out {
		byName[c.name] = c
	}
	for _, c := range t.input {
		to, ok := byName[c.name]
		switch {
		case !ok:
			return refuse("column %s of stream %s is not a column of table %s: add it to the table, or leave it out with a transformation (source | project-away %s)",
				c.name, t.stream, t.table, c.name)
		case !widens(c.decl, to.decl):
			return refuse("column %s is %s in stream %s and %s in table %s: declare one type in both, or convert it with a transformation (source | extend %s = %s(%s))",
				c.name, c.decl, t.stream, to.decl, t.table, c.name, converter(to.decl), c.name)
		}
		t.through = append(t.through, logstore.DeclaredColumn{Name: c.name, Type: to.decl})
	}
	return nil
}

// widens reports whether a stream column of type from may pass into a
// table column of type to as it is: the same type; a string into a guid,
// which the guid's conversion checks; or a type that holds every value of
// from, which ingestion converts without loss: an int into a long, an int
// or a long into a real, anything into a string (a number keeps its
// digits) or a dynamic. A table widened so (a custom table declared over
// rows stored before tables were declared, see the API's flowTransform)
// takes the flows declared narrower.
func widens(from, to logstore.DeclaredType) bool {
	switch to {
	case from, logstore.DeclaredString, logstore.DeclaredDynamic:
		return true
	case logstore.DeclaredGUID:
		return from == logstore.DeclaredString
	case logstore.DeclaredLong:
		return from == logstore.DeclaredInt
	case logstore.DeclaredReal:
		return from == logstore.DeclaredInt || from == logstore.DeclaredLong
	}
	return false
}

// compile checks the transformation's operators, then binds it against
// source alone.
func compile(text string, in []column) (*kql.Query, error) {
	ops, err := kql.Operators(text)
	if err != nil {
		return nil, kqlError(err)
	}
	for _, op := range ops {
		if !allowed[op.Name] {
			return nil, &Error{Line: op.Line, Col: op.Col, Msg: fmt.Sprintf(
				"%s is not taken in a transformation, which sees one row at a time; it may use %s", op.Name, allowedList)}
		}
	}
	schema := kql.TableSchema{Name: Source, Columns: make([]kql.Column, len(in))}
	for i, c := range in {
		schema.Columns[i] = kql.Column{Name: c.name, Type: c.kql}
	}
	q, err := kql.Compile(text, kql.Catalog{Tables: []kql.TableSchema{schema}})
	if err != nil {
		return nil, kqlError(err)
	}
	return q, nil
}

// kqlError is a refusal at the place the engine names.
func kqlError(err error) error {
	var se *kql.SyntaxError
	var be *kql.BindError
	switch {
	case errors.As(err, &se):
		return &Error{Line: se.Line, Col: se.Col, Msg: se.Msg}
	case errors.As(err, &be) && strings.Contains(be.Msg, "table"):
		return &Error{Line: be.Line, Col: be.Col, Msg: be.Msg + " (a transformation reads only the table source, the stream's rows)"}
	case errors.As(err, &be):
		return &Error{Line: be.Line, Col: be.Col, Msg: be.Msg}
	}
	return refuse("%v", err)
}

// checkOutput checks that the transformation's columns are the table's, of
// types that convert to the table's, and that TimeGenerated is a datetime.
func (t *Transform) checkOutput(out []column) error {
	byName := make(map[string]column, len(out))
	for _, c := range out {
		byName[c.name] = c
	}
	hasTime := false
	for _, c := range t.query.ResultColumns() {
		to, ok := byName[c.Name]
		switch {
		case !ok:
			return refuse("the transformation gives column %s, which is not a column of table %s: add it to the table, or leave it out (project-away %s)",
				c.Name, t.table, c.Name)
		case !converts(c.Type, to.decl):
			return refuse("the transformation gives column %s as %s, which does not convert to %s, its type in table %s: convert it (extend %s = %s(…))",
				c.Name, c.Type, to.decl, t.table, c.Name, converter(to.decl))
		case c.Name == tables.TimeColumn:
			if c.Type != kql.TypeDatetime {
				return refuse("the transformation gives TimeGenerated as %s; it must be a datetime (extend TimeGenerated = todatetime(…))", c.Type)
			}
			hasTime = true
		}
	}
	if !hasTime {
		return refuse("the transformation's output has no TimeGenerated: every row stored needs one (extend TimeGenerated = now(), or from a column of the stream)")
	}
	return nil
}

// converts reports whether values of the engine's type from may convert to
// the declared type to (some may not: a string to an int).
func converts(from kql.Type, to logstore.DeclaredType) bool {
	switch to {
	case logstore.DeclaredString, logstore.DeclaredDynamic:
		return true
	case logstore.DeclaredInt, logstore.DeclaredLong, logstore.DeclaredReal:
		return from == kql.TypeInt || from == kql.TypeLong || from == kql.TypeReal || from == kql.TypeString || from == kql.TypeDynamic
	case logstore.DeclaredBool:
		return from == kql.TypeBool || from == kql.TypeInt || from == kql.TypeLong || from == kql.TypeString || from == kql.TypeDynamic
	case logstore.DeclaredDatetime:
		return from == kql.TypeDatetime || from == kql.TypeString || from == kql.TypeDynamic
	case logstore.DeclaredGUID:
		return from == kql.TypeGUID || from == kql.TypeString || from == kql.TypeDynamic
	}
	return false
}

// converter is the function that converts a value to a declared type.
func converter(t logstore.DeclaredType) string {
	switch t {
	case logstore.DeclaredInt:
		return "toint"
	case logstore.DeclaredLong:
		return "tolong"
	case logstore.DeclaredReal:
		return "toreal"
	case logstore.DeclaredBool:
		return "tobool"
	case logstore.DeclaredDatetime:
		return "todatetime"
	case logstore.DeclaredGUID:
		return "toguid"
	case logstore.DeclaredDynamic:
		return "todynamic"
	}
	return "tostring"
}

// PassThrough reports whether the transformation is "source": rows are
// stored as sent.
func (t *Transform) PassThrough() bool { return t.query == nil }

// OutputError is a row of the transformation's output that the table
// refused: Err is the store's error, its row index one of the output's.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "the transformation's output: " + e.Err.Error() }

func (e *OutputError) Unwrap() error { return e.Err }

// Apply gives the rows to store of body, a JSON array of objects shaped as
// the stream declares, and the columns to store them by. The pass-through
// gives body itself, to be converted in the store's one parse by the
// stream's columns with the table's types (the same, but for a string
// stream column feeding a guid). Any other
// transformation converts each value to its stream column's type (a value
// that does not convert refuses the body with a *logstore.RowError, a
// column the stream does not declare with a *logstore.UndeclaredColumnError
// naming the stream), runs over the rows as the table source, and gives its
// rows as a JSON array of objects for the table's columns; nil when it kept
// none. A string the engine gives as "" is left out of a column of another
// type: it is the engine's null of a string.
func (t *Transform) Apply(ctx context.Context, body []byte, now time.Time) ([]byte, []logstore.DeclaredColumn, error) {
	if t.query == nil {
		return body, t.through, nil
	}
	src, err := t.source(body)
	if err != nil {
		return nil, nil, err
	}
	res, err := t.query.Run(ctx, kql.NewMemSource(src), kql.Options{Now: now, MaxRows: int64(src.Len()) + 1})
	if err != nil {
		return nil, nil, fmt.Errorf("run the transformation: %w", err)
	}
	defer res.Release()
	rows, err := t.rows(res.Tables[len(res.Tables)-1])
	return rows, t.output, err
}

// source reads body into the table source, each value converted to its
// stream column's type. The body is checked whole first (text, then JSON),
// then each row is walked in place: no map per row, no copy per value. As
// json.Unmarshal into a slice of maps did, a body with an element that is
// neither an object nor null is not rows at all, and of a column named
// twice in a row the last value counts.
func (t *Transform) source(body []byte) (*kql.MemTable, error) {
	if off, what := textcheck.JSON(body); off >= 0 {
		return nil, fmt.Errorf("%w: the body %s (byte %d)", logstore.ErrInvalidInput, what, off)
	}
	elems, err := elements(body)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("%w: the body holds no rows", logstore.ErrInvalidInput) // as the store says
	}
	cols := make([]kql.Column, len(t.input))
	for i, c := range t.input {
		cols[i] = kql.Column{Name: c.name, Type: c.kql}
	}
	src := kql.NewMemTable(Source, cols...)
	vals := make([]any, len(cols))
	raws := make([][]byte, len(cols))
	for r, start := range elems {
		if body[start] != '{' { // null
			return nil, &logstore.RowError{Index: r, Reason: "not a JSON object"}
		}
		clear(raws)
		if err := t.fields(body, start, r, raws); err != nil {
			return nil, err
		}
		clear(vals)
		for i, raw := range raws {
			if raw == nil {
				continue
			}
			v, ok := logstore.ConvertJSON(raw, t.input[i].decl)
			if !ok {
				return nil, &logstore.RowError{Index: r, Reason: fmt.Sprintf("the value of column %q does not convert to %s, its type in stream %s", t.input[i].name, t.input[i].decl, t.stream)}
			}
			if d, isJSON := v.(json.RawMessage); isJSON {
				v = dynamicValue(d)
			}
			vals[i] = v
		}
		if err := src.Append(vals...); err != nil {
			return nil, fmt.Errorf("transformation source: %w", err)
		}
	}
	return src, nil
}

// elements returns where each element of body, a JSON array of objects
// (null counting as an element), starts; none for a body that is null.
func elements(body []byte) ([]int, error) {
	notRows := fmt.Errorf("%w: the body must be a JSON array of objects", logstore.ErrInvalidInput)
	if !jsonscan.Valid(body) {
		return nil, notRows
	}
	i := jsonscan.Space(body, 0)
	if body[i] == 'n' { // null: no rows
		return nil, nil
	}
	if body[i] != '[' {
		return nil, notRows
	}
	var elems []int
	i = jsonscan.Space(body, i+1)
	for body[i] != ']' {
		if c := body[i]; c != '{' && c != 'n' {
			return nil, notRows
		}
		elems = append(elems, i)
		end, _, err := jsonscan.Value(body, i, 1)
		if err != nil {
			return nil, notRows // not reached: the body is valid
		}
		i = jsonscan.Space(body, end)
		if body[i] == ',' {
			i = jsonscan.Space(body, i+1)
		}
	}
	return elems, nil
}

// fields sets raws[k] to the JSON text of the value of the row's field
// for stream column k, the row being the object at body[start], which
// jsonscan has checked; the last of a name given twice counts.
func (t *Transform) fields(body []byte, start, row int, raws [][]byte) error {
	i := jsonscan.Space(body, start+1)
	for body[i] != '}' {
		end, f, err := jsonscan.String(body, i)
		if err != nil {
			return err // not reached: the body is valid
		}
		name := string(body[i+1 : end-1])
		if f&jsonscan.Escaped != 0 {
			if err := json.Unmarshal(body[i:end], &name); err != nil {
				return err // not reached
			}
		}
		i = jsonscan.Space(body, end)
		i = jsonscan.Space(body, i+1) // past the colon
		end, _, err = jsonscan.Value(body, i, 2)
		if err != nil {
			return err // not reached
		}
		k, ok := t.byName[name]
		if !ok {
			return &logstore.UndeclaredColumnError{Table: t.stream, Index: row, Column: name}
		}
		raws[k] = body[i:end]
		i = jsonscan.Space(body, end)
		if body[i] == ',' {
			i = jsonscan.Space(body, i+1)
		}
	}
	return nil
}

// dynamicValue decodes a dynamic value's JSON text as the engine holds it.
func dynamicValue(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw) // not reached: ConvertJSON gave valid JSON text
	}
	return v
}

// rows writes the transformation's result as the table's rows; nil when
// there are none.
func (t *Transform) rows(res kql.Table) ([]byte, error) {
	if len(res.Rows) == 0 {
		return nil, nil
	}
	text, err := json.Marshal(res) // datetimes and timespans as the engine writes them
	if err != nil {
		return nil, fmt.Errorf("encode the transformation's rows: %w", err)
	}
	var table struct {
		Rows [][]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(text, &table); err != nil {
		return nil, fmt.Errorf("decode the transformation's rows: %w", err)
	}
	types := make(map[string]logstore.DeclaredType, len(t.output))
	for _, c := range t.output {
		types[c.Name] = c.Type
	}
	keys := make([][]byte, len(res.Columns))
	for i, c := range res.Columns {
		keys[i], _ = json.Marshal(c.Name)
	}
	var out bytes.Buffer
	out.WriteByte('[')
	for r, row := range table.Rows {
		if r > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		first := true
		for i, v := range row {
			if string(v) == "null" || string(v) == `""` && types[res.Columns[i].Name] != logstore.DeclaredString {
				continue
			}
			if !first {
				out.WriteByte(',')
			}
			first = false
			out.Write(keys[i])
			out.WriteByte(':')
			out.Write(v)
		}
		out.WriteByte('}')
	}
	out.WriteByte(']')
	return out.Bytes(), nil
}
