package kql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxRows   = 500_000
	DefaultMaxMemory = 1 << 30
	DefaultTimeout   = 3 * time.Minute
)

// Options are per-run settings.
type Options struct {
	Now       time.Time     // the value of now(); zero means the wall clock at Run
	Timespan  time.Duration // if > 0, only rows with TimeGenerated in [Now-Timespan, Now]
	MaxRows   int64         // rows of the result, over all its tables; default 500,000
	MaxMemory int64         // bytes the query's operators may hold before ErrMemoryLimit; default 1 GiB, < 0 none
	Timeout   time.Duration // default 3 minutes
	// Memory is the node's pool that this query's memory is reserved from, shared with the
	// queries running beside it; nil reserves from no pool (MaxMemory still holds). A negative
	// MaxMemory turns accounting off altogether, pool included: for trusted callers and for
	// measuring what accounting costs.
	Memory *MemoryPool
	// IngestedAfter and IngestedUpTo, when not zero, bound every table scan of the run to the
	// rows ingested after IngestedAfter and up to IngestedUpTo (see ingestion_time()); joined,
	// unioned, materialized and subquery tables included. A row whose ingestion time is unknown
	// counts as ingested before any bound.
	IngestedAfter, IngestedUpTo time.Time
	// GeoIP is the database geo_info_from_ip_address() reads; without one it answers null.
	GeoIP *GeoIPDB
	// ExternalData fetches the files externaldata reads; nil: nothing is fetched, and a
	// query that reads externaldata fails its run with an *ExternalDataError.
	ExternalData ExternalFetcher
	// PartialResults answers a result of more than MaxRows rows with its first MaxRows rows
	// and Result.Partial set, as the Logs query API does; without it such a run fails with
	// ErrTooManyRows.
	PartialResults bool
}

// Query is a compiled query: parsed and bound against a catalog, ready to Run many times.
type Query struct {
	text   string
	ast    *astBlock
	cat    Catalog
	stored *storedFuncs // the catalog's functions this query calls, parsed
	marks  map[astExpr]map[string]bool
	synth  map[synthKey]*astIdent
	last   []Column // the columns of the last result table, as bound
	open   bool     // the last result's data may give it more columns (evaluate bag_unpack, pivot)
	tables []string // the tables it scans, sorted
}

// Compile parses and binds a query. Errors are *SyntaxError or *BindError.
func Compile(query string, cat Catalog) (*Query, error) {
	ast, err := parseQuery(query)
	if err != nil {
		return nil, err
	}
	q := &Query{text: query, ast: ast, cat: cat, stored: newStoredFuncs(cat.Functions), marks: map[astExpr]map[string]bool{}, synth: map[synthKey]*astIdent{}}
	p := &planner{cat: cat, marks: q.marks, synth: q.synth, fixedNow: time.Now().UTC(), tables: map[string]bool{}}
	sc := q.rootScope()
	for _, l := range ast.Lets {
		if err := p.let(l, sc); err != nil {
			return nil, err
		}
	}
	for _, e := range ast.Exprs {
		if !p.isTabular(e, sc) {
			// a bare scalar statement is the same as print
			e = &astPrint{P: e.pos(), Cols: []astNamedExpr{{X: e}}}
		}
		pl, err := p.tabular(e, sc)
		if err != nil {
			return nil, err
		}
		pl = visible(pl)
		p.markAll(pl)
		q.last = q.last[:0]
		q.open = pl.dataSchema != nil
		for _, c := range pl.cols {
			q.last = append(q.last, Column{Name: c.Name, Type: c.Type})
		}
	}
	p.settleMarks()
	q.tables = slices.Sorted(maps.Keys(p.tables))
	return q, nil
}

// rootScope is the scope of the query's statements: its lets, then the stored functions.
func (q *Query) rootScope() *scope {
	sc := newScope(nil)
	sc.stored = q.stored
	return sc
}

// Tables returns the tables the query may scan, sorted: those a caller must
// watch for rows that would change its answer. A table named only in an
// unused let is listed too: lets are bound where they are written.
func (q *Query) Tables() []string {
	return slices.Clone(q.tables)
}

// ResultColumns returns the columns of the query's last result table, known
// from binding alone: every operator's output columns follow from its input's.
func (q *Query) ResultColumns() []Column {
	return slices.Clone(q.last)
}

