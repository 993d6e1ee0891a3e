package kql

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006-01",
	"2006",
	"01/02/2006 15:04:05",
	"01/02/2006",
	time.RFC1123,
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05",
	"2006-01-02T15:04:05.9999999Z",
	"20060102",
}

// parseDatetime accepts ISO 8601 and the other formats todatetime() documents; times without
// a zone are UTC.
func parseDatetime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return normTime(t), validTime(t)
		}
	}
	return time.Time{}, false
}

var spanRe = regexp.MustCompile(`^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$`)

// parseTimespan accepts 1d/2h/30m style and [-][d.]hh:mm[:ss[.fffffff]].
func parseTimespan(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if m := spanRe.FindStringSubmatch(s); m != nil {
		var d time.Duration
		atoi := func(x string) int64 { n, _ := strconv.ParseInt(x, 10, 64); return n }
		d += time.Duration(atoi(m[2])) * 24 * time.Hour
		d += time.Duration(atoi(m[3])) * time.Hour
		d += time.Duration(atoi(m[4])) * time.Minute
		d += time.Duration(atoi(m[5])) * time.Second
		if m[6] != "" {
			frac := m[6] + strings.Repeat("0", 7-len(m[6]))
			d += time.Duration(atoi(frac)) * 100
		}
		if m[1] == "-" {
			d = -d
		}
		return d, true
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, false
	}
	unit, ok := spanUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		if i == len(s) { // a bare number is a count of days in timespan(), ticks nowhere
			unit = 24 * time.Hour
		} else {
			return 0, false
		}
	}
	d := time.Duration(f * float64(unit))
	if neg {
		d = -d
	}
	return d, true
}

var guidRe = regexp.MustCompile(`^[{(]?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})[})]?$`)

func parseGUID(s string) (string, bool) {
	m := guidRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", false
	}
	return strings.ToLower(m[1] + "-" + m[2] + "-" + m[3] + "-" + m[4] + "-" + m[5]), true
}

// Conversions used by the to*() functions and by comparisons; each returns nil when the
// value does not convert, as the language does.

// ticksAtUnixEpoch is 1970-01-01 in Kusto's ticks: 100 ns since 0001-01-01.
const ticksAtUnixEpoch = 621355968000000000

func toLong(v any) any {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return int64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return int64(f)
		}
		return nil
	case time.Time:
		return (x.UnixNano() / 100) + ticksAtUnixEpoch // ticks since 0001-01-01
	case time.Duration:
		return int64(x / 100)
	}
	return nil
}

func toInt(v any) any {
	l := toLong(v)
	if n, ok := l.(int64); ok {
		return int64(int32(n))
	}
	return nil
}

func toReal(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1.0
		}
		return 0.0
	case string:
		s := strings.TrimSpace(x)
		switch strings.ToLower(s) {
		case "nan":
			return math.NaN()
		case "inf", "+inf", "infinity":
			return math.Inf(1)
		case "-inf", "-infinity":
			return math.Inf(-1)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return nil
	case time.Duration:
		return float64(x / 100)
	case time.Time:
		return float64(toLong(x).(int64))
	}
	return nil
}

func toBool(v any) any {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1":
			return true
		case "false", "0":
			return false
		}
	}
	return nil
}

func toDatetime(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		if t, ok := parseDatetime(x); ok {
			return t
		}
	case int64: // ticks
		return normTime(time.Unix(0, (x-ticksAtUnixEpoch)*100))
	}
	return nil
}

func toTimespan(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return x
	case string:
		if d, ok := parseTimespan(x); ok {
			return d
		}
	case int64: // ticks
		return time.Duration(x) * 100
	case float64:
		return time.Duration(x * 100)
	}
	return nil
}

func toGUID(v any) any {
	if s, ok := v.(string); ok {
		if g, ok := parseGUID(s); ok {
			return g
		}
	}
	return nil
}

func toDynamic(v any) any {
	switch x := v.(type) {
	case string:
		if d, ok := parseDynamic(x); ok {
			return d
		}
		return x
	}
	return v
}

// convertTo coerces v to type t, as a typed column or a cast would.
func convertTo(v any, t Type) any {
	if v == nil {
		if t == TypeString {
			return ""
		}
		return nil
	}
	switch t {
	case TypeString:
		return toString(v)
	case TypeInt:
		return toInt(v)
	case TypeLong:
		return toLong(v)
	case TypeReal:
		return toReal(v)
	case TypeBool:
		return toBool(v)
	case TypeDatetime:
		return toDatetime(v)
	case TypeTimespan:
		return toTimespan(v)
	case TypeGUID:
		return toGUID(v)
	case TypeDynamic:
		return normDynamic(v)
	}
	return v
}

// castFromDynamic is a strict cast of a value held in a dynamic (mv-expand to typeof): a
// value of another kind becomes null rather than being parsed.
func castFromDynamic(v any, t Type) any {
	switch t {
	case TypeDynamic:
		return v
	case TypeString:
		if s, ok := v.(string); ok {
			return s
		}
		if v == nil {
			return ""
		}
		return toString(v)
	case TypeLong, TypeInt:
		switch x := v.(type) {
		case int64:
			return x
		case float64:
			return int64(x)
		}
		return nil
	case TypeReal:
		return toReal(v)
	case TypeBool:
		if b, ok := v.(bool); ok {
			return b
		}
		return nil
	}
	return convertTo(v, t)
}
