package wsdata

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

func TestLedgerListsTheTablesWithAManifestOfOneWorkspace(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "control.db"), boltkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := kvLedger{db}
	ctx := context.Background()
	if got, err := l.Tables(ctx, "ws1"); err != nil || len(got) != 0 {
		t.Fatalf("tables of an empty ledger: %v, %v", got, err)
	}
	for _, r := range []struct{ ws, table string }{{"ws1", "B_CL"}, {"ws1", "A_CL"}, {"ws10", "C_CL"}, {"ws2", "D_CL"}} {
		if err := l.SetEpoch(ctx, r.ws, r.table, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetPurgedBefore(ctx, "ws1", "Purged_CL", 42); err != nil { // no manifest recorded
		t.Fatal(err)
	}
	if got, err := l.Tables(ctx, "ws1"); err != nil || !slices.Equal(got, []string{"A_CL", "B_CL"}) {
		t.Fatalf("tables of ws1: %v, %v; want A_CL and B_CL", got, err)
	}
	if err := l.ForgetWorkspace(ctx, "ws1"); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Tables(ctx, "ws1"); err != nil || len(got) != 0 {
		t.Fatalf("tables of a forgotten workspace: %v, %v", got, err)
	}
	if got, _ := l.Tables(ctx, "ws10"); !slices.Equal(got, []string{"C_CL"}) {
		t.Fatalf("tables of ws10: %v", got)
	}
}