// ResultColumnsOpen reports whether the last result table may have columns beyond
// ResultColumns: columns an evaluate plugin (bag_unpack, pivot) without an output schema
// names after its input's data, which only a run knows.
func (q *Query) ResultColumnsOpen() bool { return q.open }

// Columns reports, per scanned table, the columns the query reads (for tests and explain).
func (q *Query) Columns() map[string][]string {
	out := map[string][]string{}
	for node, m := range q.marks {
		name := ""
		switch x := node.(type) {
		case *astIdent:
			name = x.Name
		case *astCall:
			if l, ok := x.Args[0].(*astLit); ok {
				name, _ = l.Val.(string)
			}
		}
		ts, _ := q.cat.Table(name)
		for _, c := range append(slices.Clip(ts.Columns), ts.Hidden...) {
			if m[c.Name] {
				out[name] = appendUnique(out[name], c.Name)
			}
		}
	}
	return out
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Result is a query's answer, shaped like the Log Analytics query API response.
type Result struct {
	Tables        []Table        `json:"tables"`
	Visualization *Visualization `json:"render,omitempty"`
	Stats         Stats          `json:"-"`
	// Partial is the row limit the result was cut at, when Options.PartialResults kept only
	// its first Options.MaxRows rows: the tables after the cut hold none. Nil: the result
	// is whole.
	Partial *LimitError  `json:"-"`
	mem     *queryMemory // what the rows hold of the node's pool, until Release
}

// Stats describe what a run read, for logs, explain output and metrics.
type Stats struct {
	RowsScanned int64         // rows the source returned, after its own filtering
	Scans       []ScanRequest // what was asked of the source, pushdown included
	PeakMemory  int64         // the most memory the run's operators held at once, in bytes
}

// Table is one result table. Rows hold run-time values (string, int64, float64, bool,
// time.Time, time.Duration, dynamic values); JSON renders them as the API does.
type Table struct {
	Name    string
	Columns []Column
	Rows    [][]any
}

// MarshalJSON renders datetimes as RFC 3339 and timespans as [d.]hh:mm:ss[.fffffff].
func (t Table) MarshalJSON() ([]byte, error) {
	b, _, _, err := t.MarshalJSONWithin(-1)
	return b, err
}

// MarshalJSONWithin is MarshalJSON of t's first rows: as many as fit in maxRowBytes bytes of
// row JSON, the commas between rows not counted (< 0: every row). It returns the JSON and the
// rows and row bytes it holds, so that a caller can bound an answer's size as the Logs query
// API does without writing the rows it leaves out.
func (t Table) MarshalJSONWithin(maxRowBytes int) (b []byte, rows, rowBytes int, err error) {
	cols := t.Columns
	if cols == nil {
		cols = []Column{}
	}
	head, err := json.Marshal(struct {
		Name    string   `json:"name"`
		Columns []Column `json:"columns"`
	}{t.Name, cols})
	if err != nil {
		return nil, 0, 0, err
	}
	var buf bytes.Buffer
	buf.Write(head[:len(head)-1]) // without its closing brace
	buf.WriteString(`,"rows":[`)
	enc := json.NewEncoder(&buf) // escapes as json.Marshal does; ends each value with a newline
	out := make([]any, 0, len(cols))
	for _, r := range t.Rows {
		mark := buf.Len()
		if rows > 0 {
			buf.WriteByte(',')
		}
		out = out[:0]
		for _, v := range r {
			out = append(out, toJSONValue(v))
		}
		if err := enc.Encode(out); err != nil {
			return nil, 0, 0, err
		}
		buf.Truncate(buf.Len() - 1)
		n := buf.Len() - mark
		if rows > 0 {
			n-- // the comma
		}
		if maxRowBytes >= 0 && rowBytes+n > maxRowBytes {
			buf.Truncate(mark)
			break
		}
		rows, rowBytes = rows+1, rowBytes+n
	}
	buf.WriteString("]}")
	return buf.Bytes(), rows, rowBytes, nil
}

// Visualization is the render operator's hint to the client.
type Visualization struct {
	Visualization string            `json:"visualization"`
	Properties    map[string]string `json:"properties,omitempty"`
}

// Run executes the query over src.
func (q *Query) Run(ctx context.Context, src Source, opts Options) (*Result, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = normTime(opts.Now)
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	if opts.MaxMemory == 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	run := &runState{now: opts.Now, src: src, opts: opts, ctx: ctx,
		mem: queryMemory{ctx: ctx, limit: opts.MaxMemory, pool: opts.Memory}}
	if run.mem.off() {
		run.mem.pool = nil
	}
	run.results = run.account("result")
	res, err := q.run(run)
	if err == nil {
		err = run.err
	}
	if err != nil {
		run.mem.close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("query timed out after %s: %w", opts.Timeout, err)
		}
		return nil, err
	}
	res.Stats = Stats{RowsScanned: run.rowsScanned, Scans: run.scans, PeakMemory: run.mem.peak}
	res.Partial = run.partial
	// the operators are done; the result's rows stay charged until the caller has written them
	run.mem.shrink(run.mem.used - run.results.used)
	res.mem = &run.mem
	return res, nil
}

