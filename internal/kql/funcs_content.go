package kql

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the scalar functions that published detection content calls beyond the
// core set in funcs.go: the legacy names rules still use, and the string, array and datetime
// helpers current content needs. Unlike the older entries they check their argument types at
// bind time, so a rule that passes a number where a string belongs is refused with the
// argument named instead of silently yielding nulls.

// argKind is the set of types one argument accepts. Null and dynamic arguments always pass:
// what they hold is known only when the row is read.
type argKind []Type

var (
	kString  = argKind{TypeString}
	kInteger = argKind{TypeInt, TypeLong}
	kNumber  = argKind{TypeInt, TypeLong, TypeReal}
	kArray   = argKind{TypeDynamic}
	kCodes   = argKind{TypeInt, TypeLong, TypeDynamic}
)

func (k argKind) accepts(t Type) bool {
	if t == TypeNull || t == TypeDynamic {
		return true
	}
	for _, w := range k {
		if w == t {
			return true
		}
	}
	return false
}

func (k argKind) String() string {
	names := make([]string, len(k))
	for i, t := range k {
		names[i] = t.String()
	}
	return strings.Join(names, " or ")
}

// checked is a result-type function that first checks each argument against its kind; the last
// kind covers any further arguments of a variadic function.
func checked(ret Type, kinds ...argKind) func([]cexpr) (Type, error) {
	return func(a []cexpr) (Type, error) {
		if err := checkArgs(a, kinds); err != nil {
			return TypeNull, err
		}
		return ret, nil
	}
}

func checkArgs(a []cexpr, kinds []argKind) error {
	for i, c := range a {
		k := kinds[min(i, len(kinds)-1)]
		if !k.accepts(c.t) {
			return fmt.Errorf("argument %d must be %s, not %s", i+1, k, c.t)
		}
	}
	return nil
}

// registerContentFuncs adds this file's functions to the table built in funcs.go.
func registerContentFuncs(m map[string]fnSpec) {
	// Legacy spellings are the same functions under another name.
	m["parsejson"] = m["parse_json"]
	m["base64_decodestring"] = m["base64_decode_tostring"]
	arrayStrcat := m["strcat_array"]
	arrayStrcat.ret = checked(TypeString, kArray, kString)
	m["array_strcat"] = arrayStrcat

	m["extract_json"] = fnSpec{min: 2, max: 3, ret: extractJSONType, impl: extractJSON}
	m["extractjson"] = m["extract_json"]
	m["tohex"] = fnSpec{min: 1, max: 2, ret: checked(TypeString, kInteger, kInteger), bind: bindToHex}
	m["string_size"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kString), impl: func(a []any) any {
		return int64(len(str(a[0])))
	}}
	m["translate"] = fnSpec{min: 3, max: 3, ret: checked(TypeString, kString, kString, kString), impl: func(a []any) any {
		return translate(str(a[0]), str(a[1]), str(a[2]))
	}}
	m["make_datetime"] = fnSpec{min: 3, max: 6, ret: makeDatetimeType, impl: makeDatetime}
	m["base64_decode_toarray"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kString), impl: base64DecodeToArray}
	m["indexof_regex"] = fnSpec{min: 2, max: 5, ret: checked(TypeLong, kString, kString, kInteger), rx: indexOfRegex}
	m["unicode_codepoints_to_string"] = fnSpec{min: 1, max: 64, ret: checked(TypeString, kCodes), impl: codepointsToString}
	m["zip"] = fnSpec{min: 2, max: 16, ret: checked(TypeDynamic, kArray), impl: zipArrays}
	m["parse_command_line"] = fnSpec{min: 2, max: 2, ret: parseCommandLineType, impl: func(a []any) any {
		return windowsArgv(str(a[0]))
	}}

	m["pack_dictionary"] = m["bag_pack"]
	m["endofyear"] = fnSpec{min: 1, max: 1, ret: checked(TypeDatetime, kDatetime), impl: func(a []any) any {
		t, ok := a[0].(time.Time)
		if !ok {
			return nil
		}
		return time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC).Add(-100)
	}}
	m["unicode_codepoints_from_string"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kString), impl: codepointsFromString}
	m["strcmp"] = fnSpec{min: 2, max: 2, ret: checked(TypeInt, kString, kString), impl: func(a []any) any {
		return int64(strings.Compare(str(a[0]), str(a[1])))
	}}
	m["jaccard_index"] = fnSpec{min: 2, max: 2, ret: checked(TypeReal, kArray, kArray), impl: jaccardIndex}
	m["bag_remove_keys"] = fnSpec{min: 2, max: 2, ret: checked(TypeDynamic, kArray, kArray), impl: bagRemoveKeys}
	m["parse_urlquery"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kString), impl: parseURLQuery}
	m["parseurlquery"] = m["parse_urlquery"]
	m["dynamic_to_json"] = fnSpec{min: 1, max: 1, ret: fixed(TypeString), bind: bindDynamicToJSON}
}

