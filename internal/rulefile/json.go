package rulefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/jsonbody"
)

// resourceType is the type the API gives a rule.
const resourceType = "Microsoft.SecurityInsights/alertRules"

// checkText refuses a file that is not UTF-8 text: decoders would replace
// the bad bytes, and a rule must never be repaired on its way in.
func checkText(name string, data []byte) error {
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return &Error{File: name, Line: lineAt(data, i), Msg: "not UTF-8 text; save the file as UTF-8"}
	}
	return nil
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// element is one rule resource of a JSON file and the line it starts on.
type element struct {
	raw  json.RawMessage
	line int
}

// readJSON reads the API's JSON: one rule resource, {"value":[...]} as the
// API lists them, or an array of them.
func readJSON(name string, data []byte, opts Options) ([]Rule, error) {
	if err := checkText(name, data); err != nil {
		return nil, err
	}
	// A byte order mark marks the encoding, not content; editors on Windows write one.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, jsonSyntax(name, data, err)
	}
	elems, err := elements(name, data)
	if err != nil {
		return nil, err
	}
	if opts.ID != "" && len(elems) != 1 {
		return nil, &Error{File: name, Msg: fmt.Sprintf("--id names one rule, but the file holds %d", len(elems))}
	}
	rules := make([]Rule, 0, len(elems))
	list := !isResource(probe)
	for i, e := range elems {
		r, err := resource(e.raw, opts)
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				fe.File, fe.Line = name, e.line
				if list {
					fe.Field = strings.TrimSuffix(fmt.Sprintf("rule %d: %s", i+1, fe.Field), ": ")
				}
			}
			return nil, err
		}
		rules = append(rules, *r)
	}
	return rules, nil
}

// isResource says whether a decoded file is one rule rather than a list.
func isResource(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, list := m["value"]
	return !list
}

func jsonSyntax(name string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{File: name, Line: lineAt(data, int(se.Offset)), Msg: "not valid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{File: name, Msg: "not valid JSON: the file ends early"}
	}
	return &Error{File: name, Msg: "not valid JSON: " + err.Error()}
}

// elements splits a valid JSON file into its rule resources.
func elements(name string, data []byte) ([]element, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	start := skipSpace(data, 0)
	if start == len(data) {
		return nil, &Error{File: name, Msg: "the file is empty; it holds a rule as `sealwatch rule show -o json` prints it"}
	}
	switch data[start] {
	case '[':
		_, _ = dec.Token() // the '[' of a file already known to be valid JSON
		return arrayElements(dec, data)
	case '{':
	default:
		return nil, &Error{File: name, Line: lineAt(data, start), Msg: "a rule file holds a JSON object (one rule, or {\"value\":[...]}) or an array of rules"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonSyntax(name, data, err)
	}
	if _, ok := top["value"]; !ok {
		return []element{{raw: data, line: lineAt(data, start)}}, nil
	}
	for k := range top {
		if k != "value" && k != "nextLink" {
			return nil, &Error{File: name, Field: k, Msg: "a listing has only value (and nextLink); is this a rule with a field named value?"}
		}
	}
	// Walk to the value's array, so each rule's line can be named.
	_, _ = dec.Token() // '{'
	for dec.More() {
		key, _ := dec.Token()
		if key != "value" {
			var skip json.RawMessage
			_ = dec.Decode(&skip)
			continue
		}
		if t, _ := dec.Token(); t != json.Delim('[') {
			return nil, &Error{File: name, Field: "value", Msg: "must be an array of rules"}
		}
		return arrayElements(dec, data)
	}
	return nil, &Error{File: name, Field: "value", Msg: "must be an array of rules"} // unreachable: top has value
}

// arrayElements reads the elements of the array dec has just entered.
func arrayElements(dec *json.Decoder, data []byte) ([]element, error) {
	var out []element
	for dec.More() {
		off := skipSpace(data, int(dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err // the file parsed as JSON a moment ago
		}
		out = append(out, element{raw: raw, line: lineAt(data, off)})
	}
	return out, nil
}

// skipSpace returns the offset of the first byte at or after off that is
// neither white space nor a comma between elements.
func skipSpace(data []byte, off int) int {
	for off < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}

// resource reads one rule as the API serves it: kind and properties, with
// the resource fields the server sets (id, type, etag) accepted and unused.
func resource(raw json.RawMessage, opts Options) (*Rule, error) {
	var res struct {
		ID         string          `json:"id"`
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Kind       string          `json:"kind"`
		Etag       string          `json:"etag"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := jsonbody.DecodeStrict(raw, &res); err != nil {
		return nil, &Error{Msg: jsonbody.Message(err, "a rule is {\"name\",\"kind\",\"properties\"} as `sealwatch rule show -o json` prints it")}
	}
	switch {
	case res.Type != "" && res.Type != resourceType:
		return nil, &Error{Field: "type", Msg: fmt.Sprintf("%s is not a rule's type (%s)", quote(res.Type), resourceType)}
	case res.Kind == "":
		return nil, &Error{Field: "kind", Msg: "missing: Scheduled or NRT"}
	case res.Kind != KindScheduled && res.Kind != KindNRT:
		return nil, &Error{Field: "kind", Msg: fmt.Sprintf("%s rules are not carried over: only Scheduled and NRT rules run in this workspace", quote(res.Kind))}
	}
	id := opts.ID
	if id == "" {
		if res.Name == "" {
			return nil, &Error{Field: "name", Msg: "missing: the rule's ID; add \"name\", or give one with --id"}
		}
		if err := CheckID(res.Name); err != nil {
			return nil, &Error{Field: "name", Msg: err.Error()}
		}
		id = res.Name
	}
	if len(bytes.TrimSpace(res.Properties)) == 0 || bytes.Equal(bytes.TrimSpace(res.Properties), []byte("null")) {
		return nil, &Error{Field: "properties", Msg: "missing: the rule's displayName, query, severity and the rest"}
	}
	pdec := json.NewDecoder(bytes.NewReader(res.Properties))
	pdec.UseNumber() // a threshold stays the number it was
	var props map[string]any
	if err := pdec.Decode(&props); err != nil {
		return nil, &Error{Field: "properties", Msg: jsonbody.Message(err, "")}
	}
	for _, f := range []string{"displayName", "query"} {
		if s, ok := props[f].(string); !ok || strings.TrimSpace(s) == "" {
			return nil, &Error{Field: "properties." + f, Msg: "missing: a rule needs a non-empty string"}
		}
	}
	return &Rule{ID: id, Kind: res.Kind, Properties: props}, nil
}
