package transform

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// FuzzApply runs a transformation over any body: it must not panic, a body
// it refuses is refused as bad input, and the rows it gives are a JSON
// array of objects of the table's columns.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`[{"TimeGenerated":"2026-03-10T11:00:00Z","Message":"m","Severity":4,"Props":{"id":7,"host":"x"}}]`,
		`[{"Severity":"3"},{"Severity":null,"Props":[1,"a"]}]`, `[]`, `[1]`, `{}`, `[{"Nope":1}]`,
	} {
		f.Add([]byte(s))
	}
	tr, err := Compile(`source
| where Severity >= 3 or isnull(Severity)
| extend Level = iif(Severity >= 4, "high", "medium"), EventId = tolong(Props.id), Host = tostring(Props.host)
| project-away Props`, "Custom-Events", stream, table)
	if err != nil {
		f.Fatal(err)
	}
	columns := map[string]bool{}
	for _, c := range table.Columns {
		columns[c.Name] = true
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, _, err := tr.Apply(context.Background(), body, now)
		if err != nil {
			if !errors.Is(err, logstore.ErrInvalidInput) {
				t.Fatalf("refused with %v, not as bad input", err)
			}
			return
		}
		if rows == nil {
			return
		}
		var out []map[string]json.RawMessage
		if err := json.Unmarshal(rows, &out); err != nil {
			t.Fatalf("the rows given are not a JSON array of objects: %v: %s", err, rows)
		}
		for _, r := range out {
			for name := range r {
				if !columns[name] {
					t.Fatalf("the rows give column %s, not the table's", name)
				}
			}
		}
	})
}
