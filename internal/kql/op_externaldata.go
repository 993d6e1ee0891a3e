package kql

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"
)

// externaldata (Col:type, ...) ["url", ...] [with (format=..., ignoreFirstRecord=...)] is a
// table whose schema the query declares and whose rows are read from files at the URLs. It
// binds anywhere, since its schema is inline, but a run reads files only through the fetcher
// the node gives it (Options.ExternalData), which fetches only under the URL prefixes its
// operator allowed: a sealed workspace reaches out to the network only where its operator said
// it may. A URL's query string, which often holds a shared access signature, never appears in
// an error.

// astExternalData is externaldata (Col:type, ...) [urls] with (props).
type astExternalData struct {
	P     srcPos
	Cols  []astColDecl
	URLs  []astExpr
	Props []astNamedExpr // name = value
}

func (e *astExternalData) pos() srcPos { return e.P }

func (p *parser) externalData() (astExpr, error) {
	t := p.next()
	x := &astExternalData{P: posOf(t)}
	var err error
	if x.Cols, x.URLs, err = p.colsThenValues(); err != nil {
		return nil, err
	}
	if !p.acceptKw("with") {
		return x, nil
	}
	if err := p.wantOp("("); err != nil {
		return nil, err
	}
	err = p.list(")", func() error {
		n, err := p.name("a property name such as format")
		if err != nil {
			return err
		}
		if err := p.wantOp("="); err != nil {
			return err
		}
		v, err := p.expr()
		x.Props = append(x.Props, astNamedExpr{Name: n, X: v})
		return err
	})
	return x, err
}

// externalFormat is how the bytes of a file become records.
type externalFormat struct {
	name  string
	sep   rune // the field separator of a delimited format; 0 for the others
	lines bool // txt: one record of one field per line
	whole bool // raw: the whole file is one record of one field
	json  bool // json: a record per line; multijson: a stream of records and arrays of them
	multi bool
}

// externalFormats are the formats externaldata reads, by the names the language gives them
// (ingestion data formats); the keys are also the file extensions a format is detected by.
var externalFormats = map[string]externalFormat{
	"csv":       {name: "csv", sep: ','},
	"tsv":       {name: "tsv", sep: '\t'},
	"tsve":      {name: "tsve", sep: '\t'},
	"scsv":      {name: "scsv", sep: ';'},
	"psv":       {name: "psv", sep: '|'},
	"sohsv":     {name: "sohsv", sep: '\x01'},
	"txt":       {name: "txt", lines: true},
	"raw":       {name: "raw", whole: true},
	"json":      {name: "json", json: true},
	"multijson": {name: "multijson", json: true, multi: true},
}

// externalSpec is an externaldata source as bound: its columns, URLs and how to read them.
type externalSpec struct {
	cols      []colInfo
	urls      []string
	format    *externalFormat // nil: detected from each URL's file extension, csv if none
	skipFirst bool
}

func (p *planner) externalData(x *astExternalData, sc *scope) (*plan, error) {
	if len(x.Cols) == 0 {
		return nil, bindErr(x.P, "externaldata needs at least one column")
	}
	if len(x.URLs) == 0 {
		return nil, bindErr(x.P, "externaldata needs at least one URL in [ ]")
	}
	spec := &externalSpec{}
	seen := map[string]bool{}
	for _, c := range x.Cols {
		if seen[c.Name] {
			return nil, bindErr(c.P, "externaldata declares column %s twice", c.Name)
		}
		seen[c.Name] = true
		spec.cols = append(spec.cols, colInfo{Name: c.Name, Type: c.Type})
	}
	for _, u := range x.URLs {
		c, err := p.expr(u, &ectx{sc: sc})
		if err != nil {
			return nil, err
		}
		if c.t != TypeString || !c.konst {
			return nil, bindErr(u.pos(), "externaldata URLs are constant strings, such as @\"https://host/path/file.csv\"")
		}
		s := c.value().(string)
		if _, err := ParseExternalURL(s); err != nil {
			return nil, bindErr(u.pos(), "externaldata URL %s: %v", RedactURL(s), err)
		}
		spec.urls = append(spec.urls, s)
	}
	props := map[string]bool{}
	for _, pr := range x.Props {
		key := strings.ToLower(pr.Name)
		if props[key] {
			return nil, bindErr(pr.X.pos(), "externaldata property %s is given twice", pr.Name)
		}
		props[key] = true
		c, err := p.expr(pr.X, &ectx{sc: sc})
		if err != nil {
			return nil, err
		}
		if !c.konst {
			return nil, bindErr(pr.X.pos(), "externaldata property %s needs a constant value", pr.Name)
		}
		switch key {
		case "format":
			s, _ := c.value().(string)
			f, ok := externalFormats[strings.ToLower(s)]
			if !ok {
				return nil, bindErr(pr.X.pos(), "externaldata format %q is not one it reads: use csv, tsv, tsve, scsv, psv, sohsv, txt, raw, json or multijson", s)
			}
			spec.format = &f
		case "ignorefirstrecord":
			b, ok := toBool(c.value()).(bool)
			if !ok {
				return nil, bindErr(pr.X.pos(), "externaldata property ignoreFirstRecord is true or false")
			}
			spec.skipFirst = b
		case "ingestionmapping":
			return nil, bindErr(pr.X.pos(), "externaldata property ingestionMapping is not supported: declare the columns in the file's order (delimited formats) or with the names of the JSON properties (json, multijson)")
		default:
			return nil, bindErr(pr.X.pos(), "unknown externaldata property %s: it takes format and ignoreFirstRecord", pr.Name)
		}
	}
	return &plan{cols: spec.cols, open: func(ctx context.Context) (iterator, error) {
		if p.run == nil {
			return &sliceIter{}, nil
		}
		rows, err := p.run.externalRows(ctx, x, spec)
		if err != nil {
			return nil, err
		}
		return &sliceIter{rows: rows}, nil
	}}, nil
}

