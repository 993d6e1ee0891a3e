package kql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// feeds is the host of the fake fetcher's files.
const feeds = "https://feeds.test/files/"

// externalFiles are the fake fetcher's files, by name under feeds.
var externalFiles = map[string]string{
	"feed.csv":      "Name,Count,Seen,Ok,Extra\r\nalpha,3,2024-01-02T03:04:05Z,true,\"{\"\"k\"\":1}\"\r\n\"b, \"\"quoted\"\"\nline\",x,not a date,maybe,\r\n",
	"ips.txt":       "# a comment line\n10.0.0.1\n10.0.0.2\r\n",
	"list":          "a,1\nb,2\n",
	"list?sig=x":    "a,1\nb,2\n",
	"feed.tsv":      "a\t1\nb\t2\n",
	"feed.scsv":     "a;1\n",
	"feed.psv":      "a|1\n",
	"records.json":  "{\"Name\":\"a\",\"Count\":1,\"Tags\":[\"x\"]}\nnot json\n{\"Count\":\"2\",\"Other\":true}\n[1,2]\n",
	"records.mjson": "[{\"Name\":\"a\",\"Count\":1},\n {\"Name\":\"b\",\n  \"Count\":2}]\n{\"Name\":\"c\"}",
	"broken.mjson":  "{\"Name\":\"a\"}\n{\"Name\":",
	"ragged.csv":    "a,1\nb,2,3\n",
	"whole.raw":     "line one\nline two\n",
}

// fakeFetcher serves externalFiles under feeds; a URL in errs fails with its error, and any
// other URL is refused. It records the URLs it was asked for.
type fakeFetcher struct {
	errs  map[string]error
	mu    sync.Mutex
	asked []string
}

func (f *fakeFetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	f.mu.Lock()
	f.asked = append(f.asked, rawURL)
	f.mu.Unlock()
	if err, ok := f.errs[rawURL]; ok {
		return nil, err
	}
	if body, ok := externalFiles[strings.TrimPrefix(rawURL, feeds)]; ok && strings.HasPrefix(rawURL, feeds) {
		return []byte(body), nil
	}
	return nil, &ExternalDataError{URL: RedactURL(rawURL), Refused: true}
}

// runExternal runs q, with {feeds} standing for the fake fetcher's prefix, through fetcher.
func runExternal(ctx context.Context, t *testing.T, q string, fetcher ExternalFetcher) (*Result, error) {
	t.Helper()
	q = strings.ReplaceAll(q, "{feeds}", feeds)
	c, err := Compile(q, Catalog{})
	if err != nil {
		return nil, err
	}
	return c.Run(ctx, NewMemSource(), Options{Now: fixtureNow, ExternalData: fetcher})
}

