package logstore

import (
	"fmt"
	"testing"
	"time"
)

// TestPayloadShapesNotesEveryClassOfEveryRow: the classes noted of a body,
// as it is parsed and as its payload is read again, are those of each of
// its values, wherever a row differs from the one before (another column
// at a place, another class of the same column).
func TestPayloadShapesNotesEveryClassOfEveryRow(t *testing.T) {
	at := `"TimeGenerated":"` + testNow.Add(-time.Hour).Format(time.RFC3339) + `"`
	body := `[{` + at + `,"A":"x","B":1},` +
		`{` + at + `,"A":"x","B":1.5},` +
		`{` + at + `,"B":1,"A":"2026-01-02T03:04:05Z"},` +
		`{` + at + `,"A":"x","B":1,"C":"y"},` +
		`{` + at + `,"A":true}]`
	rec, refs, parsed, err := parseShapedRows([]byte(body), ingestLimits{now: testNow, oldest: testNow.Add(-24 * time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	got := payloadShapes(rec[ingestTimeSize:], refs)
	if fmt.Sprint(parsed) != fmt.Sprint(got) {
		t.Errorf("parsing noted %v, the payload holds %v", parsed, got)
	}
	want := shapes{
		"A": 1<<TypeString | classTimeString | 1<<TypeBool,
		"B": 1<<TypeLong | 1<<TypeReal,
		"C": 1 << TypeString,
	}
	if len(got) != len(want) {
		t.Fatalf("columns %v, want %v", got, want)
	}
	for name, cs := range want {
		if got[name] != cs {
			t.Errorf("column %s: classes %b, want %b", name, got[name], cs)
		}
	}
}
