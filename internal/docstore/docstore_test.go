package docstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/klauspost/compress/zstd"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

var ctx = context.Background()

func TestPutGetListDeleteWithEtags(t *testing.T) {
	st, _, _ := newTestStore(t, envelopetest.New("doc-aek"))
	e1, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"title":"Brute force","severity":"High"}`), Unconditional)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := st.Get(ctx, ws, coll, "inc-1")
	if err != nil || doc.ETag != e1 || string(doc.Body) != `{"title":"Brute force","severity":"High"}` {
		t.Fatalf("get: %+v, %v", doc, err)
	}
	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"replace with a stale etag", func() error { _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{}`), "0000"); return err }, ErrConflict},
		{"replace a missing document by etag", func() error { _, err := st.Put(ctx, ws, coll, "inc-9", []byte(`{}`), e1); return err }, ErrNotFound},
		{"replace a missing document, any version", func() error { _, err := st.Put(ctx, ws, coll, "inc-9", []byte(`{}`), AnyVersion); return err }, ErrNotFound},
		{"get a missing document", func() error { _, err := st.Get(ctx, ws, coll, "inc-9"); return err }, ErrNotFound},
		{"get from a missing collection", func() error { _, err := st.Get(ctx, ws, "rules", "inc-1"); return err }, ErrNotFound},
		{"delete with a stale etag", func() error { return st.Delete(ctx, ws, coll, "inc-1", "0000") }, ErrConflict},
		{"delete a missing document", func() error { return st.Delete(ctx, ws, coll, "inc-9", Unconditional) }, ErrNotFound},
		{"body not JSON", func() error { _, err := st.Put(ctx, ws, coll, "inc-2", []byte(`{`), Unconditional); return err }, ErrInvalid},
		{"body too large", func() error {
			_, err := st.Put(ctx, ws, coll, "inc-2", []byte(`"`+strings.Repeat("x", MaxBodyBytes)+`"`), Unconditional)
			return err
		}, ErrInvalid},
		{"bad collection", func() error { _, err := st.Put(ctx, ws, "a/b", "inc-2", []byte(`{}`), Unconditional); return err }, ErrInvalid},
		{"bad ID", func() error { _, err := st.Put(ctx, ws, coll, "", []byte(`{}`), Unconditional); return err }, ErrInvalid},
		{"bad workspace", func() error { _, err := st.List(ctx, "ws/1", coll); return err }, ErrInvalid},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); !errors.Is(err, s.wantErr) {
				t.Fatalf("error %v, want %v", err, s.wantErr)
			}
		})
	}
	e2, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"title":"Brute force","status":"Closed"}`), e1)
	if err != nil || e2 == e1 {
		t.Fatalf("replace with the current etag: %q, %v", e2, err)
	}
	if _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{}`), e1); !errors.Is(err, ErrConflict) {
		t.Fatalf("the old etag still matches: %v", err)
	}
	st.Put(ctx, ws, coll, "inc-0", []byte(`[1]`), Unconditional)
	st.Put(ctx, ws, "comments", "c-1", []byte(`"hello"`), Unconditional)
	docs, err := st.List(ctx, ws, coll)
	if err != nil || len(docs) != 2 || docs[0].ID != "inc-0" || docs[1].ETag != e2 {
		t.Fatalf("list: %+v, %v", docs, err)
	}
	if cs, _ := st.Collections(ctx, ws); fmt.Sprint(cs) != "[comments incidents]" {
		t.Fatalf("collections %v", cs)
	}
	if err := st.Delete(ctx, ws, coll, "inc-1", e2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, ws, coll, "inc-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted document: %v", err)
	}
}

func TestConcurrentWritersWithOneEtagExactlyOneWins(t *testing.T) {
	st, _, _ := newTestStore(t, envelopetest.New("doc-aek"))
	etag, _ := st.Put(ctx, ws, coll, "inc-1", []byte(`{"n":0}`), Unconditional)
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Go(func() {
			_, results[i] = st.Put(ctx, ws, coll, "inc-1", fmt.Appendf(nil, `{"n":%d}`, i+1), etag)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won with the same etag", won)
	}
}

func TestCanaryNeverReachesTheDatabaseFileInAnyForm(t *testing.T) {
	st, _, path := newTestStore(t, envelopetest.New("doc-aek"))
	canary := "CANARY-" + rand.Text()
	var body []byte
	for i := range 50 {
		body, _ = json.Marshal(map[string]any{"title": canary, "description": "seen " + canary + " on host", "n": i, "tags": []string{canary}})
		if _, err := st.Put(ctx, ws, coll, fmt.Sprintf("inc-%d", i), body, Unconditional); err != nil {
			t.Fatal(err)
		}
	}
	// Replaced versions linger in bbolt's free pages: sealed as well.
	for i := range 10 {
		st.Put(ctx, ws, coll, fmt.Sprintf("inc-%d", i), []byte(`{}`), Unconditional)
	}
	forms := [][]byte{[]byte(canary), []byte(hex.EncodeToString([]byte(canary)))}
	var le []byte
	for _, r := range utf16.Encode([]rune(canary)) {
		le = append(le, byte(r), byte(r>>8))
	}
	forms = append(forms, le)
	for pad := range 3 {
		s := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{'x'}, pad), canary...))
		forms = append(forms, []byte(s[4:len(s)-4]))
	}
	enc, _ := zstd.NewWriter(nil)
	for _, src := range [][]byte{body, bytes.Repeat(body, 20), []byte(canary)} {
		z := enc.EncodeAll(src, nil)
		for i := 8; i+16 <= len(z); i += 8 {
			forms = append(forms, z[i:i+16])
		}
	}
	enc.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range forms {
		if bytes.Contains(data, f) {
			t.Fatalf("the database file holds leak form %d (%q)", i, f)
		}
	}
	if doc, err := st.Get(ctx, ws, coll, "inc-49"); err != nil || !bytes.Contains(doc.Body, []byte(canary)) {
		t.Fatalf("the canary does not read back: %v", err)
	}
}

