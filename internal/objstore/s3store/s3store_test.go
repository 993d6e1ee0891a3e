package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/objstore/objtest"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

func open(t *testing.T) *s3store.Store {
	t.Helper()
	s, err := s3store.New(context.Background(), s3test.New(t).StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the suite on SeaweedFS's S3 endpoint.
func TestConformance(t *testing.T) {
	objtest.Run(t, func(t *testing.T) objstore.Store { return open(t) })
}

func TestAWrongSecretIsErrDeniedAndNeverRepeated(t *testing.T) {
	cfg := s3test.New(t).StoreConfig()
	good := cfg.SecretAccessKey
	cfg.SecretAccessKey = "WRONG" + good[5:]
	_, err := s3store.New(context.Background(), cfg)
	if !errors.Is(err, objstore.ErrDenied) {
		t.Fatalf("New with a wrong secret = %v, want ErrDenied", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, cfg.SecretAccessKey) || strings.Contains(s, good) {
			t.Errorf("the secret appears in %q", s)
		}
	}
}

func TestAMissingBucketIsRefusedAtNew(t *testing.T) {
	cfg := s3test.New(t).StoreConfig()
	cfg.Bucket += "-missing"
	_, err := s3store.New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("New on a missing bucket = %v, want it named missing", err)
	}
}

func TestAStoreThatDoesNotAnswerIsErrUnreachable(t *testing.T) {
	cfg := s3test.New(t).StoreConfig()
	s, err := s3store.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "k", strings.NewReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on: take one, then let it go.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = "http://" + l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s3store.New(ctx, cfg); !errors.Is(err, objstore.ErrUnreachable) {
		t.Fatalf("New on a closed port = %v, want ErrUnreachable", err)
	}
}

func TestConfigIsCheckedBeforeAnyRequest(t *testing.T) {
	good := s3store.Config{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Bucket: "segments", AccessKeyID: "AKID", SecretAccessKey: "secret"}
	for _, c := range []struct {
		name string
		edit func(*s3store.Config)
		want string
	}{
		{"no endpoint", func(c *s3store.Config) { c.Endpoint = "" }, "no endpoint"},
		{"credentials in the URL", func(c *s3store.Config) { c.Endpoint = "http://AKID:secret@127.0.0.1:1" }, "holds credentials"},
		// url.Error quotes the whole URL it could not parse.
		{"credentials in a URL that does not parse", func(c *s3store.Config) { c.Endpoint = "http://AKID:secret@127.0.0.1:port" }, "not a URL"},
		{"another scheme", func(c *s3store.Config) { c.Endpoint = "ftp://127.0.0.1:1" }, "not an http"},
		{"no host", func(c *s3store.Config) { c.Endpoint = "http://" }, "not an http"},
		{"a path", func(c *s3store.Config) { c.Endpoint = "http://127.0.0.1:1/segments" }, "path or query"},
		{"a query", func(c *s3store.Config) { c.Endpoint = "http://127.0.0.1:1?x=1" }, "path or query"},
		{"no region", func(c *s3store.Config) { c.Region = "" }, "no region"},
		{"an upper-case bucket", func(c *s3store.Config) { c.Bucket = "Segments" }, "not a bucket name"},
		{"a bucket with a slash", func(c *s3store.Config) { c.Bucket = "seg/ments" }, "not a bucket name"},
		{"a short bucket", func(c *s3store.Config) { c.Bucket = "ab" }, "not a bucket name"},
		{"no secret", func(c *s3store.Config) { c.SecretAccessKey = "" }, "no access key"},
		{"no access key", func(c *s3store.Config) { c.AccessKeyID = "" }, "no access key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			_, err := s3store.New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret@") || strings.Contains(err.Error(), ":secret") {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}

// BenchmarkReadRanges reads a 4 MiB object by 64 KiB ranges, in order, as
// a scan reads a segment's chunks, and in one 4 MiB read for comparison:
// from a local file and from SeaweedFS over loopback, in one run. Each
// iteration opens the object (a HEAD on S3) and reads it whole.
func BenchmarkReadRanges(b *testing.B) {
	const size = 4 << 20
	local, err := localfs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	remote, err := s3store.New(context.Background(), s3test.New(b).StoreConfig())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	for _, c := range []struct {
		name  string
		store objstore.Store
	}{{"localfs", local}, {"s3store", remote}} {
		ctx := context.Background()
		if err := c.store.Put(ctx, "ws/table/seg", bytes.NewReader(data), size); err != nil {
			b.Fatal(err)
		}
		for _, rangeSize := range []int64{64 << 10, size} {
			b.Run(fmt.Sprintf("store=%s/range=%dKiB", c.name, rangeSize>>10), func(b *testing.B) {
				buf := make([]byte, rangeSize)
				b.SetBytes(size)
				for b.Loop() {
					o, err := c.store.Open(ctx, "ws/table/seg")
					if err != nil {
						b.Fatal(err)
					}
					for off := int64(0); off < size; off += rangeSize {
						if _, err := o.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && off+rangeSize == size) {
							b.Fatal(err)
						}
					}
					o.Close()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(int64(b.N)*size/rangeSize), "µs/range")
			})
		}
	}
}

// openServedBy opens the object ws/t/seg of a store whose every answer is
// serve's: a server that does what S3 would not.
func openServedBy(t *testing.T, serve http.HandlerFunc) objstore.Object {
	t.Helper()
	srv := httptest.NewServer(serve)
	t.Cleanup(srv.Close)
	cfg := s3store.Config{Endpoint: srv.URL, Region: "us-east-1", Bucket: "segments", AccessKeyID: "AKID", SecretAccessKey: "secret"}
	ctx := context.Background()
	s, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(ctx, "ws/t/seg")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestARangeTheServerIgnoredIsAnErrorNotOtherBytes reads from a server
// that, as HTTP lets it, answers a ranged GET with the whole object: the
// object's first bytes must not pass for those at the offset asked for.
func TestARangeTheServerIgnoredIsAnErrorNotOtherBytes(t *testing.T) {
	const body = "0123456789"
	o := openServedBy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			io.WriteString(w, body) // 200, whatever the Range header asked
		}
	})
	p := make([]byte, 4)
	n, err := o.ReadAt(p, 3)
	if err == nil {
		t.Fatalf("ReadAt(4 bytes at 3) = %q, nil from a server that sent the whole object; want an error", p[:n])
	}
	t.Log(err)
}

