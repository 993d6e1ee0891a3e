package rulefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The community rule format names most fields as the API does, and nests the
// API's objects (entityMappings, incidentConfiguration, ...) unchanged. What
// differs: name is displayName, durations may be short (5m, 1h, 14d), the
// trigger operator is gt/lt/eq/ne, relevantTechniques mixes techniques and
// sub-techniques, and id is the rule's ID rather than a property.

// valueKind is what a field's value must be.
type valueKind int

const (
	kString    valueKind = iota
	kBool                // true or false
	kInt                 // a whole number
	kDuration            // short (5m, 1h, 14d) or ISO 8601; written as ISO 8601
	kOperator            // gt, lt, eq, ne or the API's name
	kStrings             // a list of strings
	kStringMap           // a mapping of string to string
	kObject              // a mapping with the fields named
	kObjects             // a list of such mappings
)

// shape is the value a field must have; for an object, its fields.
type shape struct {
	kind   valueKind
	fields map[string]shape
}

var (
	aString   = shape{kind: kString}
	aBool     = shape{kind: kBool}
	aDuration = shape{kind: kDuration}
	strs      = shape{kind: kStrings}
)

// carried are the top-level fields that become a property, by the property
// they become, with their shape.
var carried = map[string]struct {
	prop  string
	shape shape
}{
	"name":                {"displayName", aString},
	"description":         {"description", aString},
	"severity":            {"severity", aString},
	"enabled":             {"enabled", aBool},
	"query":               {"query", aString},
	"queryFrequency":      {"queryFrequency", aDuration},
	"queryPeriod":         {"queryPeriod", aDuration},
	"triggerOperator":     {"triggerOperator", shape{kind: kOperator}},
	"triggerThreshold":    {"triggerThreshold", shape{kind: kInt}},
	"suppressionEnabled":  {"suppressionEnabled", aBool},
	"suppressionDuration": {"suppressionDuration", aDuration},
	"tactics":             {"tactics", strs},
	"customDetails":       {"customDetails", shape{kind: kStringMap}},
	"entityMappings": {"entityMappings", shape{kind: kObjects, fields: map[string]shape{
		"entityType":    aString,
		"fieldMappings": {kind: kObjects, fields: map[string]shape{"identifier": aString, "columnName": aString}},
	}}},
	"alertDetailsOverride": {"alertDetailsOverride", shape{kind: kObject, fields: map[string]shape{
		"alertDisplayNameFormat":  aString,
		"alertDescriptionFormat":  aString,
		"alertSeverityColumnName": aString,
		"alertTacticsColumnName":  aString,
		"alertDynamicProperties":  {kind: kObjects, fields: map[string]shape{"alertProperty": aString, "value": aString}},
	}}},
	"eventGroupingSettings": {"eventGroupingSettings", shape{kind: kObject, fields: map[string]shape{"aggregationKind": aString}}},
	"incidentConfiguration": {"incidentConfiguration", shape{kind: kObject, fields: map[string]shape{
		"createIncident": aBool,
		"groupingConfiguration": {kind: kObject, fields: map[string]shape{
			"enabled":              aBool,
			"reopenClosedIncident": aBool,
			"lookbackDuration":     aDuration,
			"matchingMethod":       aString,
			"groupByEntities":      strs,
			"groupByAlertDetails":  strs,
			"groupByCustomDetails": strs,
		}},
	}}},
}

// ignored are the top-level fields read but not carried over, and why; each
// one a file has is named in the rule's notes.
var ignored = map[string]string{
	"requiredDataConnectors": "the workspace has no data connectors; the query's tables must exist in it",
	"version":                "the content's version is not kept on the rule",
	"status":                 "the content's publication status is not kept on the rule",
	"tags":                   "tags are not kept on the rule",
	"metadata":               "the content's metadata (author, support, categories) is not kept on the rule",
}

// required are the fields a rule must have, and what they are.
var required = []struct{ field, what string }{
	{"name", "the rule's display name"},
	{"severity", "High, Medium, Low or Informational"},
	{"query", "the KQL the rule runs"},
}

