package savedsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
)

var ctx = context.Background()

const customerID = "0b6f1d5e-2c1a-4f3e-9d8c-7a6b5c4d3e2f"

const wsResourceID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/secops"

func newTestSearches(t testing.TB, cache *Cache) (*Searches, *envelopetest.Keys) {
	t.Helper()
	keys := envelopetest.New("doc-aek")
	docs, _ := docstoretest.Open(t, keys)
	return New(docs, customerID, wsResourceID, cache), keys
}

func props(t testing.TB, m map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parser is the properties of a function named alias.
func parser(alias string) map[string]any {
	return map[string]any{"category": "ASIM", "displayName": "DNS test parser", "functionAlias": alias,
		"functionParameters": "starttime:datetime=datetime(null), disabled:bool=false",
		"query":              "DnsEvents | where not(disabled) | where isnull(starttime) or TimeGenerated >= starttime",
		"version":            1, "tags": []Tag{{Name: "ParserVersion", Value: "0.1"}}}
}

func TestASavedSearchIsCreatedReadUpdatedAndDeleted(t *testing.T) {
	ss, _ := newTestSearches(t, nil)
	got, created, err := ss.Put(ctx, "vimDnsTest", props(t, parser("vimDnsTest")), "")
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	p := got.Properties
	if got.Name != "vimDnsTest" || got.Type != ResourceType || got.ID != wsResourceID+"/savedSearches/vimDnsTest" ||
		!strings.HasPrefix(got.Etag, `"`) || p.Category != "ASIM" || p.FunctionAlias != "vimDnsTest" || p.Version != 1 ||
		len(p.Tags) != 1 || p.Tags[0] != (Tag{"ParserVersion", "0.1"}) {
		t.Fatalf("created: %+v", got)
	}
	read, err := ss.Get(ctx, "vimDnsTest")
	if err != nil || read.Etag != got.Etag || read.Properties.Query != p.Query {
		t.Fatalf("get: %+v %v", read, err)
	}
	upd := parser("vimDnsTest")
	upd["displayName"] = "renamed"
	delete(upd, "version")
	again, created, err := ss.Put(ctx, "vimDnsTest", props(t, upd), got.Etag)
	if err != nil || created || again.Etag == got.Etag || again.Properties.DisplayName != "renamed" || again.Properties.Version != CurrentVersion {
		t.Fatalf("update under its etag: %+v %v %v", again, created, err)
	}
	if _, _, err := ss.Put(ctx, "vimDnsTest", props(t, upd), got.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("update under a stale etag: %v, want PreconditionFailed", err)
	}
	list, err := ss.List(ctx)
	if err != nil || len(list) != 1 || list[0].Etag != again.Etag {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := ss.Delete(ctx, "vimDnsTest", got.Etag); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("delete under a stale etag: %v", err)
	}
	if err := ss.Delete(ctx, "vimDnsTest", again.Etag); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Get(ctx, "vimDnsTest"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if err := ss.Delete(ctx, "vimDnsTest", ""); err != nil {
		t.Fatalf("deleting what is not there: %v, want nothing, as the cloud", err)
	}
	if _, _, err := ss.Put(ctx, "other", props(t, parser("other")), `"0123"`); fault.KindOf(err) != fault.PreconditionFailed {
		t.Fatalf("create under an etag: %v", err)
	}
	if _, _, err := ss.Put(ctx, "other", props(t, parser("other")), "*"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("create under *: %v", err)
	}
}

func TestBadSavedSearchesAreRefusedNamingTheField(t *testing.T) {
	ss, _ := newTestSearches(t, nil)
	with := func(k string, v any) json.RawMessage {
		m := parser("f")
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return props(t, m)
	}
	for _, tc := range []struct {
		name  string
		id    string
		props json.RawMessage
		want  string // in the message
	}{
		{"no properties", "f", nil, "has no properties"},
		{"properties null", "f", json.RawMessage("null"), "has no properties"},
		{"properties not an object", "f", json.RawMessage(`"x"`), "properties"},
		{"unknown field", "f", with("wibble", 1), "wibble"},
		{"no category", "f", with("category", nil), "properties.category is required"},
		{"blank displayName", "f", with("displayName", "  "), "properties.displayName is required"},
		{"no query", "f", with("query", nil), "properties.query is required"},
		{"category too long", "f", with("category", strings.Repeat("c", maxText+1)), "properties.category is at most"},
		{"query too long", "f", with("query", strings.Repeat("T|take 1\n", MaxQueryBytes/9+1)), "properties.query is"},
		{"alias not an identifier", "f", with("functionAlias", "my-parser"), "properties.functionAlias 'my-parser' is not a function name"},
		{"alias starting with a digit", "f", with("functionAlias", "1f"), "is not a function name"},
		{"parameters without alias", "f", with("functionAlias", nil), "functionParameters needs properties.functionAlias"},
		{"parameters that do not parse", "f", with("functionParameters", "a:long,\n b"), "properties.functionParameters: syntax error at 2:3"},
		{"query that does not parse", "f", with("query", "T\n| where X =="), "properties.query: syntax error at 2:"},
		{"version 3", "f", with("version", 3), "properties.version"},
		{"version a string", "f", with("version", "2"), "version"},
		{"tag without a name", "f", with("tags", []Tag{{Value: "x"}}), "properties.tags[0]"},
		{"too many tags", "f", with("tags", make([]Tag, maxTags+1)), "properties.tags has"},
		{"ID with a slash", "a/b", with("version", 2), "saved search IDs are"},
		{"ID too long", strings.Repeat("a", MaxIDLength+1), with("version", 2), "saved search IDs are"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ss.Put(ctx, tc.id, tc.props, "")
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Put = %v, want Invalid saying %q", err, tc.want)
			}
		})
	}
	if list, err := ss.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("a refused search was stored: %+v %v", list, err)
	}
}

