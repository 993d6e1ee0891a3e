package kql

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fnSpec describes a scalar function: its arity, its result type given the argument types,
// and its implementation over evaluated arguments.
type fnSpec struct {
	min, max int // max < 0: variadic
	ret      func(args []cexpr) (Type, error)
	impl     func(a []any) any
	rx       func(rc *regexCache, a []any) any    // for functions that compile a pattern argument
	bind     func(args []cexpr) func(a []any) any // for functions whose behaviour depends on argument types
	opts     func(o *Options) func(a []any) any   // for functions that read the run's options (nil while compiling)
}

func fixed(t Type) func([]cexpr) (Type, error) {
	return func([]cexpr) (Type, error) { return t, nil }
}

func sameAs(i int) func([]cexpr) (Type, error) {
	return func(a []cexpr) (Type, error) {
		if i < len(a) {
			return a[i].t, nil
		}
		return TypeNull, nil
	}
}

// firstNonNullType is the type of iff/case/coalesce results: the first branch with a type.
func firstNonNullType(idx ...int) func([]cexpr) (Type, error) {
	return func(a []cexpr) (Type, error) {
		var t Type
		for _, i := range idx {
			if i < len(a) && a[i].t != TypeNull {
				if t == TypeNull {
					t = a[i].t
				} else if t == TypeDynamic || a[i].t == TypeDynamic {
					t = TypeDynamic
				} else if t != a[i].t && !(isNumeric(t) && isNumeric(a[i].t)) {
					// mixed branches: the language requires one type
					return t, &typeMismatch{t, a[i].t}
				} else if a[i].t == TypeReal {
					t = TypeReal
				}
			}
		}
		return t, nil
	}
}

type typeMismatch struct{ a, b Type }

func (e *typeMismatch) Error() string {
	return "branches have different types " + e.a.String() + " and " + e.b.String()
}

func str(v any) string { return toString(v) }

func asLong(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), true
	}
	return 0, false
}