// codepointsFromString is the string's Unicode code points as an array of longs.
func codepointsFromString(a []any) any {
	s := str(a[0])
	out := make([]any, 0, utf8.RuneCountInString(s))
	for _, r := range s {
		out = append(out, int64(r))
	}
	return out
}

// jaccardIndex is |a ∩ b| / |a ∪ b| over the arrays' distinct values; two empty arrays have
// no union to divide by, so their index is NaN, as a real division of 0 by 0 is.
func jaccardIndex(a []any) any {
	x, ok1 := a[0].([]any)
	y, ok2 := a[1].([]any)
	if !ok1 || !ok2 {
		return nil
	}
	distinct := func(arr []any) map[string]bool {
		m := make(map[string]bool, len(arr))
		for _, v := range arr {
			m[string(keyAppend(nil, v))] = true
		}
		return m
	}
	sx, sy := distinct(x), distinct(y)
	inter := 0
	for k := range sx {
		if sy[k] {
			inter++
		}
	}
	union := len(sx) + len(sy) - inter
	if union == 0 {
		return math.NaN()
	}
	return float64(inter) / float64(union)
}

// bagRemoveKeys copies the bag without the keys named: a plain name is a key of the bag
// itself, a JSONPath such as $.a.b one nested within it. A name that is not a string, or a
// path with an array index, removes nothing; a value that is not a bag gives null.
func bagRemoveKeys(a []any) any {
	bag, ok := a[0].(map[string]any)
	keys, ok2 := a[1].([]any)
	if !ok || !ok2 {
		return nil
	}
	out := cloneBag(bag)
	for _, k := range keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		path := []jsonStep{{key: name}}
		if strings.HasPrefix(name, "$") {
			p, err := parseJSONPath(name)
			if err != nil || len(p) == 0 {
				continue
			}
			path = p
		}
		removePath(out, path)
	}
	return out
}

// cloneBag copies a bag and the bags nested in it, so that removing a nested key leaves the
// input as it was.
func cloneBag(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			v = cloneBag(inner)
		}
		out[k] = v
	}
	return out
}

func removePath(m map[string]any, path []jsonStep) {
	for _, s := range path {
		if s.isIdx {
			return
		}
	}
	for _, s := range path[:len(path)-1] {
		inner, ok := m[s.key].(map[string]any)
		if !ok {
			return
		}
		m = inner
	}
	delete(m, path[len(path)-1].key)
}

// parseURLQuery reads a URL's query part into {"Query Parameters": {name: value}}; a name given
// twice keeps its last value, as parse_url does.
func parseURLQuery(a []any) any {
	q := map[string]any{}
	vals, err := url.ParseQuery(strings.TrimPrefix(str(a[0]), "?"))
	if err == nil {
		for k, v := range vals {
			q[k] = v[len(v)-1]
		}
	}
	return map[string]any{"Query Parameters": q}
}

// bindDynamicToJSON renders a dynamic value canonically (bags' keys sorted, strings quoted);
// a value of any other type is rendered as tostring() renders it.
func bindDynamicToJSON(cs []cexpr) func([]any) any {
	if cs[0].t != TypeDynamic {
		return func(a []any) any { return str(a[0]) }
	}
	return func(a []any) any {
		if a[0] == nil {
			return ""
		}
		return dynamicJSON(a[0])
	}
}

// bindToHex picks the width of the two's complement from the argument's declared type: a
// negative int renders in 8 hex digits, a negative long in 16.
func bindToHex(cs []cexpr) func([]any) any {
	bits := 64
	if cs[0].t == TypeInt {
		bits = 32
	}
	return func(a []any) any {
		v, ok := a[0].(int64)
		if !ok {
			return nil
		}
		var s string
		switch {
		case v >= 0:
			s = strconv.FormatUint(uint64(v), 16)
		case bits == 32 && v >= math.MinInt32:
			s = strconv.FormatUint(uint64(uint32(int32(v))), 16)
		default:
			s = strconv.FormatUint(uint64(v), 16)
		}
		if len(a) == 2 {
			n, ok := a[1].(int64)
			if !ok {
				return nil
			}
			if n = min(n, 16); int64(len(s)) < n {
				s = strings.Repeat("0", int(n)-len(s)) + s
			}
		}
		return s
	}
}

