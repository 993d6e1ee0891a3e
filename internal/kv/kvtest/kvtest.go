// Package kvtest is the conformance suite of kv backends: the semantics
// that package kv states, bbolt's, checked against a backend the same way
// for every engine, so the domain packages may count on them whatever
// holds their bytes.
package kvtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Run runs the suite; open returns a new, empty database each time it is
// called, closed when the test ends.
func Run(t *testing.T, open func(t *testing.T) kv.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db kv.DB)
	}{
		{"NestedBucketsKeepTheirOwnKeys", testNestedBuckets},
		{"KeysComeInBytewiseOrder", testBytewiseOrder},
		{"CursorAtAndPastBothEnds", testCursorEnds},
		{"CursorOnAnEmptyBucketFindsNothing", testCursorEmpty},
		{"CursorSeek", testCursorSeek},
		{"CursorDeleteThenNextGoesOn", testCursorDelete},
		{"ForEachGivesNilValuesForNestedBuckets", testForEach},
		{"DeleteBucketRemovesEverythingBeneath", testDeleteBucket},
		{"ErrorsAreKvErrors", testErrors},
		{"ViewRefusesWrites", testViewRefusesWrites},
		{"UpdateSeesItsOwnWrites", testOwnWrites},
		{"UpdateRolledBackWhenFnFails", testRollbackOnError},
		{"UpdateRolledBackAndRepanickedWhenFnPanics", testRollbackOnPanic},
		{"EmptyValueIsNotAnAbsentKey", testEmptyValue},
		{"LargeValueRoundTrips", testLargeValue},
		{"CancelledContextIsRefused", testCancelledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	t.Run("ReaderSeesOneSnapshotWhileAWriterCommits", func(t *testing.T) {
		db := open(t)
		Snapshot(t, db, db)
	})
	t.Run("ConcurrentUpdatesLoseNoIncrement", func(t *testing.T) {
		Serialize(t, open(t))
	})
	t.Run("EachKeyIsClaimedOnce", func(t *testing.T) {
		Claims(t, open(t))
	})
}

// Claims checks kv.Claimer on dbs (one database, or several handles on it,
// as several nodes hold): a key is claimed once, whichever handle claims
// it and however many claim it at once, equal keys of one call included;
// a key unclaimed, or before the bound Unclaim is given, may be claimed
// again; sets are apart from each other and from the buckets.
func Claims(t *testing.T, dbs ...kv.DB) {
	ctx := context.Background()
	claimers := make([]kv.Claimer, len(dbs))
	for i, db := range dbs {
		c, ok := db.(kv.Claimer)
		if !ok {
			t.Fatalf("%T is not a kv.Claimer", db)
		}
		claimers[i] = c
	}
	first, last := claimers[0], claimers[len(claimers)-1]
	set := []byte("taken")
	claim := func(c kv.Claimer, keys ...string) []bool {
		t.Helper()
		got, err := c.Claim(ctx, set, byteKeys(keys))
		must(t, err)
		return got
	}
	if got := claim(first, "a", "b", "a"); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("claiming a, b, a = %v, want the first a and b claimed", got)
	}
	if got := claim(last, "b", "c"); !slices.Equal(got, []bool{false, true}) {
		t.Fatalf("claiming b again and c = %v, want c alone claimed", got)
	}
	if got, err := first.Claim(ctx, []byte("other"), byteKeys([]string{"a"})); err != nil || !slices.Equal(got, []bool{true}) {
		t.Fatalf("claiming a in another set = %v, %v; want it claimed", got, err)
	}
	view(t, dbs[0], func(tx kv.Tx) error {
		if tx.Bucket(set) != nil {
			t.Error("a set of claims is seen as a bucket")
		}
		return nil
	})

	must(t, last.Unclaim(ctx, set, byteKeys([]string{"c"}), nil))
	if got := claim(first, "a", "b", "c"); !slices.Equal(got, []bool{false, false, true}) {
		t.Fatalf("after c was unclaimed, claiming a, b, c = %v, want c alone", got)
	}
	must(t, first.Unclaim(ctx, set, nil, []byte("b")))
	if got := claim(last, "a", "b"); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("after the keys before b were unclaimed, claiming a, b = %v, want a alone", got)
	}

	// Copies claimed at once through every handle: one is told true.
	const copies = 32
	var wg sync.WaitGroup
	won := make(chan bool, copies)
	for i := range copies {
		wg.Go(func() {
			got, err := claimers[i%len(claimers)].Claim(ctx, set, byteKeys([]string{"twin"}))
			if err != nil {
				t.Error(err)
				return
			}
			won <- got[0]
		})
	}
	wg.Wait()
	close(won)
	n := 0
	for w := range won {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d concurrent claims of one key were told they claimed it, want 1", n, copies)
	}
	if _, err := first.Claim(ctx, nil, byteKeys([]string{"a"})); !errors.Is(err, kv.ErrKeyRequired) {
		t.Errorf("a claim in a set without a name = %v, want ErrKeyRequired", err)
	}
}

