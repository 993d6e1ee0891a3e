package transform

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/tables"
)

var (
	stream = []tables.Column{
		{Name: "TimeGenerated", Type: "datetime"}, {Name: "Message", Type: "string"},
		{Name: "Severity", Type: "int"}, {Name: "Props", Type: "dynamic"},
	}
	table = tables.Schema{Name: "Events_CL", Columns: []tables.Column{
		{Name: "TimeGenerated", Type: "datetime"}, {Name: "Message", Type: "string"},
		{Name: "Severity", Type: "int"}, {Name: "Props", Type: "dynamic"},
		{Name: "Level", Type: "string"}, {Name: "EventId", Type: "long"}, {Name: "Host", Type: "guid"},
	}}
	now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
)

func TestCompileRefusesWhatTheCloudRefusesWhereItIs(t *testing.T) {
	for _, c := range []struct {
		name, text, want string
	}{
		{"summarize sees many rows", "source\n| summarize count() by Message", "at 2:3: summarize is not taken"},
		{"take", "source | take 10", "at 1:10: take is not taken"},
		{"sort", "source\n| where Severity > 1\n| sort by Severity", "at 3:3: sort is not taken"},
		{"top", "source | top 1 by Severity", "at 1:10: top is not taken"},
		{"distinct", "source | distinct Message", "at 1:10: distinct is not taken"},
		{"join", "source | join (source) on Message", "at 1:10: join is not taken"},
		{"union", "union source, source", "at 1:1: union is not taken"},
		{"mv-expand", "source | mv-expand Props", "at 1:10: mv-expand is not taken"},
		{"summarize in a subquery", "source | extend N = toscalar(source | summarize count())", "at 1:39: summarize is not taken"},
		{"another table", "SecurityEvent | project TimeGenerated", "at 1:1: "},
		{"a column the stream lacks", "source | extend X = Nope", "at 1:21: "},
		{"a syntax error", "source | where (", "at 1:"},
		{"a column not in the table", "source | extend Extra = 1", "column Extra, which is not a column of table Events_CL"},
		{"a type that does not convert", "source | extend Host = now()", "column Host as datetime, which does not convert to guid"},
		{"no TimeGenerated", "source | project Message", "has no TimeGenerated"},
		{"TimeGenerated not a datetime", "source | extend TimeGenerated = Message", "TimeGenerated as string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.text, "Custom-Events", stream, table)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a transform.Error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q does not say %q", err, c.want)
			}
		})
	}
}

