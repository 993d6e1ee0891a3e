package wsdata

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// TestTableRetentionIsRecordedPerWorkspaceAndForgotten: a table's own
// retention is read back for its workspace only, 0 returns it to the
// workspace's, and a deleted workspace's records go; in the control
// plane's database (read back after reopening it) and in memory alike.
func TestTableRetentionIsRecordedPerWorkspaceAndForgotten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.db")
	open := func() *boltkv.DB {
		db, err := boltkv.Open(path, boltkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	day := 24 * time.Hour
	for _, c := range []struct {
		name   string
		r      *tableRetention
		reopen func() *tableRetention
	}{
		{"control plane", &tableRetention{db: db}, func() *tableRetention { db.Close(); db = open(); return &tableRetention{db: db} }},
		{"memory", &tableRetention{}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			for _, s := range []struct {
				ws, table string
				days      int
			}{{"ws1", "Short_CL", 5}, {"ws1", "SecurityEvent", 365}, {"ws1", "Gone_CL", 7}, {"ws2", "Short_CL", 60}, {"ws1", "Gone_CL", 0}} {
				if err := r.set(ctx, s.ws, s.table, s.days); err != nil {
					t.Fatal(err)
				}
			}
			if c.reopen != nil {
				r = c.reopen()
			}
			got, err := r.of(ctx, "ws1")
			if err != nil || fmt.Sprint(got) != fmt.Sprint(map[string]time.Duration{"SecurityEvent": 365 * day, "Short_CL": 5 * day}) {
				t.Fatalf("ws1 = %v %v", got, err)
			}
			if err := r.forget(ctx, "ws1"); err != nil {
				t.Fatal(err)
			}
			if got, err := r.of(ctx, "ws1"); err != nil || len(got) != 0 {
				t.Fatalf("ws1 after forget = %v %v", got, err)
			}
			if got, err := r.of(ctx, "ws2"); err != nil || got["Short_CL"] != 60*day || len(got) != 1 {
				t.Fatalf("ws2 = %v %v", got, err)
			}
		})
	}
	db.Close()
}
