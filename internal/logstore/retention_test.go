package logstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestATableKeepsItsOwnRetention: a table given a retention of its own
// takes rows that old, refuses older ones, and is purged at it, while the
// other tables keep the store's.
func TestATableKeepsItsOwnRetention(t *testing.T) {
	keys := envelopetest.New("aek")
	st := newTestStore(t, t.TempDir(), keys, func(c *Config) {
		c.Retention = 30 * 24 * time.Hour
		c.TableRetention = map[string]time.Duration{"Short_CL": 5 * 24 * time.Hour, "Long_CL": 90 * 24 * time.Hour}
	})
	ctx := context.Background()
	row := func(age time.Duration) []byte {
		return []byte(fmt.Sprintf(`[{"TimeGenerated":%q,"A":1}]`, testNow.Add(-age).Format(time.RFC3339)))
	}
	day := 24 * time.Hour
	var re *RowError
	if _, err := st.Ingest(ctx, ws, "Short_CL", row(10*day)); !errors.As(err, &re) {
		t.Fatalf("a row 10 days old into a table kept 5 days: %v, want a RowError", err)
	}
	if _, err := st.Ingest(ctx, ws, "Other_CL", row(40*day)); !errors.As(err, &re) {
		t.Fatalf("a row 40 days old into a table kept the store's 30: %v, want a RowError", err)
	}
	mustIngest(t, st, ws, "Long_CL", row(60*day))
	for _, table := range []string{"Short_CL", "Other_CL", "Long_CL"} {
		mustIngest(t, st, ws, table, row(4*day))
	}
	mustIngest(t, st, ws, "Other_CL", row(20*day))
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Seven days on, Short_CL's row is past its 5 days; 46 days on,
	// Other_CL's 20-day-old row is past 30; Long_CL's 60-day-old row is not
	// past 90 until 31 days on.
	for _, step := range []struct {
		later        time.Duration
		short, other int
		long         int
	}{
		{2 * day, 0, 2, 2},
		{11 * day, 0, 1, 2},
		{27 * day, 0, 0, 2},
		{31 * day, 0, 0, 1},
	} {
		if _, err := st.PurgeExpired(ctx, testNow.Add(step.later)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, table := range []string{"Short_CL", "Other_CL", "Long_CL"} {
			b, err := scanAll(st, ScanRequest{Workspace: ws, Table: table, Columns: []string{"A"}})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(countRows(b)))
		}
		if want := fmt.Sprint(step.short, " ", step.other, " ", step.long); strings.Join(got, " ") != want {
			t.Errorf("%s on, rows left (Short_CL Other_CL Long_CL) = %s, want %s", step.later, strings.Join(got, " "), want)
		}
	}
}

func TestATableRetentionMustBePositive(t *testing.T) {
	_, err := New(Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), TableRetention: map[string]time.Duration{"X_CL": 0}})
	if err == nil || !strings.Contains(err.Error(), "the retention of table X_CL must be positive") {
		t.Fatalf("err = %v", err)
	}
}