func TestPassThroughNeedsTheStreamsColumnsInTheTableWithTheirTypes(t *testing.T) {
	for _, c := range []struct {
		name string
		cols []tables.Column
		want string // "" when taken
	}{
		{"the table's own columns", stream, ""},
		{"a string stream column for a guid one", []tables.Column{{Name: "Host", Type: "string"}}, ""},
		{"a column the table lacks", []tables.Column{{Name: "Extra", Type: "string"}}, "column Extra of stream Custom-Events is not a column of table Events_CL"},
		{"an int for a long, which holds it", []tables.Column{{Name: "EventId", Type: "int"}}, ""},
		{"an int for a string, which keeps its digits", []tables.Column{{Name: "Level", Type: "int"}}, ""},
		{"a real for a long, which would lose its fraction", []tables.Column{{Name: "EventId", Type: "real"}}, "EventId is real in stream Custom-Events and long in table Events_CL"},
		{"a long for an int, which may not hold it", []tables.Column{{Name: "Severity", Type: "long"}}, "Severity is long in stream Custom-Events and int in table Events_CL"},
		{"a string for a datetime", []tables.Column{{Name: "TimeGenerated", Type: "string"}}, "TimeGenerated is string in stream Custom-Events and datetime"},
		{"an unknown type", []tables.Column{{Name: "EventId", Type: "float128"}}, "not one of string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Compile(" source ", "Custom-Events", c.cols, table)
			if c.want == "" {
				if err != nil || !tr.PassThrough() {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestPassThroughGivesTheBodyAndTheStreamsColumnsWithTheTablesTypes(t *testing.T) {
	tr, err := Compile("source", "Custom-Events", []tables.Column{{Name: "Host", Type: "string"}}, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, cols, _ := tr.Apply(context.Background(), []byte(`[{"Host":"x"}]`), now); !reflect.DeepEqual(cols, []logstore.DeclaredColumn{{Name: "Host", Type: logstore.DeclaredGUID}}) {
		t.Fatalf("a string stream column feeding a guid is stored by %v, want the guid", cols)
	}
}

func TestPassThroughGivesTheBodyAndTheStreamsColumns(t *testing.T) {
	tr, err := Compile("", "Custom-Events", stream, table)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"Message":"x"}]`)
	rows, cols, err := tr.Apply(context.Background(), body, now)
	if err != nil || &rows[0] != &body[0] {
		t.Fatalf("the pass-through copied or refused the body: %v", err)
	}
	want := []logstore.DeclaredColumn{{Name: "TimeGenerated", Type: logstore.DeclaredDatetime}, {Name: "Message", Type: logstore.DeclaredString},
		{Name: "Severity", Type: logstore.DeclaredInt}, {Name: "Props", Type: logstore.DeclaredDynamic}}
	if !reflect.DeepEqual(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
}

func TestTransformFiltersProjectsAndExtendsRows(t *testing.T) {
	tr, err := Compile(`source
| where Severity >= 3
| extend Level = iif(Severity >= 4, "high", "medium"), EventId = tolong(Props.id), Host = tostring(Props.host)
| project-away Props`, "Custom-Events", stream, table)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[
		{"TimeGenerated":"2026-03-10T11:00:00Z","Message":"low","Severity":1},
		{"TimeGenerated":"2026-03-10T11:00:01Z","Message":"high","Severity":"4","Props":{"id":7,"host":"74BE27DE-1E4E-49D9-B579-FE0B331D3642"}},
		{"TimeGenerated":"2026-03-10T11:00:02Z","Message":"mid","Severity":3}
	]`)
	rows, cols, err := tr.Apply(context.Background(), body, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"TimeGenerated":"2026-03-10T11:00:01Z","Message":"high","Severity":4,"Level":"high","EventId":7,"Host":"74BE27DE-1E4E-49D9-B579-FE0B331D3642"},` +
		`{"TimeGenerated":"2026-03-10T11:00:02Z","Message":"mid","Severity":3,"Level":"medium"}]`
	if string(rows) != want {
		t.Fatalf("rows\n%s\nwant\n%s", rows, want)
	}
	if !reflect.DeepEqual(cols, tr.output) || len(cols) != len(table.Columns) {
		t.Fatalf("columns %v, want the table's", cols)
	}
}

func TestTransformThatKeepsNoRowGivesNone(t *testing.T) {
	tr, err := Compile(`source | where Severity > 10`, "Custom-Events", stream, table)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := tr.Apply(context.Background(), []byte(`[{"TimeGenerated":"2026-03-10T11:00:00Z","Severity":1}]`), now)
	if err != nil || rows != nil {
		t.Fatalf("got %s, %v; want no rows", rows, err)
	}
}

func TestTransformInputIsTypedByTheStream(t *testing.T) {
	tr, err := Compile(`source | where Severity > 1`, "Custom-Events", stream, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, body string
		check      func(error) bool
	}{
		{"a value that does not convert", `[{"Severity":1},{"Severity":"high"}]`, func(err error) bool {
			var re *logstore.RowError
			return errors.As(err, &re) && re.Index == 1 && strings.Contains(re.Reason, `column "Severity" does not convert to int`) &&
				!strings.Contains(err.Error(), "high")
		}},
		{"a column the stream does not declare", `[{"Severity":1,"Extra":2}]`, func(err error) bool {
			var ue *logstore.UndeclaredColumnError
			return errors.As(err, &ue) && ue.Index == 0 && ue.Column == "Extra" && ue.Table == "Custom-Events"
		}},
		{"not an array", `{"Severity":1}`, func(err error) bool { return errors.Is(err, logstore.ErrInvalidInput) }},
		{"no rows", `[]`, func(err error) bool { return errors.Is(err, logstore.ErrInvalidInput) }},
		{"not text", "[{\"Message\":\"\xff\"}]", func(err error) bool { return errors.Is(err, logstore.ErrInvalidInput) }},
		{"a row that is not an object", `[{"Severity":1},null]`, func(err error) bool {
			var re *logstore.RowError
			return errors.As(err, &re) && re.Index == 1
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := tr.Apply(context.Background(), []byte(c.body), now)
			if !c.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestDeriveGivesTheTableAFlowWrites(t *testing.T) {
	cols := func(s tables.Schema) string {
		var out []string
		for _, c := range s.Columns {
			out = append(out, c.Name+":"+c.Type)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		name, text string
		stream     []tables.Column
		want       string
	}{
		{"the pass-through keeps the stream's columns", "source", stream, "TimeGenerated:datetime,Message:string,Severity:int,Props:dynamic"},
		{"TimeGenerated comes first when the stream lacks it", "", []tables.Column{{Name: "Message", Type: "string"}}, "TimeGenerated:datetime,Message:string"},
		{"a transformation gives its output", "source | extend Ok = Severity > 1, Took = 1s | project TimeGenerated, Ok, Took, N = Severity * 2",
			stream, "TimeGenerated:datetime,Ok:boolean,Took:string,N:long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Derive(c.text, "Custom-Events", c.stream, "Events_CL")
			if err != nil || got.Name != "Events_CL" || cols(got) != c.want {
				t.Fatalf("got %s (%v), want %s", cols(got), err, c.want)
			}
		})
	}
	if _, err := Derive("source | summarize count()", "Custom-Events", stream, "Events_CL"); err == nil {
		t.Fatal("a refused transformation gave a table")
	}
}
