package extdata

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
)

// feedServer serves /files/list, redirects /to-refused/ outside the allowed prefixes and
// /to-allowed/ inside them, answers /files-big/ with more than the tests' limit, /files-slow/
// never, and counts the requests that reach /other/, which no test allows.
func feedServer(t *testing.T) (srv *httptest.Server, outside *atomic.Int64) {
	t.Helper()
	outside = &atomic.Int64{}
	mux := http.NewServeMux()
	mux.HandleFunc("/files/list", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a,1\nb,2\n"))
	})
	mux.HandleFunc("/other/", func(w http.ResponseWriter, r *http.Request) {
		outside.Add(1)
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
	return srv, outside
}

func newPolicy(t *testing.T, prefixes ...string) *Policy {
	t.Helper()
	pol, err := New(prefixes)
	if err != nil {
		t.Fatal(err)
	}
	pol.Timeout = 5 * time.Second
	return pol
}

func TestFetchReadsUnderAllowedPrefixes(t *testing.T) {
	srv, _ := feedServer(t)
	pol := newPolicy(t, srv.URL+"/files/", srv.URL+"/to-allowed/")
	for _, c := range []struct{ name, url string }{
		{name: "a URL under a prefix", url: srv.URL + "/files/list"},
		{name: "with a query string", url: srv.URL + "/files/list?sig=x"},
		{name: "a redirect to an allowed URL is followed", url: srv.URL + "/to-allowed/x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, err := pol.Fetch(context.Background(), c.url)
			if err != nil || string(body) != "a,1\nb,2\n" {
				t.Fatalf("Fetch: %q, %v; want the file", body, err)
			}
		})
	}
}

func TestFetchRefusesAndFails(t *testing.T) {
	srv, outside := feedServer(t)
	pol := newPolicy(t, srv.URL+"/files", srv.URL+"/to-refused/", srv.URL+"/files-big/")
	pol.MaxBytes = 64
	slow := newPolicy(t, srv.URL+"/files-slow/")
	slow.Timeout = 50 * time.Millisecond
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens at its address any more
	down := newPolicy(t, gone.URL+"/")
	for _, c := range []struct {
		name, url string
		pol       *Policy
		refused   string // the refused URL, or "" for a failure
		err       string
	}{
		{name: "no policy: nothing is fetched", url: "{srv}/files/list?sig=SECRET", refused: "{srv}/files/list"},
		{name: "a URL under no prefix", url: "{srv}/other/feed.csv?sig=SECRET", pol: pol, refused: "{srv}/other/feed.csv"},
		{name: "another host's URL that starts with the prefix's text", url: "{srv}0/files/list", pol: pol, refused: "{srv}0/files/list"},
		{name: "another scheme", url: "https://127.0.0.1" + strings.TrimPrefix(srv.URL, "http://127.0.0.1") + "/files/list", pol: pol,
			refused: "https://127.0.0.1" + strings.TrimPrefix(srv.URL, "http://127.0.0.1") + "/files/list"},
		{name: "user information", url: strings.Replace(srv.URL, "://", "://me:SECRET@", 1) + "/files/list", pol: pol, refused: "{srv}/files/list"},
		{name: "a redirect to a URL under no prefix", url: "{srv}/to-refused/x", pol: pol, refused: "{srv}/other/feed.csv"},
		{name: "a file larger than the limit, by its length", url: "{srv}/files-big/declared", pol: pol, err: "the file is 100 bytes, more than externaldata's limit of 64 bytes"},
		{name: "a file larger than the limit, streamed", url: "{srv}/files-big/chunked", pol: pol, err: "the file is more than externaldata's limit of 64 bytes"},
		{name: "a server that does not answer in time", url: "{srv}/files-slow/x?sig=SECRET", pol: slow, err: "no answer within 50ms"},
		{name: "a missing file", url: "{srv}/files/nope?sig=SECRET", pol: pol, err: "the server answered 404 Not Found"},
		{name: "a server that is not listening", url: gone.URL + "/x.csv?sig=SECRET", pol: down, err: "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, err := c.pol.Fetch(context.Background(), strings.ReplaceAll(c.url, "{srv}", srv.URL))
			if err == nil {
				t.Fatalf("Fetch: %q, want an error", body)
			}
			var ee *kql.ExternalDataError
			isRefusal := errors.As(err, &ee) && ee.Refused
			if want := strings.ReplaceAll(c.refused, "{srv}", srv.URL); c.refused != "" && (!isRefusal || ee.URL != want) {
				t.Fatalf("error %v (%T), want a refusal of %s", err, err, want)
			}
			if c.refused == "" && (isRefusal || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("error %q, want a failure containing %q", err, c.err)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "sig=") {
				t.Fatalf("error %q shows a URL's query string or user information", err)
			}
		})
	}
	if n := outside.Load(); n != 0 {
		t.Fatalf("%d requests reached a URL under no prefix", n)
	}
}

// TestQueriesFetchThroughAPolicy: a query reads a file through a Policy, and a file it could
// not read fails the run naming the URL without its query string.
func TestQueriesFetchThroughAPolicy(t *testing.T) {
	srv, _ := feedServer(t)
	pol := newPolicy(t, srv.URL+"/files/")
	run := func(url string) (*kql.Result, error) {
		q, err := kql.Compile(`externaldata(a:string, b:long) [@"`+url+`"] | count`, kql.Catalog{})
		if err != nil {
			t.Fatal(err)
		}
		return q.Run(context.Background(), kql.NewMemSource(), kql.Options{ExternalData: pol})
	}
	res, err := run(srv.URL + "/files/list")
	if err != nil || len(res.Tables[0].Rows) != 1 || res.Tables[0].Rows[0][0] != int64(2) {
		t.Fatalf("count of an allowed file: %+v, %v; want 2", res, err)
	}
	_, err = run(srv.URL + "/files/nope?sig=SECRET")
	var ee *kql.ExternalDataError
	if want := "externaldata could not read " + srv.URL + "/files/nope: the server answered 404 Not Found"; !errors.As(err, &ee) || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestNewRefusesBadPrefixes(t *testing.T) {
	for _, c := range []struct{ prefix, err string }{
		{"ftp://h/x", "expected an http or https URL with a host"},
		{"/relative/path", "expected an http or https URL with a host"},
		{"https://h/x?sig=SECRET", "a prefix has no query"},
		{"https://h/x#SECRET", "a prefix has no query or fragment"},
		{"https://u:SECRET@h/x", "user information"},
		{"https://h/%zz", "not a URL"},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			_, err := New([]string{"https://ok/", c.prefix})
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("%v, want %q", err, c.err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
	}
}

func TestPrefixesAreAsGiven(t *testing.T) {
	given := []string{"https://feeds.example.org/intel/", "http://127.0.0.1:8080/lists"}
	if got := newPolicy(t, given...).Prefixes(); !slices.Equal(got, given) {
		t.Fatalf("Prefixes() = %q, want %q", got, given)
	}
}