func byteKeys(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

// Snapshot checks that a View on reader keeps seeing the data as it began
// while an Update on writer (the same database, or another handle on it)
// changes it and commits, and that a View begun after the commit sees it.
func Snapshot(t *testing.T, reader, writer kv.DB) {
	ctx := context.Background()
	// A bbolt writer that must grow its file's memory map waits for the
	// readers open: the database first holds and frees a few MiB, the
	// room a database in use has.
	update(t, writer, func(tx kv.Tx) error {
		return mustCreate(t, tx, "room").Put([]byte("k"), make([]byte, 4<<20))
	})
	update(t, writer, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("room")) })
	update(t, writer, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "snap")
		must(t, b.Put([]byte("a"), []byte("1")))
		return b.Put([]byte("b"), []byte("1"))
	})
	committed := make(chan error, 1)
	err := reader.View(ctx, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("snap"))
		if got := b.Get([]byte("a")); string(got) != "1" {
			t.Errorf("before the writer: a = %q, want 1", got)
		}
		go func() {
			committed <- writer.Update(ctx, func(tx kv.Tx) error {
				b := tx.Bucket([]byte("snap"))
				return errors.Join(b.Put([]byte("a"), []byte("2")), b.Put([]byte("b"), []byte("2")), b.Put([]byte("c"), []byte("2")))
			})
		}()
		select {
		case err := <-committed:
			if err != nil {
				return fmt.Errorf("the writer's update: %w", err)
			}
		case <-time.After(30 * time.Second):
			return errors.New("a writer waited on an open reader for 30 s")
		}
		for k, want := range map[string]string{"a": "1", "b": "1"} {
			if got := b.Get([]byte(k)); string(got) != want {
				t.Errorf("after the writer committed, in the same View: %s = %q, want %q", k, got, want)
			}
		}
		if got := b.Get([]byte("c")); got != nil {
			t.Errorf("a key the writer added shows in a View begun before: c = %q", got)
		}
		if n := b.KeyN(); n != 2 {
			t.Errorf("KeyN in the earlier View = %d, want 2", n)
		}
		return nil
	})
	must(t, err)
	view(t, reader, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("snap"))
		for _, k := range []string{"a", "b", "c"} {
			if got := b.Get([]byte(k)); string(got) != "2" {
				t.Errorf("a View begun after the commit: %s = %q, want 2", k, got)
			}
		}
		return nil
	})
}

