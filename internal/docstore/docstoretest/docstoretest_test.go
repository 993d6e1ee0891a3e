package docstoretest

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestOpenGivesASealedStoreInTheFileItNames: what is put reads back, and
// the file Open names holds it sealed, never in the clear.
func TestOpenGivesASealedStoreInTheFileItNames(t *testing.T) {
	ctx := context.Background()
	docs, path := Open(t, envelopetest.New("doc-aek"))
	body := []byte(`{"canary":"docstoretest-7d1f"}`)
	if _, err := docs.Put(ctx, "ws", "things", "one", body, ""); err != nil {
		t.Fatal(err)
	}
	got, err := docs.Get(ctx, "ws", "things", "one")
	if err != nil || !bytes.Equal(got.Body, body) {
		t.Fatalf("Get = %s, %v; want what was put", got.Body, err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(file) == 0 || bytes.Contains(file, []byte("docstoretest-7d1f")) {
		t.Fatalf("the database file (%d bytes) is empty or holds the document in the clear", len(file))
	}
}
