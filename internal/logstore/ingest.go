package logstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/jsonscan"
	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// timeColumn is the column every row has; a row without it gets the time of
// ingestion.
const timeColumn = "TimeGenerated"

// ingestLimits are what parseRows checks a body against.
type ingestLimits struct {
	now         time.Time
	oldest      time.Time // now - retention
	newest      time.Time // now + clock skew
	maxRowBytes int
	// declared is the table's declared schema, nil when it has none: each
	// value is converted to its column's type, and a column it lacks
	// refuses the body.
	declared declared
}

// parseShapedRows validates an ingest body, a JSON array of objects, and encodes it
// as a WAL record: room for the ingestion time, then the payload, which the
// rows' offsets are relative to. The body is refused whole at the first bad
// row, so that a caller never has part of a call acknowledged.
//
// One pass checks the JSON (as strictly as json.Valid: see jsonscan), that
// its strings are text, and each row, while it encodes them. A refusal is
// worded as if the JSON and the text had been checked over the whole body
// first (refusal), so that of two faults the same one is named as ever.
//
// It notes the classes of value of each column as it reads them: the
// shapes of the rows (see payloadShapes).
func parseShapedRows(body []byte, lim ingestLimits) ([]byte, []rowRef, shapes, error) {
	if len(body) > maxPayloadBytes {
		return nil, nil, nil, fmt.Errorf("%w: a body of %d bytes is over %d", ErrInvalidInput, len(body), maxPayloadBytes)
	}
	s := scanner{b: body, bad: -1, declared: lim.declared}
	rec, refs, err := s.rows(lim)
	if err != nil {
		return nil, nil, nil, refusal(body, lim, err)
	}
	return rec, refs, s.shapes.noted(), nil
}

// refusal words the refusal of a body that the one pass refused with err:
// a body that is not JSON names the element where the syntax fails; one
// whose strings are not all text names the first place that is not, as
// the row that holds it sees it. It runs only on the error path.
func refusal(body []byte, lim ingestLimits, err error) error {
	if !jsonscan.Valid(body) {
		return invalidJSON(body)
	}
	bad, badWhat := textcheck.JSON(body)
	if bad < 0 {
		return err
	}
	s := scanner{b: body, bad: bad, badWhat: badWhat, found: true, declared: lim.declared}
	if _, _, again := s.rows(lim); again != nil {
		return again
	}
	return err // not reached: the body has a place that is not text
}

// rows reads the array of rows at the start of s.b.
func (s *scanner) rows(lim ingestLimits) ([]byte, []rowRef, error) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return nil, nil, fmt.Errorf("%w: the body must be a JSON array of objects", ErrInvalidInput)
	}
	s.i++
	rec := make([]byte, ingestTimeSize, ingestTimeSize+len(s.b))
	var refs []rowRef
	var fields []byte
	for idx := 0; ; idx++ {
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			break
		}
		if idx > 0 {
			if s.i >= len(s.b) || s.b[s.i] != ',' {
				return nil, nil, errSyntax
			}
			s.i++
			s.ws()
		}
		if s.i >= len(s.b) || s.b[s.i] != '{' {
			return nil, nil, &RowError{Index: idx, Reason: "not a JSON object"}
		}
		start := s.i
		t, nf, f, err := s.row(fields[:0], lim.now)
		fields = f
		var undeclared *UndeclaredColumnError
		switch {
		case errors.As(err, &undeclared):
			undeclared.Index = idx
			return nil, nil, undeclared
		case errors.Is(err, errSyntax):
			return nil, nil, err
		case err != nil:
			return nil, nil, &RowError{Index: idx, Reason: err.Error()}
		}
		if n := s.i - start; n > lim.maxRowBytes {
			return nil, nil, &RowError{Index: idx, Reason: fmt.Sprintf("row of %d bytes is over the limit of %d bytes", n, lim.maxRowBytes)}
		}
		switch {
		case t.Before(lim.oldest):
			return nil, nil, &RowError{Index: idx, Reason: fmt.Sprintf("TimeGenerated is older than the workspace's retention (%s)", lim.now.Sub(lim.oldest))}
		case t.After(lim.newest):
			return nil, nil, &RowError{Index: idx, Reason: fmt.Sprintf("TimeGenerated is more than %s in the future", lim.newest.Sub(lim.now))}
		}
		refs = append(refs, rowRef{off: uint32(len(rec) - ingestTimeSize), time: t.UnixNano()})
		rec = appendRow(rec, t.UnixNano(), nf, fields)
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, nil, errSyntax
	}
	if len(refs) == 0 {
		return nil, nil, fmt.Errorf("%w: the body holds no rows", ErrInvalidInput)
	}
	if cap(rec)-len(rec) > len(rec)/8 {
		// The payload stays in memory until flushed: do not keep the slack.
		rec = append([]byte(nil), rec...)
	}
	return rec, refs, nil
}