// Serialize checks that Updates run one at a time: goroutines spread over
// dbs (one database, or several handles on it, as several nodes hold)
// each increment one counter many times by read-modify-write, and none of
// the increments is lost.
func Serialize(t *testing.T, dbs ...kv.DB) {
	const workers, increments = 4, 25
	ctx := context.Background()
	update(t, dbs[0], func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("counter"))
		return err
	})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			for range increments {
				err := db.Update(ctx, func(tx kv.Tx) error {
					b := tx.Bucket([]byte("counter"))
					var n uint64
					if v := b.Get([]byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("an increment failed: %v", err)
	}
	for i, db := range dbs {
		view(t, db, func(tx kv.Tx) error {
			got := binary.BigEndian.Uint64(tx.Bucket([]byte("counter")).Get([]byte("n")))
			if got != workers*increments {
				t.Errorf("handle %d reads the counter as %d after %d×%d increments: some were lost", i, got, workers, increments)
			}
			return nil
		})
	}
}

func testNestedBuckets(t *testing.T, db kv.DB) {
	path := []string{"top", "middle", "bottom", "deepest"}
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, path[0])
		for i, name := range path {
			if i > 0 {
				var err error
				if b, err = b.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			// The same key at every depth, and a key named as the next bucket
			// in a sibling bucket, must not meet.
			must(t, b.Put([]byte("k"), []byte("at "+name)))
		}
		other := mustCreate(t, tx, "middle")
		return other.Put([]byte("k"), []byte("top-level middle"))
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte(path[0]))
		for i, name := range path {
			if i > 0 {
				if b = b.Bucket([]byte(name)); b == nil {
					t.Fatalf("bucket %s missing after commit", name)
				}
			}
			if got := string(b.Get([]byte("k"))); got != "at "+name {
				t.Errorf("k in %s = %q, want %q", name, got, "at "+name)
			}
		}
		if got := string(tx.Bucket([]byte("middle")).Get([]byte("k"))); got != "top-level middle" {
			t.Errorf("k in the top-level middle = %q", got)
		}
		if tx.Bucket([]byte("absent")) != nil {
			t.Error("an absent top-level bucket is not nil")
		}
		top := tx.Bucket([]byte("top"))
		if top.Bucket([]byte("k")) != nil {
			t.Error("a value's key opens as a bucket")
		}
		if top.Get([]byte("middle")) != nil {
			t.Error("a nested bucket's name reads as a value")
		}
		return nil
	})
	// CreateBucketIfNotExists on an existing bucket returns it.
	update(t, db, func(tx kv.Tx) error {
		b, err := mustCreate(t, tx, "top").CreateBucketIfNotExists([]byte("middle"))
		if err != nil {
			return err
		}
		if got := string(b.Get([]byte("k"))); got != "at middle" {
			t.Errorf("CreateBucketIfNotExists on an existing bucket: k = %q, want its content", got)
		}
		return nil
	})
}

// orderedKeys are keys whose bytewise order a signed or text comparison
// would get wrong: 0x00 and 0xff bytes, 0x7f against 0x80, and keys that
// are prefixes of one another.
var orderedKeys = [][]byte{
	{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x00, 0xff}, {0x01},
	[]byte("a"), []byte("a\x00"), []byte("a\x00\x00"), []byte("a\x01"), []byte("ab"), []byte("abc"), []byte("b"),
	{0x7f}, {0x7f, 0xff}, {0x80}, {0x80, 0x00}, {0xfe, 0xff}, {0xff}, {0xff, 0x00}, {0xff, 0xff}, {0xff, 0xff, 0xff},
}

func testBytewiseOrder(t *testing.T, db kv.DB) {
	shuffled := slices.Clone(orderedKeys)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "order")
		for _, k := range shuffled {
			if bytes.Equal(k, []byte("ab")) {
				// A nested bucket takes its place among the values.
				if _, err := b.CreateBucketIfNotExists(k); err != nil {
					return err
				}
				continue
			}
			must(t, b.Put(k, append([]byte("v"), k...)))
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("order"))
		var forward, backward [][]byte
		must(t, b.ForEach(func(k, _ []byte) error {
			forward = append(forward, bytes.Clone(k))
			return nil
		}))
		c := b.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			backward = append(backward, bytes.Clone(k))
		}
		slices.Reverse(backward)
		if !equalKeys(forward, orderedKeys) {
			t.Errorf("ForEach order:\n got %x\nwant %x", forward, orderedKeys)
		}
		if !equalKeys(backward, orderedKeys) {
			t.Errorf("Last then Prev order, reversed:\n got %x\nwant %x", backward, orderedKeys)
		}
		for _, k := range orderedKeys {
			got := b.Get(k)
			if bytes.Equal(k, []byte("ab")) {
				if got != nil || b.Bucket(k) == nil {
					t.Errorf("the bucket ab: Get = %q, Bucket = %v", got, b.Bucket(k))
				}
				continue
			}
			if want := append([]byte("v"), k...); !bytes.Equal(got, want) {
				t.Errorf("Get(%x) = %x, want %x", k, got, want)
			}
		}
		return nil
	})
}