func TestAFunctionAliasIsHeldByOneSavedSearch(t *testing.T) {
	ss, _ := newTestSearches(t, nil)
	if _, _, err := ss.Put(ctx, "first", props(t, parser("_Im_Dns")), ""); err != nil {
		t.Fatal(err)
	}
	_, _, err := ss.Put(ctx, "second", props(t, parser("_Im_Dns")), "")
	if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "function alias '_Im_Dns' is already saved search 'first''s") {
		t.Fatalf("a second search with the alias: %v", err)
	}
	// the holder may change its alias, and then the alias is free
	if _, _, err := ss.Put(ctx, "first", props(t, parser("_Im_Dns_Old")), ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ss.Put(ctx, "second", props(t, parser("_Im_Dns")), ""); err != nil {
		t.Fatalf("the alias given up: %v", err)
	}
	// a deleted search frees its alias
	if err := ss.Delete(ctx, "first", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ss.Put(ctx, "third", props(t, parser("_Im_Dns_Old")), ""); err != nil {
		t.Fatalf("the alias of a deleted search: %v", err)
	}
}

func TestConcurrentSavedSearchesNeverShareAnAlias(t *testing.T) {
	ss, _ := newTestSearches(t, nil)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = ss.Put(ctx, fmt.Sprintf("s%d", i), props(t, parser("Shared")), "") })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch fault.KindOf(err) {
		case fault.Internal:
			if err != nil {
				t.Fatal(err)
			}
			won++
		case fault.Conflict:
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	fns, err := ss.Functions(ctx)
	if won != 1 || err != nil || len(fns) != 1 {
		t.Fatalf("%d searches took alias Shared; functions %+v %v", won, fns, err)
	}
}

func TestFunctionsAreTheSearchesWithAnAlias(t *testing.T) {
	ss, _ := newTestSearches(t, NewCache())
	if fns, err := ss.Functions(ctx); err != nil || len(fns) != 0 {
		t.Fatalf("a workspace without searches: %+v %v", fns, err)
	}
	plain := map[string]any{"category": "General", "displayName": "all errors", "query": "Event | where EventLevelName == 'Error'"}
	for id, p := range map[string]map[string]any{"plain": plain, "b": parser("vimDnsB"), "a": parser("_Im_Dns_A")} {
		if _, _, err := ss.Put(ctx, id, props(t, p), ""); err != nil {
			t.Fatal(err)
		}
	}
	fns, err := ss.Functions(ctx)
	want := []kql.Function{
		{Name: "_Im_Dns_A", Parameters: "starttime:datetime=datetime(null), disabled:bool=false", Body: parser("x")["query"].(string)},
		{Name: "vimDnsB", Parameters: "starttime:datetime=datetime(null), disabled:bool=false", Body: parser("x")["query"].(string)},
	}
	if err != nil || fmt.Sprint(fns) != fmt.Sprint(want) {
		t.Fatalf("functions = %+v %v\nwant %+v", fns, err, want)
	}
}