// externalFetch is the rows of one externaldata source in a run, read once however many times
// the query uses it (a let named twice, a join's sides).
type externalFetch struct {
	once sync.Once
	rows []Row
	err  error
}

// externalRows reads the rows of the externaldata source x, once per run; they stay charged
// to the query's memory for the rest of the run, as materialized rows do.
func (r *runState) externalRows(ctx context.Context, x *astExternalData, spec *externalSpec) ([]Row, error) {
	r.externalMu.Lock()
	if r.external == nil {
		r.external = map[*astExternalData]*externalFetch{}
	}
	f := r.external[x]
	if f == nil {
		f = &externalFetch{}
		r.external[x] = f
	}
	r.externalMu.Unlock()
	f.once.Do(func() {
		acct := r.account("externaldata")
		for _, u := range spec.urls {
			rows, err := r.externalFileRows(ctx, u, spec)
			if err == nil {
				err = acct.addRows(rows)
			}
			if err != nil {
				f.err = err
				return
			}
			f.rows = append(f.rows, rows...)
		}
	})
	return f.rows, f.err
}

// ExternalFetcher fetches the files externaldata reads. The node gives one that fetches only
// under the URL prefixes its operator allowed, within a size and a time limit; the query engine
// itself makes no request.
type ExternalFetcher interface {
	// Fetch returns the whole file at rawURL, an http or https URL with a host and no user
	// information. A URL it may not fetch is an *ExternalDataError with Refused set. Its
	// errors never hold rawURL's query string, which often is a shared access signature:
	// they appear in query errors as they are.
	Fetch(ctx context.Context, rawURL string) ([]byte, error)
}

// ParseExternalURL reads an absolute http or https URL with a host and no user information:
// the URLs externaldata names, and the prefixes a fetcher allows, which must be read alike.
func ParseExternalURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("expected an http or https URL with a host")
	}
	if u.User != nil {
		return nil, errors.New("a URL with user information is not accepted; pass credentials in the query string")
	}
	return u, nil
}

// RedactURL is s without its query string, fragment and user information, which may hold
// secrets (a shared access signature, a password): the form a URL takes in errors.
func RedactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "://"); i >= 0 {
		auth := s[i+3:]
		end := strings.IndexByte(auth, '/')
		if end < 0 {
			end = len(auth)
		}
		if j := strings.LastIndexByte(auth[:end], '@'); j >= 0 {
			s = s[:i+3] + auth[j+1:]
		}
	}
	return s
}

// ExternalDataError is an externaldata URL that a run was not allowed to fetch, or whose file
// could not be read. URL has no query string.
type ExternalDataError struct {
	URL     string
	Refused bool   // no allowed prefix covers the URL (or a redirect's target)
	Reason  string // what went wrong, for a URL that was allowed
}

func (e *ExternalDataError) Error() string {
	if e.Refused {
		return fmt.Sprintf("externaldata may not fetch %s: no URL prefix the node allows covers it; its operator allows prefixes with sealwatch up --externaldata-allow PREFIX", e.URL)
	}
	return fmt.Sprintf("externaldata could not read %s: %s", e.URL, e.Reason)
}

