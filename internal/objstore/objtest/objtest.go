// Package objtest is the conformance suite of objstore.Store: every backend
// runs it, so the log store can rely on one behaviour whichever holds its
// objects.
package objtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// Run runs the suite; newStore returns an empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"PutObjectReadsBackByRanges", testReadsBackByRanges},
		{"EmptyObject", testEmptyObject},
		{"MissingKeyIsErrNotExist", testMissingKey},
		{"PutReplacesTheObjectWhole", testPutReplaces},
		{"BodyOfAnotherSizeStoresNothing", testBodyOfAnotherSize},
		{"CreateRefusesATakenKey", testCreateRefusesTakenKey},
		{"OfConcurrentCreatesExactlyOneWins", testConcurrentCreates},
		{"ListGivesKeysInByteOrderWithSizes", testListOrder},
		{"WritesAndDeletesAreSeenAtOnce", testReadAndListAfterWrite},
		{"DeletingAMissingKeyIsNoError", testDeleteMissing},
		{"BadKeysAreRefusedByEveryMethod", testBadKeys},
		{"AnOpenedObjectNeverReadsAnothersBytes", testOpenedObjectKeepsItsBytes},
		{"ReadersSeeAReplacedObjectWhole", testAtomicReplace},
		{"ACancelledContextStopsEveryMethod", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

// readAll reads the object at key through Open and ReadAt.
func readAll(s objstore.Store, key string) ([]byte, error) {
	o, err := s.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	b := make([]byte, o.Size())
	if _, err := o.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

func mustRead(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	b, err := readAll(s, key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func keysOf(entries []objstore.Entry) []string {
	keys := []string{}
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}

func mustList(t *testing.T, s objstore.Store, prefix string) []objstore.Entry {
	t.Helper()
	entries, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return entries
}

func testReadsBackByRanges(t *testing.T, s objstore.Store) {
	data := randomBytes(100<<10 + 13)
	put(t, s, "ws/table/seg", data)
	o, err := s.Open(context.Background(), "ws/table/seg")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", o.Size(), len(data))
	}
	size := int64(len(data))
	for _, c := range []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantEOF bool // io.EOF required; else nil required, except at the end, where io.ReaderAt allows either
	}{
		{"the start", 0, 4096, 4096, false},
		{"the middle", 50000, 1, 1, false},
		{"up to the last byte", size - 100, 100, 100, false},
		{"across the end", size - 10, 100, 10, true},
		{"at the end", size, 10, 0, true},
		{"past the end", size + 1000, 10, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := make([]byte, c.n)
			n, err := o.ReadAt(p, c.off)
			if n != c.wantN {
				t.Fatalf("ReadAt(%d bytes at %d) read %d, want %d (err %v)", c.n, c.off, n, c.wantN, err)
			}
			atEnd := c.off+int64(c.n) >= size
			switch {
			case c.wantEOF && !errors.Is(err, io.EOF):
				t.Fatalf("ReadAt(%d bytes at %d): err %v, want io.EOF", c.n, c.off, err)
			case !c.wantEOF && err != nil && !(atEnd && errors.Is(err, io.EOF)):
				t.Fatalf("ReadAt(%d bytes at %d): %v", c.n, c.off, err)
			}
			if n > 0 && !bytes.Equal(p[:n], data[c.off:c.off+int64(n)]) {
				t.Fatalf("ReadAt(%d bytes at %d) read other bytes than were put", c.n, c.off)
			}
		})
	}
	// io.ReaderAt allows parallel calls on one source.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			off := int64(i) * 10000
			p := make([]byte, 10000)
			if _, err := o.ReadAt(p, off); err != nil {
				errs <- err
			} else if !bytes.Equal(p, data[off:off+10000]) {
				errs <- fmt.Errorf("parallel ReadAt at %d read other bytes", off)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	put(t, s, "empty", nil)
	o, err := s.Open(context.Background(), "empty")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != 0 {
		t.Fatalf("Size() = %d, want 0", o.Size())
	}
	if n, err := o.ReadAt(make([]byte, 1), 0); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt on an empty object = %d, %v; want 0, io.EOF", n, err)
	}
	if got := mustList(t, s, ""); len(got) != 1 || got[0] != (objstore.Entry{Key: "empty", Size: 0}) {
		t.Fatalf("List = %v, want the empty object", got)
	}
}

func testMissingKey(t *testing.T, s objstore.Store) {
	put(t, s, "ws/a", []byte("a"))
	for _, key := range []string{"missing", "ws/b", "ws/a/under"} {
		if _, err := s.Open(context.Background(), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Open(%s) = %v, want ErrNotExist", key, err)
		}
	}
	// A "directory" of keys is no object.
	if _, err := s.Open(context.Background(), "ws"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Open(ws), a prefix of a key, = %v, want ErrNotExist", err)
	}
}

func testPutReplaces(t *testing.T, s objstore.Store) {
	put(t, s, "manifest", randomBytes(5000))
	want := randomBytes(300)
	put(t, s, "manifest", want)
	if got := mustRead(t, s, "manifest"); !bytes.Equal(got, want) {
		t.Fatalf("after a second Put the object has %d bytes, not the %d put", len(got), len(want))
	}
	if got := mustList(t, s, ""); len(got) != 1 || got[0].Size != int64(len(want)) {
		t.Fatalf("List = %v, want one object of %d bytes", got, len(want))
	}
}

func testBodyOfAnotherSize(t *testing.T, s objstore.Store) {
	old := []byte("the old manifest")
	put(t, s, "kept", old)
	ops := map[string]func(ctx context.Context, key string, r io.Reader, size int64) error{"Put": s.Put, "Create": s.Create}
	for _, name := range []string{"Put", "Create"} {
		for _, c := range []struct {
			name string
			body func() io.Reader
		}{
			{"short", func() io.Reader { return bytes.NewReader(make([]byte, 99)) }},
			{"long", func() io.Reader { return bytes.NewReader(make([]byte, 101)) }},
			{"short, not seekable", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(make([]byte, 99))) }},
			{"long, not seekable", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(make([]byte, 101))) }},
		} {
			t.Run(name+" "+c.name, func(t *testing.T) {
				if err := ops[name](context.Background(), "new", c.body(), 100); !errors.Is(err, objstore.ErrSize) {
					t.Fatalf("%s of a %s body = %v, want ErrSize", name, c.name, err)
				}
				if _, err := s.Open(context.Background(), "new"); !errors.Is(err, objstore.ErrNotExist) {
					t.Fatalf("after a refused %s, Open = %v, want ErrNotExist", name, err)
				}
				if name == "Put" {
					if err := s.Put(context.Background(), "kept", c.body(), 100); !errors.Is(err, objstore.ErrSize) {
						t.Fatalf("Put over an object of a %s body = %v, want ErrSize", c.name, err)
					}
					if got := mustRead(t, s, "kept"); !bytes.Equal(got, old) {
						t.Fatalf("a refused Put changed the object there to %q", got)
					}
				}
			})
		}
	}
	if got := keysOf(mustList(t, s, "")); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("List = %v, want only the object put whole", got)
	}
	// A seekable body read from its current offset holds what is left.
	r := bytes.NewReader([]byte("skip:body"))
	r.Seek(5, io.SeekStart)
	if err := s.Put(context.Background(), "seeked", r, 4); err != nil {
		t.Fatalf("Put of a reader already read into: %v", err)
	}
	if got := mustRead(t, s, "seeked"); string(got) != "body" {
		t.Fatalf("Put of a reader already read into stored %q, want %q", got, "body")
	}
}