func asReal(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

var funcs map[string]fnSpec

func init() {
	real1 := func(f func(float64) float64) fnSpec {
		return fnSpec{min: 1, max: 1, ret: fixed(TypeReal), impl: func(a []any) any {
			x, ok := asReal(a[0])
			if !ok {
				return nil
			}
			return f(x)
		}}
	}
	dt1 := func(f func(time.Time) any, t Type) fnSpec {
		return fnSpec{min: 1, max: 1, ret: fixed(t), impl: func(a []any) any {
			x, ok := a[0].(time.Time)
			if !ok {
				return nil
			}
			return f(x)
		}}
	}
	funcs = map[string]fnSpec{
		"tostring":   {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return str(a[0]) }},
		"toint":      {min: 1, max: 1, ret: fixed(TypeInt), impl: func(a []any) any { return toInt(a[0]) }},
		"tolong":     {min: 1, max: 1, ret: fixed(TypeLong), impl: func(a []any) any { return toLong(a[0]) }},
		"toreal":     {min: 1, max: 1, ret: fixed(TypeReal), impl: func(a []any) any { return toReal(a[0]) }},
		"todouble":   {min: 1, max: 1, ret: fixed(TypeReal), impl: func(a []any) any { return toReal(a[0]) }},
		"todecimal":  {min: 1, max: 1, ret: fixed(TypeReal), impl: func(a []any) any { return toReal(a[0]) }},
		"tobool":     {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { return toBool(a[0]) }},
		"toboolean":  {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { return toBool(a[0]) }},
		"todatetime": {min: 1, max: 1, ret: fixed(TypeDatetime), impl: func(a []any) any { return toDatetime(a[0]) }},
		"totimespan": {min: 1, max: 1, ret: fixed(TypeTimespan), impl: func(a []any) any { return toTimespan(a[0]) }},
		"toguid":     {min: 1, max: 1, ret: fixed(TypeGUID), impl: func(a []any) any { return toGUID(a[0]) }},
		"todynamic":  {min: 1, max: 1, ret: fixed(TypeDynamic), impl: func(a []any) any { return toDynamic(a[0]) }},
		"parse_json": {min: 1, max: 1, ret: fixed(TypeDynamic), impl: func(a []any) any { return toDynamic(a[0]) }},
		"tolower":    {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return strings.ToLower(str(a[0])) }},
		"toupper":    {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return strings.ToUpper(str(a[0])) }},
		"strlen":     {min: 1, max: 1, ret: fixed(TypeLong), impl: func(a []any) any { return int64(utf8.RuneCountInString(str(a[0]))) }},
		"isempty": {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any {
			return a[0] == nil || a[0] == ""
		}},
		"isnotempty": {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { return !(a[0] == nil || a[0] == "") }},
		"isnull":     {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { return a[0] == nil }},
		"isnotnull":  {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { return a[0] != nil }},
		"not": {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any {
			b, ok := a[0].(bool)
			if !ok {
				return nil
			}
			return !b
		}},
		"strcat": {min: 1, max: 64, ret: fixed(TypeString), impl: func(a []any) any {
			var b strings.Builder
			for _, v := range a {
				b.WriteString(str(v))
			}
			return b.String()
		}},
		"strcat_delim": {min: 2, max: 64, ret: fixed(TypeString), impl: func(a []any) any {
			parts := make([]string, len(a)-1)
			for i, v := range a[1:] {
				parts[i] = str(v)
			}
			return strings.Join(parts, str(a[0]))
		}},
		"strcat_array": {min: 2, max: 2, ret: fixed(TypeString), impl: func(a []any) any {
			arr, _ := a[0].([]any)
			parts := make([]string, len(arr))
			for i, v := range arr {
				parts[i] = str(v)
			}
			return strings.Join(parts, str(a[1]))
		}},
		"substring": {min: 2, max: 3, ret: fixed(TypeString), impl: func(a []any) any {
			r := []rune(str(a[0]))
			start, ok := asLong(a[1])
			if !ok {
				return ""
			}
			if start < 0 {
				start = 0
			}
			if start > int64(len(r)) {
				return ""
			}
			end := int64(len(r))
			if len(a) > 2 {
				if n, ok := asLong(a[2]); ok && start+n < end {
					end = max(start+n, start)
				}
			}
			return string(r[start:end])
		}},
		"indexof": {min: 2, max: 5, ret: fixed(TypeLong), impl: func(a []any) any {
			s, sub := str(a[0]), str(a[1])
			start := int64(0)
			if len(a) > 2 {
				start, _ = asLong(a[2])
			}
			r := []rune(s)
			if start < 0 {
				start += int64(len(r))
			}
			if start < 0 || start > int64(len(r)) {
				return nil
			}
			i := strings.Index(string(r[start:]), sub)
			if i < 0 {
				return int64(-1)
			}
			return start + int64(utf8.RuneCountInString(string(r[start:])[:i]))
		}},
		"trim":       {min: 2, max: 2, ret: fixed(TypeString), rx: func(rc *regexCache, a []any) any { return trimRe(rc, str(a[1]), str(a[0]), true, true) }},
		"trim_start": {min: 2, max: 2, ret: fixed(TypeString), rx: func(rc *regexCache, a []any) any { return trimRe(rc, str(a[1]), str(a[0]), true, false) }},
		"trim_end":   {min: 2, max: 2, ret: fixed(TypeString), rx: func(rc *regexCache, a []any) any { return trimRe(rc, str(a[1]), str(a[0]), false, true) }},
		"replace_string": {min: 3, max: 3, ret: fixed(TypeString), impl: func(a []any) any {
			return strings.ReplaceAll(str(a[0]), str(a[1]), str(a[2]))
		}},
		"replace_regex": {min: 3, max: 3, ret: fixed(TypeString), rx: func(rc *regexCache, a []any) any {
			re, err := rc.get(str(a[1]))
			if err != nil {
				return nil
			}
			return re.ReplaceAllString(str(a[0]), kustoRepl(str(a[2])))
		}},
		"replace": {min: 3, max: 3, ret: fixed(TypeString), rx: func(rc *regexCache, a []any) any {
			re, err := rc.get(str(a[0]))
			if err != nil {
				return nil
			}
			return re.ReplaceAllString(str(a[2]), kustoRepl(str(a[1])))
		}},
		"reverse": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			r := []rune(str(a[0]))
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return string(r)
		}},
		"split": {min: 2, max: 3, ret: fixed(TypeDynamic), impl: func(a []any) any {
			parts := strings.Split(str(a[0]), str(a[1]))
			out := make([]any, len(parts))
			for i, s := range parts {
				out[i] = s
			}
			if len(a) > 2 {
				n, ok := asLong(a[2])
				if !ok || n < 0 || n >= int64(len(out)) {
					return nil
				}
				return []any{out[n]}
			}
			return out
		}},
		"countof": {min: 2, max: 3, ret: fixed(TypeLong), rx: func(rc *regexCache, a []any) any {
			if len(a) > 2 && str(a[2]) == "regex" {
				re, err := rc.get(str(a[1]))
				if err != nil {
					return nil
				}
				return int64(len(re.FindAllStringIndex(str(a[0]), -1)))
			}
			if str(a[1]) == "" {
				return int64(0)
			}
			return int64(strings.Count(str(a[0]), str(a[1])))
		}},
		"extract": {min: 3, max: 4, ret: func(a []cexpr) (Type, error) {
			if len(a) == 4 && a[3].konst {
				if t, ok := ParseType(typeofName(a[3])); ok {
					return t, nil
				}
			}
			return TypeString, nil
		}, rx: func(rc *regexCache, a []any) any {
			re, err := rc.get(str(a[0]))
			if err != nil {
				return nil
			}
			g, _ := asLong(a[1])
			m := re.FindStringSubmatch(str(a[2]))
			if m == nil || g < 0 || int(g) >= len(m) {
				if len(a) == 4 {
					return nil
				}
				return ""
			}
			if len(a) == 4 {
				if t, ok := ParseType(str(a[3])); ok {
					return convertTo(m[g], t)
				}
			}
			return m[g]
		}},
		"extract_all": {min: 2, max: 3, ret: fixed(TypeDynamic), rx: func(rc *regexCache, a []any) any {
			re, err := rc.get(str(a[0]))
			if err != nil {
				return nil
			}
			text := str(a[len(a)-1])
			var groups []int64
			if len(a) == 3 {
				if arr, ok := a[1].([]any); ok {
					for _, g := range arr {
						if n, ok := asLong(g); ok {
							groups = append(groups, n)
						}
					}
				}
			}
			ms := re.FindAllStringSubmatch(text, -1)
			if len(ms) == 0 {
				return nil
			}
			out := []any{}
			for _, m := range ms {
				switch {
				case len(groups) > 0:
					sub := []any{}
					for _, g := range groups {
						if int(g) < len(m) {
							sub = append(sub, m[g])
						}
					}
					out = append(out, sub)
				case len(m) == 1:
					out = append(out, m[0])
				case len(m) == 2:
					out = append(out, m[1])
				default:
					sub := []any{}
					for _, g := range m[1:] {
						sub = append(sub, g)
					}
					out = append(out, sub)
				}
			}
			return out
		}},
		"array_length": {min: 1, max: 1, ret: fixed(TypeLong), impl: arrayLength},
		"arraylength":  {min: 1, max: 1, ret: fixed(TypeLong), impl: arrayLength},
		"array_concat": {min: 1, max: 64, ret: fixed(TypeDynamic), impl: func(a []any) any {
			out := []any{}
			for _, v := range a {
				arr, ok := v.([]any)
				if !ok {
					return nil
				}
				out = append(out, arr...)
			}
			return out
		}},
		"array_slice": {min: 3, max: 3, ret: fixed(TypeDynamic), impl: func(a []any) any {
			arr, ok := a[0].([]any)
			s, ok1 := asLong(a[1])
			e, ok2 := asLong(a[2])
			if !ok || !ok1 || !ok2 {
				return nil
			}
			n := int64(len(arr))
			if s < 0 {
				s += n
			}
			if e < 0 {
				e += n
			}
			s, e = max(s, 0), min(e, n-1)
			if s > e {
				return []any{}
			}
			return append([]any{}, arr[s:e+1]...)
		}},
		"array_index_of": {min: 2, max: 2, ret: fixed(TypeLong), impl: func(a []any) any {
			arr, ok := a[0].([]any)
			if !ok {
				return nil
			}
			for i, v := range arr {
				if valuesEqual(v, a[1]) {
					return int64(i)
				}
			}
			return int64(-1)
		}},
		"array_sort_asc":  {min: 1, max: 1, ret: fixed(TypeDynamic), impl: func(a []any) any { return sortArray(a[0], false) }},
		"array_sort_desc": {min: 1, max: 1, ret: fixed(TypeDynamic), impl: func(a []any) any { return sortArray(a[0], true) }},
		"set_has_element": {min: 2, max: 2, ret: fixed(TypeBool), impl: func(a []any) any {
			arr, _ := a[0].([]any)
			for _, v := range arr {
				if valuesEqual(v, a[1]) {
					return true
				}
			}
			return false
		}},
		"set_union":      {min: 1, max: 64, ret: fixed(TypeDynamic), impl: func(a []any) any { return setOp(a, "union") }},
		"set_intersect":  {min: 1, max: 64, ret: fixed(TypeDynamic), impl: func(a []any) any { return setOp(a, "intersect") }},
		"set_difference": {min: 1, max: 64, ret: fixed(TypeDynamic), impl: func(a []any) any { return setOp(a, "difference") }},
		"pack":           {min: 0, max: 128, ret: fixed(TypeDynamic), impl: packFn},
		"bag_pack":       {min: 0, max: 128, ret: fixed(TypeDynamic), impl: packFn},
		"pack_array": {min: 0, max: 128, ret: fixed(TypeDynamic), impl: func(a []any) any {
			out := make([]any, len(a))
			for i, v := range a {
				out[i] = dynValue(v)
			}
			return out
		}},
		"bag_keys": {min: 1, max: 1, ret: fixed(TypeDynamic), impl: func(a []any) any {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = k
			}
			return out
		}},
		"bag_has_key": {min: 2, max: 2, ret: fixed(TypeBool), impl: func(a []any) any {
			m, ok := a[0].(map[string]any)
			if !ok {
				return false
			}
			_, has := m[str(a[1])]
			return has
		}},
		"bag_merge": {min: 1, max: 64, ret: fixed(TypeDynamic), impl: func(a []any) any {
			out := map[string]any{}
			for _, v := range a {
				if m, ok := v.(map[string]any); ok {
					for k, e := range m {
						if _, seen := out[k]; !seen {
							out[k] = e
						}
					}
				}
			}
			return out
		}},
		"gettype": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			switch x := a[0].(type) {
			case nil:
				return "null"
			case []any:
				return "array"
			case map[string]any:
				return "dictionary"
			case string:
				return "string"
			case int64:
				return "long"
			case float64:
				return "real"
			default:
				return dynTypeOf(x).String()
			}
		}},
		"parse_url":  {min: 1, max: 1, ret: fixed(TypeDynamic), impl: parseURL},
		"parse_path": {min: 1, max: 1, ret: fixed(TypeDynamic), impl: parsePath},
		"base64_decode_tostring": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			s := str(a[0])
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
					return ""
				}
			}
			if !utf8.Valid(b) {
				return ""
			}
			return string(b)
		}},
		"base64_encode_tostring": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return base64.StdEncoding.EncodeToString([]byte(str(a[0]))) }},
		"base64_encodestring":    {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return base64.StdEncoding.EncodeToString([]byte(str(a[0]))) }},
		"hash_sha256": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			h := sha256.Sum256([]byte(str(a[0])))
			return hex.EncodeToString(h[:])
		}},
		"hash_sha1": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			h := sha1.Sum([]byte(str(a[0])))
			return hex.EncodeToString(h[:])
		}},
		"hash_md5": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			h := md5.Sum([]byte(str(a[0])))
			return hex.EncodeToString(h[:])
		}},
		"hash": {min: 1, max: 2, ret: fixed(TypeLong), impl: func(a []any) any {
			h := fnv.New64a()
			h.Write([]byte(str(a[0])))
			v := int64(h.Sum64() & math.MaxInt64)
			if len(a) == 2 {
				if m, ok := asLong(a[1]); ok && m > 0 {
					return v % m
				}
			}
			return v
		}},
		"floor": {min: 2, max: 2, ret: sameAs(0), impl: binFn},
		"bin":   {min: 2, max: 2, ret: sameAs(0), impl: binFn},
		"bin_at": {min: 3, max: 3, ret: sameAs(0), impl: func(a []any) any {
			// shift so the fixed point lands on a bin boundary, bin, shift back
			switch x := a[0].(type) {
			case time.Time:
				at, ok := a[2].(time.Time)
				if !ok {
					return nil
				}
				off := x.Sub(at)
				b, ok := binFn([]any{off, a[1]}).(time.Duration)
				if !ok {
					return nil
				}
				return at.Add(b)
			default:
				d := arith("-", a[0], a[2], TypeReal)
				b := binFn([]any{d, a[1]})
				return arith("+", b, a[2], TypeReal)
			}
		}},
		"round": {min: 1, max: 2, ret: fixed(TypeReal), impl: func(a []any) any {
			x, ok := asReal(a[0])
			if !ok {
				return nil
			}
			p := int64(0)
			if len(a) > 1 {
				p, _ = asLong(a[1])
			}
			m := math.Pow(10, float64(p))
			return math.Round(x*m) / m
		}},
		"abs": {min: 1, max: 1, ret: sameAs(0), impl: func(a []any) any {
			switch x := a[0].(type) {
			case int64:
				if x < 0 {
					return -x
				}
				return x
			case float64:
				return math.Abs(x)
			case time.Duration:
				if x < 0 {
					return -x
				}
				return x
			}
			return nil
		}},
		"log":     real1(math.Log),
		"log2":    real1(math.Log2),
		"log10":   real1(math.Log10),
		"exp":     real1(math.Exp),
		"sqrt":    real1(math.Sqrt),
		"ceiling": real1(math.Ceil),
		"pow": {min: 2, max: 2, ret: fixed(TypeReal), impl: func(a []any) any {
			x, ok1 := asReal(a[0])
			y, ok2 := asReal(a[1])
			if !ok1 || !ok2 {
				return nil
			}
			return math.Pow(x, y)
		}},
		"sign": {min: 1, max: 1, ret: fixed(TypeReal), impl: func(a []any) any {
			x, ok := asReal(a[0])
			if !ok {
				return nil
			}
			switch {
			case x > 0:
				return 1.0
			case x < 0:
				return -1.0
			}
			return 0.0
		}},
		"isnan":        {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any { x, ok := a[0].(float64); return ok && math.IsNaN(x) }},
		"max_of":       {min: 1, max: 64, ret: firstNonNullType(0, 1, 2, 3), impl: func(a []any) any { return extremeOf(a, 1) }},
		"min_of":       {min: 1, max: 64, ret: firstNonNullType(0, 1, 2, 3), impl: func(a []any) any { return extremeOf(a, -1) }},
		"startofday":   dt1(func(t time.Time) any { return t.Truncate(24 * time.Hour) }, TypeDatetime),
		"endofday":     dt1(func(t time.Time) any { return t.Truncate(24 * time.Hour).Add(24*time.Hour - 100) }, TypeDatetime),
		"startofweek":  dt1(startOfWeek, TypeDatetime),
		"endofweek":    dt1(func(t time.Time) any { return startOfWeek(t).(time.Time).AddDate(0, 0, 7).Add(-100) }, TypeDatetime),
		"startofmonth": dt1(func(t time.Time) any { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }, TypeDatetime),
		"endofmonth":   dt1(func(t time.Time) any { return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC).Add(-100) }, TypeDatetime),
		"startofyear":  dt1(func(t time.Time) any { return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC) }, TypeDatetime),
		"dayofweek":    dt1(func(t time.Time) any { return time.Duration(t.Weekday()) * 24 * time.Hour }, TypeTimespan),
		"dayofmonth":   dt1(func(t time.Time) any { return int64(t.Day()) }, TypeInt),
		"dayofyear":    dt1(func(t time.Time) any { return int64(t.YearDay()) }, TypeInt),
		"hourofday":    dt1(func(t time.Time) any { return int64(t.Hour()) }, TypeInt),
		"monthofyear":  dt1(func(t time.Time) any { return int64(t.Month()) }, TypeInt),
		"getmonth":     dt1(func(t time.Time) any { return int64(t.Month()) }, TypeInt),
		"getyear":      dt1(func(t time.Time) any { return int64(t.Year()) }, TypeInt),
		"week_of_year": dt1(func(t time.Time) any { _, w := t.ISOWeek(); return int64(w) }, TypeInt),
		"unixtime_seconds_todatetime": {min: 1, max: 1, ret: fixed(TypeDatetime), impl: func(a []any) any {
			x, ok := asReal(a[0])
			if !ok {
				return nil
			}
			return normTime(time.Unix(0, int64(x*1e9)))
		}},
		"unixtime_milliseconds_todatetime": {min: 1, max: 1, ret: fixed(TypeDatetime), impl: func(a []any) any {
			x, ok := asReal(a[0])
			if !ok {
				return nil
			}
			return normTime(time.Unix(0, int64(x*1e6)))
		}},
		"datetime_diff": {min: 3, max: 3, ret: fixed(TypeLong), impl: func(a []any) any {
			t1, ok1 := a[1].(time.Time)
			t2, ok2 := a[2].(time.Time)
			if !ok1 || !ok2 {
				return nil
			}
			return datetimeDiff(strings.ToLower(str(a[0])), t1, t2)
		}},
		"datetime_add": {min: 3, max: 3, ret: fixed(TypeDatetime), impl: func(a []any) any {
			n, ok1 := asLong(a[1])
			t, ok2 := a[2].(time.Time)
			if !ok1 || !ok2 {
				return nil
			}
			return datetimeAdd(strings.ToLower(str(a[0])), n, t)
		}},
		"datetime_part": {min: 2, max: 2, ret: fixed(TypeInt), impl: func(a []any) any {
			t, ok := a[1].(time.Time)
			if !ok {
				return nil
			}
			switch strings.ToLower(str(a[0])) {
			case "year":
				return int64(t.Year())
			case "month":
				return int64(t.Month())
			case "day":
				return int64(t.Day())
			case "hour":
				return int64(t.Hour())
			case "minute":
				return int64(t.Minute())
			case "second":
				return int64(t.Second())
			case "dayofyear":
				return int64(t.YearDay())
			}
			return nil
		}},
		"format_datetime": {min: 2, max: 2, ret: fixed(TypeString), impl: func(a []any) any {
			t, ok := a[0].(time.Time)
			if !ok {
				return ""
			}
			return formatKustoDatetime(t, str(a[1]))
		}},
		"format_timespan": {min: 2, max: 2, ret: fixed(TypeString), impl: func(a []any) any {
			d, ok := a[0].(time.Duration)
			if !ok {
				return ""
			}
			return formatTimespan(d)
		}},
		"ipv4_is_private": {min: 1, max: 1, ret: fixed(TypeBool), impl: func(a []any) any {
			ip, ok := parseIPv4(str(a[0]))
			if !ok {
				return nil
			}
			return ip.IsPrivate()
		}},
		"ipv4_is_in_range": {min: 2, max: 2, ret: fixed(TypeBool), impl: func(a []any) any {
			ip, ok := parseIPv4(str(a[0]))
			pfx, ok2 := parsePrefix(str(a[1]))
			if !ok || !ok2 {
				return nil
			}
			return pfx.Contains(ip)
		}},
		"ipv4_is_match": {min: 2, max: 3, ret: fixed(TypeBool), impl: func(a []any) any {
			p1, ok1 := parsePrefix(str(a[0]))
			p2, ok2 := parsePrefix(str(a[1]))
			if !ok1 || !ok2 {
				return nil
			}
			bits := min(p1.Bits(), p2.Bits())
			if len(a) == 3 {
				if n, ok := asLong(a[2]); ok {
					bits = int(n)
				}
			}
			q1, _ := p1.Addr().Prefix(bits)
			q2, _ := p2.Addr().Prefix(bits)
			return q1 == q2
		}},
		"ipv4_compare": {min: 2, max: 2, ret: fixed(TypeLong), impl: func(a []any) any {
			x, ok1 := parseIPv4(str(a[0]))
			y, ok2 := parseIPv4(str(a[1]))
			if !ok1 || !ok2 {
				return nil
			}
			return int64(x.Compare(y))
		}},
		"has_any_ipv4": {min: 2, max: 64, ret: fixed(TypeBool), impl: func(a []any) any {
			text := str(a[0])
			var want []any
			for _, v := range a[1:] {
				if arr, ok := v.([]any); ok {
					want = append(want, arr...)
				} else {
					want = append(want, v)
				}
			}
			for _, m := range ipv4Re.FindAllStringIndex(text, -1) {
				// an address must not be part of a longer dotted or alphanumeric token
				if (m[0] > 0 && (isTermChar(text[m[0]-1]) || text[m[0]-1] == '.')) || (m[1] < len(text) && (isTermChar(text[m[1]]) || text[m[1]] == '.' && m[1]+1 < len(text) && isDigit(text[m[1]+1]))) {
					continue
				}
				for _, w := range want {
					if text[m[0]:m[1]] == str(w) {
						return true
					}
				}
			}
			return false
		}},
		"url_decode": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any {
			s, err := url.QueryUnescape(str(a[0]))
			if err != nil {
				return nil
			}
			return s
		}},
		"url_encode": {min: 1, max: 1, ret: fixed(TypeString), impl: func(a []any) any { return url.QueryEscape(str(a[0])) }},
		"new_guid":   {min: 0, max: 0, ret: fixed(TypeGUID), impl: func(a []any) any { return "00000000-0000-0000-0000-000000000000" }},
	}
	registerContentFuncs(funcs)
	registerSeriesFuncs(funcs)
	registerXMLFuncs(funcs)
	registerGeoFuncs(funcs)
	registerIPFuncs(funcs)
	registerBinaryFuncs(funcs)
	registerTimezoneFuncs(funcs)
	registerHllFuncs(funcs)
}

