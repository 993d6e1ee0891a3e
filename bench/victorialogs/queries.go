//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// answerKind says how two answers to a question are compared.
type answerKind int

const (
	answerCount  answerKind = iota // one number
	answerGroups                   // a count per group
	answerTop                      // the counts of the top groups (ties may pick other keys)
	answerRows                     // how many rows
)

// question is the same question asked in KQL and in LogsQL; T stands for
// the table in the label and the KQL.
type question struct {
	label, kql, logsql string
	kind               answerKind
}

var questions = []question{
	{"`T | count`", "T | count", "* | stats count() rows", answerCount},
	{"`T | summarize count() by host`", "T | summarize count() by host", "* | stats by (host) count() rows", answerGroups},
	{"same, `top 5 by rows`", "T | summarize rows=count() by host | top 5 by rows", "* | stats by (host) count() rows | sort by (rows desc) limit 5", answerTop},
	{"`where user == \"u\" | count`", `T | where user == "u" | count`, `user:="u" | stats count() rows`, answerCount},
	{"`where user == \"u\"` (full rows)", `T | where user == "u"`, `user:="u"`, answerRows},
	{"`where message has \"u\" | count`", `T | where message has "u" | count`, `_msg:u | stats count() rows`, answerCount},
	{"`where message has \"Failed password\" | count`", `T | where message has "Failed password" | count`, `_msg:"Failed password" | stats count() rows`, answerCount},
	{"`where event_id == 4625 | summarize rows=count() by user | top 5 by rows`", `T | where event_id == 4625 | summarize rows=count() by user | top 5 by rows`,
		`event_id:=4625 | stats by (user) count() rows | sort by (rows desc) limit 5`, answerTop},
	{"`search \"u\" | count` (every column; VL: `*:u`)", `T | search "u" | count`, `*:u | stats count() rows`, answerCount},
	{"`where * has \"u\" | count` (VL: `*:u`)", `T | where * has "u" | count`, `*:u | stats count() rows`, answerCount},
}

// restartQuestion is asked once right after both servers restart.
var restartQuestion = questions[1]

func (q question) kqlFor(table string) string { return strings.ReplaceAll(q.kql, "T |", table+" |") }

// sealwatchAnswer reduces a query API answer to a comparable form.
func sealwatchAnswer(kind answerKind, body []byte) (string, error) {
	var resp struct {
		Tables []struct {
			Columns []struct{ Name string } `json:"columns"`
			Rows    [][]any                 `json:"rows"`
		} `json:"tables"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a count of 1000000 stays 1000000, not 1e+06
	if err := dec.Decode(&resp); err != nil || len(resp.Tables) == 0 {
		return "", fmt.Errorf("not a query answer: %.200s", body)
	}
	rows := resp.Tables[0].Rows
	groups := make([]group, 0, len(rows))
	for _, r := range rows {
		if len(r) == 0 {
			return "", fmt.Errorf("an empty row in %.200s", body)
		}
		var key []string
		for _, v := range r[:len(r)-1] { // the count is the last column
			key = append(key, fmt.Sprint(v))
		}
		groups = append(groups, group{strings.Join(key, ","), fmt.Sprint(r[len(r)-1])})
	}
	return summarise(kind, groups)
}

// victoriaLogsAnswer reduces a LogsQL answer (JSON lines) the same way; the
// count is in the field rows.
func victoriaLogsAnswer(kind answerKind, body []byte) (string, error) {
	var groups []group
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var fields map[string]string
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			return "", fmt.Errorf("not a LogsQL answer line: %.200s", sc.Bytes())
		}
		var key []string
		for name, v := range fields {
			if name != "rows" {
				key = append(key, v)
			}
		}
		groups = append(groups, group{strings.Join(key, ","), fields["rows"]})
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return summarise(kind, groups)
}

type group struct{ key, count string }

func summarise(kind answerKind, groups []group) (string, error) {
	switch kind {
	case answerRows:
		return strconv.Itoa(len(groups)) + " rows", nil
	case answerCount:
		if len(groups) != 1 {
			return "", fmt.Errorf("%d rows, want one count", len(groups))
		}
		return groups[0].count, nil
	case answerTop:
		var counts []string
		for _, g := range groups {
			counts = append(counts, g.count)
		}
		return strings.Join(counts, ", "), nil
	}
	var parts []string
	for _, g := range groups {
		parts = append(parts, g.key+"="+g.count)
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d groups: %s", len(parts), strings.Join(parts, ", ")), nil
}