// translate maps each character of source found in search to the character at the same place
// in repl; when repl is shorter its last character stands in, and an empty repl deletes.
func translate(search, repl, source string) string {
	to := []rune(repl)
	m := map[rune]int{}
	i := 0
	for _, r := range search {
		if _, seen := m[r]; !seen {
			m[r] = i
		}
		i++
	}
	var b strings.Builder
	for _, r := range source {
		j, ok := m[r]
		switch {
		case !ok:
			b.WriteRune(r)
		case len(to) == 0:
		case j < len(to):
			b.WriteRune(to[j])
		default:
			b.WriteRune(to[len(to)-1])
		}
	}
	return b.String()
}

// makeDatetimeType allows the documented forms: date; date, hour, minute; and with seconds.
func makeDatetimeType(a []cexpr) (Type, error) {
	if len(a) == 4 {
		return TypeNull, fmt.Errorf("expects 3, 5 or 6 arguments (year, month, day[, hour, minute[, second]]), got 4")
	}
	return checked(TypeDatetime, kInteger, kInteger, kInteger, kInteger, kInteger, kNumber)(a)
}

// makeDatetime is null when any part is null or out of its range, rather than rolling over
// into the next day or month as time.Date would.
func makeDatetime(a []any) any {
	var p [5]int64
	for i := range min(len(a), 5) {
		v, ok := a[i].(int64)
		if !ok {
			return nil
		}
		p[i] = v
	}
	sec := 0.0
	if len(a) == 6 {
		s, ok := asReal(a[5])
		if !ok {
			return nil
		}
		sec = s
	}
	y, mo, d, h, mi := p[0], p[1], p[2], p[3], p[4]
	if y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || !(sec >= 0 && sec < 60) {
		return nil
	}
	if d > int64(time.Date(int(y), time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()) {
		return nil
	}
	ticks := int64(math.Round(sec * 1e7)) // Kusto's datetimes count 100 ns ticks
	return time.Date(int(y), time.Month(mo), int(d), int(h), int(mi), 0, 0, time.UTC).Add(time.Duration(ticks) * 100)
}

func base64DecodeToArray(a []any) any {
	s := str(a[0])
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil
		}
	}
	out := make([]any, len(b))
	for i, c := range b {
		out[i] = int64(c)
	}
	return out
}

// indexOfRegex finds the occurrence-th non-overlapping match within length characters from
// start; positions count characters, not bytes. A negative start, an occurrence below 1 or a
// length below -1 give null, as the documentation says; a bad pattern gives null too.
func indexOfRegex(rc *regexCache, a []any) any {
	start, length, occurrence := int64(0), int64(-1), int64(1)
	for i, dst := range []*int64{&start, &length, &occurrence} {
		if len(a) > i+2 {
			v, ok := a[i+2].(int64)
			if !ok {
				return nil
			}
			*dst = v
		}
	}
	if start < 0 || length < -1 || occurrence < 1 {
		return nil
	}
	re, err := rc.get(str(a[1]))
	if err != nil {
		return nil
	}
	r := []rune(str(a[0]))
	if start > int64(len(r)) {
		return int64(-1)
	}
	end := int64(len(r))
	if length >= 0 && length < end-start { // compared so that a huge length cannot overflow
		end = start + length
	}
	window := string(r[start:end])
	ms := re.FindAllStringIndex(window, int(min(occurrence, math.MaxInt32)))
	if int64(len(ms)) < occurrence {
		return int64(-1)
	}
	return start + int64(utf8.RuneCountInString(window[:ms[occurrence-1][0]]))
}

// zipArrays pairs the arrays' elements by index; a shorter array contributes nulls, and an
// argument that is not an array makes the result null.
func zipArrays(a []any) any {
	arrs := make([][]any, len(a))
	n := 0
	for i, v := range a {
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		arrs[i], n = arr, max(n, len(arr))
	}
	out := make([]any, n)
	for j := range out {
		row := make([]any, len(arrs))
		for i, arr := range arrs {
			if j < len(arr) {
				row[i] = arr[j]
			}
		}
		out[j] = row
	}
	return out
}

// codepointsToString joins numbers and arrays of numbers into a string; any value that is not
// a valid code point makes the whole result null.
func codepointsToString(a []any) any {
	var b strings.Builder
	add := func(v any) bool {
		n, ok := v.(int64)
		if !ok || n < 0 || n > utf8.MaxRune || !utf8.ValidRune(rune(n)) {
			return false
		}
		b.WriteRune(rune(n))
		return true
	}
	for _, v := range a {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if !add(e) {
					return nil
				}
			}
			continue
		}
		if !add(v) {
			return nil
		}
	}
	return b.String()
}

