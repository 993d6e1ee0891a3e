package logstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DeclaredType is the type a table declares for a column: each value
// ingested into the column is converted to it, or refuses its body. The
// store keeps int as long and guid as string; the declaration, not the
// store, tells a reader the narrower type.
type DeclaredType uint8

// Declared types, as the cloud's tables API names them.
const (
	DeclaredString DeclaredType = iota + 1
	DeclaredInt
	DeclaredLong
	DeclaredReal
	DeclaredBool
	DeclaredDatetime
	DeclaredGUID
	DeclaredDynamic
)

var declaredNames = map[string]DeclaredType{
	"string": DeclaredString, "int": DeclaredInt, "long": DeclaredLong, "real": DeclaredReal,
	"bool": DeclaredBool, "boolean": DeclaredBool, "datetime": DeclaredDatetime,
	"guid": DeclaredGUID, "dynamic": DeclaredDynamic,
}

// ParseDeclaredType reads a column type as the tables API and data
// collection rules spell it (string, int, long, real, boolean or bool,
// datetime, guid, dynamic), in any case.
func ParseDeclaredType(name string) (DeclaredType, bool) {
	t, ok := declaredNames[strings.ToLower(name)]
	return t, ok
}

func (t DeclaredType) String() string {
	switch t {
	case DeclaredString:
		return "string"
	case DeclaredInt:
		return "int"
	case DeclaredLong:
		return "long"
	case DeclaredReal:
		return "real"
	case DeclaredBool:
		return "boolean"
	case DeclaredDatetime:
		return "datetime"
	case DeclaredGUID:
		return "guid"
	case DeclaredDynamic:
		return "dynamic"
	}
	return "invalid"
}

// DeclaredColumn is a column of a table's declared schema.
type DeclaredColumn struct {
	Name string
	Type DeclaredType
}

// UndeclaredColumnError refuses a body whose row has a column the table
// does not declare: the column is neither dropped nor stored untyped. It
// names the column, which is schema, never a value.
type UndeclaredColumnError struct {
	Table  string
	Index  int // of the row in the body's array, from 0
	Column string
}

func (e *UndeclaredColumnError) Error() string {
	return fmt.Sprintf("row %d: column %q is not a column of table %s", e.Index, e.Column, e.Table)
}

// Unwrap makes every UndeclaredColumnError an ErrInvalidInput.
func (e *UndeclaredColumnError) Unwrap() error { return ErrInvalidInput }

// accepted says, for a refusal, what a declared type takes.
var accepted = map[DeclaredType]string{
	DeclaredInt:      "a whole number from -2147483648 to 2147483647, or a string holding one",
	DeclaredLong:     "a whole number within the range of a 64-bit integer, or a string holding one",
	DeclaredReal:     "a number, or a string holding one in decimal",
	DeclaredBool:     `true or false, the strings "true" or "false" in any case, or an integer (0 is false)`,
	DeclaredDatetime: "an ISO 8601 date-time string such as 2026-03-10T12:00:00Z, between the years 1678 and 2261",
	DeclaredGUID:     "a GUID string such as 74be27de-1e4e-49d9-b579-fe0b331d3642",
}

// declared is a declared schema as parseRows looks columns up in it.
type declared map[string]DeclaredType

func newDeclared(cols []DeclaredColumn) (declared, error) {
	d := make(declared, len(cols))
	for _, c := range cols {
		if c.Type < DeclaredString || c.Type > DeclaredDynamic {
			return nil, fmt.Errorf("%w: column %q has no declared type", ErrInvalidInput, c.Name)
		}
		if _, dup := d[c.Name]; dup {
			return nil, fmt.Errorf("%w: column %q is declared twice", ErrInvalidInput, c.Name)
		}
		d[c.Name] = c.Type
	}
	return d, nil
}

