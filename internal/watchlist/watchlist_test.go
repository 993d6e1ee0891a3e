package watchlist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
)

var ctx = context.Background()

const customerID = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"

func newTestWatchlists(t testing.TB) (*Watchlists, *envelopetest.Keys) {
	t.Helper()
	keys := envelopetest.New("doc-aek")
	docs, _ := docstoretest.Open(t, keys)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	return New(docs, customerID, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/secops", func() time.Time { return at }), keys
}

func props(t testing.TB, m map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vipProps(raw string) map[string]any {
	return map[string]any{"displayName": "VIP users", "provider": "SOC", "source": "vips.csv", "itemsSearchKey": "User",
		"contentType": "text/csv", "rawContent": raw, "labels": []string{"identity"}}
}

func TestAWatchlistIsCreatedReadUpdatedAndDeleted(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	w, created, err := wl.Put(ctx, "vips", props(t, vipProps("User,Department\nalice@contoso.com,Finance\nbob@contoso.com,HR\n")), "")
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	p := w.Properties
	if w.Name != "vips" || w.Type != ResourceType || !strings.HasSuffix(w.ID, "/providers/Microsoft.SecurityInsights/watchlists/vips") ||
		!strings.HasPrefix(w.Etag, `"`) || len(p.WatchlistID) != 36 || p.ItemsCount != 2 || !slices.Equal(p.Columns, []string{"User", "Department"}) ||
		p.SourceType != "Local file" || p.UploadStatus != "Complete" || p.WatchlistAlias != "vips" {
		t.Fatalf("created: %+v", w)
	}
	got, err := wl.Get(ctx, "vips")
	if err != nil || got.Etag != w.Etag || got.Properties.ItemsCount != 2 || got.Properties.DisplayName != "VIP users" {
		t.Fatalf("get: %+v %v", got, err)
	}

	// An update without rawContent keeps the items and may move the search key.
	upd := vipProps("")
	delete(upd, "rawContent")
	upd["itemsSearchKey"] = "Department"
	upd["description"] = "people attackers want"
	w2, created, err := wl.Put(ctx, "vips", props(t, upd), w.Etag)
	if err != nil || created || w2.Properties.ItemsCount != 2 || w2.Properties.WatchlistID != p.WatchlistID || w2.Etag == w.Etag {
		t.Fatalf("update keeping items: %+v %v %v", w2, created, err)
	}
	tab, err := wl.Table(ctx, "vips")
	if err != nil || len(tab.Rows) != 2 || tab.Columns[tab.SearchKey] != "Department" || tab.Rows[1].Values[0] != "bob@contoso.com" {
		t.Fatalf("table after update: %+v %v", tab, err)
	}
	// A stale etag is refused, and changes nothing.
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User\ncarol\n")), w.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("a stale etag: %v", err)
	}
	// rawContent replaces the items.
	w3, _, err := wl.Put(ctx, "vips", props(t, vipProps("User\ncarol\n")), "*")
	if err != nil || w3.Properties.ItemsCount != 1 || !slices.Equal(w3.Properties.Columns, []string{"User"}) {
		t.Fatalf("replace items: %+v %v", w3, err)
	}
	if _, _, err := wl.Put(ctx, "other", props(t, vipProps("User\n")), "*"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("If-Match * on a missing watchlist: %v", err)
	}
	if _, _, err := wl.Put(ctx, "other", props(t, upd), ""); err == nil || !strings.Contains(err.Error(), "a new watchlist needs properties.rawContent") {
		t.Fatalf("a new watchlist without content: %v", err)
	}
	if _, _, err := wl.Put(ctx, "other", props(t, vipProps("User\nx\n")), ""); err != nil {
		t.Fatal(err)
	}
	list, err := wl.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "other" || list[1].Name != "vips" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := wl.Delete(ctx, "vips", w.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	if err := wl.Delete(ctx, "vips", ""); err != nil {
		t.Fatal(err)
	}
	if err := wl.Delete(ctx, "vips", ""); err != nil {
		t.Fatalf("deleting a missing watchlist: %v", err)
	}
	if _, err := wl.Get(ctx, "vips"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := wl.Table(ctx, "vips"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("items after delete: %v", err)
	}
}

func TestWatchlistItemsAreAddedReplacedAndDeleted(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User,Department\nalice,Finance\n")), ""); err != nil {
		t.Fatal(err)
	}
	items, err := wl.Items(ctx, "vips")
	if err != nil || len(items) != 1 || items[0].Properties.ItemsKeyValue["Department"] != "Finance" || items[0].Properties.WatchlistItemType != "watchlist-item" {
		t.Fatalf("items: %+v %v", items, err)
	}
	it, created, err := wl.PutItem(ctx, "vips", "item-2", props(t, map[string]any{"itemsKeyValue": map[string]string{"User": "dave"}}), "")
	if err != nil || !created || it.Name != "item-2" || it.Properties.ItemsKeyValue["Department"] != "" || !strings.HasSuffix(it.ID, "/watchlists/vips/watchlistItems/item-2") {
		t.Fatalf("add an item: %+v %v", it, err)
	}
	it2, created, err := wl.PutItem(ctx, "vips", "item-2", props(t, map[string]any{"itemsKeyValue": map[string]string{"User": "dave", "Department": "IT"}}), it.Etag)
	if err != nil || created || it2.Etag == it.Etag || !it2.Properties.Created.Equal(it.Properties.Created) {
		t.Fatalf("replace an item: %+v %v", it2, err)
	}
	if _, _, err := wl.PutItem(ctx, "vips", "item-2", props(t, map[string]any{"itemsKeyValue": map[string]string{"User": "x"}}), it.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("replace with a stale etag: %v", err)
	}
	got, err := wl.GetItem(ctx, "vips", "item-2")
	if err != nil || got.Properties.ItemsKeyValue["Department"] != "IT" || got.Etag != it2.Etag {
		t.Fatalf("get item: %+v %v", got, err)
	}
	if w, _ := wl.Get(ctx, "vips"); w.Properties.ItemsCount != 2 {
		t.Fatalf("itemsCount %d after adding one", w.Properties.ItemsCount)
	}
	if err := wl.DeleteItem(ctx, "vips", "item-2", it.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("delete with a stale etag: %v", err)
	}
	if err := wl.DeleteItem(ctx, "vips", "item-2", ""); err != nil {
		t.Fatal(err)
	}
	if err := wl.DeleteItem(ctx, "vips", "item-2", ""); err != nil {
		t.Fatalf("deleting a missing item: %v", err)
	}
	if _, err := wl.GetItem(ctx, "vips", "item-2"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get a deleted item: %v", err)
	}
	if _, _, err := wl.PutItem(ctx, "nosuch", "i", props(t, map[string]any{"itemsKeyValue": map[string]string{"User": "x"}}), ""); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("an item of a missing watchlist: %v", err)
	}
}

func TestBadWatchlistBodiesAreRefused(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User,Department\nalice,Finance\n")), ""); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) json.RawMessage {
		m := vipProps("User\nalice\n")
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return props(t, m)
	}
	for _, tc := range []struct {
		name, alias string
		body        json.RawMessage
		want        string
	}{
		{"an alias with a slash", "a/b", with("x", nil), "aliases are 1-128 letters"},
		{"an empty alias", "", with("x", nil), "aliases are 1-128 letters"},
		{"no properties", "w", nil, "has no properties"},
		{"properties not an object", "w", json.RawMessage(`[1]`), "must be a JSON object"},
		{"an unknown field", "w", with("itemSearchKey", "User"), `unknown field "itemSearchKey"`},
		{"a field of the wrong type", "w", with("numberOfLinesToSkip", "2"), "numberOfLinesToSkip must be a JSON integer, not string"},
		{"no display name", "w", with("displayName", nil), "displayName is required"},
		{"no provider", "w", with("provider", nil), "provider is required"},
		{"no search key", "w", with("itemsSearchKey", nil), "itemsSearchKey is required"},
		{"content without a type", "w", with("contentType", nil), "contentType is required with rawContent"},
		{"a storage account source", "w", with("sourceType", "AzureStorage"), "sourceType must be 'Local file'"},
		{"a bad default duration", "w", with("defaultDuration", "30 days"), "not an ISO 8601 duration"},
		{"an empty label", "w", with("labels", []string{""}), "labels[0] must be a non-empty label"},
		{"a bad CSV", "w", with("rawContent", "User\na,b\n"), "line 2 has 2 field(s)"},
		{"a search key not in an existing watchlist", "vips", props(t, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Email"}), "itemsSearchKey 'Email' is not a column of watchlist 'vips'; its columns are User, Department"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := wl.Put(ctx, tc.alias, tc.body, "")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, id string
		body     string
		want     string
	}{
		{"an item ID with a dot", "a.b", `{"itemsKeyValue":{"User":"x"}}`, "item IDs are 1-128"},
		{"no itemsKeyValue", "i", `{}`, "itemsKeyValue is required"},
		{"an unknown field", "i", `{"itemsKeyValue":{"User":"x"},"keys":1}`, `unknown field "keys"`},
		{"a column the watchlist lacks", "i", `{"itemsKeyValue":{"Email":"x"}}`, "names column 'Email', which the watchlist does not have; its columns are User, Department"},
		{"a number value", "i", `{"itemsKeyValue":{"User":7}}`, "itemsKeyValue.User must be a JSON string (watchlist values are text), not a number"},
		{"a null value", "i", `{"itemsKeyValue":{"User":null}}`, "not null"},
		{"an object value", "i", `{"itemsKeyValue":{"User":{"a":1}}}`, "not an object"},
		{"a value too large", "i", `{"itemsKeyValue":{"User":"` + strings.Repeat("x", MaxValueBytes+1) + `"}}`, "is at most 32768"},
	} {
		t.Run("item: "+tc.name, func(t *testing.T) {
			_, _, err := wl.PutItem(ctx, "vips", tc.id, json.RawMessage(tc.body), "")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

// TestReadingAWatchlistDecryptsItsDocumentsOnly: items are packed in
// chunks under the watchlist's alias, so that _GetWatchlist('small') does
// not open the large watchlist's documents.
func TestReadingAWatchlistDecryptsItsDocumentsOnly(t *testing.T) {
	wl, keys := newTestWatchlists(t)
	var b strings.Builder
	b.WriteString("Host,Note\n")
	for i := range 9000 {
		fmt.Fprintf(&b, "host-%05d,%s\n", i, strings.Repeat("n", 200))
	}
	big, _, err := wl.Put(ctx, "big", props(t, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": b.String()}), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wl.Put(ctx, "small", props(t, vipProps("User\nalice\n")), ""); err != nil {
		t.Fatal(err)
	}
	keys.ResetOpens()
	tab, err := wl.Table(ctx, "small")
	if err != nil || len(tab.Rows) != 1 {
		t.Fatalf("small: %+v %v", tab, err)
	}
	if n := keys.Opens(); n != 2 {
		t.Fatalf("reading a one-chunk watchlist decrypted %d documents, want 2 (the watchlist and its chunk)", n)
	}
	keys.ResetOpens()
	tab, err = wl.Table(ctx, "big")
	if err != nil || len(tab.Rows) != 9000 || tab.Rows[8999].Values[0] != "host-08999" {
		t.Fatalf("big: %d rows %v", len(tab.Rows), err)
	}
	st, err := wl.read(ctx, "big", false)
	if err != nil || len(st.rec.Chunks) < 2 {
		t.Fatalf("a 3 MB watchlist in %d chunk(s): %v", len(st.rec.Chunks), err)
	}
	if n := keys.Opens(); n != int64(len(st.rec.Chunks))+2 {
		t.Fatalf("reading a watchlist of %d chunks decrypted %d documents, want its chunks and itself (twice: the test read it too)", len(st.rec.Chunks), n)
	}
	// Replacing the content with less drops the chunks no longer needed.
	if _, _, err := wl.Put(ctx, "big", props(t, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": "Host\nx\n"}), big.Etag); err != nil {
		t.Fatal(err)
	}
	after, err := wl.read(ctx, "big", true)
	if err != nil || len(after.rec.Chunks) != 1 {
		t.Fatalf("after shrinking: %+v %v", after, err)
	}
	if n, err := wl.docs.Count(ctx, customerID, collItems); err != nil || n != 2 {
		t.Fatalf("%d chunks stored for a one-chunk and a one-item watchlist: %v", n, err)
	}
}

func TestAWatchlistIsNeitherReadNorChangedWhileTheKeyIsRevoked(t *testing.T) {
	wl, keys := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User\nalice\n")), ""); err != nil {
		t.Fatal(err)
	}
	keys.Revoke()
	item := props(t, map[string]any{"itemsKeyValue": map[string]string{"User": "x"}})
	for name, op := range map[string]func() error{
		"create":      func() error { _, _, err := wl.Put(ctx, "new", props(t, vipProps("User\n")), ""); return err },
		"update":      func() error { _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User\nbob\n")), ""); return err },
		"get":         func() error { _, err := wl.Get(ctx, "vips"); return err },
		"list":        func() error { _, err := wl.List(ctx); return err },
		"table":       func() error { _, err := wl.Table(ctx, "vips"); return err },
		"delete":      func() error { return wl.Delete(ctx, "vips", "") },
		"put item":    func() error { _, _, err := wl.PutItem(ctx, "vips", "i", item, ""); return err },
		"delete item": func() error { return wl.DeleteItem(ctx, "vips", "i", "") },
	} {
		if err := op(); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("%s while revoked: %v, want the revoked error", name, err)
		}
	}
	keys.Restore()
	if tab, err := wl.Table(ctx, "vips"); err != nil || len(tab.Rows) != 1 || tab.Rows[0].Values[0] != "alice" {
		t.Fatalf("after restore: %+v %v", tab, err)
	}
}

func TestWatchlistLimitsAreRefusedWithTheLimit(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User\nalice\n")), ""); err != nil {
		t.Fatal(err)
	}
	st, err := wl.read(ctx, "vips", true)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]storedItem, MaxItems+1)
	for i := range many {
		many[i] = storedItem{ID: fmt.Sprint(i), Values: []string{"v"}}
	}
	st.replaceAll(many)
	if _, err := wl.write(ctx, "vips", st.rec, st, st.rec.Chunks); err == nil || !strings.Contains(err.Error(), "would hold 100001 items; a watchlist holds at most 100000") {
		t.Fatalf("too many items: %v", err)
	}
	large := []storedItem{}
	for i := range MaxTotalBytes/MaxItemBytes + 1 {
		large = append(large, storedItem{ID: fmt.Sprint(i), Values: []string{strings.Repeat("v", MaxItemBytes)}})
	}
	st.replaceAll(large)
	if _, err := wl.write(ctx, "vips", st.rec, st, st.rec.Chunks); err == nil || !strings.Contains(err.Error(), "bytes of values") {
		t.Fatalf("too many bytes: %v", err)
	}
}

// TestAMissingChunkIsDamageOrARace: the items' chunks are read one by
// one; a chunk the watchlist names that is missing while the watchlist is
// as read is damage, named; after a write in between it is a race, read
// again.
func TestAMissingChunkIsDamageOrARace(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	var b strings.Builder
	b.WriteString("Host,Note\n")
	for i := range 6000 {
		fmt.Fprintf(&b, "host-%05d,%s\n", i, strings.Repeat("n", 200))
	}
	put := func(content string) {
		t.Helper()
		if _, _, err := wl.Put(ctx, "big", props(t, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": content}), ""); err != nil {
			t.Fatal(err)
		}
	}
	put(b.String())
	st, err := wl.read(ctx, "big", false)
	if err != nil || len(st.rec.Chunks) < 2 {
		t.Fatalf("a 2 MB watchlist in %d chunk(s): %v", len(st.rec.Chunks), err)
	}
	put(b.String()) // another writer replaces every chunk
	if err := wl.torn(ctx, "big", st.etag, st.rec.Chunks[1]); !errors.Is(err, errRaced) {
		t.Fatalf("a chunk replaced by a write between reads: %v, want a race", err)
	}
	if _, err := wl.docs.Get(ctx, customerID, collItems, st.rec.Chunks[1]); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("a replaced chunk is still stored: %v", err)
	}

	st, err = wl.read(ctx, "big", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := wl.docs.Delete(ctx, customerID, collItems, st.rec.Chunks[1], docstore.Unconditional); err != nil {
		t.Fatal(err)
	}
	var ie *docstore.IntegrityError
	if _, err := wl.Items(ctx, "big"); !errors.As(err, &ie) || ie.ID != st.rec.Chunks[1] || ie.Detail != "missing" {
		t.Fatalf("a chunk deleted: %v, want an integrity error naming it", err)
	}
}

// TestAddingAnItemRewritesOneChunk: an item added, replaced or deleted
// rewrites the chunk that holds it, not the watchlist's other chunks.
func TestAddingAnItemRewritesOneChunk(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	var b strings.Builder
	b.WriteString("Host,Note\n")
	for i := range 9000 {
		fmt.Fprintf(&b, "host-%05d,%s\n", i, strings.Repeat("n", 200))
	}
	if _, _, err := wl.Put(ctx, "big", props(t, map[string]any{"displayName": "d", "provider": "p", "itemsSearchKey": "Host", "contentType": "text/csv", "rawContent": b.String()}), ""); err != nil {
		t.Fatal(err)
	}
	chunks := func() []string {
		t.Helper()
		st, err := wl.read(ctx, "big", false)
		if err != nil {
			t.Fatal(err)
		}
		return st.rec.Chunks
	}
	changed := func(before, after []string) int {
		n := 0
		for _, id := range after {
			if !slices.Contains(before, id) {
				n++
			}
		}
		return n
	}
	before := chunks()
	item := func(host string) json.RawMessage {
		return props(t, map[string]any{"itemsKeyValue": map[string]string{"Host": host}})
	}
	if _, _, err := wl.PutItem(ctx, "big", "added", item("new"), ""); err != nil {
		t.Fatal(err)
	}
	after := chunks()
	if len(after) != len(before) || changed(before, after) != 1 || after[len(after)-1] == before[len(before)-1] {
		t.Fatalf("adding an item: chunks %q, then %q; want the last one rewritten only", before, after)
	}
	items, err := wl.Items(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	first := items[0].Name
	if _, _, err := wl.PutItem(ctx, "big", first, item("replaced"), ""); err != nil {
		t.Fatal(err)
	}
	again := chunks()
	if changed(after, again) != 1 || again[0] == after[0] {
		t.Fatalf("replacing the first item: chunks %q, then %q; want the first one rewritten only", after, again)
	}
	if err := wl.DeleteItem(ctx, "big", "added", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := wl.Items(ctx, "big"); err != nil || len(got) != 9000 || got[0].Properties.ItemsKeyValue["Host"] != "replaced" {
		t.Fatalf("after the changes: %d items, %v", len(got), err)
	}
	if n, err := wl.docs.Count(ctx, customerID, collItems); err != nil || n != len(chunks()) {
		t.Fatalf("%d chunk documents for a watchlist of %d chunks: %v", n, len(chunks()), err)
	}
}

// TestConcurrentItemWritesLoseNothing: writers adding items to one
// watchlist at once each read, change and write it under its etag; one
// that loses a race reads again, so every item whose PUT succeeded is kept.
func TestConcurrentItemWritesLoseNothing(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "vips", props(t, vipProps("User,Department\n")), ""); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 10
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				body := props(t, map[string]any{"itemsKeyValue": map[string]string{"User": fmt.Sprintf("u%d-%d", w, i)}})
				_, _, err := wl.PutItem(ctx, "vips", fmt.Sprintf("i%d-%d", w, i), body, "")
				switch {
				case err == nil:
					ok.Add(1)
				case fault.KindOf(err) != fault.Conflict:
					t.Errorf("a concurrent item PUT: %v", err)
				}
			}
		})
	}
	wg.Wait()
	items, err := wl.Items(ctx, "vips")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(items)) != ok.Load() || ok.Load() == 0 {
		t.Fatalf("%d items kept after %d successful PUTs", len(items), ok.Load())
	}
}

func TestAWorkspaceHoldsAtMostMaxWatchlists(t *testing.T) {
	wl, _ := newTestWatchlists(t)
	if _, _, err := wl.Put(ctx, "first", props(t, vipProps("User\n")), ""); err != nil {
		t.Fatal(err)
	}
	first, err := wl.docs.Get(ctx, customerID, collWatchlists, "first")
	if err != nil {
		t.Fatal(err)
	}
	var writes []docstore.Write
	for i := 1; i < MaxWatchlists; i++ {
		writes = append(writes, docstore.Write{Collection: collWatchlists, ID: fmt.Sprintf("w%d", i), Body: first.Body})
	}
	if _, err := wl.docs.Batch(ctx, customerID, writes); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wl.Put(ctx, "one-more", props(t, vipProps("User\n")), ""); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "has 1000 watchlists, the most it may have") {
		t.Fatalf("the 1001st watchlist: %v", err)
	}
	if _, _, err := wl.Put(ctx, "first", props(t, vipProps("User\nalice\n")), ""); err != nil {
		t.Fatalf("updating one of 1000: %v", err)
	}
}
