package docstore

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestFingerprintChangesWithEveryWriteAndEveryStoredByte: a put (even of
// the same body), a batch, a deletion and a flipped stored bit each change
// a collection's fingerprint; reads do not, other collections' writes do
// not, and it is read while the key is revoked.
func TestFingerprintChangesWithEveryWriteAndEveryStoredByte(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, db, _ := newTestStore(t, keys)
	fp := func() Digest {
		t.Helper()
		f, err := st.Fingerprint(ctx, ws, coll)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	empty := fp()
	steps := []struct {
		name    string
		do      func() error
		changes bool
	}{
		{"a put", func() error { _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"a":1}`), Unconditional); return err }, true},
		{"a read", func() error { _, err := st.List(ctx, ws, coll); return err }, false},
		{"the same body put again", func() error { _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"a":1}`), Unconditional); return err }, true},
		{"a write of another collection", func() error { _, err := st.Put(ctx, ws, "rules", "r-1", []byte(`{}`), Unconditional); return err }, false},
		{"a batch", func() error {
			_, err := st.Batch(ctx, ws, []Write{{Collection: coll, ID: "inc-2", Body: []byte(`{}`)}})
			return err
		}, true},
		{"a deletion", func() error { return st.Delete(ctx, ws, coll, "inc-2", Unconditional) }, true},
		{"a flipped bit of a stored document", func() error {
			v := raw(t, db, ws, coll, "inc-1")
			v[len(v)-1] ^= 1
			setRaw(t, db, ws, coll, "inc-1", v)
			return nil
		}, true},
	}
	for _, s := range steps {
		before := fp()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if after := fp(); (after != before) != s.changes {
			t.Errorf("%s: fingerprint changed = %v, want %v", s.name, after != before, s.changes)
		}
	}
	keys.Revoke()
	if _, err := st.Fingerprint(ctx, ws, coll); err != nil {
		t.Errorf("fingerprint with the key revoked: %v", err)
	}
	keys.Restore()
	if f, err := st.Fingerprint(ctx, "other", coll); err != nil || f != empty {
		t.Errorf("fingerprint of a missing collection = %x, %v; want that of an empty one", f, err)
	}
	if _, err := st.Fingerprint(ctx, "ws/1", coll); err == nil {
		t.Error("a bad workspace name was fingerprinted")
	}
}