// scheduleFields are a Scheduled rule's schedule and trigger, which an NRT
// rule has none of.
var scheduleFields = []struct{ field, what string }{
	{"queryFrequency", "how often the rule runs, such as 5m or 1h"},
	{"queryPeriod", "how far back each run looks, such as 1h or 14d"},
	{"triggerOperator", "gt, lt, eq or ne"},
	{"triggerThreshold", "the number of result rows the operator compares with"},
}

var operators = map[string]string{
	"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual",
	"GreaterThan": "GreaterThan", "LessThan": "LessThan", "Equal": "Equal", "NotEqual": "NotEqual",
}

var (
	shortDurationRE = regexp.MustCompile(`^(\d{1,6})([smhd])$`)
	isoDurationRE   = regexp.MustCompile(`^P(?:\d{1,6}W)?(?:\d{1,6}D)?(?:T(?:\d{1,6}H)?(?:\d{1,6}M)?(?:\d{1,9}S)?)?$`)
	techniqueRE     = regexp.MustCompile(`^(T\d{4})(\.\d{3})?$`)
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// isoDuration writes a short duration (5m, 1h, 14d; s for seconds) in ISO
// 8601, and passes an ISO 8601 duration through.
func isoDuration(s string) (string, error) {
	if m := shortDurationRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1]) // at most 6 digits
		switch m[2] {
		case "s":
			return fmt.Sprintf("PT%dS", n), nil
		case "m":
			return fmt.Sprintf("PT%dM", n), nil
		case "h":
			return fmt.Sprintf("PT%dH", n), nil
		}
		return fmt.Sprintf("P%dD", n), nil
	}
	if isoDurationRE.MatchString(s) && s != "P" && !strings.HasSuffix(s, "T") {
		return s, nil
	}
	return "", fmt.Errorf("%s is not a duration: write 5m, 1h or 14d, or ISO 8601 such as PT5M, PT1H or P14D", quote(s))
}

// converter reads one YAML file.
type converter struct {
	file  string
	notes []string
}

func (c *converter) errAt(n *yaml.Node, field, format string, args ...any) *Error {
	return &Error{File: c.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// readYAML reads a community rule: one YAML document, a mapping of fields.
func readYAML(name string, data []byte, opts Options) (*Rule, error) {
	if err := checkText(name, data); err != nil {
		return nil, err
	}
	c := &converter{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "the file is empty; a rule file holds one rule's fields (id, name, query, ...)"}
		}
		return nil, yamlError(name, err)
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		return nil, &Error{File: name, Line: more.Line, Msg: "a second YAML document: a rule file holds one rule; put each rule in a file of its own"}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, c.errAt(root, "", "the file is not a YAML mapping of a rule's fields (id, name, query, ...)")
	}
	return c.rule(root, opts)
}

