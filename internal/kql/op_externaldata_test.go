package kql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// externalFiles are what the test server serves under /files/, by name.
var externalFiles = map[string]string{
	"feed.csv":      "Name,Count,Seen,Ok,Extra\r\nalpha,3,2024-01-02T03:04:05Z,true,\"{\"\"k\"\":1}\"\r\n\"b, \"\"quoted\"\"\nline\",x,not a date,maybe,\r\n",
	"ips.txt":       "# a comment line\n10.0.0.1\n10.0.0.2\r\n",
	"list":          "a,1\nb,2\n",
	"feed.tsv":      "a\t1\nb\t2\n",
	"feed.scsv":     "a;1\n",
	"feed.psv":      "a|1\n",
	"records.json":  "{\"Name\":\"a\",\"Count\":1,\"Tags\":[\"x\"]}\nnot json\n{\"Count\":\"2\",\"Other\":true}\n[1,2]\n",
	"records.mjson": "[{\"Name\":\"a\",\"Count\":1},\n {\"Name\":\"b\",\n  \"Count\":2}]\n{\"Name\":\"c\"}",
	"broken.mjson":  "{\"Name\":\"a\"}\n{\"Name\":",
	"ragged.csv":    "a,1\nb,2,3\n",
	"whole.raw":     "line one\nline two\n",
}

// externalServer serves externalFiles, redirects /to-refused/ outside the allowed prefix and
// /to-allowed/ inside it, answers /big with more than the test's limit, /slow never, and
// counts the requests it serves.
func externalServer(t *testing.T) (srv *httptest.Server, requests, refused *atomic.Int64) {
	t.Helper()
	requests, refused = &atomic.Int64{}, &atomic.Int64{}
	mux := http.NewServeMux()
	mux.HandleFunc("/files/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, ok := externalFiles[strings.TrimPrefix(r.URL.Path, "/files/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	})
	mux.HandleFunc("/other/feed.csv", func(w http.ResponseWriter, r *http.Request) {
		refused.Add(1)
		w.Write([]byte("refused,1\n"))
	})
	mux.HandleFunc("/to-refused/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/other/feed.csv?sig=REDIRECTSECRET", http.StatusFound)
	})
	mux.HandleFunc("/to-allowed/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/files/list", http.StatusFound)
	})
	mux.HandleFunc("/files-big/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write(bytes.Repeat([]byte("a\n"), 50))
	})
	mux.HandleFunc("/files-big/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 50 {
			w.Write([]byte("a\n"))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/files-slow/", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv, requests, refused
}

func externalPolicy(t *testing.T, prefixes ...string) *ExternalDataPolicy {
	t.Helper()
	pol, err := NewExternalDataPolicy(prefixes)
	if err != nil {
		t.Fatal(err)
	}
	pol.Timeout = 5 * time.Second
	return pol
}

// runExternal runs q, with {srv} standing for the test server's address, under pol.
func runExternal(t *testing.T, srv *httptest.Server, q string, pol *ExternalDataPolicy) (*Result, error) {
	t.Helper()
	q = strings.ReplaceAll(q, "{srv}", srv.URL)
	c, err := Compile(q, Catalog{})
	if err != nil {
		return nil, err
	}
	return c.Run(context.Background(), NewMemSource(), Options{Now: fixtureNow, ExternalData: pol})
}

