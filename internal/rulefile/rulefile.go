// Package rulefile reads analytics rules from files — the alertRules API's
// JSON and the community rule YAML of public detection-content repositories —
// into the API's kind and properties, refusing what it cannot carry over with
// the file, line and field named.
package rulefile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Kinds of rule this workspace runs.
const (
	KindScheduled = "Scheduled"
	KindNRT       = "NRT"
)

// MaxFileBytes bounds a rule file: a listing of some thousand rules fits.
const MaxFileBytes = 32 << 20

// Rule is one rule read from a file, ready to be PUT.
type Rule struct {
	// ID is the rule's resource name: the YAML's id, the JSON's name, or
	// Options.ID.
	ID   string
	Kind string
	// Properties are the API's properties. "enabled" is present only when
	// the file says, so that the caller decides for a file that does not.
	Properties map[string]any
	// Notes name the fields that were read but not carried over, and why.
	Notes []string
}

// DisplayName is the rule's displayName, or "" when it has none.
func (r *Rule) DisplayName() string {
	s, _ := r.Properties["displayName"].(string)
	return s
}

// Options adjust Read.
type Options struct {
	// ID replaces the file's own rule ID; the file must then hold one rule.
	ID string
}

// Error is a file that cannot be read as rules: where, which field, and what
// is wrong. Line is 0 when no line can be named; Field is "" when the file as
// a whole is at fault.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrUnknownFormat is a file whose name ends in none of .json, .yaml, .yml.
var ErrUnknownFormat = errors.New("not a rule file: rule files end in .json, .yaml or .yml")

// IsRuleFile says whether name is a rule file by its extension.
func IsRuleFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// Read reads the rules in data, named name: the API's JSON in a .json file
// (one rule, {"value":[...]} or an array of rules), the community YAML in a
// .yaml or .yml file (one rule). A refusal is an *Error, or ErrUnknownFormat.
func Read(name string, data []byte, opts Options) ([]Rule, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("the file is %d bytes; a rule file holds at most %d", len(data), MaxFileBytes)}
	}
	if opts.ID != "" {
		if err := CheckID(opts.ID); err != nil {
			return nil, &Error{File: name, Msg: "--id: " + err.Error()}
		}
	}
	var rules []Rule
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		rules, err = readJSON(name, data, opts)
	case ".yaml", ".yml":
		var r *Rule
		if r, err = readYAML(name, data, opts); err == nil {
			rules = []Rule{*r}
		}
	default:
		return nil, fmt.Errorf("%s: %w", name, ErrUnknownFormat)
	}
	if err != nil {
		return nil, err
	}
	return rules, nil
}

// CheckID refuses what the API would refuse as a rule ID: 1-128 letters,
// digits, dashes and underscores (a GUID is usual).
func CheckID(id string) error {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("a rule ID is 1-128 letters, digits, dashes and underscores (a GUID is usual), not %s", quote(id))
	}
	return nil
}

// quote shows a value from a file in a message: quoted, and cut short.
func quote(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
