package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// writeJSON prints the server's JSON as it was sent, indented. Lists are
// printed as one JSON array of the server's items across every page.
func writeJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not valid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeJSONOf prints v, a value of the command's own (a report, a list), as
// indented JSON.
func writeJSONOf(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeJSON(w, raw)
}

// writeJSONList prints items as one indented JSON array.
func writeJSONList(w io.Writer, items []json.RawMessage) error {
	return writeJSONOf(w, items)
}

// writeList prints a listing: with -o json the server's items as one array,
// else a table with a row for each item, decoded.
func writeList[T any](w io.Writer, output string, items []json.RawMessage,
	decode func(json.RawMessage) (*T, error), header []string, row func(*T) []string) error {
	if output == outputJSON {
		return writeJSONList(w, items)
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		v, err := decode(it)
		if err != nil {
			return err
		}
		rows = append(rows, row(v))
	}
	return writeTable(w, header, rows)
}

// writeOne prints one resource as writeList prints many: with -o json the
// server's JSON, else its row under header. It returns the decoded resource
// for the caller to print its details under the row, or nil with -o json.
func writeOne[T any](w io.Writer, output string, raw json.RawMessage,
	decode func(json.RawMessage) (*T, error), header []string, row func(*T) []string) (*T, error) {
	if output == outputJSON {
		return nil, writeJSON(w, raw)
	}
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if err := writeTable(w, header, [][]string{row(v)}); err != nil {
		return nil, err
	}
	return v, nil
}

// writeTable prints aligned columns. Cells are cleaned of control characters
// because they hold names the server echoes back, and a name must not be able
// to move the cursor or recolour a terminal.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			c = clean(c)
			if c == "" {
				c = "-"
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprint(tw, "\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// clean replaces control characters, tabs included (they would break the
// columns), with a visible placeholder.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

// unixTime renders a Key Vault timestamp (Unix seconds) in UTC, or "" when absent.
func unixTime(sec *int64) string {
	if sec == nil || *sec == 0 {
		return ""
	}
	return time.Unix(*sec, 0).UTC().Format(time.RFC3339)
}

func yesNo(b *bool) string {
	if b == nil {
		return ""
	}
	if *b {
		return "yes"
	}
	return "no"
}

// kidParts splits a key ID, https://{vault}.{suffix}:{port}/keys/{name}[/{version}],
// into its name and version.
func kidParts(kid string) (name, version string) {
	u, err := url.Parse(kid)
	if err != nil {
		return kid, ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) >= 2 {
		name = parts[1]
	}
	if len(parts) >= 3 {
		version = parts[2]
	}
	return name, version
}

// formatTags renders tags as k=v pairs in a stable order.
func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}