// yamlError names the line of a YAML syntax error.
func yamlError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// rule converts the top-level mapping root.
func (c *converter) rule(root *yaml.Node, opts Options) (*Rule, error) {
	r := &Rule{Kind: KindScheduled, Properties: map[string]any{}}
	present := map[string]*yaml.Node{} // field → its key
	err := c.eachField(root, "", func(key string, k, v *yaml.Node) error {
		present[key] = k
		switch key {
		case "id":
			id, err := c.str(v, "id")
			r.ID = id
			return err
		case "kind":
			kind, err := c.str(v, "kind")
			if err != nil {
				return err
			}
			// The format's own guide writes "scheduled"; its content mostly "Scheduled".
			switch {
			case strings.EqualFold(kind, KindScheduled):
				r.Kind = KindScheduled
			case strings.EqualFold(kind, KindNRT):
				r.Kind = KindNRT
			default:
				return c.errAt(v, "kind", "%s rules are not carried over: only Scheduled and NRT rules run in this workspace", quote(kind))
			}
			return nil
		case "relevantTechniques":
			return c.techniques(v, r.Properties)
		case "properties":
			return c.errAt(k, key, "a rule with properties is the API's JSON: save it in a .json file")
		}
		if why, ok := ignored[key]; ok {
			c.notes = append(c.notes, fmt.Sprintf("ignored %s: %s", key, why))
			return nil
		}
		f, ok := carried[key]
		if !ok {
			fields := topLevelFields()
			if near := closest(key, fields); near != "" {
				return c.errAt(k, key, "not a field of a rule; did you mean %s?", near)
			}
			return c.errAt(k, key, "not a field of a rule; the fields are %s", strings.Join(fields, ", "))
		}
		val, err := c.value(v, key, f.shape)
		r.Properties[f.prop] = val
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, f := range required {
		k := present[f.field]
		if k == nil {
			return nil, &Error{File: c.file, Field: f.field, Msg: "missing: a rule needs it (" + f.what + ")"}
		}
		if s, _ := r.Properties[carried[f.field].prop].(string); strings.TrimSpace(s) == "" {
			return nil, c.errAt(k, f.field, "is empty: a rule needs it (%s)", f.what)
		}
	}
	for _, f := range scheduleFields {
		switch k := present[f.field]; {
		case r.Kind == KindScheduled && k == nil:
			return nil, &Error{File: c.file, Field: f.field, Msg: "missing: a Scheduled rule needs it (" + f.what + ")"}
		case r.Kind == KindNRT && k != nil:
			return nil, c.errAt(k, f.field, "not a field of an NRT rule, which runs every minute on the rows that arrived and alerts on any result; remove it, or make the rule kind Scheduled")
		}
	}
	switch {
	case opts.ID != "":
		if r.ID != "" && r.ID != opts.ID {
			c.notes = append(c.notes, fmt.Sprintf("the file's id %s was replaced by --id", r.ID))
		}
		r.ID = opts.ID
	case present["id"] == nil:
		return nil, &Error{File: c.file, Field: "id", Msg: "missing: the rule's ID (a GUID), or give one with --id"}
	default:
		if err := CheckID(r.ID); err != nil {
			return nil, c.errAt(present["id"], "id", "%v", err)
		}
	}
	r.Notes = c.notes
	return r, nil
}

func topLevelFields() []string {
	names := slices.Collect(maps.Keys(carried))
	names = append(names, "id", "kind", "relevantTechniques")
	names = append(names, slices.Collect(maps.Keys(ignored))...)
	slices.Sort(names)
	return names
}

// closest is the name within two edits of s (a letter left out, added,
// changed or two swapped; fewer for a short s, which is near too much), or
// "" when none is or several are.
func closest(s string, names []string) string {
	n := utf8.RuneCountInString(s)
	if n > 64 { // no field's name is near that long, and the distance costs len(s)×len(name)
		return ""
	}
	found, most := "", min(2, n/3)
	for _, n := range names {
		if editDistance(strings.ToLower(s), strings.ToLower(n)) <= most {
			if found != "" {
				return ""
			}
			found = n
		}
	}
	return found
}

// editDistance is the optimal string alignment distance between a and b,
// by runes.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

// eachField calls fn with each key of mapping n and its value, refusing a
// key that is not a plain string or that appears twice.
func (c *converter) eachField(n *yaml.Node, field string, fn func(key string, k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" || k.Value == "<<" {
			return c.errAt(k, field, "a field name must be a plain word, not %s", describe(k))
		}
		if line, dup := seen[k.Value]; dup {
			return c.errAt(k, join(field, k.Value), "appears twice (first on line %d); keep one", line)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// value converts v, the value of field, which must have shape s.
func (c *converter) value(v *yaml.Node, field string, s shape) (any, error) {
	switch s.kind {
	case kString:
		return c.str(v, field)
	case kBool:
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
			return nil, c.errAt(v, field, "must be true or false, not %s", describe(v))
		}
		var b bool
		if err := v.Decode(&b); err != nil {
			return nil, c.errAt(v, field, "must be true or false, not %s", describe(v))
		}
		return b, nil
	case kInt:
		var n int64
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&n) != nil {
			return nil, c.errAt(v, field, "must be a whole number, not %s", describe(v))
		}
		return n, nil
	case kDuration:
		d, err := c.str(v, field)
		if err != nil {
			return nil, err
		}
		iso, err := isoDuration(d)
		if err != nil {
			return nil, c.errAt(v, field, "%v", err)
		}
		return iso, nil
	case kOperator:
		op, err := c.str(v, field)
		if err != nil {
			return nil, err
		}
		api, ok := operators[op]
		if !ok {
			return nil, c.errAt(v, field, "%s is not an operator: use gt, lt, eq or ne (GreaterThan, LessThan, Equal, NotEqual)", quote(op))
		}
		return api, nil
	case kStrings:
		return c.list(v, field, func(e *yaml.Node, path string) (any, error) { return c.str(e, path) })
	case kStringMap:
		if v.Kind != yaml.MappingNode {
			return nil, c.errAt(v, field, "must be a mapping of name: column, not %s", describe(v))
		}
		out := map[string]any{}
		err := c.eachField(v, field, func(key string, _, val *yaml.Node) error {
			s, err := c.str(val, join(field, key))
			out[key] = s
			return err
		})
		return out, err
	case kObject:
		return c.object(v, field, s.fields)
	case kObjects:
		return c.list(v, field, func(e *yaml.Node, path string) (any, error) { return c.object(e, path, s.fields) })
	}
	return nil, fmt.Errorf("rulefile: no conversion for %s", field) // a shape table entry without a case
}

// str is a string scalar. A number, boolean or empty value is refused rather
// than turned into text: `name: 2024` most likely meant something else.
func (c *converter) str(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
			hint = " (put it in quotes to make it text)"
		}
		return "", c.errAt(v, field, "must be a string, not %s%s", describe(v), hint)
	}
	return v.Value, nil
}