// Release gives the memory of the result's rows back to the node's pool (Options.Memory), once
// the caller has written or copied them; until then other queries cannot take it. A Result of a
// run without a pool holds nothing, and Release does nothing. Not safe for concurrent use.
func (r *Result) Release() {
	if r.mem != nil {
		r.mem.close()
		r.mem = nil
	}
}

func (q *Query) run(run *runState) (*Result, error) {
	p := &planner{cat: q.cat, run: run, marks: q.marks, synth: q.synth}
	sc := q.rootScope()
	for _, l := range q.ast.Lets {
		if err := p.let(l, sc); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	for i, e := range q.ast.Exprs {
		if !p.isTabular(e, sc) {
			e = &astPrint{P: e.pos(), Cols: []astNamedExpr{{X: e}}}
		}
		pl, err := p.tabular(e, sc)
		if err != nil {
			return nil, err
		}
		pl = visible(pl)
		rows, err := run.drain(pl)
		if err != nil {
			return nil, err
		}
		if run.err != nil {
			return nil, run.err
		}
		name := "PrimaryResult"
		if i > 0 {
			name = pl.name
			if name == "" {
				name = fmt.Sprintf("Table_%d", i)
			}
		}
		t := Table{Name: name, Columns: pl.schema(), Rows: make([][]any, len(rows))}
		for j, r := range rows {
			t.Rows[j] = r
		}
		res.Tables = append(res.Tables, t)
		if pl.render != nil && res.Visualization == nil {
			res.Visualization = pl.render
		}
	}
	return res, nil
}

// runState is what one Run shares across its operators.
type runState struct {
	now         time.Time
	src         Source
	opts        Options
	ctx         context.Context // the run's context, for values computed inside expressions (toscalar)
	mem         queryMemory
	results     *memAccount // the rows of the statements drained so far
	err         error
	scans       []ScanRequest
	rowsScanned int64
	answered    int64       // the rows of the statements drained so far
	partial     *LimitError // the row limit that cut the result (Options.PartialResults)
	// the rows of each externaldata source, read once per run (op_externaldata.go)
	externalMu sync.Mutex
	external   map[*astExternalData]*externalFetch
}

// fail records an error raised where no error can be returned (inside an expression).
func (r *runState) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// drain reads the final result, enforcing the row limit over the statements drained so far:
// past it the run fails, or with Options.PartialResults keeps the rows within it and stops
// reading. Its rows stay charged to r.results.
func (r *runState) drain(pl *plan) ([]Row, error) {
	acct := r.results
	var out []Row
	err := readAll(r.ctx, pl.open, func(rows []Row) error {
		if r.err != nil {
			return r.err
		}
		if room := r.opts.MaxRows - r.answered - int64(len(out)); int64(len(rows)) > room {
			limit := &LimitError{Limit: r.opts.MaxRows, Err: ErrTooManyRows}
			if !r.opts.PartialResults {
				return limit
			}
			rows, r.partial = rows[:room], limit
		}
		if err := acct.addRows(rows); err != nil {
			return err
		}
		out = append(out, rows...)
		if r.partial != nil {
			return errResultFull
		}
		return nil
	})
	if err != nil && err != errResultFull {
		return nil, err
	}
	r.answered += int64(len(out))
	return out, nil
}

// errResultFull stops reading a result cut at the row limit: the rows kept are the answer.
var errResultFull = errors.New("the result is full")

// collect reads a whole intermediate table, charging its memory to acct, which the caller
// releases when it lets go of the rows.
func (r *runState) collect(pl *plan, acct *memAccount) ([]Row, error) {
	var out []Row
	err := readAll(r.ctx, pl.open, func(rows []Row) error {
		if err := acct.addRows(rows); err != nil {
			return err
		}
		out = append(out, rows...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