func TestExternalDataReadsTheFormats(t *testing.T) {
	for _, c := range []struct{ name, q, want, cols string }{
		{name: "csv: quoted fields, typed values, a value that does not convert is null, a missing field null",
			q:    `externaldata(Name:string, Count:long, Seen:datetime, Ok:bool, Extra:dynamic, Missing:long) [@"{feeds}feed.csv"] with (format="csv", ignoreFirstRecord=true)`,
			want: `[["alpha",3,"2024-01-02T03:04:05Z",true,{"k":1},null],["b, \"quoted\"\nline",null,null,null,"",null]]`,
			cols: "Name:string,Count:long,Seen:datetime,Ok:bool,Extra:dynamic,Missing:long"},
		{name: "csv: the header is a record without ignoreFirstRecord",
			q: `externaldata(Name:string) [@"{feeds}feed.csv"] with (format="csv") | take 1`, want: `[["Name"]]`},
		{name: "csv: fewer columns declared than the file has",
			q: `externaldata(Name:string, Count:int) [@"{feeds}list"] with(format='csv')`, want: `[["a",1],["b",2]]`, cols: "Name:string,Count:int"},
		{name: "format detected from the extension: txt, one line a record, the other columns null",
			q: `externaldata(IP:string, N:long) [@"{feeds}ips.txt"]`, want: `[["# a comment line",null],["10.0.0.1",null],["10.0.0.2",null]]`},
		{name: "txt with ignoreFirstRecord, property names in any case",
			q: `externaldata(IP:string) [@"{feeds}ips.txt"] with (FORMAT="txt", ignorefirstrecord=True)`, want: `[["10.0.0.1"],["10.0.0.2"]]`},
		{name: "no extension: csv",
			q: `externaldata(a:string, b:long) [@"{feeds}list"]`, want: `[["a",1],["b",2]]`},
		{name: "tsv", q: `externaldata(a:string, b:long) [@"{feeds}feed.tsv"] with (format="tsv")`, want: `[["a",1],["b",2]]`},
		{name: "scsv detected", q: `externaldata(a:string, b:long) [@"{feeds}feed.scsv"]`, want: `[["a",1]]`},
		{name: "psv", q: `externaldata(a:string, b:long) [@"{feeds}feed.psv"] with (format="psv")`, want: `[["a",1]]`},
		{name: "raw: the whole file is one value", q: `externaldata(s:string) [@"{feeds}whole.raw"] with (format="raw")`, want: `[["line one\nline two\n"]]`},
		{name: "json: a record per line by property name; a line that is no object is skipped",
			q:    `externaldata(Name:string, Count:long, Tags:dynamic) [@"{feeds}records.json"] with (format="json")`,
			want: `[["a",1,["x"]],["",2,null]]`},
		{name: "multijson: records across lines and in arrays",
			q: `externaldata(Name:string, Count:long) [@"{feeds}records.mjson"] with (format="multijson")`, want: `[["a",1],["b",2],["c",null]]`},
		{name: "several URLs: their rows in order, ignoreFirstRecord per file",
			q:    `externaldata(a:string) [@"{feeds}list", "{feeds}feed.tsv"] with (format="txt", ignoreFirstRecord=true)`,
			want: `[["b,2"],["b\t2"]]`},
		{name: "adjacent string literals make one URL, query string included, as h@ obfuscated query strings are written",
			q: `externaldata(a:string, b:long) [@"{feeds}list" h@"?sig=x"]`, want: `[["a",1],["b",2]]`},
		{name: "a let of it, then operators",
			q: `let Feed = externaldata(IP:string) [@"{feeds}ips.txt"] with (format="txt", ignoreFirstRecord=true); Feed | where IP endswith ".2" | project IP`, want: `[["10.0.0.2"]]`},
		{name: "in (externaldata ...) as a set",
			q: `print x = "10.0.0.1" | where x in ((externaldata(IP:string) [@"{feeds}ips.txt"]))`, want: `[["10.0.0.1"]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := runExternal(context.Background(), t, c.q, &fakeFetcher{})
			if err != nil {
				t.Fatal(err)
			}
			checkTable(t, res.Tables[0], c.want, c.cols)
		})
	}
}

// checkTable compares a result table's rows (as JSON) and, if cols is set, its columns.
func checkTable(t *testing.T, tb Table, want, cols string) {
	t.Helper()
	b, _ := json.Marshal(tb.Rows)
	if g, w := normJSON(t, string(b)), normJSON(t, want); g != w {
		t.Errorf("rows\n got %s\nwant %s", g, w)
	}
	if cols != "" {
		var parts []string
		for _, c := range tb.Columns {
			parts = append(parts, c.Name+":"+c.Type.String())
		}
		if g := strings.Join(parts, ","); g != cols {
			t.Errorf("columns\n got %s\nwant %s", g, cols)
		}
	}
}

func TestExternalDataFetchesOncePerRun(t *testing.T) {
	f := &fakeFetcher{}
	q := `let Feed = externaldata(a:string, b:long) [@"{feeds}list"]; Feed | join kind=inner (Feed) on a | count`
	res, err := runExternal(context.Background(), t, q, f)
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, res.Tables[0], `[[2]]`, "")
	if len(f.asked) != 1 {
		t.Fatalf("fetched %q for a source used twice in one run, want it once", f.asked)
	}
}

func TestExternalDataRefusesAndFails(t *testing.T) {
	fetcher := &fakeFetcher{errs: map[string]error{
		feeds + "down.csv?sig=SECRET": errors.New("connection refused"),
	}}
	for _, c := range []struct {
		name, q string
		fetcher ExternalFetcher
		refused bool
		err     string
	}{
		{name: "no fetcher: nothing is fetched", q: `externaldata(a:string) [@"{feeds}list?sig=SECRET"]`, refused: true,
			err: `externaldata may not fetch {feeds}list: no URL prefix the node allows covers it; its operator allows prefixes with sealwatch up --externaldata-allow PREFIX`},
		{name: "the fetcher's refusal, as it is", q: `externaldata(a:string) [@"https://other.test/feed.csv?sig=SECRET"]`, fetcher: fetcher, refused: true,
			err: `externaldata may not fetch https://other.test/feed.csv: no URL prefix`},
		{name: "the fetcher's failure, with the URL without its query string", q: `externaldata(a:string) [@"{feeds}down.csv?sig=SECRET"]`, fetcher: fetcher,
			err: `externaldata could not read {feeds}down.csv: connection refused`},
		{name: "a csv record with more fields than the first", q: `externaldata(a:string) [@"{feeds}ragged.csv"]`, fetcher: fetcher,
			err: `could not read {feeds}ragged.csv: record on line 2 has 3 fields where the first record has 2`},
		{name: "malformed multijson", q: `externaldata(Name:string) [@"{feeds}broken.mjson"] with (format="multijson")`, fetcher: fetcher, err: `record 2 is not JSON`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runExternal(context.Background(), t, c.q, c.fetcher)
			var ee *ExternalDataError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v (%T), want an *ExternalDataError", err, err)
			}
			if want := strings.ReplaceAll(c.err, "{feeds}", feeds); !strings.Contains(err.Error(), want) || ee.Refused != c.refused {
				t.Fatalf("error %q (refused %v)\nwant it to contain %q (refused %v)", err, ee.Refused, want, c.refused)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "sig=") {
				t.Fatalf("error %q shows a URL's query string", err)
			}
		})
	}
}

