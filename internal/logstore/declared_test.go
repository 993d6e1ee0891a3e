package logstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// declaredCols is a table with one column of each declared type.
var declaredCols = []DeclaredColumn{
	{"S", DeclaredString}, {"I", DeclaredInt}, {"L", DeclaredLong}, {"R", DeclaredReal},
	{"B", DeclaredBool}, {"D", DeclaredDatetime}, {"G", DeclaredGUID}, {"Y", DeclaredDynamic},
}

// ingestOne ingests one row holding value in column col of the declared
// table and reads the column back, as rowsOf renders it.
func ingestOne(t *testing.T, col, value string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	body := fmt.Sprintf(`[{"TimeGenerated":"2026-03-10T12:00:00Z",%q:%s}]`, col, value)
	if _, err := st.IngestDeclared(context.Background(), ws, tbl, []byte(body), declaredCols); err != nil {
		return "", err
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{col}})
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(got)
	if len(rows) != 1 {
		t.Fatalf("read %d rows, want 1", len(rows))
	}
	return rows[0], nil
}

func TestDeclaredTypesConvertValuesAsTheCloudDoes(t *testing.T) {
	for _, c := range []struct {
		name, col, value, want string
	}{
		{"string keeps a string", "S", `"dc01"`, "S:string=dc01;"},
		{"string stays string when it reads as a datetime", "S", `"2026-03-10T11:00:00Z"`, "S:string=2026-03-10T11:00:00Z;"},
		{"string takes a long as its digits", "S", `4624`, "S:string=4624;"},
		{"string takes a real as sent", "S", `2.50`, "S:string=2.50;"},
		{"string takes a bool as its text", "S", `true`, "S:string=true;"},
		{"string takes an object as JSON text", "S", `{"a": [1,2]}`, `S:string={"a": [1,2]};`},
		{"string takes an array as JSON text", "S", `[1,"x"]`, `S:string=[1,"x"];`},
		{"int takes an integer", "I", `4624`, "I:long=4624;"},
		{"int takes a negative integer at its bound", "I", `-2147483648`, "I:long=-2147483648;"},
		{"int takes an integral real", "I", `2.0`, "I:long=2;"},
		{"int takes an integral exponent", "I", `1e3`, "I:long=1000;"},
		{"int takes a string of digits", "I", `"4625"`, "I:long=4625;"},
		{"int takes a signed string with spaces", "I", `" -7 "`, "I:long=-7;"},
		{"long takes the largest long", "L", `9223372036854775807`, "L:long=9223372036854775807;"},
		{"long takes a string of a long", "L", `"-9223372036854775808"`, "L:long=-9223372036854775808;"},
		{"real takes a real", "R", `1.5`, "R:real=1.5;"},
		{"real takes an integer", "R", `2`, "R:real=2;"},
		{"real takes a numeric string", "R", `"-2.5e3"`, "R:real=-2500;"},
		{"boolean takes true", "B", `true`, "B:bool=true;"},
		{"boolean takes the string FALSE", "B", `"FALSE"`, "B:bool=false;"},
		{"boolean takes the string True", "B", `"True"`, "B:bool=true;"},
		{"boolean takes 0 as false", "B", `0`, "B:bool=false;"},
		{"boolean takes a non-zero integer as true", "B", `123`, "B:bool=true;"},
		{"datetime takes RFC 3339", "D", `"2026-03-10T11:00:00.1234567Z"`, "D:datetime=2026-03-10T11:00:00.1234567Z;"},
		{"datetime takes an offset", "D", `"2026-03-10T13:00:00+02:00"`, "D:datetime=2026-03-10T11:00:00Z;"},
		{"datetime takes no offset as UTC", "D", `"2026-03-10T11:00:00"`, "D:datetime=2026-03-10T11:00:00Z;"},
		{"datetime takes a space for the T", "D", `"2026-03-10 11:00:00Z"`, "D:datetime=2026-03-10T11:00:00Z;"},
		{"datetime takes minutes", "D", `"2026-03-10T11:05"`, "D:datetime=2026-03-10T11:05:00Z;"},
		{"datetime takes a date", "D", `"2026-03-10"`, "D:datetime=2026-03-10T00:00:00Z;"},
		{"guid takes a GUID as lower case", "G", `"74BE27DE-1E4E-49D9-B579-FE0B331D3642"`, "G:string=74be27de-1e4e-49d9-b579-fe0b331d3642;"},
		{"guid takes braces", "G", `"{74be27de-1e4e-49d9-b579-fe0b331d3642}"`, "G:string=74be27de-1e4e-49d9-b579-fe0b331d3642;"},
		{"guid takes 32 digits", "G", `"74BE27DE1E4E49D9B579FE0B331D3642"`, "G:string=74be27de-1e4e-49d9-b579-fe0b331d3642;"},
		{"dynamic takes an object", "Y", `{"a":[1,2]}`, `Y:dynamic={"a":[1,2]};`},
		{"dynamic takes a string as a JSON string", "Y", `"x"`, `Y:dynamic="x";`},
		{"dynamic takes a number", "Y", `5`, `Y:dynamic=5;`},
		{"dynamic takes a bool", "Y", `false`, `Y:dynamic=false;`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ingestOne(t, c.col, c.value)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got != "TimeGenerated:datetime=2026-03-10T12:00:00Z;"+c.want && got != c.want {
				t.Fatalf("read %q, want %q", got, c.want)
			}
		})
	}
}