// extractJSONType is string unless a constant type names another; a constant path that is not
// a JSONPath the engine reads is refused here rather than yielding null on every row.
func extractJSONType(a []cexpr) (Type, error) {
	if err := checkArgs(a, []argKind{kString, kString, kString}); err != nil {
		return TypeNull, err
	}
	if a[0].konst {
		if _, err := parseJSONPath(str(a[0].value())); err != nil {
			return TypeNull, err
		}
	}
	if len(a) == 3 {
		if !a[2].konst {
			return TypeNull, fmt.Errorf("the type must be a constant such as typeof(long)")
		}
		t, ok := ParseType(typeofName(a[2]))
		if !ok {
			return TypeNull, fmt.Errorf("unknown type %q", typeofName(a[2]))
		}
		return t, nil
	}
	return TypeString, nil
}

func extractJSON(a []any) any {
	path, err := parseJSONPath(str(a[0]))
	if err != nil {
		return nil
	}
	doc, found := a[1], true
	if s, ok := a[1].(string); ok {
		doc, found = parseDynamic(s)
	}
	var v any
	if found {
		v, found = walkJSONPath(doc, path)
	}
	if len(a) == 3 {
		t, _ := ParseType(str(a[2]))
		if !found {
			return nil
		}
		return castFromDynamic(v, t)
	}
	if !found || v == nil {
		return ""
	}
	return toString(v)
}

// jsonStep is one accessor of a JSONPath: a property name or an array index.
type jsonStep struct {
	key   string
	index int
	isIdx bool
}

// parseJSONPath reads the subset of JSONPath the language documents: $ for the root,
// .name or ['name'] for a property and [n] for an array element.
func parseJSONPath(p string) ([]jsonStep, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("JSONPath %q must start with $", p)
	}
	var steps []jsonStep
	for i := 1; i < len(p); {
		switch p[i] {
		case '.':
			j := i + 1
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("JSONPath %q has an empty property name", p)
			}
			steps = append(steps, jsonStep{key: p[i+1 : j]})
			i = j
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("JSONPath %q has an unclosed [", p)
			}
			inner := strings.TrimSpace(p[i+1 : i+end])
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				steps = append(steps, jsonStep{key: inner[1 : len(inner)-1]})
			} else if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				steps = append(steps, jsonStep{index: n, isIdx: true})
			} else {
				return nil, fmt.Errorf("JSONPath %q: [%s] is neither a quoted name nor an index", p, inner)
			}
			i += end + 1
		default:
			return nil, fmt.Errorf("JSONPath %q: unexpected %q at offset %d", p, p[i], i)
		}
	}
	return steps, nil
}

func walkJSONPath(v any, path []jsonStep) (any, bool) {
	for _, s := range path {
		if s.isIdx {
			arr, ok := v.([]any)
			if !ok || s.index >= len(arr) {
				return nil, false
			}
			v = arr[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// parseCommandLineType accepts only the parser the language has, "windows", and only as a
// constant: a rule naming another would otherwise get nulls on every row.
func parseCommandLineType(a []cexpr) (Type, error) {
	if err := checkArgs(a, []argKind{kString, kString}); err != nil {
		return TypeNull, err
	}
	if !a[1].konst || !strings.EqualFold(str(a[1].value()), "windows") {
		return TypeNull, fmt.Errorf(`the parser type must be the constant "windows", the only one supported`)
	}
	return TypeDynamic, nil
}

// windowsArgv splits a command line as CommandLineToArgvW does. The program name ends at the
// first blank, or is the quoted text up to the next quote, with backslashes taken literally.
// In the arguments after it, 2n backslashes before a quote give n backslashes and the quote
// opens or closes a quoted part, 2n+1 give n and a literal quote, and other backslashes are
// literal; inside a quoted part "" gives a literal quote and ends the part.
func windowsArgv(s string) []any {
	out := []any{}
	i := 0
	isBlank := func(c byte) bool { return c == ' ' || c == '\t' }
	if s == "" {
		return out
	}
	var b strings.Builder
	if s[0] == '"' {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			end = len(s) - 1
		}
		b.WriteString(s[1 : 1+end])
		i = min(len(s), end+2)
	} else {
		for i < len(s) && !isBlank(s[i]) {
			i++
		}
		b.WriteString(s[:i])
	}
	out = append(out, b.String())
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i >= len(s) {
			return out
		}
		b.Reset()
		quoted := false
		for i < len(s) && (quoted || !isBlank(s[i])) {
			switch c := s[i]; {
			case c == '\\':
				n := 0
				for i < len(s) && s[i] == '\\' {
					n++
					i++
				}
				if i < len(s) && s[i] == '"' {
					b.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						b.WriteByte('"')
						i++
					}
					continue
				}
				b.WriteString(strings.Repeat(`\`, n))
			case c == '"':
				if quoted && i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					quoted = false
					continue
				}
				quoted = !quoted
				i++
			default:
				b.WriteByte(c)
				i++
			}
		}
		out = append(out, b.String())
	}
}