func TestFlippedBitInADocumentIsAnIntegrityErrorNeverOtherData(t *testing.T) {
	st, db, _ := newTestStore(t, envelopetest.New("doc-aek"))
	st.Put(ctx, ws, coll, "inc-1", []byte(`{"title":"x"}`), Unconditional)
	orig := raw(t, db, ws, coll, "inc-1")
	for i := range orig {
		for bit := range 8 {
			flipped := slices.Clone(orig)
			flipped[i] ^= 1 << bit
			setRaw(t, db, ws, coll, "inc-1", flipped)
			if doc, err := st.Get(ctx, ws, coll, "inc-1"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d flipped: %+v, %v; want ErrCorrupt", i, bit, doc, err)
			}
		}
	}
	for _, cut := range []int{0, 3, 10, len(orig) / 2, len(orig) - 1} {
		setRaw(t, db, ws, coll, "inc-1", orig[:cut])
		if _, err := st.Get(ctx, ws, coll, "inc-1"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
}

func TestDocumentMovedElsewhereFailsToOpen(t *testing.T) {
	st, db, _ := newTestStore(t, envelopetest.New("doc-aek"))
	st.Put(ctx, ws, coll, "inc-1", []byte(`{"title":"x"}`), Unconditional)
	sealed := raw(t, db, ws, coll, "inc-1")
	for _, to := range []struct{ ws, coll, id string }{{ws, coll, "inc-2"}, {ws, "rules", "inc-1"}, {"other-ws", coll, "inc-1"}} {
		setRaw(t, db, to.ws, to.coll, to.id, sealed)
		if _, err := st.Get(ctx, to.ws, to.coll, to.id); !errors.Is(err, ErrCorrupt) {
			t.Errorf("moved to %v: %v, want ErrCorrupt", to, err)
		}
		if _, err := st.List(ctx, to.ws, to.coll); !errors.Is(err, ErrCorrupt) {
			t.Errorf("list with a moved document at %v: %v, want ErrCorrupt", to, err)
		}
	}
}

func TestRevokedKeyStopsReadsAndWritesAndRestoredKeyReadsBackEverything(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, _, _ := newTestStore(t, keys)
	bodies := map[string]string{"inc-1": `{"title":"a","n":1}`, "inc-2": `{"title":"b","nested":{"x":[1,2,3]}}`}
	etags := map[string]string{}
	for id, b := range bodies {
		etags[id], _ = st.Put(ctx, ws, coll, id, []byte(b), Unconditional)
	}
	keys.Revoke()
	ops := map[string]func() error{
		"get":              func() error { _, err := st.Get(ctx, ws, coll, "inc-1"); return err },
		"list":             func() error { _, err := st.List(ctx, ws, coll); return err },
		"create":           func() error { _, err := st.Put(ctx, ws, coll, "inc-3", []byte(`{}`), Unconditional); return err },
		"replace":          func() error { _, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{}`), etags["inc-1"]); return err },
		"delete":           func() error { return st.Delete(ctx, ws, coll, "inc-2", Unconditional) },
		"delete with etag": func() error { return st.Delete(ctx, ws, coll, "inc-2", etags["inc-2"]) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("%s while revoked: %v, want the revoked error", name, err)
		}
	}
	if cs, err := st.Collections(ctx, ws); err != nil || len(cs) != 1 {
		t.Errorf("collections while revoked: %v, %v", cs, err)
	}
	keys.Restore()
	for id, b := range bodies {
		doc, err := st.Get(ctx, ws, coll, id)
		if err != nil || string(doc.Body) != b || doc.ETag != etags[id] {
			t.Fatalf("%s after restore: %+v, %v", id, doc, err)
		}
	}
	if docs, _ := st.List(ctx, ws, coll); len(docs) != 2 {
		t.Fatalf("%d documents after restore", len(docs))
	}
}

func TestWorkspaceDeletionNeedsNoKey(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, _, _ := newTestStore(t, keys)
	st.Put(ctx, ws, coll, "inc-1", []byte(`{}`), Unconditional)
	st.Put(ctx, "other", coll, "inc-1", []byte(`{}`), Unconditional)
	keys.Revoke()
	if err := st.DeleteWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	keys.Restore()
	if _, err := st.Get(ctx, ws, coll, "inc-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted workspace: %v", err)
	}
	if _, err := st.Get(ctx, "other", coll, "inc-1"); err != nil {
		t.Fatalf("other workspace: %v", err)
	}
}

func TestSealedDocumentsDescribeThemselvesAndOldKeysStillRead(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, db, _ := newTestStore(t, keys)
	st.Put(ctx, ws, coll, "inc-1", []byte(`{"v":1}`), Unconditional)
	old := keys.CurrentID()
	keys.Rotate()
	st.Put(ctx, ws, coll, "inc-2", []byte(`{"v":2}`), Unconditional)
	for id, aek := range map[string]string{"inc-1": old, "inc-2": keys.CurrentID()} {
		v := raw(t, db, ws, coll, id)
		if string(v[:4]) != magic || v[4] != 0 || v[5] != formatVersion || string(v[7:7+int(v[6])]) != aek {
			t.Fatalf("%s: header %x does not name format %d and AEK %s", id, v[:7+int(v[6])], formatVersion, aek)
		}
		if _, err := st.Get(ctx, ws, coll, id); err != nil {
			t.Fatal(err)
		}
	}
	// Salts differ from write to write, so that each object key seals once.
	a, b := raw(t, db, ws, coll, "inc-1"), raw(t, db, ws, coll, "inc-2")
	if bytes.Equal(a[7+len(old):7+len(old)+saltSize], b[7+len(old):7+len(old)+saltSize]) {
		t.Fatal("two documents share a salt")
	}
	base := aad(formatVersion, "k", ws, coll, "id")
	for i, v := range [][]byte{aad(2, "k", ws, coll, "id"), aad(formatVersion, "k2", ws, coll, "id"), aad(formatVersion, "k", "w", coll, "id"),
		aad(formatVersion, "k", ws, "c", "id"), aad(formatVersion, "k", ws, coll, "id2")} {
		if bytes.Equal(v, base) {
			t.Errorf("AAD variant %d equals the original", i)
		}
	}
}

func TestErrorsHoldNoDocumentOrKey(t *testing.T) {
	keys := envelopetest.New("doc-aek")
	st, db, _ := newTestStore(t, keys)
	canary := "CANARY-" + rand.Text()
	st.Put(ctx, ws, coll, "inc-1", []byte(`{"t":"`+canary+`"}`), Unconditional)
	var errs []error
	_, err := st.Put(ctx, ws, coll, "inc-2", []byte(`{"t":"`+canary+`"`), Unconditional)
	errs = append(errs, err)
	v := raw(t, db, ws, coll, "inc-1")
	v[len(v)-3] ^= 1
	setRaw(t, db, ws, coll, "inc-1", v)
	_, err = st.Get(ctx, ws, coll, "inc-1")
	errs = append(errs, err)
	keys.Revoke()
	_, err = st.Put(ctx, ws, coll, "inc-3", []byte(`{"t":"`+canary+`"}`), Unconditional)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d did not fail", i)
		}
		for _, k := range keys.Material() {
			if strings.Contains(err.Error(), string(k)) || strings.Contains(err.Error(), hex.EncodeToString(k)) {
				t.Fatalf("error %d holds key material", i)
			}
		}
		if strings.Contains(err.Error(), canary) {
			t.Fatalf("error %d %q holds the document", i, err)
		}
	}
}

func FuzzOpenDocument(f *testing.F) {
	keys := envelopetest.New("doc-aek")
	st := &Store{keys: keys}
	sealed, err := st.seal(context.Background(), ws, coll, "inc-1", make([]byte, etagSize), []byte(`{"a":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := st.open(context.Background(), ws, coll, "inc-1", data)
		if err == nil && !bytes.Equal(data, sealed) {
			t.Fatal("a document that is not what was written opened")
		}
	})
}

func TestCreateOnlyRefusesAnExistingDocument(t *testing.T) {
	st, _, _ := newTestStore(t, envelopetest.New("doc-aek"))
	if _, err := st.Put(ctx, ws, coll, "counter", []byte(`1`), CreateOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, ws, coll, "counter", []byte(`2`), CreateOnly); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	if doc, err := st.Get(ctx, ws, coll, "counter"); err != nil || string(doc.Body) != "1" {
		t.Fatalf("after the refused create: %q, %v", doc.Body, err)
	}
}