// errSyntax is the one pass finding that the body is not JSON; refusal
// words it.
var errSyntax = fmt.Errorf("%w: the body is not valid JSON", ErrInvalidInput)

// invalidJSON names the array element where the syntax error is, or says
// that the body is not an array. It runs only on the error path.
func invalidJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return fmt.Errorf("%w: the body must be a JSON array of objects", ErrInvalidInput)
	}
	for idx := 0; ; idx++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return &RowError{Index: idx, Reason: "not valid JSON"}
		}
	}
}

// scanner walks an ingest body, checking it as it goes.
type scanner struct {
	b []byte
	i int
	// bad is the offset of the first byte that is not Unicode text (or -1),
	// and badWhat says what is wrong there. When found is false, the
	// scanner looks for it in each string it reads, as far as it reads;
	// when true, bad was found over the whole body beforehand (refusal).
	bad     int
	badWhat string
	found   bool
	// declared, when not nil, converts each value (see ingestLimits).
	declared declared
	guid     [36]byte // convert's scratch
	// shapes notes the classes of value of each column of the rows read.
	shapes shapeNoter
	// seen is the declared column met at each position of the last rows:
	// shippers send the same columns in the same order, and a name compared
	// with the one at its position costs less than a lookup in declared.
	seen []declaredColumn
}

type declaredColumn struct {
	name string
	typ  DeclaredType
}

// declaredType is the declared type of the column name, the field at
// position k of its row.
func (s *scanner) declaredType(k int, name []byte) (DeclaredType, bool) {
	if k < len(s.seen) && s.seen[k].name == string(name) {
		return s.seen[k].typ, true
	}
	typ, ok := s.declared[string(name)]
	if ok && k < maxSeen {
		// Positions before k may hold no declared column: TimeGenerated,
		// which every table has, often comes first.
		for len(s.seen) <= k {
			s.seen = append(s.seen, declaredColumn{})
		}
		s.seen[k] = declaredColumn{string(name), typ}
	}
	return typ, ok
}

// maxSeen bounds scanner.seen: rows wider than this look the rest up.
const maxSeen = 512

// passed reports whether the scanner has moved past the bad byte since start.
func (s *scanner) passed(start int) bool { return s.bad >= start && s.bad < s.i }

// text looks for the first place that is not text in b[start:end], JSON
// text that jsonscan flagged f, unless one is known: only where there are
// bytes above 0x7F or \u escapes of surrogates can there be one.
func (s *scanner) text(start, end int, f jsonscan.Flags) {
	if s.found || s.bad >= 0 || f&(jsonscan.NonASCII|jsonscan.Surrogate) == 0 {
		return
	}
	if off, what := textcheck.JSON(s.b[start:end]); off >= 0 {
		s.bad, s.badWhat = start+off, what
	}
}

func (s *scanner) ws() { s.i = jsonscan.Space(s.b, s.i) }