func TestDeclaredNullIsMissingForEveryType(t *testing.T) {
	for _, c := range declaredCols {
		t.Run(c.Type.String(), func(t *testing.T) {
			got, err := ingestOne(t, c.Name, "null")
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got != "" {
				t.Fatalf("read %q, want no value", got)
			}
		})
	}
}

func TestDeclaredValueThatDoesNotConvertRefusesTheBodyWithoutTheValue(t *testing.T) {
	for _, c := range []struct {
		name, col, value string
	}{
		{"int refuses a word", "I", `"x"`},
		{"int refuses a fraction", "I", `2.5`},
		{"int refuses above its range", "I", `2147483648`},
		{"int refuses a string above its range", "I", `"-2147483649"`},
		{"int refuses a bool", "I", `true`},
		{"int refuses an object", "I", `{"v":1}`},
		{"int refuses a string with a fraction", "I", `"2.5"`},
		{"long refuses beyond its range", "L", `9223372036854775808`},
		{"long refuses a huge exponent", "L", `1e30`},
		{"long refuses an array", "L", `[1]`},
		{"real refuses a word", "R", `"abc"`},
		{"real refuses NaN", "R", `"NaN"`},
		{"real refuses infinity", "R", `"Infinity"`},
		{"real refuses hexadecimal", "R", `"0x1p3"`},
		{"real refuses beyond float range", "R", `1e400`},
		{"real refuses a bool", "R", `false`},
		{"boolean refuses yes", "B", `"yes"`},
		{"boolean refuses a real", "B", `0.5`},
		{"boolean refuses an object", "B", `{}`},
		{"datetime refuses notadate", "D", `"notadate"`},
		{"datetime refuses a number", "D", `1700000000`},
		{"datetime refuses February 30", "D", `"2026-02-30T00:00:00Z"`},
		{"datetime refuses hour 24", "D", `"2026-03-10T24:00:00Z"`},
		{"datetime refuses a year a long of nanoseconds cannot hold", "D", `"0001-01-01T00:00:00Z"`},
		{"datetime refuses RFC 822", "D", `"Sat, 8 Nov 14 15:05:02 GMT"`},
		{"datetime refuses trailing text", "D", `"2026-03-10T11:00:00Zjunk"`},
		{"guid refuses a short GUID", "G", `"74be27de-1e4e-49d9-b579-fe0b331d364"`},
		{"guid refuses a non-hex digit", "G", `"74be27de-1e4e-49d9-b579-fe0b331d364g"`},
		{"guid refuses misplaced hyphens", "G", `"74be27de1-e4e-49d9-b579-fe0b331d3642"`},
		{"guid refuses a number", "G", `42`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ingestOne(t, c.col, c.value)
			var re *RowError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want a RowError", err)
			}
			if re.Index != 0 || !strings.Contains(re.Reason, fmt.Sprintf("column %q", c.col)) {
				t.Fatalf("%q does not name row 0 and column %s", err, c.col)
			}
			typ := ""
			for _, d := range declaredCols {
				if d.Name == c.col {
					typ = d.Type.String()
				}
			}
			if !strings.Contains(re.Reason, "convert to "+typ) {
				t.Fatalf("%q does not name the type %s", err, typ)
			}
			// The hint of what the type takes is fixed text; the rest of
			// the message must not hold the value.
			msg, _, _ := strings.Cut(err.Error(), ": it takes")
			if v := strings.Trim(c.value, `"{}[] `); len(v) > 1 && strings.Contains(msg, v) {
				t.Fatalf("%q holds the value %s", err, c.value)
			}
		})
	}
}

