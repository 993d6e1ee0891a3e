package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// A query answer is shown within the limits the cloud's Logs query API puts
// on one answer (500,000 rows, about 100 MiB of rows), and on a terminal
// within a screenful's worth more: the first 10,000 rows, as a portal shows,
// unless --max-rows asks for more. What is left out is said on stderr.
const (
	apiMaxRows      = 500_000   // the rows of one answer; of a result of more the node answers the first
	apiMaxBytes     = 100 << 20 // the bytes of the rows of one answer (~104 MB)
	terminalMaxRows = 10_000    // the rows shown on a terminal by default
)

// answerCap is what capAnswer left out of an answer.
type answerCap struct {
	shown, total int  // rows, over every table
	byBytes      bool // the byte limit, not the row limit, stopped it
}

// capAnswer keeps, of the query API's answer raw, the first rows of its
// tables, in order, up to maxRows rows and maxBytes bytes of row JSON in
// all. An answer within both is returned as it is, byte for byte; one over
// either is written anew with its other fields kept.
func capAnswer(raw json.RawMessage, maxRows int, maxBytes int) (json.RawMessage, *answerCap, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, fmt.Errorf("decode the query result: %w", err)
	}
	var tables []map[string]json.RawMessage
	if err := json.Unmarshal(top["tables"], &tables); top["tables"] != nil && err != nil {
		return nil, nil, fmt.Errorf("decode the query result's tables: %w", err)
	}
	c := &answerCap{}
	bytes, full := 0, false
	for _, t := range tables {
		var rows []json.RawMessage
		if err := json.Unmarshal(t["rows"], &rows); t["rows"] != nil && err != nil {
			return nil, nil, fmt.Errorf("decode the query result's rows: %w", err)
		}
		c.total += len(rows)
		keep := 0
		for keep < len(rows) && !full {
			if c.shown >= maxRows {
				full = true
				break
			}
			if bytes+len(rows[keep]) > maxBytes {
				full, c.byBytes = true, true
				break
			}
			c.shown++
			bytes += len(rows[keep])
			keep++
		}
		if keep < len(rows) {
			kept, err := json.Marshal(rows[:keep])
			if err != nil {
				return nil, nil, err
			}
			t["rows"] = kept
		}
	}
	if c.shown == c.total {
		return raw, nil, nil
	}
	var err error
	if top["tables"], err = json.Marshal(tables); err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(top)
	return out, c, err
}

// printCapNotice says on w what the answer left out, and how to see more.
func printCapNotice(w io.Writer, c *answerCap, maxRows int, flagSet bool) {
	why := fmt.Sprintf("--max-rows %d", maxRows)
	switch {
	case c.byBytes:
		why = fmt.Sprintf("the %s of rows one answer holds", formatMiB(apiMaxBytes))
	case !flagSet && maxRows == terminalMaxRows:
		why = fmt.Sprintf("on a terminal, %d rows unless --max-rows says otherwise", terminalMaxRows)
	}
	fmt.Fprintf(w, "notice: the result is capped: showing the first %d of %d rows (%s); narrow the query with where, take or summarize", c.shown, c.total, why)
	if !c.byBytes && maxRows < apiMaxRows {
		fmt.Fprintf(w, ", or show up to %d rows with --max-rows", apiMaxRows)
	}
	fmt.Fprintln(w)
}

func formatMiB(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

// partialNotice is what the node said of an answer holding only part of its result (the
// cloud's PartialError beside the tables: the rows or bytes one answer holds were reached),
// or "" for a whole answer.
func partialNotice(raw json.RawMessage) (string, error) {
	var ans struct {
		Error *struct {
			Code, Message string
			Details       []struct{ Message string }
		}
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", fmt.Errorf("decode the query result: %w", err)
	}
	if ans.Error == nil {
		return "", nil
	}
	what := ans.Error.Message
	if len(ans.Error.Details) > 0 && ans.Error.Details[0].Message != "" {
		what = ans.Error.Details[0].Message
	}
	return fmt.Sprintf("notice: the node answered part of the result (%s): %s", clean(ans.Error.Code), clean(what)), nil
}