// TestExternalDataCancelledRun: a fetch that fails because the run was cancelled fails the
// run with the cancellation, not as a file that could not be read.
func TestExternalDataCancelledRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fetcher := &fakeFetcher{errs: map[string]error{feeds + "list": fmt.Errorf("read: %w", context.Canceled)}}
	_, err := runExternal(ctx, t, `externaldata(a:string) [@"{feeds}list"]`, fetcher)
	var ee *ExternalDataError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ee) {
		t.Fatalf("error %v (%T), want the run's cancellation", err, err)
	}
}

func TestExternalDataBindErrors(t *testing.T) {
	for _, c := range []struct{ name, q, err string }{
		{name: "no columns", q: `externaldata() ["http://h/x"]`, err: "externaldata needs at least one column"},
		{name: "no URL", q: `externaldata(a:string) []`, err: "externaldata needs at least one URL"},
		{name: "a column twice", q: `externaldata(a:string, a:long) ["http://h/x"]`, err: "declares column a twice"},
		{name: "a URL that is not constant", q: `range i from 1 to 2 step 1 | extend u = strcat("http://h/", i) | join (externaldata(a:string) [u]) on $left.i == $right.a`, err: `unknown column or variable "u"`},
		{name: "a URL that is a number", q: `externaldata(a:string) [1]`, err: "URLs are constant strings"},
		{name: "not http", q: `externaldata(a:string) ["file:///etc/passwd"]`, err: "expected an http or https URL with a host"},
		{name: "user information", q: `externaldata(a:string) ["https://me:pw@h/x"]`, err: "user information is not accepted"},
		{name: "an unknown format", q: `externaldata(a:string) ["http://h/x"] with (format="parquet")`, err: `format "parquet" is not one it reads`},
		{name: "an unknown property", q: `externaldata(a:string) ["http://h/x"] with (compressed=true)`, err: "unknown externaldata property compressed"},
		{name: "ingestionMapping", q: `externaldata(a:string) ["http://h/x"] with (ingestionMapping='[]')`, err: "ingestionMapping is not supported"},
		{name: "a property twice", q: `externaldata(a:string) ["http://h/x"] with (format="csv", Format="txt")`, err: "property Format is given twice"},
		{name: "ignoreFirstRecord not a bool", q: `externaldata(a:string) ["http://h/x"] with (ignoreFirstRecord="maybe")`, err: "ignoreFirstRecord is true or false"},
		{name: "a missing [", q: `externaldata(a:string) "http://h/x"`, err: `expected "["`},
		{name: "a property without a value", q: `externaldata(a:string) ["http://h/x"] with (format)`, err: `expected "="`},
		{name: "a bad type", q: `externaldata(a:text) ["http://h/x"]`, err: `unknown type "text"`},
		{name: "as a scalar", q: `print x = externaldata(a:string) ["http://h/x"]`, err: "a tabular expression is not allowed here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.q, Catalog{})
			var se *SyntaxError
			var be *BindError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &se) && !errors.As(err, &be) {
				t.Fatalf("Compile: %v, want a syntax or bind error containing %q", err, c.err)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error %q shows a URL's user information", err)
			}
		})
	}
}