// convert gives the value c, whose JSON text in the body is raw, the
// declared type t, as the cloud's ingestion converts it (the to*()
// functions of the language, without their lossy cases): ok is false when
// it does not convert. scratch holds a GUID's canonical text; the cell may
// point into it until the next call.
func convert(c cell, raw []byte, t DeclaredType, scratch *[36]byte) (cell, bool) {
	switch t {
	case DeclaredString:
		if c.kind == TypeString {
			return cell{kind: TypeString, text: true, s: c.s}, true
		}
		// A number keeps the digits it was sent with; true and false,
		// objects and arrays their JSON text.
		return cell{kind: TypeString, text: true, s: raw}, true
	case DeclaredInt, DeclaredLong:
		v, ok := toInteger(c)
		if ok && t == DeclaredInt && (v < math.MinInt32 || v > math.MaxInt32) {
			ok = false
		}
		return cell{kind: TypeLong, i: v}, ok
	case DeclaredReal:
		f, ok := toReal(c)
		return cell{kind: TypeReal, i: int64(math.Float64bits(f))}, ok
	case DeclaredBool:
		return toBool(c)
	case DeclaredDatetime:
		if c.kind != TypeString {
			return cell{}, false
		}
		ts, err := parseTime(c.s)
		if err != nil {
			return cell{}, false
		}
		return cell{kind: TypeDatetime, i: ts.UnixNano()}, true
	case DeclaredGUID:
		if c.kind != TypeString || !canonicalGUID(scratch, c.s) {
			return cell{}, false
		}
		return cell{kind: TypeString, text: true, s: scratch[:]}, true
	case DeclaredDynamic:
		return cell{kind: TypeDynamic, s: raw}, true
	}
	return cell{}, false
}

// ConvertJSON converts one JSON value (as a row of an ingest body holds
// it; anything else does not convert) to the declared type t by the rules IngestDeclared
// follows, for a caller that reads rows before they are stored (a data
// collection rule's transformation reads its stream's). It returns a string
// (string, guid), an int64 (int, long), a float64, a bool, a time.Time in
// UTC, or for dynamic the value's JSON text as a json.RawMessage; nil for
// null. ok is false when the value does not convert.
func ConvertJSON(raw []byte, t DeclaredType) (v any, ok bool) {
	raw = bytes.TrimSpace(raw)
	s := scanner{b: raw, bad: -1, found: true} // the caller checks the text
	c, err := s.value(0)
	if err != nil || s.i != len(raw) {
		return nil, false
	}
	if c.kind == TypeNull {
		return nil, true
	}
	var scratch [36]byte
	if c, ok = convert(c, raw, t, &scratch); !ok {
		return nil, false
	}
	switch c.kind {
	case TypeString:
		return string(c.s), true
	case TypeLong:
		return c.i, true
	case TypeReal:
		return math.Float64frombits(uint64(c.i)), true
	case TypeBool:
		return c.i != 0, true
	case TypeDatetime:
		return time.Unix(0, c.i).UTC(), true
	}
	return json.RawMessage(bytes.Clone(c.s)), true
}