func testCursorEnds(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "ends")
		for _, k := range []string{"b", "c", "d"} {
			must(t, b.Put([]byte(k), []byte("v"+k)))
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("ends")).Cursor()
		steps := []struct {
			name    string
			move    func() ([]byte, []byte)
			key, vl string // "" for nil
		}{
			{"First", c.First, "b", "vb"},
			{"Prev from the first key", c.Prev, "", ""},
			{"Last", c.Last, "d", "vd"},
			{"Next from the last key", c.Next, "", ""},
			{"First again", c.First, "b", "vb"},
			{"Next", c.Next, "c", "vc"},
			{"Next", c.Next, "d", "vd"},
			{"Prev", c.Prev, "c", "vc"},
			{"Seek past the end", func() ([]byte, []byte) { return c.Seek([]byte("e")) }, "", ""},
			{"Next after a Seek past the end", c.Next, "", ""},
			{"Prev after that Next", c.Prev, "d", "vd"},
			{"Prev", c.Prev, "c", "vc"},
			{"Seek past the end again", func() ([]byte, []byte) { return c.Seek([]byte("e")) }, "", ""},
			{"Prev after a Seek past the end", c.Prev, "d", "vd"},
			{"Seek past the end once more", func() ([]byte, []byte) { return c.Seek([]byte("e")) }, "", ""},
			{"Last after running off", c.Last, "d", "vd"},
			{"Prev", c.Prev, "c", "vc"},
			{"Seek before the start", func() ([]byte, []byte) { return c.Seek([]byte("a")) }, "b", "vb"},
		}
		for i, s := range steps {
			k, v := s.move()
			if !same(k, s.key) || !same(v, s.vl) {
				t.Errorf("step %d, %s: (%q, %q), want (%q, %q) (\"\" meaning nil)", i, s.name, k, v, s.key, s.vl)
			}
		}
		return nil
	})
}

func testCursorEmpty(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		mustCreate(t, tx, "empty")
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("empty"))
		c := b.Cursor()
		for name, move := range map[string]func() ([]byte, []byte){
			"First": c.First, "Last": c.Last, "Next": c.Next, "Prev": c.Prev,
			"Seek": func() ([]byte, []byte) { return c.Seek([]byte("a")) },
		} {
			if k, v := move(); k != nil || v != nil {
				t.Errorf("%s on an empty bucket: (%q, %q), want (nil, nil)", name, k, v)
			}
		}
		if n := b.KeyN(); n != 0 {
			t.Errorf("KeyN of an empty bucket = %d", n)
		}
		called := false
		must(t, b.ForEach(func(k, v []byte) error { called = true; return nil }))
		if called {
			t.Error("ForEach called fn on an empty bucket")
		}
		return nil
	})
}

// manyKeys is more keys than a backend that pages its cursors is likely
// to fetch at once, so moves cross pages.
const manyKeys = 600

func manyKey(i int) []byte { return fmt.Appendf(nil, "key%05d", i) }

func putMany(t *testing.T, db kv.DB, bucket string) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, bucket)
		for i := range manyKeys {
			must(t, b.Put(manyKey(i), fmt.Appendf(nil, "value%d", i)))
		}
		return nil
	})
}

