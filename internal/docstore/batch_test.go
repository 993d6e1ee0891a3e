package docstore

import (
	"errors"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

func TestBatchAppliesAllWritesOrNone(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, _, _ := newTestStore(t, keys)
	etag, err := st.Put(ctx, ws, "watchlists", "vips", []byte(`{"v":1}`), Unconditional)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, ws, "watchlistItems", "vips.1", []byte(`{"old":true}`), Unconditional); err != nil {
		t.Fatal(err)
	}

	// A stale etag on the last write: nothing of the batch lands.
	_, err = st.Batch(ctx, ws, []Write{
		{Collection: "watchlistItems", ID: "vips.0", Body: []byte(`{"new":true}`)},
		{Collection: "watchlistItems", ID: "vips.1"},
		{Collection: "watchlists", ID: "vips", Body: []byte(`{"v":2}`), IfMatch: "0000"},
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("a batch with a stale etag: %v, want ErrConflict", err)
	}
	if _, err := st.Get(ctx, ws, "watchlistItems", "vips.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused batch wrote a document: %v", err)
	}
	if _, err := st.Get(ctx, ws, "watchlistItems", "vips.1"); err != nil {
		t.Fatalf("a refused batch deleted a document: %v", err)
	}

	etags, err := st.Batch(ctx, ws, []Write{
		{Collection: "watchlistItems", ID: "vips.0", Body: []byte(`{"new":true}`)},
		{Collection: "watchlistItems", ID: "vips.1"},
		{Collection: "watchlistItems", ID: "vips.7"}, // not there: an unconditional deletion is a no-op
		{Collection: "watchlists", ID: "vips", Body: []byte(`{"v":2}`), IfMatch: etag},
	})
	if err != nil {
		t.Fatal(err)
	}
	if etags[0] == "" || etags[1] != "" || etags[3] == "" || etags[3] == etag {
		t.Fatalf("etags %q", etags)
	}
	doc, err := st.Get(ctx, ws, "watchlists", "vips")
	if err != nil || string(doc.Body) != `{"v":2}` || doc.ETag != etags[3] {
		t.Fatalf("after the batch: %+v %v", doc, err)
	}
	if _, err := st.Get(ctx, ws, "watchlistItems", "vips.1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the batch did not delete: %v", err)
	}

	keys.Revoke()
	if n, err := st.Count(ctx, ws, "watchlistItems"); err != nil || n != 1 {
		t.Errorf("count while revoked: %d %v, want 1 (vips.0)", n, err)
	}
	if n, err := st.Count(ctx, ws, "nothing"); err != nil || n != 0 {
		t.Errorf("count of a missing collection: %d %v", n, err)
	}
	for name, w := range map[string]Write{
		"a put":      {Collection: "watchlistItems", ID: "vips.2", Body: []byte(`{}`)},
		"a deletion": {Collection: "watchlistItems", ID: "vips.0"},
	} {
		if _, err := st.Batch(ctx, ws, []Write{w}); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("%s while revoked: %v, want the revoked error", name, err)
		}
	}
	keys.Restore()
	for name, w := range map[string]Write{
		"a bad ID":        {Collection: "watchlistItems", ID: "a/b", Body: []byte(`{}`)},
		"a body not JSON": {Collection: "watchlistItems", ID: "vips.3", Body: []byte(`{`)},
	} {
		if _, err := st.Batch(ctx, ws, []Write{w}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