func TestFunctionsAreBuiltOncePerChangeAndNeverStale(t *testing.T) {
	ss, keys := newTestSearches(t, NewCache())
	for i := range 5 {
		if _, _, err := ss.Put(ctx, fmt.Sprintf("p%d", i), props(t, parser(fmt.Sprintf("P%d", i))), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ss.Functions(ctx); err != nil {
		t.Fatal(err)
	}
	keys.ResetOpens()
	fns, err := ss.Functions(ctx)
	if err != nil || len(fns) != 5 || keys.Opens() != 1 {
		t.Fatalf("cached call: %d functions, %d documents decrypted (want 5, 1: the index): %v", len(fns), keys.Opens(), err)
	}
	fns[0].Name = "scribbled"
	if fns, err = ss.Functions(ctx); err != nil || fns[0].Name != "P0" {
		t.Fatalf("a caller's change reached the cache: %+v %v", fns, err)
	}
	// a change of any search is seen by the next call
	upd := parser("P2")
	upd["query"] = "DnsEvents | take 1"
	if _, _, err := ss.Put(ctx, "p2", props(t, upd), ""); err != nil {
		t.Fatal(err)
	}
	fns, err = ss.Functions(ctx)
	if err != nil || len(fns) != 5 || fns[0].Name != "P0" || fns[2].Body != "DnsEvents | take 1" {
		t.Fatalf("after an update: %+v %v", fns, err)
	}
	if err := ss.Delete(ctx, "p4", ""); err != nil {
		t.Fatal(err)
	}
	if fns, err = ss.Functions(ctx); err != nil || len(fns) != 4 {
		t.Fatalf("after a delete: %+v %v", fns, err)
	}
	// another node's Searches (no shared cache) changing the store is seen too
	other := New(ss.docs, customerID, wsResourceID, nil)
	if _, _, err := other.Put(ctx, "p9", props(t, parser("P9")), ""); err != nil {
		t.Fatal(err)
	}
	if fns, err = ss.Functions(ctx); err != nil || len(fns) != 5 || fns[4].Name != "P9" {
		t.Fatalf("after another writer: %+v %v", fns, err)
	}
}

func TestSavedSearchesAreNeitherReadNorChangedWhileTheKeyIsRevoked(t *testing.T) {
	ss, keys := newTestSearches(t, NewCache())
	if _, _, err := ss.Put(ctx, "p", props(t, parser("P")), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Functions(ctx); err != nil {
		t.Fatal(err)
	}
	keys.Revoke()
	for name, op := range map[string]func() error{
		"create":    func() error { _, _, err := ss.Put(ctx, "new", props(t, parser("N")), ""); return err },
		"update":    func() error { _, _, err := ss.Put(ctx, "p", props(t, parser("P")), ""); return err },
		"get":       func() error { _, err := ss.Get(ctx, "p"); return err },
		"list":      func() error { _, err := ss.List(ctx); return err },
		"delete":    func() error { return ss.Delete(ctx, "p", "") },
		"functions": func() error { _, err := ss.Functions(ctx); return err },
	} {
		if err := op(); !errors.Is(err, envelopetest.ErrRevoked) {
			t.Errorf("%s while revoked: %v, want the revoked error", name, err)
		}
	}
	keys.Restore()
	if fns, err := ss.Functions(ctx); err != nil || len(fns) != 1 {
		t.Fatalf("after restore: %+v %v", fns, err)
	}
}

func TestADeploymentTemplatesPropertiesAreAccepted(t *testing.T) {
	// Deployment templates of the parsers write etag inside properties and
	// capitalise FunctionAlias.
	ss, _ := newTestSearches(t, nil)
	body := `{"etag":"*","displayName":"Parser","category":"ASIM","FunctionAlias":"vimX","query":"T | take 1","version":1,"functionParameters":"disabled:bool=False"}`
	got, _, err := ss.Put(ctx, "vimX", json.RawMessage(body), "")
	if err != nil || got.Properties.FunctionAlias != "vimX" || got.Properties.FunctionParameters != "disabled:bool=False" {
		t.Fatalf("template body: %+v %v", got, err)
	}
}
