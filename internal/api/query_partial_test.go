package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// partialBody is a query answer as a client reads it, partial error included.
type partialBody struct {
	Tables []struct {
		Name string
		Rows [][]any
	}
	Error *struct {
		Code, Message string
		Details       []struct {
			Code, Message string
			InnerError    struct{ Code, Message string } `json:"innererror"`
		}
	}
}

// queryAnswer runs q through the query API and returns the status, the raw body and the body
// read as a client reads it.
func (f *fullEnv) queryAnswer(q string) (int, []byte, partialBody) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]string{"query": q})
	rec := f.serve("POST", "127.0.0.1", "/v1/workspaces/"+f.customerID+"/query", f.query, string(body))
	var out partialBody
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		f.t.Fatalf("%s: the answer is not JSON: %v\n%s", q, err, rec.Body)
	}
	return rec.Code, rec.Body.Bytes(), out
}

func (f *fullEnv) partialAnswers(limit string) float64 {
	var m dto.Metric
	if err := f.server.metrics.queryPartials.WithLabelValues(limit).Write(&m); err != nil {
		f.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestAResultOverTheAnswerLimitsIsAnsweredInPart holds the cloud's answer to a result over
// the rows or bytes one answer holds: 200, the first rows within both limits, and beside
// the tables an "error" of code PartialError whose detail names the limit; a result within
// both is answered whole, with no "error" at all. Each partial answer is counted by its limit.
func TestAResultOverTheAnswerLimitsIsAnsweredInPart(t *testing.T) {
	f := newFullEnv(t)
	// small limits keep the test fast; TestQueryAnswerLimitsAreTheClouds holds the defaults
	f.server.cfg.MaxQueryRows, f.server.cfg.MaxQueryResultBytes = 5, 40
	for _, tc := range []struct {
		name  string
		query string
		rows  []int  // per table
		limit string // "" for a whole answer
		says  string // in the detail's message
	}{
		{"within both limits the answer is whole", `datatable(x:long)[1,2,3,4,5]`, []int{5}, "", ""},
		{"over the row limit the first rows are answered", `datatable(x:long)[1,2,3,4,5,6,7]`, []int{5}, "rows", "more than the 5 rows one answer holds: these are its first 5"},
		{"the row limit counts every table's rows", `datatable(x:long)[1,2,3]; datatable(x:long)[4,5,6]`, []int{3, 2}, "rows", "first 5"},
		// each row ["aaaaaaaaaa"] is 14 bytes: 2 fit in 40, a third does not
		{"over the byte limit the rows that fit are answered", `datatable(s:string)["aaaaaaaaaa","bbbbbbbbbb","cccccccccc"]`, []int{2}, "bytes", "more than the 40 bytes of JSON one answer holds: these are its first 2 rows"},
		{"after a table cut at the byte limit the next holds no rows", `datatable(s:string)["aaaaaaaaaa","bbbbbbbbbb","cccccccccc"]; datatable(x:long)[1]`, []int{2, 0}, "bytes", "first 2 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.partialAnswers(cmp.Or(tc.limit, "rows"))
			status, raw, body := f.queryAnswer(tc.query)
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			var got []int
			rowBytes := 0
			for _, tb := range body.Tables {
				got = append(got, len(tb.Rows))
				for _, r := range tb.Rows {
					b, _ := json.Marshal(r)
					rowBytes += len(b)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.rows) || rowBytes > 40 {
				t.Fatalf("rows per table %v (%d bytes of rows), want %v within 40 bytes: %s", got, rowBytes, tc.rows, raw)
			}
			if tc.limit == "" {
				if body.Error != nil || strings.Contains(string(raw), `"error"`) {
					t.Fatalf("a whole answer carries an error: %s", raw)
				}
				return
			}
			if body.Error == nil || body.Error.Code != "PartialError" || body.Error.Message == "" || len(body.Error.Details) != 1 {
				t.Fatalf("no partial error as the cloud's: %s", raw)
			}
			d := body.Error.Details[0]
			if d.Code != "EngineError" || d.InnerError.Code != "E_QUERY_RESULT_SET_TOO_LARGE" || !strings.Contains(d.Message, tc.says) || d.InnerError.Message == "" {
				t.Errorf("detail %+v, want the limit saying %q", d, tc.says)
			}
			if n := f.partialAnswers(tc.limit) - before; n != 1 {
				t.Errorf("partial answers by %s counted %v times, want once", tc.limit, n)
			}
		})
	}
	t.Run("a memory limit is still refused", func(t *testing.T) {
		f.server.cfg.MaxQueryMemory = 1 << 10
		defer func() { f.server.cfg.MaxQueryMemory = 0 }()
		status, raw, _ := f.queryAnswer(`range x from 1 to 1000 step 1 | summarize make_list(x)`)
		if status != 400 || !strings.Contains(string(raw), "QueryLimitExceeded") {
			t.Fatalf("status %d: %s", status, raw)
		}
	})
}

// TestQueryAnswerLimitsAreTheClouds: left unset (or set below 1), one answer holds 500,000 rows
// and 100 MiB of rows' JSON, the cloud's Logs query API limits; a result of one row more is
// answered in part.
func TestQueryAnswerLimitsAreTheClouds(t *testing.T) {
	if DefaultMaxQueryRows != 500_000 || DefaultMaxQueryResultBytes != 100<<20 {
		t.Fatalf("limits %d rows, %d bytes; the cloud's are 500,000 rows and ~104 MB", DefaultMaxQueryRows, DefaultMaxQueryResultBytes)
	}
	f := newFullEnv(t)
	f.server.cfg.MaxQueryRows, f.server.cfg.MaxQueryResultBytes = -1, -1
	status, raw, body := f.queryAnswer(`union (range x from 1 to 500000 step 1), (print x = 0)`)
	if status != 200 || len(body.Tables) != 1 || len(body.Tables[0].Rows) != 500_000 || body.Error == nil || body.Error.Code != "PartialError" {
		t.Fatalf("status %d, %d tables, error %+v: %.300s", status, len(body.Tables), body.Error, raw)
	}
}