func testCreateRefusesTakenKey(t *testing.T, s objstore.Store) {
	first := []byte("first")
	if err := s.Create(context.Background(), "seg", bytes.NewReader(first), int64(len(first))); err != nil {
		t.Fatalf("Create of a free key: %v", err)
	}
	err := s.Create(context.Background(), "seg", strings.NewReader("second"), 6)
	if !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("Create of a taken key = %v, want ErrExist", err)
	}
	if got := mustRead(t, s, "seg"); !bytes.Equal(got, first) {
		t.Fatalf("a refused Create changed the object to %q", got)
	}
}

func testConcurrentCreates(t *testing.T, s objstore.Store) {
	const writers = 6
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
			errs[i] = s.Create(context.Background(), "ws/t/seg", bytes.NewReader(body), int64(len(body)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrExist):
			t.Fatalf("Create %d: %v, want nil or ErrExist", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Create succeeded")
	}
	want := bytes.Repeat([]byte{byte('a' + winner)}, 64<<10)
	if got := mustRead(t, s, "ws/t/seg"); !bytes.Equal(got, want) {
		t.Fatal("the object is not the one the successful Create wrote")
	}
}

func testListOrder(t *testing.T, s objstore.Store) {
	objects := map[string]int{
		"t/x/1": 1, "t/x-1": 2, "t/x.1": 3, "t/y": 4, "t/X": 5, "t2/x": 6, "u/x/deep/er": 7,
	}
	for key, n := range objects {
		put(t, s, key, make([]byte, n))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"t/X", "t/x-1", "t/x.1", "t/x/1", "t/y", "t2/x", "u/x/deep/er"}},
		{"t/", []string{"t/X", "t/x-1", "t/x.1", "t/x/1", "t/y"}},
		{"t", []string{"t/X", "t/x-1", "t/x.1", "t/x/1", "t/y", "t2/x"}},
		{"t/x", []string{"t/x-1", "t/x.1", "t/x/1"}},
		{"t/x/", []string{"t/x/1"}},
		{"u/", []string{"u/x/deep/er"}},
		{"t/y", []string{"t/y"}},
		{"t/z", []string{}},
		{"nothing/", []string{}},
		{"t/x/1/", []string{}},
	} {
		got := mustList(t, s, c.prefix)
		if !slices.Equal(keysOf(got), c.want) {
			t.Errorf("List(%q) = %v, want %v", c.prefix, keysOf(got), c.want)
		}
		for _, e := range got {
			if e.Size != int64(objects[e.Key]) {
				t.Errorf("List(%q) gives %s %d bytes, want %d", c.prefix, e.Key, e.Size, objects[e.Key])
			}
		}
	}
}

