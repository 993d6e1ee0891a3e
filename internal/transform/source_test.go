package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/textcheck"
)

// mapSource is how source read a body before it walked it in place: into
// a slice of maps by encoding/json. source must give the same table and
// refuse the same bodies, naming the same row.
func (t *Transform) mapSource(body []byte) (*kql.MemTable, error) {
	if off, what := textcheck.JSON(body); off >= 0 {
		return nil, fmt.Errorf("%w: the body %s (byte %d)", logstore.ErrInvalidInput, what, off)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("%w: the body must be a JSON array of objects", logstore.ErrInvalidInput)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: the body holds no rows", logstore.ErrInvalidInput)
	}
	cols := make([]kql.Column, len(t.input))
	for i, c := range t.input {
		cols[i] = kql.Column{Name: c.name, Type: c.kql}
	}
	src := kql.NewMemTable(Source, cols...)
	vals := make([]any, len(cols))
	for r, row := range rows {
		if row == nil {
			return nil, &logstore.RowError{Index: r, Reason: "not a JSON object"}
		}
		clear(vals)
		for name, raw := range row {
			i, ok := t.byName[name]
			if !ok {
				return nil, &logstore.UndeclaredColumnError{Table: t.stream, Index: r, Column: name}
			}
			v, ok := logstore.ConvertJSON(raw, t.input[i].decl)
			if !ok {
				return nil, &logstore.RowError{Index: r, Reason: fmt.Sprintf("the value of column %q does not convert to %s, its type in stream %s", name, t.input[i].decl, t.stream)}
			}
			if d, isJSON := v.(json.RawMessage); isJSON {
				v = dynamicValue(d)
			}
			vals[i] = v
		}
		if err := src.Append(vals...); err != nil {
			return nil, fmt.Errorf("transformation source: %w", err)
		}
	}
	return src, nil
}

// sameSource compares source and mapSource on body. A row with several
// faults was named by one picked at random from a map: errors compare by
// kind and row; messages only when the row has one fault (exact).
func sameSource(t *testing.T, tr *Transform, body []byte, exact bool) {
	t.Helper()
	got, gotErr := tr.source(body)
	want, wantErr := tr.mapSource(body)
	var gr, wr *logstore.RowError
	var gu, wu *logstore.UndeclaredColumnError
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("%q: walked: %v; decoded: %v", body, gotErr, wantErr)
	case gotErr == nil:
		if !reflect.DeepEqual(got.Columns, want.Columns) {
			t.Fatalf("%q: walked:\n%v\ndecoded:\n%v", body, got.Columns, want.Columns)
		}
	case errors.As(wantErr, &wr):
		if !errors.As(gotErr, &gr) && !errors.As(gotErr, &gu) || gr != nil && gr.Index != wr.Index || gu != nil && gu.Index != wr.Index ||
			exact && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%q: walked: %v; decoded: %v", body, gotErr, wantErr)
		}
	case errors.As(wantErr, &wu):
		if !errors.As(gotErr, &gu) && !errors.As(gotErr, &gr) || gu != nil && gu.Index != wu.Index || gr != nil && gr.Index != wu.Index ||
			exact && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%q: walked: %v; decoded: %v", body, gotErr, wantErr)
		}
	case gotErr.Error() != wantErr.Error():
		t.Fatalf("%q: walked: %v; decoded: %v", body, gotErr, wantErr)
	}
}

var sourceCases = []struct{ name, body string }{
	{"rows of every type", `[{"TimeGenerated":"2026-03-10T11:00:00Z","Message":"m","Severity":4,"Props":{"id":7,"host":"x"}},{"Severity":"3","Props":[1,"a",null]}]`},
	{"white space everywhere", " [ { \"Message\" : \"m\" , \"Severity\" : 1 } , { } ]\n"},
	{"an empty row", `[{}]`},
	{"a null value", `[{"Severity":null,"Message":null}]`},
	{"a null row", `[{"Severity":1},null]`},
	{"a row that is a number", `[{"Severity":1},2]`},
	{"a number after a null row", `[null,2]`},
	{"a null body", `null`},
	{"an empty array", `[]`},
	{"an object body", `{"Severity":1}`},
	{"not JSON", `[{"Severity":1}`},
	{"a column the stream lacks", `[{"Severity":1},{"Nope":1}]`},
	{"a value that does not convert", `[{"Severity":1},{"Severity":"high"}]`},
	{"a name given twice, the first bad", `[{"Severity":"high","Severity":2}]`},
	{"a name given twice, the last bad", `[{"Severity":2,"Severity":"high"}]`},
	{"an escaped name", `[{"Mess\u0061ge":"m","Sev\u0065rity":1}]`},
	{"bad UTF-8", "[{\"Message\":\"\xff\"}]"},
	{"a lone surrogate", `[{"Message":"\ud800"}]`},
	{"escapes in values", `[{"Message":"a\"b\\c\n\u00e9\ud834\udd1e","Props":{"p":"C:\\W"}}]`},
	{"a deep dynamic", `[{"Props":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}]`},
	{"a big number", `[{"Props":123456789012345678901234567890,"Severity":1e2}]`},
}

func TestSourceReadsAsDecodingIntoMapsDid(t *testing.T) {
	tr, err := Compile("source | extend Level = tostring(Severity)", "Custom-Events", stream, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range sourceCases {
		t.Run(tc.name, func(t *testing.T) { sameSource(t, tr, []byte(tc.body), true) })
	}
}

func FuzzSourceReadsAsDecodingIntoMapsDid(f *testing.F) {
	for _, tc := range sourceCases {
		f.Add([]byte(tc.body))
	}
	tr, err := Compile("source | extend Level = tostring(Severity)", "Custom-Events", stream, table)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameSource(t, tr, body, false) })
}

// BenchmarkSource reads 1,500 rows (about 430 KB) into a transformation's
// source, walked in place (read=walk) and decoded into maps as before
// (read=maps), and runs a whole Apply of the walked way for scale.
//
//	go test -run '^$' -bench Source -count 6 ./internal/transform
func BenchmarkSource(b *testing.B) {
	tr, err := Compile(`source | where Severity >= 3 | extend Level = tostring(Severity)`, "Custom-Events", stream, table)
	if err != nil {
		b.Fatal(err)
	}
	var rows []map[string]any
	for i := range 1500 {
		rows = append(rows, map[string]any{"TimeGenerated": "2026-03-10T11:00:00Z",
			"Message": fmt.Sprintf("Failed password for user%04d from 10.0.0.%d port %d ssh2; pam_unix(sshd:auth): authentication failure; "+
				"logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.%d", i, i%255, i, i%255),
			"Severity": i % 5, "Props": map[string]any{"id": i, "host": "x", "path": `C:\Windows\System32`}})
	}
	body, err := json.Marshal(rows)
	if err != nil {
		b.Fatal(err)
	}
	for _, read := range []struct {
		name string
		f    func([]byte) (*kql.MemTable, error)
	}{{"maps", tr.mapSource}, {"walk", tr.source}} {
		b.Run("read="+read.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := read.f(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