// TestATransferCutShortIsErrUnreachable reads from a server whose answer
// ends before the Content-Length it gave, as a dropped connection leaves
// it: the object is whole as far as anyone knows, so the read is
// ErrUnreachable, never the short read (io.ErrUnexpectedEOF) that a reader
// would take for a truncated object.
func TestATransferCutShortIsErrUnreachable(t *testing.T) {
	const size = 10
	o := openServedBy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Method != http.MethodGet {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			return
		}
		w.Header().Set("Content-Range", "bytes 0-9/10")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "0123") // and the connection ends
	})
	_, err := o.ReadAt(make([]byte, size), 0)
	if !errors.Is(err, objstore.ErrUnreachable) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAt of a transfer cut short = %v, want ErrUnreachable and not io.ErrUnexpectedEOF", err)
	}
}

// TestACreateRetriedAfterItsAnswerWasLostSucceeds sends Create through a
// proxy that passes the first PutObject to the store and then drops the
// connection instead of the answer: the SDK sends it again, the store
// answers 412 since the object is there, and it is this Create's own, so
// Create succeeds. Another Create of the key still fails with ErrExist.
func TestACreateRetriedAfterItsAnswerWasLostSucceeds(t *testing.T) {
	cfg := s3test.New(t).StoreConfig()
	lossy := &answerDropper{t: t, upstream: cfg.Endpoint}
	srv := httptest.NewServer(lossy)
	defer srv.Close()
	cfg.Endpoint = srv.URL
	ctx := context.Background()
	s, err := s3store.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lossy.armed.Store(true)
	if err := s.Create(ctx, "ws/t/manifest-1", strings.NewReader("sealed"), 6); err != nil {
		t.Fatalf("Create whose first answer was lost: %v", err)
	}
	if n := lossy.puts.Load(); n != 2 {
		t.Fatalf("the store got %d PutObjects; want the first and the SDK's retry", n)
	}
	if err := s.Create(ctx, "ws/t/manifest-1", strings.NewReader("other!"), 6); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("another Create of the key: %v, want ErrExist", err)
	}
	o, err := s.Open(ctx, "ws/t/manifest-1")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := o.ReadAt(got, 0); err != nil || string(got) != "sealed" {
		t.Fatalf("the object holds %q (%v)", got, err)
	}
}

// answerDropper forwards requests to upstream; armed, it forwards the next
// PutObject and closes the connection in place of the store's answer.
type answerDropper struct {
	t        *testing.T
	upstream string
	armed    atomic.Bool
	puts     atomic.Int32
}

func (d *answerDropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	u, err := url.Parse(d.upstream)
	if err != nil {
		d.t.Error(err)
		return
	}
	out.URL.Scheme, out.URL.Host, out.RequestURI = u.Scheme, u.Host, ""
	// out.Host stays the proxy's: the request is signed for it.
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if r.Method == http.MethodPut {
		d.puts.Add(1)
		if d.armed.CompareAndSwap(true, false) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				d.t.Error(err)
				return
			}
			conn.Close()
			return
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
