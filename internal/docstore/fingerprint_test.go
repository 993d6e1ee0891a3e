package docstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// twoStores opens, on each backend, one database and two Stores over it,
// as two nodes hold it: on PostgreSQL each through a pool of its own.
func twoStores(t *testing.T, keys *envelopetest.Keys) map[string][2]*Store {
	t.Helper()
	newStore := func(db kv.DB) *Store {
		st, err := New(db, keys)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	bolt, err := boltkv.Open(filepath.Join(t.TempDir(), "docs.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	url := pgtest.New(t)
	return map[string][2]*Store{
		"bbolt":    {newStore(bolt), newStore(bolt)},
		"postgres": {newStore(pgkvtest.Open(t, url, "documents")), newStore(pgkvtest.Open(t, url, "documents"))},
	}
}

// TestFingerprintChangesWithEveryWrite: a put (even of the same body), a
// batch and a deletion each change a collection's fingerprint, made
// through this Store or another over the same database (another node);
// reads, refused writes, the deletion of a missing document and writes of
// other collections do not. It is read while the key is revoked.
func TestFingerprintChangesWithEveryWrite(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	for name, stores := range twoStores(t, keys) {
		t.Run(name, func(t *testing.T) {
			st, other := stores[0], stores[1]
			fp := func() Digest {
				t.Helper()
				f, err := st.Fingerprint(ctx, ws, coll)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			empty := fp()
			put := func(st *Store, collection, id, ifMatch string) func() error {
				return func() error { _, err := st.Put(ctx, ws, collection, id, []byte(`{"a":1}`), ifMatch); return err }
			}
			steps := []struct {
				name    string
				do      func() error
				refused error // what do returns
				changes bool
			}{
				{"a put", put(st, coll, "inc-1", Unconditional), nil, true},
				{"a read", func() error { _, err := st.List(ctx, ws, coll); return err }, nil, false},
				{"the same body put again", put(st, coll, "inc-1", Unconditional), nil, true},
				{"a put refused by its precondition", put(st, coll, "inc-1", CreateOnly), ErrConflict, false},
				{"a write of another collection", put(st, "rules", "r-1", Unconditional), nil, false},
				{"a write of the collection in another workspace", func() error {
					_, err := st.Put(ctx, "other", coll, "inc-1", []byte(`{}`), Unconditional)
					return err
				}, nil, false},
				{"a batch", func() error {
					_, err := st.Batch(ctx, ws, []Write{{Collection: coll, ID: "inc-2", Body: []byte(`{}`)}, {Collection: coll, ID: "inc-3", Body: []byte(`{}`)}})
					return err
				}, nil, true},
				{"a deletion", func() error { return st.Delete(ctx, ws, coll, "inc-2", Unconditional) }, nil, true},
				{"a deletion of a missing document", func() error { return st.Delete(ctx, ws, coll, "inc-9", Unconditional) }, ErrNotFound, false},
				{"a batch deleting a missing document", func() error {
					_, err := st.Batch(ctx, ws, []Write{{Collection: coll, ID: "inc-9"}})
					return err
				}, nil, false},
				{"a batch writing another collection", func() error {
					_, err := st.Batch(ctx, ws, []Write{{Collection: "rules", ID: "r-2", Body: []byte(`{}`)}})
					return err
				}, nil, false},
				{"a put through another store", put(other, coll, "inc-4", Unconditional), nil, true},
				{"a batch through another store deleting a document", func() error {
					_, err := other.Batch(ctx, ws, []Write{{Collection: coll, ID: "inc-4"}})
					return err
				}, nil, true},
				{"a deletion through another store", func() error { return other.Delete(ctx, ws, coll, "inc-3", AnyVersion) }, nil, true},
			}
			for _, s := range steps {
				before := fp()
				if err := s.do(); !errors.Is(err, s.refused) || (err == nil) != (s.refused == nil) {
					t.Fatalf("%s: %v, want %v", s.name, err, s.refused)
				}
				if after := fp(); (after != before) != s.changes {
					t.Errorf("%s: fingerprint changed = %v, want %v", s.name, after != before, s.changes)
				}
				if f, err := other.Fingerprint(ctx, ws, coll); err != nil || f != fp() {
					t.Errorf("%s: another store reads %x, %v; this one %x", s.name, f, err, fp())
				}
			}
			keys.Revoke()
			_, err := st.Fingerprint(ctx, ws, coll)
			keys.Restore()
			if err != nil {
				t.Errorf("fingerprint with the key revoked: %v", err)
			}
			if f, err := st.Fingerprint(ctx, "never-written", coll); err != nil || f != empty {
				t.Errorf("fingerprint of a missing collection = %x, %v; want that of an empty one", f, err)
			}
			if _, err := st.Fingerprint(ctx, "ws/1", coll); err == nil {
				t.Error("a bad workspace name was fingerprinted")
			}
		})
	}
}

// TestAFlippedBitIsRefusedOnReadThoughTheFingerprintStays: the fingerprint
// follows the store's writes, not the stored bytes (it reads one stamp, not
// every document: docs/BENCHMARKS.md, "Several nodes"). A bit flipped
// behind the store's back leaves it, so a cache keyed by it keeps serving
// the authentic content it opened before; what must hold instead is that
// the damaged document is refused at its next read, by Get and List alike.
func TestAFlippedBitIsRefusedOnReadThoughTheFingerprintStays(t *testing.T) {
	st, db, _ := newTestStore(t, envelopetest.New("doc-aek"))
	if _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"a":1}`), Unconditional); err != nil {
		t.Fatal(err)
	}
	before, err := st.Fingerprint(ctx, ws, coll)
	if err != nil {
		t.Fatal(err)
	}
	v := raw(t, db, ws, coll, "inc-1")
	v[len(v)-1] ^= 1
	setRaw(t, db, ws, coll, "inc-1", v)
	if after, err := st.Fingerprint(ctx, ws, coll); err != nil || after != before {
		t.Errorf("fingerprint after a flipped bit = %x, %v; want the stamp's %x", after, err, before)
	}
	if _, err := st.Get(ctx, ws, coll, "inc-1"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("get of the flipped document: %v, want ErrCorrupt", err)
	}
	if _, err := st.List(ctx, ws, coll); !errors.Is(err, ErrCorrupt) {
		t.Errorf("list with the flipped document: %v, want ErrCorrupt", err)
	}
}

// TestACollectionWithoutAStampIsFingerprintedByItsContent: a collection
// last written before write stamps has none; its fingerprint is the hash
// of its sealed documents, as it was (a flipped bit changes it), until its
// first write stamps it.
func TestACollectionWithoutAStampIsFingerprintedByItsContent(t *testing.T) {
	st, db, _ := newTestStore(t, envelopetest.New("doc-aek"))
	if _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"a":1}`), Unconditional); err != nil {
		t.Fatal(err)
	}
	unstamp(t, db)
	fp := func() Digest {
		t.Helper()
		f, err := st.Fingerprint(ctx, ws, coll)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	old := fp()
	if again := fp(); again != old {
		t.Fatalf("an unstamped collection's fingerprint moved between reads: %x, %x", old, again)
	}
	v := raw(t, db, ws, coll, "inc-1")
	v[len(v)-1] ^= 1
	setRaw(t, db, ws, coll, "inc-1", v)
	flipped := fp()
	if flipped == old {
		t.Error("a flipped bit left an unstamped collection's fingerprint")
	}
	if _, err := st.Put(ctx, ws, coll, "inc-2", []byte(`{}`), Unconditional); err != nil {
		t.Fatal(err)
	}
	if stamped := fp(); stamped == flipped || stamped == old || rawStamp(t, db, ws, coll) == nil {
		t.Errorf("the first write did not stamp the collection: %x", stamped)
	}
}

// TestTheWriteStampIsNoDocument: the stamp is never read, listed, counted
// or verified as a document, no document ID can name it, and it goes with
// its workspace.
func TestTheWriteStampIsNoDocument(t *testing.T) {
	st, db, _ := newTestStore(t, envelopetest.New("doc-aek"))
	if _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"a":1}`), Unconditional); err != nil {
		t.Fatal(err)
	}
	if rawStamp(t, db, ws, coll) == nil {
		t.Fatal("a put left no stamp")
	}
	check := func(when string, want int) {
		t.Helper()
		if docs, err := st.List(ctx, ws, coll); err != nil || len(docs) != want {
			t.Errorf("%s: list = %d documents, %v; want %d", when, len(docs), err, want)
		}
		if n, err := st.Count(ctx, ws, coll); err != nil || n != want {
			t.Errorf("%s: count = %d, %v; want %d", when, n, err, want)
		}
		verified := 0
		if damaged, err := st.Verify(ctx, ws, func(n int) { verified += n }); err != nil || len(damaged) != 0 || verified != want {
			t.Errorf("%s: verify opened %d, found %v damaged, %v; want %d, none", when, verified, damaged, err, want)
		}
		if cs, err := st.Collections(ctx, ws); err != nil || len(cs) != 1 || cs[0] != coll {
			t.Errorf("%s: collections = %q, %v; want [%s]", when, cs, err, coll)
		}
	}
	check("with a document", 1)
	for _, id := range []string{string(stampKey), "stamp"} {
		if _, err := st.Get(ctx, ws, coll, id); err == nil {
			t.Errorf("get %q read a document", id)
		}
	}
	if _, err := st.Put(ctx, ws, coll, string(stampKey), []byte(`{}`), Unconditional); !errors.Is(err, ErrInvalid) {
		t.Errorf("a put at the stamp's key: %v, want ErrInvalid", err)
	}
	if err := st.Delete(ctx, ws, coll, "inc-1", Unconditional); err != nil {
		t.Fatal(err)
	}
	check("with none", 0)
	if err := st.DeleteWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	err := db.View(ctx, func(tx kv.Tx) error {
		if tx.Bucket([]byte(bucketPrefix+ws)) != nil {
			return errors.New("the workspace's bucket, and its stamps, outlived its deletion")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// rawStamp reads a collection's write stamp as the database holds it.
func rawStamp(t *testing.T, db kv.DB, workspace, collection string) []byte {
	t.Helper()
	var v []byte
	err := db.View(context.Background(), func(tx kv.Tx) error {
		if b := collectionBucket(tx, workspace, collection); b != nil {
			v = append([]byte(nil), b.Get(stampKey)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// unstamp removes the test collection's stamp, as it was before stamps.
func unstamp(t *testing.T, db kv.DB) {
	t.Helper()
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		return collectionBucket(tx, ws, coll).Delete(stampKey)
	})
	if err != nil {
		t.Fatal(err)
	}
}