func testReadAndListAfterWrite(t *testing.T, s objstore.Store) {
	for i := range 20 {
		key := fmt.Sprintf("ws/t/%03d", i)
		data := randomBytes(1000 + i)
		put(t, s, key, data)
		if got := mustRead(t, s, key); !bytes.Equal(got, data) {
			t.Fatalf("read after Put(%s): other bytes", key)
		}
		if got := mustList(t, s, "ws/t/"); len(got) != i+1 || got[i].Key != key {
			t.Fatalf("List after Put(%s) = %v, want %d keys ending with it", key, keysOf(got), i+1)
		}
	}
	for i := range 20 {
		key := fmt.Sprintf("ws/t/%03d", i)
		if err := s.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(context.Background(), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("Open after Delete(%s) = %v, want ErrNotExist", key, err)
		}
		if got := mustList(t, s, "ws/t/"); len(got) != 19-i || slices.Contains(keysOf(got), key) {
			t.Fatalf("List after Delete(%s) = %v", key, keysOf(got))
		}
	}
}

func testDeleteMissing(t *testing.T, s objstore.Store) {
	put(t, s, "ws/a", []byte("a"))
	for _, key := range []string{"missing", "ws/b", "ws", "ws/a/under"} {
		if err := s.Delete(context.Background(), key); err != nil {
			t.Errorf("Delete(%s) of no object = %v, want nil", key, err)
		}
	}
	if got := mustRead(t, s, "ws/a"); string(got) != "a" {
		t.Fatalf("deleting other keys changed ws/a to %q", got)
	}
}

func testBadKeys(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "../escape", "ws/../../escape", "ws//x", "ws/", ".hidden", "ws\\x", "ws/a b", "ws/\x00"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			calls := map[string]error{
				"Put":    s.Put(ctx, key, strings.NewReader("x"), 1),
				"Create": s.Create(ctx, key, strings.NewReader("x"), 1),
				"Delete": s.Delete(ctx, key),
			}
			_, calls["Open"] = s.Open(ctx, key)
			if objstore.ValidPrefix(key) != nil { // "" and "ws/" are prefixes of keys
				_, calls["List"] = s.List(ctx, key)
			}
			for name, err := range calls {
				var ke *objstore.KeyError
				if !errors.As(err, &ke) || !errors.Is(err, objstore.ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want a *KeyError", name, key, err)
				}
			}
		})
	}
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Fatalf("bad keys left objects: %v", keysOf(got))
	}
}

func testOpenedObjectKeepsItsBytes(t *testing.T, s objstore.Store) {
	old, replacement := bytes.Repeat([]byte("o"), 10000), bytes.Repeat([]byte("n"), 10000)
	for _, change := range []string{"replaced", "deleted"} {
		t.Run(change, func(t *testing.T) {
			put(t, s, "manifest", old)
			o, err := s.Open(context.Background(), "manifest")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if change == "replaced" {
				put(t, s, "manifest", replacement)
			} else if err := s.Delete(context.Background(), "manifest"); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 5000)
			_, err = o.ReadAt(p, 5000)
			switch {
			case errors.Is(err, objstore.ErrNotExist):
				// The backend cannot read the old bytes, and says so.
			case err != nil:
				t.Fatalf("ReadAt after the object was %s: %v, want its old bytes or ErrNotExist", change, err)
			case !bytes.Equal(p, old[5000:]):
				t.Fatalf("ReadAt after the object was %s read bytes that were never the object opened", change)
			}
		})
	}
}

func testAtomicReplace(t *testing.T, s objstore.Store) {
	const size = 1 << 20
	bodies := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
	put(t, s, "manifest", bodies[0])
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 10 {
			put(t, s, "manifest", bodies[(i+1)%2])
		}
	})
	for range 2 {
		wg.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads > 0 {
						return
					}
				default:
				}
				got, err := readAll(s, "manifest")
				if errors.Is(err, objstore.ErrNotExist) {
					continue // replaced between Open and ReadAt: the backend said so
				}
				if err != nil {
					t.Errorf("read while the object is replaced: %v", err)
					return
				}
				if len(got) != size || (!bytes.Equal(got, bodies[0]) && !bytes.Equal(got, bodies[1])) {
					t.Errorf("a reader saw %d bytes that are neither object whole", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
}

func testCancelled(t *testing.T, s objstore.Store) {
	put(t, s, "ws/a", []byte("a"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]error{
		"Put":    s.Put(ctx, "ws/b", strings.NewReader("b"), 1),
		"Create": s.Create(ctx, "ws/c", strings.NewReader("c"), 1),
		"Delete": s.Delete(ctx, "ws/a"),
	}
	_, calls["Open"] = s.Open(ctx, "ws/a")
	_, calls["List"] = s.List(ctx, "ws/")
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	if got := keysOf(mustList(t, s, "")); !slices.Equal(got, []string{"ws/a"}) {
		t.Fatalf("after calls with a cancelled context the store holds %v, want ws/a alone", got)
	}
}