func TestDeclaredTableRefusesAColumnItDoesNotDeclare(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	body := []byte(`[{"S":"a"},{"S":"b","Extra":1}]`)
	_, err := st.IngestDeclared(context.Background(), ws, tbl, body, declaredCols)
	var ue *UndeclaredColumnError
	if !errors.As(err, &ue) || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("got %v, want an UndeclaredColumnError", err)
	}
	if ue.Index != 1 || ue.Column != "Extra" || ue.Table != tbl {
		t.Fatalf("got %+v, want row 1, column Extra, table %s", ue, tbl)
	}
	wantScanned(t, st, 0, "a refused body")
}

func TestDeclaredTableTakesTimeGeneratedUndeclared(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	body := []byte(`[{"TimeGenerated":"2026-03-10 12:00","S":"a"}]`)
	if _, err := st.IngestDeclared(context.Background(), ws, tbl, body, []DeclaredColumn{{"S", DeclaredString}}); err != nil {
		t.Fatal(err)
	}
	got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	equalRows(t, rowsOf(got), []string{"TimeGenerated:datetime=2026-03-10T12:00:00Z;S:string=a;"})
}

func TestDeclaredSchemaRefusedWhenMalformed(t *testing.T) {
	st := newTestStore(t, t.TempDir(), envelopetest.New("aek"))
	for name, cols := range map[string][]DeclaredColumn{
		"a column twice": {{"A", DeclaredString}, {"A", DeclaredLong}},
		"no type":        {{"A", 0}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := st.IngestDeclared(context.Background(), ws, tbl, []byte(`[{"A":"x"}]`), cols); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
		})
	}
}

// A block holds rows of batches ingested before and after a table was
// declared: its types must read back what each batch stored.
func TestDeclaredAndInferredBatchesShareABlock(t *testing.T) {
	dir := t.TempDir()
	keys := envelopetest.New("aek")
	st := newTestStore(t, dir, keys)
	ctx := context.Background()
	mustIngest(t, st, ws, tbl, []byte(`[{"TimeGenerated":"2026-03-10T12:00:00Z","D":"2026-03-10T10:00:00Z","S":"2026-03-10T10:00:00Z"}]`))
	if _, err := st.IngestDeclared(ctx, ws, tbl, []byte(`[{"TimeGenerated":"2026-03-10T12:00:01Z","D":"2026-03-10 10:00:01","S":"2026-03-10T10:00:01Z"}]`),
		[]DeclaredColumn{{"D", DeclaredDatetime}, {"S", DeclaredString}}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// The inferred string beside declared text stays a string; the
		// declared datetime beside an inferred one is a datetime.
		"TimeGenerated:datetime=2026-03-10T12:00:00Z;D:datetime=2026-03-10T10:00:00Z;S:string=2026-03-10T10:00:00Z;",
		"TimeGenerated:datetime=2026-03-10T12:00:01Z;D:datetime=2026-03-10T10:00:01Z;S:string=2026-03-10T10:00:01Z;",
	}
	read := func(stage string) {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl, Columns: []string{"TimeGenerated", "D", "S"}})
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		equalRows(t, rowsOf(got), want)
	}
	read("wal")
	st.Close()
	st = newTestStore(t, dir, keys)
	read("replay")
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	read("segment")
}