// toInteger takes an integral number in the range of long, or a string
// that is an integer.
func toInteger(c cell) (int64, bool) {
	switch c.kind {
	case TypeLong:
		return c.i, true
	case TypeReal: // 2.0 and 1e3 are integral; 2.5 and 1e30 are not longs
		f := math.Float64frombits(uint64(c.i))
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return 0, false
		}
		return int64(f), true
	case TypeString:
		v, err := strconv.ParseInt(string(bytes.TrimSpace(c.s)), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// toReal takes a finite number, or a string that is one written in
// decimal.
func toReal(c cell) (float64, bool) {
	switch c.kind {
	case TypeLong:
		return float64(c.i), true
	case TypeReal:
		return math.Float64frombits(uint64(c.i)), true
	case TypeString:
		s := bytes.TrimSpace(c.s)
		if len(s) == 0 || !decimalText(s) {
			return 0, false
		}
		f, err := strconv.ParseFloat(string(s), 64)
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

// decimalText reports whether s has only the characters of a decimal
// number, so that ParseFloat's hexadecimal forms, underscores, "Inf" and
// "NaN" are not taken (NaN would be an unreadable stored value).
func decimalText(s []byte) bool {
	for _, ch := range s {
		if !(ch >= '0' && ch <= '9' || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') {
			return false
		}
	}
	return true
}

// toBool takes true and false, the strings "true" and "false" in any case,
// and an integer: 0 is false, any other true, as tobool() documents.
func toBool(c cell) (cell, bool) {
	switch c.kind {
	case TypeBool:
		return c, true
	case TypeLong:
		if c.i != 0 {
			return cell{kind: TypeBool, i: 1}, true
		}
		return cell{kind: TypeBool}, true
	case TypeString:
		s := bytes.TrimSpace(c.s)
		switch {
		case bytes.EqualFold(s, []byte("true")):
			return cell{kind: TypeBool, i: 1}, true
		case bytes.EqualFold(s, []byte("false")):
			return cell{kind: TypeBool}, true
		}
	}
	return cell{}, false
}

// canonicalGUID writes the GUID s as toguid() returns it (lower case,
// 8-4-4-4-12) into dst. It takes the forms toguid() reads: 32 hex digits,
// with or without the four hyphens, in braces or parentheses or neither.
func canonicalGUID(dst *[36]byte, s []byte) bool {
	s = bytes.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '{' && s[len(s)-1] == '}' || s[0] == '(' && s[len(s)-1] == ')') {
		s = s[1 : len(s)-1]
	}
	switch len(s) {
	case 36:
		for i, ch := range s {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if ch != '-' {
					return false
				}
				dst[i] = '-'
				continue
			}
			if dst[i] = hexLower[ch]; dst[i] == 0 {
				return false
			}
		}
		return true
	case 32:
		j := 0
		for i, ch := range s {
			if i == 8 || i == 12 || i == 16 || i == 20 {
				dst[j] = '-'
				j++
			}
			if dst[j] = hexLower[ch]; dst[j] == 0 {
				return false
			}
			j++
		}
		return true
	}
	return false
}

// hexLower maps a hex digit to its lower case, anything else to 0.
var hexLower = func() (t [256]byte) {
	for _, ch := range "0123456789abcdef" {
		t[ch] = byte(ch)
	}
	for _, ch := range "ABCDEF" {
		t[ch] = byte(ch) + 'a' - 'A'
	}
	return t
}()

// parseTime reads the ISO 8601 forms the cloud's datetime takes, times
// without an offset being UTC:
//
//	2006-01-02
//	2006-01-02T15:04 and 2006-01-02T15:04:05, with any fraction of a second
//	either with a space for the T, and either with Z or ±07:00 after it
//
// The instant must be one a long of nanoseconds holds (1678 to 2261).
func parseTime(b []byte) (time.Time, error) {
	t, ok := parseISO(b)
	if !ok {
		return time.Time{}, errNotTime
	}
	return t, nil
}

var errNotTime = errors.New("not an ISO 8601 date-time")

func parseISO(b []byte) (time.Time, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || year < 1678 || year > 2261 || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	var hour, minute, sec, nsec int
	loc := time.UTC
	rest := b[10:]
	if len(rest) > 0 {
		if len(rest) < 6 || rest[0] != 'T' && rest[0] != ' ' || rest[3] != ':' {
			return time.Time{}, false
		}
		var okH, okM bool
		hour, okH = digits(rest[1:3])
		minute, okM = digits(rest[4:6])
		if !okH || !okM || hour > 23 || minute > 59 {
			return time.Time{}, false
		}
		rest = rest[6:]
		if len(rest) > 0 && rest[0] == ':' {
			var okS bool
			if len(rest) < 3 {
				return time.Time{}, false
			}
			if sec, okS = digits(rest[1:3]); !okS || sec > 59 {
				return time.Time{}, false
			}
			rest = rest[3:]
			if len(rest) > 0 && rest[0] == '.' {
				n := 1
				for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
					if n <= 9 {
						nsec = nsec*10 + int(rest[n]-'0')
					}
					n++
				}
				if n == 1 {
					return time.Time{}, false
				}
				for k := n; k <= 9; k++ {
					nsec *= 10
				}
				rest = rest[n:]
			}
		}
		switch {
		case len(rest) == 0:
		case len(rest) == 1 && rest[0] == 'Z':
		case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
			oh, okH := digits(rest[1:3])
			om, okM := digits(rest[4:6])
			if !okH || !okM || oh > 23 || om > 59 {
				return time.Time{}, false
			}
			off := oh*3600 + om*60
			if rest[0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		default:
			return time.Time{}, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if y := t.UTC().Year(); y < 1678 || y > 2261 {
		return time.Time{}, false
	}
	return t, true
}

// digits reads a run of decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int(ch-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
