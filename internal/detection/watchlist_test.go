package detection

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/analyticrule"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/watchlist"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// TestARuleReadingAWatchlistRunsAndCatchesALateRow: a rule joining
// sign-ins with a watchlist of bad addresses alerts on the listed address
// only, and a late row from a listed address is caught once, as for any
// rule: the watchlist is not a table whose late rows are looked for.
func TestARuleReadingAWatchlistRunsAndCatchesALateRow(t *testing.T) {
	var e *env
	wl := func() *watchlist.Watchlists {
		return watchlist.New(e.docs, testCustomer, e.ws.Workspace.ID, e.clock.Now)
	}
	source := func() *wsdata.Source { return wsdata.NewSource(e.logs, testCustomer).WithWatchlists(wl()) }
	e = newEnv(t, func(cfg *Config) {
		gated := cfg.Source
		cfg.Source = func(ctx context.Context, ws *workspace.WorkspaceInfo) (kql.Source, func(), error) {
			if _, _, err := gated(ctx, ws); err != nil {
				return nil, nil, err
			}
			return source(), func() {}, nil
		}
	})
	list, _ := json.Marshal(map[string]any{"displayName": "Bad addresses", "provider": "TI", "itemsSearchKey": "IP",
		"contentType": "text/csv", "rawContent": "IP,Campaign\n203.0.113.7,Storm\n"})
	if _, _, err := wl().Put(e.ctx, "badips", list, ""); err != nil {
		t.Fatal(err)
	}
	e.ingest("SigninLogs", signin(-time.Hour, "seed@contoso.com", "10.0.0.1", "0"))
	query := "SigninLogs | join kind=inner (_GetWatchlist('badips') | project IPAddress = SearchKey, Campaign) on IPAddress | project TimeGenerated, UserPrincipalName, IPAddress, Campaign"
	props, _ := json.Marshal(scheduled(query, "PT5M", "PT5M", nil))
	rules := analyticrule.New(e.docs, testCustomer, e.ws.Workspace.ID, func(ctx context.Context) (kql.Catalog, error) {
		return kql.CatalogOf(ctx, source())
	}, e.clock.Now)
	if _, _, err := rules.Put(e.ctx, "bad-ip", "Scheduled", props, ""); err != nil {
		t.Fatal(err)
	}
	e.tick()
	e.ingest("SigninLogs", signin(-time.Minute, "alice@contoso.com", "203.0.113.7", "0"), signin(-time.Minute, "bob@contoso.com", "198.51.100.2", "0"))
	e.tickFor(5*time.Minute, 5*time.Minute)
	if n := e.alertCount("bad-ip"); n != 1 {
		t.Fatalf("%d alerts for one sign-in from a listed address", n)
	}
	// arrives after its window ran, stamped 4 minutes back
	e.tickFor(5*time.Minute, 5*time.Minute)
	e.ingest("SigninLogs", signin(-4*time.Minute, "carol@contoso.com", "203.0.113.7", "0"))
	e.tickFor(30*time.Minute, time.Minute)
	if n := e.alertCount("bad-ip"); n != 2 {
		t.Fatalf("%d alerts after a late sign-in from a listed address, want 2; outcomes %v", n, e.outcomes("bad-ip"))
	}
	for _, o := range e.outcomes("bad-ip") {
		if o == OutcomeFailed {
			t.Fatalf("a run failed: %v", e.outcomes("bad-ip"))
		}
	}
}