func (c *converter) list(v *yaml.Node, field string, elem func(*yaml.Node, string) (any, error)) ([]any, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, c.errAt(v, field, "must be a list, not %s", describe(v))
	}
	out := make([]any, 0, len(v.Content))
	for i, e := range v.Content {
		val, err := elem(e, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, val)
	}
	return out, nil
}

func (c *converter) object(v *yaml.Node, field string, fields map[string]shape) (map[string]any, error) {
	if v.Kind != yaml.MappingNode {
		return nil, c.errAt(v, field, "must be a mapping with fields %s, not %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "), describe(v))
	}
	out := map[string]any{}
	err := c.eachField(v, field, func(key string, k, val *yaml.Node) error {
		s, ok := fields[key]
		if !ok {
			names := slices.Sorted(maps.Keys(fields))
			if near := closest(key, names); near != "" {
				return c.errAt(k, join(field, key), "not a field of %s; did you mean %s?", field, near)
			}
			return c.errAt(k, join(field, key), "not a field of %s; its fields are %s", field, strings.Join(names, ", "))
		}
		conv, err := c.value(val, join(field, key), s)
		out[key] = conv
		return err
	})
	return out, err
}

// techniques reads relevantTechniques: T1110 is a technique; T1078.004 is a
// sub-technique, and its parent T1078 a technique too, as the API keeps them.
func (c *converter) techniques(v *yaml.Node, props map[string]any) error {
	ids, err := c.list(v, "relevantTechniques", func(e *yaml.Node, path string) (any, error) {
		s, err := c.str(e, path)
		if err != nil {
			return nil, err
		}
		if !techniqueRE.MatchString(s) {
			return nil, c.errAt(e, path, "%s is not a technique ID such as T1110 or a sub-technique ID such as T1078.004", quote(s))
		}
		return s, nil
	})
	if err != nil {
		return err
	}
	var techs, subs []any
	for _, id := range ids {
		m := techniqueRE.FindStringSubmatch(id.(string))
		if !slices.Contains(techs, any(m[1])) {
			techs = append(techs, m[1])
		}
		if m[2] != "" && !slices.Contains(subs, any(m[0])) {
			subs = append(subs, m[0])
		}
	}
	props["techniques"] = techs
	if len(subs) > 0 {
		props["subTechniques"] = subs
	}
	return nil
}

// describe names a YAML value's kind for a message, quoting a scalar.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias (*" + n.Value + "); write the value out"
	}
	switch n.ShortTag() {
	case "!!null":
		return "an empty value"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	case "!!str":
		return quote(n.Value)
	}
	return quote(n.Value) + " (" + n.ShortTag() + ")"
}