func typeofName(c cexpr) string { return toString(c.value()) }

func arrayLength(a []any) any {
	if arr, ok := a[0].([]any); ok {
		return int64(len(arr))
	}
	return nil
}

func dynValue(v any) any {
	switch x := v.(type) {
	case time.Time, time.Duration:
		return x
	}
	return v
}

func packFn(a []any) any {
	if len(a)%2 != 0 {
		return nil
	}
	m := make(map[string]any, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		m[str(a[i])] = dynValue(a[i+1])
	}
	return m
}

func sortArray(v any, desc bool) any {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	out := append([]any{}, arr...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i] == nil || out[j] == nil {
			return out[j] == nil && out[i] != nil
		}
		c := sortCompare(out[i], out[j])
		if desc {
			return c > 0
		}
		return c < 0
	})
	return out
}

func setOp(a []any, op string) any {
	var sets [][]any
	for _, v := range a {
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		sets = append(sets, arr)
	}
	seen := map[string]bool{}
	out := []any{}
	inAll := func(v any, others [][]any) bool {
		for _, s := range others {
			found := false
			for _, w := range s {
				if valuesEqual(v, w) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	inAny := func(v any, others [][]any) bool {
		for _, s := range others {
			for _, w := range s {
				if valuesEqual(v, w) {
					return true
				}
			}
		}
		return false
	}
	add := func(v any) {
		k := string(keyAppend(nil, v))
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	switch op {
	case "union":
		for _, s := range sets {
			for _, v := range s {
				add(v)
			}
		}
	case "intersect":
		for _, v := range sets[0] {
			if inAll(v, sets[1:]) {
				add(v)
			}
		}
	case "difference":
		for _, v := range sets[0] {
			if !inAny(v, sets[1:]) {
				add(v)
			}
		}
	}
	return out
}

func extremeOf(a []any, sign int) any {
	var best any
	for _, v := range a {
		if v == nil {
			continue
		}
		if best == nil {
			best = v
			continue
		}
		if c, ok := compareValues(v, best); ok && c*sign > 0 {
			best = v
		}
	}
	return best
}

// binFn rounds down to a multiple of the bin size: numbers, datetimes (from 0001-01-01,
// which for whole days and hours is the same as from the Unix epoch) and timespans.
func binFn(a []any) any {
	switch x := a[0].(type) {
	case int64:
		switch s := a[1].(type) {
		case int64:
			if s <= 0 {
				return nil
			}
			return floorDiv(x, s) * s
		case float64:
			if s <= 0 {
				return nil
			}
			return int64(math.Floor(float64(x)/s) * s)
		}
	case float64:
		s, ok := asReal(a[1])
		if !ok || s <= 0 {
			return nil
		}
		return math.Floor(x/s) * s
	case time.Time:
		s, ok := a[1].(time.Duration)
		st := int64(s / 100) // in ticks: a size under one is none
		if !ok || st <= 0 {
			return nil
		}
		ticks := toLong(x).(int64)
		return toDatetime(floorDiv(ticks, st) * st)
	case time.Duration:
		s, ok := a[1].(time.Duration)
		if !ok || s <= 0 {
			return nil
		}
		return time.Duration(floorDiv(int64(x), int64(s)) * int64(s))
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func startOfWeek(t time.Time) any {
	d := t.Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -int(d.Weekday())) // weeks start on Sunday
}

func datetimeDiff(part string, t1, t2 time.Time) any {
	switch part {
	case "year":
		return int64(t1.Year() - t2.Year())
	case "quarter":
		return int64((t1.Year()*12+int(t1.Month())-1)/3 - (t2.Year()*12+int(t2.Month())-1)/3)
	case "month":
		return int64((t1.Year()-t2.Year())*12 + int(t1.Month()) - int(t2.Month()))
	case "week":
		return int64(startOfWeek(t1).(time.Time).Sub(startOfWeek(t2).(time.Time)) / (7 * 24 * time.Hour))
	case "day":
		return int64(t1.Truncate(24*time.Hour).Sub(t2.Truncate(24*time.Hour)) / (24 * time.Hour))
	case "hour":
		return int64(t1.Truncate(time.Hour).Sub(t2.Truncate(time.Hour)) / time.Hour)
	case "minute":
		return int64(t1.Truncate(time.Minute).Sub(t2.Truncate(time.Minute)) / time.Minute)
	case "second":
		return int64(t1.Truncate(time.Second).Sub(t2.Truncate(time.Second)) / time.Second)
	case "millisecond":
		return int64(t1.Truncate(time.Millisecond).Sub(t2.Truncate(time.Millisecond)) / time.Millisecond)
	case "microsecond":
		return int64(t1.Truncate(time.Microsecond).Sub(t2.Truncate(time.Microsecond)) / time.Microsecond)
	case "nanosecond":
		return int64(t1.Sub(t2))
	}
	return nil
}

func datetimeAdd(part string, n int64, t time.Time) any {
	switch part {
	case "year":
		return t.AddDate(int(n), 0, 0)
	case "quarter":
		return t.AddDate(0, 3*int(n), 0)
	case "month":
		return t.AddDate(0, int(n), 0)
	case "week":
		return t.AddDate(0, 0, 7*int(n))
	case "day":
		return t.AddDate(0, 0, int(n))
	case "hour":
		return t.Add(time.Duration(n) * time.Hour)
	case "minute":
		return t.Add(time.Duration(n) * time.Minute)
	case "second":
		return t.Add(time.Duration(n) * time.Second)
	case "millisecond":
		return t.Add(time.Duration(n) * time.Millisecond)
	case "microsecond":
		return t.Add(time.Duration(n) * time.Microsecond)
	case "nanosecond":
		return t.Add(time.Duration(n))
	}
	return nil
}

// formatKustoDatetime supports the format specifiers of format_datetime: yyyy, yy, MM, M,
// dd, d, HH, H, hh, h, mm, m, ss, s, f… (fractions), tt, and literal separators.
func formatKustoDatetime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		switch c {
		case 'y':
			if n >= 4 {
				fmt2(&b, t.Year(), 4)
			} else {
				fmt2(&b, t.Year()%100, 2)
			}
		case 'M':
			fmt2(&b, int(t.Month()), min(n, 2))
		case 'd':
			fmt2(&b, t.Day(), min(n, 2))
		case 'H':
			fmt2(&b, t.Hour(), min(n, 2))
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt2(&b, h, min(n, 2))
		case 'm':
			fmt2(&b, t.Minute(), min(n, 2))
		case 's':
			fmt2(&b, t.Second(), min(n, 2))
		case 'f', 'F':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			if n > 9 {
				n = 9
			}
			b.WriteString(frac[:n])
		case 't':
			if t.Hour() < 12 {
				b.WriteString("AM"[:min(n, 2)])
			} else {
				b.WriteString("PM"[:min(n, 2)])
			}
		default:
			b.WriteString(f[i : i+n])
		}
		i += n
	}
	return b.String()
}

func fmt2(b *strings.Builder, v, width int) {
	s := strconv.Itoa(v)
	for len(s) < width {
		s = "0" + s
	}
	b.WriteString(s)
}

var ipv4Re = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)

func parseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, ok := parseIPv4(s)
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, 32), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

func parseURL(a []any) any {
	u, err := url.Parse(str(a[0]))
	if err != nil || u.Scheme == "" {
		return map[string]any{}
	}
	q := map[string]any{}
	for k, v := range u.Query() {
		q[k] = v[len(v)-1]
	}
	pass, _ := u.User.Password()
	return map[string]any{
		"Scheme": u.Scheme, "Host": u.Hostname(), "Port": u.Port(), "Path": u.Path,
		"Username": u.User.Username(), "Password": pass, "Query Parameters": q, "Fragment": u.Fragment,
	}
}

func parsePath(a []any) any {
	s := str(a[0])
	sep := "/"
	if strings.Contains(s, `\`) {
		sep = `\`
	}
	unix := strings.ReplaceAll(s, `\`, "/")
	dir, file := path.Split(unix)
	ext := path.Ext(file)
	root := ""
	if len(s) >= 2 && s[1] == ':' {
		root = s[:2]
	} else if strings.HasPrefix(s, `\\`) {
		parts := strings.SplitN(strings.TrimPrefix(s, `\\`), `\`, 2)
		root = parts[0]
	}
	dir = strings.TrimSuffix(dir, "/")
	return map[string]any{
		"Scheme": "", "RootPath": root, "DirectoryPath": strings.ReplaceAll(dir, "/", sep),
		"DirectoryName": path.Base(dir), "Filename": file, "Extension": strings.TrimPrefix(ext, "."),
		"AlternateDataStreamName": "",
	}
}

func trimRe(rc *regexCache, s, pat string, start, end bool) string {
	re, err := rc.get(pat)
	if err != nil {
		return s
	}
	if start {
		for {
			loc := re.FindStringIndex(s)
			if loc == nil || loc[0] != 0 || loc[1] == 0 {
				break
			}
			s = s[loc[1]:]
		}
	}
	if end {
		for s != "" {
			locs := re.FindAllStringIndex(s, -1)
			if len(locs) == 0 {
				break
			}
			last := locs[len(locs)-1]
			if last[1] != len(s) || last[0] == last[1] {
				break
			}
			s = s[:last[0]]
		}
	}
	return s
}

// kustoRepl turns \1 group references into Go's ${1}.
func kustoRepl(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && isDigit(s[i+1]) {
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
			continue
		}
		if s[i] == '$' {
			b.WriteString("$$")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// regexCache compiles each pattern once per query run: detection rules call extract() with the
// same constant pattern on every row. It is bounded so computed patterns cannot grow it
// without end.
type regexCache struct {
	m map[string]*regexp.Regexp
}

func (c *regexCache) get(pat string) (*regexp.Regexp, error) {
	if re, ok := c.m[pat]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 1024 {
		c.m = map[string]*regexp.Regexp{}
	}
	c.m[pat] = re
	return re, nil
}