func testCursorSeek(t *testing.T, db kv.DB) {
	putMany(t, db, "seek")
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("seek")).Cursor()
		tests := []struct {
			name string
			seek []byte
			want []byte // nil past the end
		}{
			{"an exact key", manyKey(300), manyKey(300)},
			{"between two keys", append(manyKey(299), 0x00), manyKey(300)},
			{"before every key", []byte{0x00}, manyKey(0)},
			{"a prefix of every key", []byte("key"), manyKey(0)},
			{"the last key", manyKey(manyKeys - 1), manyKey(manyKeys - 1)},
			{"past the end", append(manyKey(manyKeys-1), 0x00), nil},
			{"far past the end", []byte{0xff, 0xff}, nil},
		}
		for _, tc := range tests {
			k, v := c.Seek(tc.seek)
			if !bytes.Equal(k, tc.want) || (tc.want == nil) != (k == nil) {
				t.Errorf("Seek %s (%q): key %q, want %q", tc.name, tc.seek, k, tc.want)
			}
			if k != nil && v == nil {
				t.Errorf("Seek %s: nil value for a value's key", tc.name)
			}
		}
		// Moves from a Seek go on across the keys on either side.
		c.Seek(manyKey(10))
		for i := 9; i >= 0; i-- {
			if k, _ := c.Prev(); !bytes.Equal(k, manyKey(i)) {
				t.Fatalf("Prev from Seek, step to %d: %q", i, k)
			}
		}
		if k, _ := c.Prev(); k != nil {
			t.Errorf("Prev past the first key after a Seek: %q", k)
		}
		c.Seek(manyKey(manyKeys - 300))
		for i := manyKeys - 299; i < manyKeys; i++ {
			if k, _ := c.Next(); !bytes.Equal(k, manyKey(i)) {
				t.Fatalf("Next from Seek, step to %d: %q", i, k)
			}
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next past the last key after a Seek: %q", k)
		}
		return nil
	})
}

func testCursorDelete(t *testing.T, db kv.DB) {
	putMany(t, db, "del")
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("del"))
		if _, err := b.CreateBucketIfNotExists([]byte("key00100x")); err != nil {
			return err
		}
		c := b.Cursor()
		var visited int
		for k, v := c.First(); k != nil; k, v = c.Next() {
			visited++
			if v == nil {
				if err := c.Delete(); !errors.Is(err, kv.ErrIncompatibleValue) {
					t.Errorf("cursor Delete on a nested bucket: %v, want ErrIncompatibleValue", err)
				}
				continue
			}
			var i int
			fmt.Sscanf(string(k), "key%05d", &i)
			if i%2 == 0 {
				must(t, c.Delete())
			}
		}
		if visited != manyKeys+1 {
			t.Errorf("the loop deleting every other key visited %d keys, want %d", visited, manyKeys+1)
		}
		// The deletions show in the same transaction.
		if n := b.KeyN(); n != manyKeys/2+1 {
			t.Errorf("KeyN after deleting half = %d, want %d", n, manyKeys/2+1)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("del"))
		for i := range manyKeys {
			if got := b.Get(manyKey(i)); (got == nil) != (i%2 == 0) {
				t.Fatalf("after deleting the even keys, %s = %q", manyKey(i), got)
			}
		}
		return nil
	})
	// Deleting backwards, with Prev.
	update(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("del")).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if v != nil {
				must(t, c.Delete())
			}
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("del")).KeyN(); n != 1 {
			t.Errorf("after deleting every value walking backwards, KeyN = %d, want 1 (the nested bucket)", n)
		}
		return nil
	})
}

func testForEach(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "each")
		must(t, b.Put([]byte("a"), []byte("1")))
		if _, err := b.CreateBucketIfNotExists([]byte("b")); err != nil {
			return err
		}
		must(t, b.Put([]byte("c"), []byte("3")))
		_, err := b.CreateBucketIfNotExists([]byte("d"))
		return err
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("each"))
		var got []string
		must(t, b.ForEach(func(k, v []byte) error {
			if v == nil {
				got = append(got, string(k)+"=<bucket>")
			} else {
				got = append(got, string(k)+"="+string(v))
			}
			return nil
		}))
		if want := []string{"a=1", "b=<bucket>", "c=3", "d=<bucket>"}; !slices.Equal(got, want) {
			t.Errorf("ForEach: %q, want %q", got, want)
		}
		var buckets []string
		must(t, b.ForEachBucket(func(name []byte) error {
			buckets = append(buckets, string(name))
			return nil
		}))
		if want := []string{"b", "d"}; !slices.Equal(buckets, want) {
			t.Errorf("ForEachBucket: %q, want %q", buckets, want)
		}
		if n := b.KeyN(); n != 4 {
			t.Errorf("KeyN = %d, want 4 (two values, two buckets)", n)
		}
		stop := errors.New("stop")
		calls := 0
		if err := b.ForEach(func(k, v []byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ForEach whose fn fails: %v after %d calls, want fn's error after 1", err, calls)
		}
		calls = 0
		if err := b.ForEachBucket(func([]byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
			t.Errorf("ForEachBucket whose fn fails: %v after %d calls, want fn's error after 1", err, calls)
		}
		return nil
	})
}

