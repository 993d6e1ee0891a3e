package watchlist

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// Content types of rawContent.
const (
	ContentTypeCSV = "text/csv"
	ContentTypeTSV = "text/tsv"
)

// Reserved are the columns _GetWatchlist adds to every item; a CSV column
// may not take one of their names.
var Reserved = []string{"_DTItemId", "LastUpdatedTimeUTC", "SearchKey", "WatchlistItem"}

// Parsed is a watchlist's content read from CSV: its columns, in the
// header's order, and its rows, each with one value per column.
type Parsed struct {
	Columns []string
	Rows    [][]string
}

// ParseCSV reads rawContent of contentType (text/csv, or text/tsv): skip
// lines, then a header row naming the columns, searchKey among them, then
// one row per item. Malformed content is refused whole with the line that
// is wrong, never repaired: invalid UTF-8, a header with an empty or
// repeated name, a row with another number of fields than the header, a
// value or a row over the limits. A leading byte-order mark is not part of
// the first column's name.
func ParseCSV(raw, contentType string, skip int, searchKey string) (*Parsed, error) {
	var comma rune
	switch contentType {
	case ContentTypeCSV:
		comma = ','
	case ContentTypeTSV:
		comma = '\t'
	default:
		return nil, bad("properties.contentType must be %s or %s, not '%s'", ContentTypeCSV, ContentTypeTSV, fault.Shorten(contentType))
	}
	if len(raw) > MaxRawContentBytes {
		return nil, bad("properties.rawContent is %d bytes; a watchlist upload is at most %d bytes (3.8 MB, as in the cloud): split the file and add the rest with watchlistItems", len(raw), MaxRawContentBytes)
	}
	if skip < 0 || skip > maxSkipLines {
		return nil, bad("properties.numberOfLinesToSkip must be from 0 to %d, not %d", maxSkipLines, skip)
	}
	if !utf8.ValidString(raw) {
		return nil, bad("properties.rawContent line %d is not valid UTF-8; save the file as UTF-8", lineOf(raw, firstInvalidUTF8(raw)))
	}
	raw = strings.TrimPrefix(raw, "\ufeff")
	body, skipped, err := skipLines(raw, skip)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(body))
	r.Comma = comma
	r.FieldsPerRecord = -1 // checkRow counts, and says which columns the header has
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, bad("properties.rawContent has no header line after the %d skipped line(s); the first line must name the columns", skip)
	}
	if err != nil {
		return nil, csvError(err, skipped)
	}
	columns := slices.Clone(header)
	hline, _ := r.FieldPos(0)
	if err := checkHeader(columns, searchKey, hline+skipped); err != nil {
		return nil, err
	}
	p := &Parsed{Columns: columns}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, csvError(err, skipped)
		}
		line, _ := r.FieldPos(0)
		if len(p.Rows) == MaxItemsPerUpload {
			return nil, bad("properties.rawContent has more than %d rows; upload at most %d at a time and add the rest with watchlistItems", MaxItemsPerUpload, MaxItemsPerUpload)
		}
		if err := checkRow(rec, columns, fmt.Sprintf("properties.rawContent line %d", line+skipped)); err != nil {
			return nil, err
		}
		p.Rows = append(p.Rows, slices.Clone(rec))
	}
}

// maxSkipLines bounds numberOfLinesToSkip: a preamble, not a file.
const maxSkipLines = 1000

// skipLines returns raw without its first n lines, and how many lines
// that was.
func skipLines(raw string, n int) (string, int, error) {
	rest := raw
	for i := range n {
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			return "", 0, bad("properties.numberOfLinesToSkip is %d but rawContent has only %d line(s); nothing is left for the header", n, i+min(len(rest), 1))
		}
		rest = rest[nl+1:]
	}
	return rest, n, nil
}

// csvError words a CSV reader's error with the line in the whole content.
func csvError(err error, skipped int) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return bad("properties.rawContent: %v", err)
	}
	return bad("properties.rawContent line %d: %v; quote values holding commas, quotes or line breaks as in RFC 4180", pe.Line+skipped, pe.Err)
}

// checkHeader refuses a header whose names cannot be columns, and a search
// key that is not one of them. line is the header's line.
func checkHeader(columns []string, searchKey string, line int) error {
	if len(columns) > MaxColumns {
		return bad("properties.rawContent's header (line %d) has %d columns; a watchlist has at most %d", line, len(columns), MaxColumns)
	}
	seen := make(map[string]bool, len(columns))
	for i, c := range columns {
		if err := checkColumnName(c); err != nil {
			return bad("properties.rawContent's header (line %d), column %d: %v", line, i+1, err)
		}
		if seen[c] {
			return bad("properties.rawContent's header (line %d) names column '%s' twice; each column needs its own name", line, fault.Shorten(c))
		}
		seen[c] = true
	}
	if !seen[searchKey] {
		return bad("properties.itemsSearchKey '%s' is not a column of rawContent's header (line %d); its columns are %s",
			fault.Shorten(searchKey), line, columnList(columns))
	}
	return nil
}

func checkColumnName(c string) error {
	switch {
	case c == "":
		return errors.New("the name is empty; every column needs a name")
	case len(c) > maxColumnName:
		return fmt.Errorf("the name is %d bytes; at most %d", len(c), maxColumnName)
	case strings.TrimSpace(c) != c:
		return fmt.Errorf("the name '%s' begins or ends with a space; remove it (column names are used exactly in queries)", fault.Shorten(c))
	case strings.IndexFunc(c, unicode.IsControl) >= 0:
		return errors.New("the name holds a control character")
	case slices.Contains(Reserved, c):
		return fmt.Errorf("'%s' is a column _GetWatchlist adds itself (%s); rename it", c, strings.Join(Reserved, ", "))
	}
	return nil
}

// checkRow checks one item's values against the columns; where names the
// row in a message.
func checkRow(values, columns []string, where string) error {
	if len(values) != len(columns) {
		return bad("%s has %d field(s); the header has %d (%s)", where, len(values), len(columns), columnList(columns))
	}
	total := 0
	for i, v := range values {
		if len(v) > MaxValueBytes {
			return bad("%s: the value of column '%s' is %d bytes; a value is at most %d", where, fault.Shorten(columns[i]), len(v), MaxValueBytes)
		}
		total += len(v)
	}
	if total > MaxItemBytes {
		return bad("%s is %d bytes; an item is at most %d", where, total, MaxItemBytes)
	}
	return nil
}

// columnList names columns for a message, the first 20 of them.
func columnList(columns []string) string {
	names := make([]string, 0, min(len(columns), 21))
	for _, c := range columns[:min(len(columns), 20)] {
		names = append(names, fault.Shorten(c))
	}
	if len(columns) > 20 {
		names = append(names, "…")
	}
	return strings.Join(names, ", ")
}

func firstInvalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return len(s)
}

// lineOf is the 1-based line of byte offset off.
func lineOf(s string, off int) int { return strings.Count(s[:off], "\n") + 1 }