// externalFileRows reads the rows of the file at raw through the run's fetcher.
func (r *runState) externalFileRows(ctx context.Context, raw string, spec *externalSpec) ([]Row, error) {
	u, err := ParseExternalURL(raw)
	if err != nil || r.opts.ExternalData == nil {
		return nil, &ExternalDataError{URL: RedactURL(raw), Refused: true}
	}
	body, err := r.opts.ExternalData.Fetch(ctx, raw)
	if err != nil {
		var ee *ExternalDataError
		if errors.As(err, &ee) {
			return nil, ee
		}
		// The run was cancelled rather than the fetch failing: say so, as other operators do.
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, &ExternalDataError{URL: RedactURL(raw), Reason: err.Error()}
	}
	f := spec.format
	if f == nil {
		ff := detectExternalFormat(u)
		f = &ff
	}
	rows, err := parseExternal(body, *f, spec)
	if err != nil {
		return nil, &ExternalDataError{URL: RedactURL(raw), Reason: err.Error()}
	}
	return rows, nil
}

// detectExternalFormat is the format a URL's file extension names; csv if none does, as the
// language documents.
func detectExternalFormat(u *url.URL) externalFormat {
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(u.Path)), ".")
	if f, ok := externalFormats[ext]; ok {
		return f
	}
	return externalFormats["csv"]
}

// parseExternal turns a file's bytes into rows of spec's columns. Delimited and text formats
// map fields to columns by position, JSON ones by property name; a value that does not
// convert to its column's type is null, as ingestion makes it.
func parseExternal(body []byte, f externalFormat, spec *externalSpec) ([]Row, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	var rows []Row
	var err error
	switch {
	case f.whole:
		rows = []Row{positional([]string{string(body)}, spec.cols)}
	case f.lines:
		rows = externalLines(body, spec.cols)
	case f.json:
		rows, err = externalJSON(body, f.multi, spec.cols)
	default:
		rows, err = externalDelimited(body, f.sep, spec.cols)
	}
	if err != nil {
		return nil, err
	}
	if spec.skipFirst && len(rows) > 0 {
		rows = rows[1:]
	}
	return rows, nil
}

// positional makes a row of fields by position: missing ones are null, extra ones dropped.
func positional(fields []string, cols []colInfo) Row {
	row := make(Row, len(cols))
	for i, c := range cols {
		if i < len(fields) {
			row[i] = fieldValue(fields[i], c.Type)
		} else {
			row[i] = convertTo(nil, c.Type)
		}
	}
	return row
}

// fieldValue converts a text field to a column type: a dynamic column takes JSON, or the
// text itself when it is not JSON.
func fieldValue(s string, t Type) any {
	if t == TypeDynamic {
		return toDynamic(s)
	}
	return convertTo(s, t)
}

func externalLines(body []byte, cols []colInfo) []Row {
	text := strings.TrimSuffix(string(body), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	rows := make([]Row, len(lines))
	for i, l := range lines {
		rows[i] = positional([]string{strings.TrimSuffix(l, "\r")}, cols)
	}
	return rows
}

// externalDelimited reads RFC 4180 records: quoted fields may hold separators, quotes and
// line breaks. Every record of a file has as many fields as its first, as ingestion requires.
func externalDelimited(body []byte, sep rune, cols []colInfo) ([]Row, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = sep
	r.ReuseRecord = true
	var rows []Row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return nil, fmt.Errorf("record on line %d has %d fields where the first record has %d", pe.StartLine, len(rec), r.FieldsPerRecord)
				}
				return nil, fmt.Errorf("line %d: %v", pe.Line, pe.Err)
			}
			return nil, err
		}
		rows = append(rows, positional(rec, cols))
	}
}

// externalJSON reads JSON records into columns by property name. json has a record per line
// and skips a line that is not a JSON object; multijson reads records one after another,
// across lines, an array's elements being records too, and a malformed one fails the file,
// as ingestion does with each.
func externalJSON(body []byte, multi bool, cols []colInfo) ([]Row, error) {
	var rows []Row
	add := func(v any) {
		if obj, ok := v.(map[string]any); ok {
			rows = append(rows, jsonRow(obj, cols))
		}
	}
	if !multi {
		for _, line := range bytes.Split(body, []byte("\n")) {
			if v, ok := parseDynamic(string(line)); ok {
				add(v)
			}
		}
		return rows, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for n := 1; ; n++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("record %d is not JSON: %v", n, err)
		}
		v = normDynamic(v)
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				add(e)
			}
			continue
		}
		add(v)
	}
}

func jsonRow(obj map[string]any, cols []colInfo) Row {
	row := make(Row, len(cols))
	for i, c := range cols {
		v, ok := obj[c.Name]
		if !ok || v == nil {
			row[i] = convertTo(nil, c.Type)
			continue
		}
		if c.Type == TypeDynamic {
			row[i] = v
			continue
		}
		row[i] = convertTo(v, c.Type)
	}
	return row
}