func testDeleteBucket(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		for _, top := range []string{"doomed", "doomed2", "doome", "doomee"} {
			a := mustCreate(t, tx, top)
			must(t, a.Put([]byte("k"), []byte("v")))
			for _, mid := range []string{"b", "b\x00", "bb", "c"} {
				b, err := a.CreateBucketIfNotExists([]byte(mid))
				must(t, err)
				must(t, b.Put([]byte("k"), []byte("v")))
				c, err := b.CreateBucketIfNotExists([]byte("c"))
				must(t, err)
				must(t, c.Put([]byte("k"), []byte("v")))
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("doomed2")).DeleteBucket([]byte("b")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("doomed"))
	})
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("doomed")) != nil {
			t.Error("a deleted top-level bucket is still there")
		}
		// Buckets whose names share a prefix with the deleted ones are whole.
		for _, top := range []string{"doomed2", "doome", "doomee"} {
			a := tx.Bucket([]byte(top))
			for _, mid := range []string{"b", "b\x00", "bb", "c"} {
				b := a.Bucket([]byte(mid))
				if top == "doomed2" && mid == "b" {
					if b != nil {
						t.Error("a deleted nested bucket is still there")
					}
					continue
				}
				if b == nil || b.Bucket([]byte("c")) == nil || string(b.Bucket([]byte("c")).Get([]byte("k"))) != "v" {
					t.Errorf("%q/%q or beneath it went with a deleted bucket", top, mid)
				}
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		nested, err := mustCreate(t, tx, "doomed2").CreateBucketIfNotExists([]byte("b"))
		must(t, err)
		for _, b := range []kv.Bucket{mustCreate(t, tx, "doomed"), nested} {
			if n := b.KeyN(); n != 0 {
				t.Errorf("a bucket re-created after its deletion holds %d keys", n)
			}
			if k, _ := b.Cursor().First(); k != nil {
				t.Errorf("a bucket re-created after its deletion has a first key %q", k)
			}
			c, err := b.CreateBucketIfNotExists([]byte("c"))
			must(t, err)
			if got := c.Get([]byte("k")); got != nil {
				t.Errorf("a re-created bucket's nested bucket kept its old key: %q", got)
			}
		}
		return nil
	})
}

func testErrors(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "errs")
		must(t, b.Put([]byte("value"), []byte("v")))
		_, err := b.CreateBucketIfNotExists([]byte("bucket"))
		return err
	})
	tests := []struct {
		name string
		op   func(tx kv.Tx, b kv.Bucket) error
		want error
	}{
		{"DeleteBucket of an absent nested bucket", func(_ kv.Tx, b kv.Bucket) error { return b.DeleteBucket([]byte("absent")) }, kv.ErrBucketNotFound},
		{"DeleteBucket of an absent top-level bucket", func(tx kv.Tx, _ kv.Bucket) error { return tx.DeleteBucket([]byte("absent")) }, kv.ErrBucketNotFound},
		{"Put on a nested bucket's key", func(_ kv.Tx, b kv.Bucket) error { return b.Put([]byte("bucket"), []byte("v")) }, kv.ErrIncompatibleValue},
		{"CreateBucketIfNotExists on a value's key", func(_ kv.Tx, b kv.Bucket) error {
			_, err := b.CreateBucketIfNotExists([]byte("value"))
			return err
		}, kv.ErrIncompatibleValue},
		{"DeleteBucket on a value's key", func(_ kv.Tx, b kv.Bucket) error { return b.DeleteBucket([]byte("value")) }, kv.ErrIncompatibleValue},
		{"Delete on a nested bucket's key", func(_ kv.Tx, b kv.Bucket) error { return b.Delete([]byte("bucket")) }, kv.ErrIncompatibleValue},
		{"Put with an empty key", func(_ kv.Tx, b kv.Bucket) error { return b.Put([]byte{}, []byte("v")) }, kv.ErrKeyRequired},
		{"Put with a nil key", func(_ kv.Tx, b kv.Bucket) error { return b.Put(nil, []byte("v")) }, kv.ErrKeyRequired},
		{"nested bucket with an empty name", func(_ kv.Tx, b kv.Bucket) error {
			_, err := b.CreateBucketIfNotExists(nil)
			return err
		}, kv.ErrKeyRequired},
		{"top-level bucket with an empty name", func(tx kv.Tx, _ kv.Bucket) error {
			_, err := tx.CreateBucketIfNotExists([]byte{})
			return err
		}, kv.ErrKeyRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			update(t, db, func(tx kv.Tx) error {
				if err := tc.op(tx, tx.Bucket([]byte("errs"))); !errors.Is(err, tc.want) {
					t.Errorf("got %v, want %v", err, tc.want)
				}
				return nil
			})
		})
	}
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("errs"))
		if string(b.Get([]byte("value"))) != "v" || b.Bucket([]byte("bucket")) == nil || b.KeyN() != 2 {
			t.Error("refused operations changed the bucket")
		}
		return nil
	})
}

