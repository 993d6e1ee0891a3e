package docstore

import (
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

type incident struct {
	Title string `json:"title"`
}

func TestGetJSONDecodesTheBodyAndRefusesInTheDomainsTerms(t *testing.T) {
	st, _, _ := newTestStore(t, envelopetest.New("doc-aek"))
	e1, err := st.Put(ctx, ws, coll, "inc-1", []byte(`{"title":"Brute force"}`), Unconditional)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, ws, coll, "inc-2", []byte(`["not", "an", "incident"]`), Unconditional); err != nil {
		t.Fatal(err)
	}
	var got incident
	etag, err := st.GetJSON(ctx, ws, coll, "incident", "inc-1", &got)
	if err != nil || etag != e1 || got.Title != "Brute force" {
		t.Fatalf("GetJSON = %q, %+v, %v; want %q and the stored title", etag, got, err, e1)
	}
	_, err = st.GetJSON(ctx, ws, coll, "incident", "inc-9", &got)
	if fault.KindOf(err) != fault.NotFound || !strings.Contains(err.Error(), "incident 'inc-9' was not found") {
		t.Fatalf("a missing document: %v; want the domain's not found naming it", err)
	}
	_, err = st.GetJSON(ctx, ws, coll, "incident", "inc-2", &got)
	if err == nil || !strings.Contains(err.Error(), "decode incident inc-2") {
		t.Fatalf("a body that does not decode: %v; want an error naming it", err)
	}
}

func TestListJSONDecodesEveryDocumentByIDAndStopsAtOneThatDoesNot(t *testing.T) {
	st, _, _ := newTestStore(t, envelopetest.New("doc-aek"))
	for _, d := range []struct{ id, body string }{{"inc-2", `{"title":"b"}`}, {"inc-1", `{"title":"a"}`}} {
		if _, err := st.Put(ctx, ws, coll, d.id, []byte(d.body), Unconditional); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := ListJSON(ctx, st, ws, coll, "incident", func(id, etag string, v incident) {
		if etag == "" {
			t.Errorf("%s has no etag", id)
		}
		got = append(got, id+"="+v.Title)
	})
	if err != nil || strings.Join(got, ",") != "inc-1=a,inc-2=b" {
		t.Fatalf("ListJSON = %v, %v; want inc-1=a,inc-2=b", got, err)
	}
	if _, err := st.Put(ctx, ws, coll, "inc-3", []byte(`"a string"`), Unconditional); err != nil {
		t.Fatal(err)
	}
	err = ListJSON(ctx, st, ws, coll, "incident", func(string, string, incident) {})
	if err == nil || !strings.Contains(err.Error(), "decode incident inc-3") {
		t.Fatalf("a body that does not decode: %v; want an error naming it", err)
	}
}