func TestParseTimeMatchesTheStandardLibraryOnRFC3339(t *testing.T) {
	for _, s := range []string{
		"2026-03-10T12:00:00Z", "2026-03-10T12:00:00.1Z", "2026-03-10T12:00:00.123456789Z",
		"2026-03-10T12:00:00-07:30", "2024-02-29T23:59:59+14:00", "1970-01-01T00:00:00Z",
		"2261-12-31T23:59:59.999999999Z", "1678-01-01T00:00:00Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseTime([]byte(s))
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: got %v (%v), want %v", s, got, err, want)
		}
	}
}

func TestConvertJSONFollowsTheIngestRules(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  string
		typ  DeclaredType
		want any
		ok   bool
	}{
		{"a number as a string", `2.50`, DeclaredString, "2.50", true},
		{"an integer string as an int", `"42"`, DeclaredInt, int64(42), true},
		{"an int out of range", `2147483648`, DeclaredInt, nil, false},
		{"a numeric string as a real", `"1.5"`, DeclaredReal, 1.5, true},
		{"a string as a boolean", `"FALSE"`, DeclaredBool, false, true},
		{"an ISO date as a datetime", `"2026-03-10 11:00"`, DeclaredDatetime, time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC), true},
		{"notadate", `"notadate"`, DeclaredDatetime, nil, false},
		{"a GUID", `"{74BE27DE1E4E49D9B579FE0B331D3642}"`, DeclaredGUID, "74be27de-1e4e-49d9-b579-fe0b331d3642", true},
		{"an object as dynamic", ` {"a":1} `, DeclaredDynamic, json.RawMessage(`{"a":1}`), true},
		{"null", `null`, DeclaredLong, nil, true},
		{"text that is not JSON", `"open`, DeclaredString, nil, false},
		{"nothing", ``, DeclaredDynamic, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ConvertJSON([]byte(c.raw), c.typ)
			if ok != c.ok || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, %v; want %#v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// TestDeclaredColumnsAreRememberedByPositionAfterTimeGenerated parses rows
// whose TimeGenerated comes first, as shippers often send it: the scanner
// still remembers the declared column at each later position, so that the
// next rows find theirs without a lookup.
func TestDeclaredColumnsAreRememberedByPositionAfterTimeGenerated(t *testing.T) {
	d, err := newDeclared([]DeclaredColumn{{"Computer", DeclaredString}, {"EventID", DeclaredInt}})
	if err != nil {
		t.Fatal(err)
	}
	body := `[{"TimeGenerated":"` + testNow.Format(time.RFC3339) + `","Computer":"a","EventID":1},` +
		`{"TimeGenerated":"` + testNow.Format(time.RFC3339) + `","Computer":"b","EventID":"2"}]`
	s := scanner{b: []byte(body), bad: -1, declared: d}
	if _, _, err := s.rows(ingestLimits{now: testNow, oldest: testNow.Add(-time.Hour), newest: testNow.Add(time.Hour), maxRowBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	want := []declaredColumn{{}, {"Computer", DeclaredString}, {"EventID", DeclaredInt}}
	if !slices.Equal(s.seen, want) {
		t.Fatalf("remembered %v, want %v", s.seen, want)
	}
}