func testViewRefusesWrites(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "ro")
		must(t, b.Put([]byte("k"), []byte("v")))
		_, err := b.CreateBucketIfNotExists([]byte("nested"))
		return err
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("ro"))
		ops := map[string]func() error{
			"Put":                               func() error { return b.Put([]byte("k"), []byte("w")) },
			"Delete":                            func() error { return b.Delete([]byte("k")) },
			"CreateBucketIfNotExists, new":      func() error { _, err := b.CreateBucketIfNotExists([]byte("new")); return err },
			"CreateBucketIfNotExists, existing": func() error { _, err := b.CreateBucketIfNotExists([]byte("nested")); return err },
			"DeleteBucket":                      func() error { return b.DeleteBucket([]byte("nested")) },
			"top-level CreateBucketIfNotExists": func() error { _, err := tx.CreateBucketIfNotExists([]byte("new")); return err },
			"top-level DeleteBucket":            func() error { return tx.DeleteBucket([]byte("ro")) },
			"cursor Delete": func() error {
				c := b.Cursor()
				c.First()
				return c.Delete()
			},
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, kv.ErrTxNotWritable) {
				t.Errorf("%s in View: %v, want ErrTxNotWritable", name, err)
			}
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("ro"))
		if string(b.Get([]byte("k"))) != "v" || b.Bucket([]byte("nested")) == nil || tx.Bucket([]byte("new")) != nil {
			t.Error("writes refused in a View changed the database")
		}
		return nil
	})
}

func testOwnWrites(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b := mustCreate(t, tx, "own")
		must(t, b.Put([]byte("k"), []byte("v1")))
		must(t, b.Put([]byte("k"), []byte("v2")))
		if got := string(b.Get([]byte("k"))); got != "v2" {
			t.Errorf("Get after two Puts in one Update = %q, want v2", got)
		}
		must(t, b.Put([]byte("gone"), []byte("x")))
		must(t, b.Delete([]byte("gone")))
		if got := b.Get([]byte("gone")); got != nil {
			t.Errorf("Get after Delete in one Update = %q, want nil", got)
		}
		must(t, b.Delete([]byte("never there")))
		n, err := b.CreateBucketIfNotExists([]byte("n"))
		must(t, err)
		must(t, n.Put([]byte("x"), []byte("y")))
		if got := string(tx.Bucket([]byte("own")).Bucket([]byte("n")).Get([]byte("x"))); got != "y" {
			t.Errorf("a nested bucket made in this Update, reopened: x = %q", got)
		}
		var keys []string
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		if want := []string{"k", "n"}; !slices.Equal(keys, want) {
			t.Errorf("a cursor in the Update that wrote them: %q, want %q", keys, want)
		}
		return nil
	})
}

