package kql

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Type is a KQL scalar type.
type Type uint8

// The scalar types, spelled as the Log Analytics query API spells them.
const (
	TypeNull Type = iota // the type of the null literal and of unknown values; never a column type
	TypeString
	TypeInt
	TypeLong
	TypeReal
	TypeBool
	TypeDatetime
	TypeTimespan
	TypeGUID
	TypeDynamic
)

var typeNames = [...]string{"null", "string", "int", "long", "real", "bool", "datetime", "timespan", "guid", "dynamic"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", t)
}

// MarshalText spells the type as the query API does.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts the API spellings and the language's aliases.
func (t *Type) UnmarshalText(b []byte) error {
	v, ok := ParseType(string(b))
	if !ok {
		return fmt.Errorf("unknown type %q", b)
	}
	*t = v
	return nil
}

// ParseType maps a type name, including aliases such as "double" and "boolean", to a Type.
func ParseType(s string) (Type, bool) {
	switch strings.ToLower(s) {
	case "string":
		return TypeString, true
	case "int", "int32":
		return TypeInt, true
	case "long", "int64":
		return TypeLong, true
	case "real", "double", "float", "decimal":
		// decimal is optional in the issue; we carry it as real rather than refuse queries.
		return TypeReal, true
	case "bool", "boolean":
		return TypeBool, true
	case "datetime", "date":
		return TypeDatetime, true
	case "timespan", "time":
		return TypeTimespan, true
	case "guid", "uuid", "uniqueid":
		return TypeGUID, true
	case "dynamic":
		return TypeDynamic, true
	}
	return TypeNull, false
}

func isNumeric(t Type) bool { return t == TypeInt || t == TypeLong || t == TypeReal }

// Values at run time are Go values: nil (null), string, int64 (int and long), float64, bool,
// time.Time (UTC), time.Duration, string (guid) and, for dynamic, nil, bool, int64, float64,
// string, []any or map[string]any. Keeping one representation per type lets operators compare
// and hash without consulting the schema.

// normTime keeps datetimes in UTC without a monotonic reading so that == and map keys agree.
func normTime(t time.Time) time.Time { return t.UTC() }

// Kusto's datetime range is 0001-01-01 to 9999-12-31; values outside are null.
func validTime(t time.Time) bool { return t.Year() >= 1 && t.Year() <= 9999 }

// formatDatetime renders a datetime as the query API does: RFC 3339 in UTC, the fraction
// trimmed of trailing zeros (at most 7 digits, Kusto's 100 ns tick).
func formatDatetime(t time.Time) string {
	return t.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999Z")
}

// formatTimespan renders [-][d.]hh:mm:ss[.fffffff] as Kusto does.
func formatTimespan(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	ticks := int64(d / 100)
	days := ticks / (864000000000)
	ticks %= 864000000000
	h := ticks / 36000000000
	ticks %= 36000000000
	m := ticks / 600000000
	ticks %= 600000000
	s := ticks / 10000000
	frac := ticks % 10000000
	if days > 0 {
		fmt.Fprintf(&b, "%d.", days)
	}
	fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
	if frac > 0 {
		fmt.Fprintf(&b, ".%07d", frac)
	}
	return b.String()
}

// toJSONValue converts a run-time value to what the query API puts in a row.
func toJSONValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return formatDatetime(x)
	case time.Duration:
		return formatTimespan(x)
	case float64:
		if math.IsNaN(x) {
			return "NaN"
		}
		if math.IsInf(x, 1) {
			return "Infinity"
		}
		if math.IsInf(x, -1) {
			return "-Infinity"
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSONValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSONValue(e)
		}
		return out
	}
	return v
}

// toString renders a value as tostring() does: null is "", datetimes and timespans in Kusto's
// formats, dynamic as compact JSON (a string inside dynamic is its bare text).
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatReal(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case time.Time:
		return formatDatetime(x)
	case time.Duration:
		return formatTimespan(x)
	case []any, map[string]any:
		return dynamicJSON(x)
	}
	return fmt.Sprint(v)
}

func formatReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// dynamicJSON renders a dynamic value as compact JSON with sorted keys, so that equal bags
// render (and therefore hash) equally.
func dynamicJSON(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		q, _ := json.Marshal(x)
		b.Write(q)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			writeJSON(b, x[k])
		}
		b.WriteByte('}')
	case time.Time, time.Duration:
		q, _ := json.Marshal(toString(x))
		b.Write(q)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString("null")
			return
		}
		b.WriteString(formatReal(x))
	default:
		b.WriteString(toString(x))
	}
}

// parseDynamic decodes JSON into the dynamic representation (integers as int64).
func parseDynamic(s string) (any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return normDynamic(v), true
}

// normDynamic converts decoded JSON (json.Number, float64 from other decoders) and Go values
// handed in by a Source into the dynamic representation.
func normDynamic(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = normDynamic(e)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normDynamic(e)
		}
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case time.Time:
		return normTime(x)
	}
	return v
}

// dynTypeOf is the type a value held in a dynamic has, for gettype() and for coercions.
func dynTypeOf(v any) Type {
	switch v.(type) {
	case string:
		return TypeString
	case int64:
		return TypeLong
	case float64:
		return TypeReal
	case bool:
		return TypeBool
	case time.Time:
		return TypeDatetime
	case time.Duration:
		return TypeTimespan
	case []any, map[string]any:
		return TypeDynamic
	}
	return TypeNull
}
