package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// TestIngestionTimeAndBoundsReachTheLogStore ingests three calls a watermark apart and
// queries them with ingestion_time() and the run's ingestion bounds, unflushed and flushed:
// the store's instants come back as datetimes, and the bounds hold exactly.
func TestIngestionTimeAndBoundsReachTheLogStore(t *testing.T) {
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), BlockRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var marks []time.Time
	for call := range 3 {
		var rows []map[string]any
		for i := range 3 {
			rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Minute).Format(time.RFC3339Nano), "Id": 3*call + i})
		}
		body, _ := json.Marshal(rows)
		if _, err := st.Ingest(context.Background(), "ws", "Logs", body); err != nil {
			t.Fatal(err)
		}
		marks = append(marks, st.IngestionWatermark())
	}
	src := wsdata.NewSource(st, "ws")
	query := func(t *testing.T, q string, opts kql.Options) string {
		t.Helper()
		return fmt.Sprint(runOn(t, src, q, opts).Tables[0].Rows)
	}
	check := func(t *testing.T) {
		if got := query(t, `Logs | project Id | order by Id asc`, kql.Options{IngestedAfter: marks[0], IngestedUpTo: marks[1]}); got != "[[3] [4] [5]]" {
			t.Errorf("the second call's rows: %s", got)
		}
		if got := query(t, `Logs | where ingestion_time() > datetime(`+marks[1].Format(time.RFC3339Nano)+`) | count`, kql.Options{}); got != "[[3]]" {
			t.Errorf("rows after the second watermark: %s", got)
		}
		got := query(t, `Logs | summarize n = count() by At = ingestion_time() | where At > datetime(`+marks[0].Format(time.RFC3339Nano)+`) and At <= datetime(`+marks[2].Format(time.RFC3339Nano)+`) | project n`, kql.Options{})
		if got != "[[3] [3]]" {
			t.Errorf("rows per instant after the first watermark: %s", got)
		}
		if got := query(t, `Logs | getschema | project ColumnName`, kql.Options{}); got != "[[TimeGenerated] [Id]]" {
			t.Errorf("schema %s", got)
		}
	}
	t.Run("unflushed", check)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src = wsdata.NewSource(st, "ws")
	t.Run("flushed", check)
}