func TestExternalDataReadsTheFormats(t *testing.T) {
	srv, _, _ := externalServer(t)
	pol := externalPolicy(t, srv.URL+"/files/", srv.URL+"/to-allowed/")
	for _, c := range []struct{ name, q, want, cols string }{
		{name: "csv: quoted fields, typed values, a value that does not convert is null, a missing field null",
			q:    `externaldata(Name:string, Count:long, Seen:datetime, Ok:bool, Extra:dynamic, Missing:long) [@"{srv}/files/feed.csv"] with (format="csv", ignoreFirstRecord=true)`,
			want: `[["alpha",3,"2024-01-02T03:04:05Z",true,{"k":1},null],["b, \"quoted\"\nline",null,null,null,"",null]]`,
			cols: "Name:string,Count:long,Seen:datetime,Ok:bool,Extra:dynamic,Missing:long"},
		{name: "csv: the header is a record without ignoreFirstRecord",
			q: `externaldata(Name:string) [@"{srv}/files/feed.csv"] with (format="csv") | take 1`, want: `[["Name"]]`},
		{name: "csv: fewer columns declared than the file has",
			q: `externaldata(Name:string, Count:int) [@"{srv}/files/list"] with(format='csv')`, want: `[["a",1],["b",2]]`, cols: "Name:string,Count:int"},
		{name: "format detected from the extension: txt, one line a record, the other columns null",
			q: `externaldata(IP:string, N:long) [@"{srv}/files/ips.txt"]`, want: `[["# a comment line",null],["10.0.0.1",null],["10.0.0.2",null]]`},
		{name: "txt with ignoreFirstRecord, property names in any case",
			q: `externaldata(IP:string) [@"{srv}/files/ips.txt"] with (FORMAT="txt", ignorefirstrecord=True)`, want: `[["10.0.0.1"],["10.0.0.2"]]`},
		{name: "no extension: csv",
			q: `externaldata(a:string, b:long) [@"{srv}/files/list"]`, want: `[["a",1],["b",2]]`},
		{name: "tsv", q: `externaldata(a:string, b:long) [@"{srv}/files/feed.tsv"] with (format="tsv")`, want: `[["a",1],["b",2]]`},
		{name: "scsv detected", q: `externaldata(a:string, b:long) [@"{srv}/files/feed.scsv"]`, want: `[["a",1]]`},
		{name: "psv", q: `externaldata(a:string, b:long) [@"{srv}/files/feed.psv"] with (format="psv")`, want: `[["a",1]]`},
		{name: "raw: the whole file is one value", q: `externaldata(s:string) [@"{srv}/files/whole.raw"] with (format="raw")`, want: `[["line one\nline two\n"]]`},
		{name: "json: a record per line by property name; a line that is no object is skipped",
			q:    `externaldata(Name:string, Count:long, Tags:dynamic) [@"{srv}/files/records.json"] with (format="json")`,
			want: `[["a",1,["x"]],["",2,null]]`},
		{name: "multijson: records across lines and in arrays",
			q: `externaldata(Name:string, Count:long) [@"{srv}/files/records.mjson"] with (format="multijson")`, want: `[["a",1],["b",2],["c",null]]`},
		{name: "several URLs: their rows in order, ignoreFirstRecord per file",
			q:    `externaldata(a:string) [@"{srv}/files/list", "{srv}/files/feed.tsv"] with (format="txt", ignoreFirstRecord=true)`,
			want: `[["b,2"],["b\t2"]]`},
		{name: "adjacent string literals make one URL, as h@ obfuscated query strings are written",
			q: `externaldata(a:string, b:long) [@"{srv}/files/list" h@"?sig=x"]`, want: `[["a",1],["b",2]]`},
		{name: "a redirect to an allowed URL is followed",
			q: `externaldata(a:string, b:long) [@"{srv}/to-allowed/x"]`, want: `[["a",1],["b",2]]`},
		{name: "a let of it, then operators",
			q: `let Feed = externaldata(IP:string) [@"{srv}/files/ips.txt"] with (format="txt", ignoreFirstRecord=true); Feed | where IP endswith ".2" | project IP`, want: `[["10.0.0.2"]]`},
		{name: "in (externaldata ...) as a set",
			q: `print x = "10.0.0.1" | where x in ((externaldata(IP:string) [@"{srv}/files/ips.txt"]))`, want: `[["10.0.0.1"]]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := runExternal(t, srv, c.q, pol)
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
	srv, requests, _ := externalServer(t)
	q := `let Feed = externaldata(a:string, b:long) [@"{srv}/files/list"]; Feed | join kind=inner (Feed) on a | count`
	res, err := runExternal(t, srv, q, externalPolicy(t, srv.URL+"/files/"))
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, res.Tables[0], `[[2]]`, "")
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests for a source used twice in one run, want 1", n)
	}
}

func TestExternalDataRefusesAndFails(t *testing.T) {
	srv, _, refused := externalServer(t)
	pol := externalPolicy(t, srv.URL+"/files", srv.URL+"/to-refused/", srv.URL+"/files-big/")
	pol.MaxBytes = 64
	slow := externalPolicy(t, srv.URL+"/files-slow/")
	slow.Timeout = 50 * time.Millisecond
	for _, c := range []struct {
		name, q string
		pol     *ExternalDataPolicy
		refused bool
		err     string
	}{
		{name: "no policy: nothing is fetched", q: `externaldata(a:string) [@"{srv}/files/list?sig=SECRET"]`, refused: true,
			err: `externaldata may not fetch {srv}/files/list: no URL prefix the node allows covers it; its operator allows prefixes with sealwatch up --externaldata-allow PREFIX`},
		{name: "a URL under no prefix", q: `externaldata(a:string) [@"{srv}/other/feed.csv?sig=SECRET"]`, pol: pol, refused: true, err: `may not fetch {srv}/other/feed.csv:`},
		{name: "another host's URL that starts with the prefix's text", q: `externaldata(a:string) [@"{srv}0/files/list"]`, pol: pol, refused: true, err: `may not fetch {srv}0/files/list`},
		{name: "another scheme", q: `externaldata(a:string) [@"https://` + "127.0.0.1" + `/files/list"]`, pol: pol, refused: true, err: `may not fetch https://127.0.0.1/files/list`},
		{name: "a redirect to a URL under no prefix", q: `externaldata(a:string) [@"{srv}/to-refused/x"]`, pol: pol, refused: true, err: `may not fetch {srv}/other/feed.csv:`},
		{name: "a file larger than the limit, by its length", q: `externaldata(a:string) [@"{srv}/files-big/declared"]`, pol: pol, err: `could not read {srv}/files-big/declared: the file is 100 bytes, more than externaldata's limit of 64 bytes`},
		{name: "a file larger than the limit, streamed", q: `externaldata(a:string) [@"{srv}/files-big/chunked"]`, pol: pol, err: `could not read {srv}/files-big/chunked: the file is more than externaldata's limit of 64 bytes`},
		{name: "a server that does not answer in time", q: `externaldata(a:string) [@"{srv}/files-slow/x?sig=SECRET"]`, pol: slow, err: `could not read {srv}/files-slow/x: no answer within 50ms`},
		{name: "a missing file", q: `externaldata(a:string) [@"{srv}/files/nope?sig=SECRET"]`, pol: pol, err: `could not read {srv}/files/nope: the server answered 404 Not Found`},
		{name: "a csv record with more fields than the first", q: `externaldata(a:string) [@"{srv}/files/ragged.csv"]`, pol: pol, err: `record on line 2 has 3 fields where the first record has 2`},
		{name: "malformed multijson", q: `externaldata(Name:string) [@"{srv}/files/broken.mjson"] with (format="multijson")`, pol: pol, err: `record 2 is not JSON`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runExternal(t, srv, c.q, c.pol)
			var ee *ExternalDataError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v (%T), want an *ExternalDataError", err, err)
			}
			if want := strings.ReplaceAll(c.err, "{srv}", srv.URL); !strings.Contains(err.Error(), want) || ee.Refused != c.refused {
				t.Fatalf("error %q (refused %v)\nwant it to contain %q (refused %v)", err, ee.Refused, want, c.refused)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "sig=") {
				t.Fatalf("error %q shows a URL's query string", err)
			}
		})
	}
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d requests reached a URL under no prefix", n)
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

func TestExternalDataBindsWithoutAPolicy(t *testing.T) {
	q, err := Compile(`let base = "https://example.invalid/"; externaldata(IP:string, N:long) [strcat(base, "ips.txt?sig=x")] with (format="txt") | where N > 1`, Catalog{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.ResultColumns(); len(got) != 2 || got[0] != (Column{Name: "IP", Type: TypeString}) || got[1] != (Column{Name: "N", Type: TypeLong}) {
		t.Fatalf("schema %v", got)
	}
}

func TestNewExternalDataPolicyRefusesBadPrefixes(t *testing.T) {
	for _, c := range []struct{ prefix, err string }{
		{"ftp://h/x", "expected an http or https URL with a host"},
		{"/relative/path", "expected an http or https URL with a host"},
		{"https://h/x?sig=SECRET", "a prefix has no query"},
		{"https://u:SECRET@h/x", "user information"},
		{"https://h/%zz", "not a URL"},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			_, err := NewExternalDataPolicy([]string{"https://ok/", c.prefix})
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("%v, want %q", err, c.err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
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