// row reads one object at s.i, appends its fields to dst and returns the row
// time (TimeGenerated, or now).
func (s *scanner) row(dst []byte, now time.Time) (time.Time, int, []byte, error) {
	t := now
	nf := 0
	s.i++ // {
	for k := 0; ; k++ {
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' && k == 0 {
			s.i++
			return t, nf, dst, nil
		}
		if k > 0 {
			switch {
			case s.i >= len(s.b):
				return t, 0, dst, errSyntax
			case s.b[s.i] == '}':
				s.i++
				return t, nf, dst, nil
			case s.b[s.i] != ',':
				return t, 0, dst, errSyntax
			}
			s.i++
			s.ws()
		}
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return t, 0, dst, errSyntax
		}
		start := s.i
		name, err := s.str()
		if err != nil {
			return t, 0, dst, err
		}
		if s.passed(start) {
			return t, 0, dst, fmt.Errorf("a column name %s (byte %d of the body)", s.badWhat, s.bad)
		}
		if len(name) == 0 || len(name) > maxNameBytes {
			return t, 0, dst, fmt.Errorf("a column name must have 1 to %d bytes", maxNameBytes)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return t, 0, dst, errSyntax
		}
		s.i++
		s.ws()
		start = s.i
		c, err := s.value(2)
		if err != nil {
			return t, 0, dst, err
		}
		if s.passed(start) {
			return t, 0, dst, fmt.Errorf("the value of column %q %s (byte %d of the body)", name, s.badWhat, s.bad)
		}
		if string(name) == timeColumn {
			switch c.kind {
			case TypeNull:
				t = now
			case TypeString:
				var err error
				if t, err = parseTime(c.s); err != nil {
					return t, 0, dst, fmt.Errorf("TimeGenerated must be an ISO 8601 date-time")
				}
			default:
				return t, 0, dst, fmt.Errorf("TimeGenerated must be an ISO 8601 date-time string")
			}
			continue
		}
		if s.declared != nil {
			typ, ok := s.declaredType(k, name)
			if !ok {
				return t, 0, dst, &UndeclaredColumnError{Column: string(name)}
			}
			switch {
			case c.kind == TypeString && typ == DeclaredString: // most values: no call
				c.text = true
			case c.kind != TypeNull:
				if c, ok = convert(c, s.b[start:s.i], typ, &s.guid); !ok {
					return t, 0, dst, fmt.Errorf("the value of column %q does not convert to %s: it takes %s", name, typ, accepted[typ])
				}
			}
		}
		if c.kind == TypeNull {
			continue // a null is a missing value
		}
		dst = appendField(dst, name, c)
		s.shapes.note(nf, name, c)
		nf++
	}
}

// str reads the string at s.i, unescaping only when it must.
func (s *scanner) str() ([]byte, error) {
	start := s.i
	end, f, err := jsonscan.String(s.b, s.i)
	if err != nil {
		return nil, errSyntax
	}
	s.i = end
	s.text(start, end, f)
	if f&jsonscan.Escaped == 0 {
		return s.b[start+1 : end-1], nil
	}
	return unescape(make([]byte, 0, end-start), s.b[start+1:end-1]), nil
}

// unescape decodes the escapes of a JSON string's content, which jsonscan
// has checked, as encoding/json does. parseRows has refused the lone
// surrogates that encoding/json would turn into U+FFFD.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // " \ /
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// value reads the value at s.i, which depth arrays and objects enclose.
// Objects and arrays are kept as JSON text.
func (s *scanner) value(depth int) (cell, error) {
	if s.i >= len(s.b) {
		return cell{}, errSyntax
	}
	switch c := s.b[s.i]; {
	case c == '"':
		str, err := s.str()
		return cell{kind: TypeString, s: str}, err
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		end, integral, err := jsonscan.Number(s.b, s.i)
		if err != nil {
			return cell{}, errSyntax
		}
		s.i = end
		num := s.b[start:end]
		if integral {
			if v, err := strconv.ParseInt(string(num), 10, 64); err == nil {
				return cell{kind: TypeLong, i: v}, nil
			}
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil || math.IsInf(f, 0) {
			// Out of float64 range: keep the number's text.
			return cell{kind: TypeDynamic, s: num}, nil
		}
		return cell{kind: TypeReal, i: int64(math.Float64bits(f))}, nil
	}
	start := s.i
	end, f, err := jsonscan.Value(s.b, s.i, depth)
	if err != nil {
		return cell{}, errSyntax
	}
	s.i = end
	switch s.b[start] {
	case 't':
		return cell{kind: TypeBool, i: 1}, nil
	case 'f':
		return cell{kind: TypeBool}, nil
	case 'n':
		return cell{kind: TypeNull}, nil
	}
	s.text(start, end, f)
	return cell{kind: TypeDynamic, s: s.b[start:end]}, nil
}