func testRollbackOnError(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		return mustCreate(t, tx, "rb").Put([]byte("k"), []byte("before"))
	})
	failure := errors.New("fn failed")
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket([]byte("rb"))
		must(t, b.Put([]byte("k"), []byte("after")))
		must(t, b.Put([]byte("new"), []byte("x")))
		mustCreate(t, tx, "new bucket")
		must(t, tx.DeleteBucket([]byte("rb")))
		return failure
	})
	if !errors.Is(err, failure) {
		t.Fatalf("Update whose fn fails returned %v, want fn's error", err)
	}
	checkRolledBack(t, db)
}

func testRollbackOnPanic(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		return mustCreate(t, tx, "rb").Put([]byte("k"), []byte("before"))
	})
	type boom struct{}
	func() {
		defer func() {
			if r := recover(); r != (boom{}) {
				t.Errorf("Update whose fn panics: recovered %v, want fn's panic", r)
			}
		}()
		db.Update(context.Background(), func(tx kv.Tx) error {
			must(t, tx.Bucket([]byte("rb")).Put([]byte("k"), []byte("after")))
			mustCreate(t, tx, "new bucket")
			panic(boom{})
		})
	}()
	checkRolledBack(t, db)
	// The writer's turn was given back.
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(tx kv.Tx) error {
			return tx.Bucket([]byte("rb")).Put([]byte("k"), []byte("later"))
		})
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("an Update after one that panicked waited 30 s: the panic kept the writer's lock")
	}
}

func checkRolledBack(t *testing.T, db kv.DB) {
	t.Helper()
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("rb"))
		if b == nil {
			t.Fatal("a bucket deleted by a rolled-back Update is gone")
		}
		if got := string(b.Get([]byte("k"))); got != "before" {
			t.Errorf("k = %q after a rolled-back Update, want before", got)
		}
		if b.Get([]byte("new")) != nil || tx.Bucket([]byte("new bucket")) != nil {
			t.Error("a key or bucket made by a rolled-back Update is there")
		}
		return nil
	})
}

func testEmptyValue(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		return mustCreate(t, tx, "empty").Put([]byte("k"), []byte{})
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("empty"))
		if got := b.Get([]byte("k")); got == nil || len(got) != 0 {
			t.Errorf("an empty value reads as %#v, want empty and not nil", got)
		}
		if got := b.Get([]byte("absent")); got != nil {
			t.Errorf("an absent key reads as %#v, want nil", got)
		}
		if k, v := b.Cursor().First(); string(k) != "k" || v == nil {
			t.Errorf("the cursor on an empty value: (%q, %#v), want a non-nil empty value", k, v)
		}
		must(t, b.ForEach(func(k, v []byte) error {
			if v == nil {
				t.Error("ForEach gives an empty value as nil, as it does a nested bucket")
			}
			return nil
		}))
		return nil
	})
}

func testLargeValue(t *testing.T, db kv.DB) {
	large := make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(i * 7)
	}
	update(t, db, func(tx kv.Tx) error {
		return mustCreate(t, tx, "large").Put([]byte("k"), large)
	})
	view(t, db, func(tx kv.Tx) error {
		if got := tx.Bucket([]byte("large")).Get([]byte("k")); !bytes.Equal(got, large) {
			t.Errorf("a 1 MiB value read back as %d different bytes", len(got))
		}
		return nil
	})
}

func testCancelledContext(t *testing.T, db kv.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	fn := func(kv.Tx) error { called = true; return nil }
	if err := db.View(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("View with a cancelled context: %v, want context.Canceled", err)
	}
	if err := db.Update(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: %v, want context.Canceled", err)
	}
	if called {
		t.Error("fn ran under a cancelled context")
	}
}

func update(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	must(t, db.Update(context.Background(), fn))
}

func view(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	must(t, db.View(context.Background(), fn))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, tx kv.Tx, name string) kv.Bucket {
	t.Helper()
	b, err := tx.CreateBucketIfNotExists([]byte(name))
	must(t, err)
	if b == nil {
		t.Fatal("CreateBucketIfNotExists returned no bucket and no error")
	}
	return b
}

func equalKeys(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// same reports whether b is s, "" standing for nil.
func same(b []byte, s string) bool {
	if s == "" {
		return b == nil
	}
	return string(b) == s
}
