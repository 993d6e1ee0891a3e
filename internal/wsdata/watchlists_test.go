package wsdata

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/docstore/docstoretest"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/watchlist"
)

// TestWatchlistsAreTablesOfTheSource: a workspace's watchlists bind and
// scan through its Source beside its logs, and a watchlist changed after a
// query was compiled is a refusal, not wrong rows.
func TestWatchlistsAreTablesOfTheSource(t *testing.T) {
	ctx := context.Background()
	keys := envelopetest.New("aek")
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ingest(ctx, "ws", "SigninLogs", []byte(`[{"UserPrincipalName":"alice@contoso.com","IPAddress":"203.0.113.7"},{"UserPrincipalName":"bob@contoso.com","IPAddress":"198.51.100.1"}]`)); err != nil {
		t.Fatal(err)
	}
	docs, _ := docstoretest.Open(t, keys)
	wl := watchlist.New(docs, "ws", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w", nil)
	props, _ := json.Marshal(map[string]any{"displayName": "Bad IPs", "provider": "SOC", "itemsSearchKey": "IP", "contentType": "text/csv",
		"rawContent": "IP,Campaign\n203.0.113.7,Storm\n192.0.2.1,Other\n"})
	if _, _, err := wl.Put(ctx, "badips", props, ""); err != nil {
		t.Fatal(err)
	}
	src := NewSource(st, "ws")
	src.watchlists = wl

	tables, err := src.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	query := "SigninLogs | join kind=inner (_GetWatchlist('badips') | project IPAddress = SearchKey, Campaign, _DTItemId, LastUpdatedTimeUTC) on IPAddress | project UserPrincipalName, Campaign, isnotempty(_DTItemId), LastUpdatedTimeUTC > ago(1h)"
	q, err := kql.Compile(query, kql.Catalog{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(ctx, src, kql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Tables[0].Rows)
	if string(got) != `[["alice@contoso.com","Storm",true,true]]` {
		t.Fatalf("join with a watchlist: %s", got)
	}

	// Uploaded again without the Campaign column: the compiled query is refused.
	props, _ = json.Marshal(map[string]any{"displayName": "Bad IPs", "provider": "SOC", "itemsSearchKey": "IP", "contentType": "text/csv", "rawContent": "IP\n203.0.113.7\n"})
	if _, _, err := wl.Put(ctx, "badips", props, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Run(ctx, src, kql.Options{}); fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "no column 'Campaign' any more") {
		t.Fatalf("a column gone since compile: %v", err)
	}

	// The watchlist is held whole while it is read: charged even when the
	// query reads none of its columns.
	tables, _ = src.Tables(ctx)
	count, err := kql.Compile("_GetWatchlist('badips') | count", kql.Catalog{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	var le *kql.LimitError
	if _, err := count.Run(ctx, src, kql.Options{MaxMemory: 100}); !errors.As(err, &le) || le.Operator != "_GetWatchlist" {
		t.Fatalf("a watchlist over a 100-byte limit: %v, want a limit error naming _GetWatchlist", err)
	}

	keys.Revoke()
	if _, err := src.Tables(ctx); !errors.Is(err, envelopetest.ErrRevoked) {
		t.Fatalf("listing tables with a watchlist while revoked: %v", err)
	}
}