func TestExternalDataBindsWithoutAFetcher(t *testing.T) {
	q, err := Compile(`let base = "https://example.invalid/"; externaldata(IP:string, N:long) [strcat(base, "ips.txt?sig=x")] with (format="txt") | where N > 1`, Catalog{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.ResultColumns(); len(got) != 2 || got[0] != (Column{Name: "IP", Type: TypeString}) || got[1] != (Column{Name: "N", Type: TypeLong}) {
		t.Fatalf("schema %v", got)
	}
}

// externalDataSeeds are FuzzParse's seeds for the externaldata syntax and the other forms of
// content this file's neighbours added.
var externalDataSeeds = []string{
	`externaldata(a:string, b:long) [@"https://h/x.csv", h@"https://h/y?sig=s"] with (format="csv", ignoreFirstRecord=true)`,
	`externaldata (a:string)[h@'https://h/x'] with(format='multijson',ignorefirstrecord=false) | take 1`,
	`let F = externaldata(ip:string)["https://h/ips.txt"]; print x = "a" | where x in (F)`,
	`externaldata(a:string) ["https://h/x"] with (`,
	`externaldata(a:string) [`,
	`externaldata() [] with ()`,
	`print externaldata(a:long)["http://h"]`,
	// union's wildcards and equality across types
	`union withsource=T * | summarize count() by T`,
	`union *s, E*ts, Us* | take 1`,
	`union *`,
	`union * *`,
	`Events | where Account == 0 or Ok == 1 or Ok == "True" or Account in (1, 2.5) | count`,
	`arg("").Resources | count`,
	`workspace("w").T.x`,
}

// FuzzExternalDataFormats: no file makes the readers of externaldata's formats panic, and
// every row they give is as wide as the declared columns.
func FuzzExternalDataFormats(f *testing.F) {
	for _, body := range externalFiles {
		f.Add([]byte(body))
	}
	f.Add([]byte("\xef\xbb\xbf\"a\"\"\n"))
	f.Add([]byte("[[{}]]{\"a\":[1,{\"b\":null}]}"))
	spec := &externalSpec{cols: []colInfo{{Name: "Name", Type: TypeString}, {Name: "Count", Type: TypeLong}, {Name: "Tags", Type: TypeDynamic}, {Name: "Seen", Type: TypeDatetime}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, format := range externalFormats {
			rows, err := parseExternal(body, format, spec)
			if err != nil {
				continue
			}
			for _, r := range rows {
				if len(r) != len(spec.cols) {
					t.Fatalf("%s: row of %d cells for %d columns", format.name, len(r), len(spec.cols))
				}
			}
		}
	})
}
