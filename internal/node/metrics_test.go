package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sealwatch/sealwatch/internal/metricstest"
)

// scrape reads /metrics as Prometheus does, with a management token, and
// returns its families by name.
func (rn *running) scrape() map[string]*dto.MetricFamily {
	rn.t.Helper()
	req, _ := http.NewRequest("GET", rn.creds.Endpoint+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+rn.adminToken("https://management.azure.com/.default"))
	resp, err := rn.client.Do(req)
	if err != nil {
		rn.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		rn.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		rn.t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

// TestMetricsAfterAWalkthroughShowEveryFamily runs what the README's
// walkthrough does (set up a CMK workspace, ingest through both APIs,
// query, check the key) and reads /metrics: every family an operator needs
// is there, and the counters of what was done moved by what was done.
func TestMetricsAfterAWalkthroughShowEveryFamily(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), QueryMemory: 4 << 20, RuleInterval: 100 * time.Millisecond})
	immutableID, tok := cs.dcr()
	now := time.Now().UTC().Format(time.RFC3339)
	rows := []map[string]any{{"TimeGenerated": now, "Message": "row-value-one"}, {"TimeGenerated": now, "Message": "row-value-two"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if st, code := cs.ingest(immutableID, tok, []map[string]any{{"TimeGenerated": "not a time"}}); st != 400 || code != "InvalidPayload" {
		t.Fatalf("bad row: %d %s", st, code)
	}
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var keys struct{ PrimarySharedKey string }
	if st := cs.call("POST", cs.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/sharedKeys"), cs.mgmt, nil, &keys); st != 200 {
		t.Fatalf("shared keys: %d", st)
	}
	collected := []byte(`[{"Message":"row-value-three"}]`)
	if st, code := cs.collectorSend(customerID, keys.PrimarySharedKey, "Walk", time.Now().UTC().Format(http.TimeFormat), collected); st != 200 {
		t.Fatalf("data collector: %d %s", st, code)
	}
	if st, code := cs.collectorSend(customerID, "d3Jvbmcta2V5", "Walk", time.Now().UTC().Format(http.TimeFormat), collected); st != 403 {
		t.Fatalf("data collector with a wrong key: %d %s", st, code)
	}

	if err := cs.node.data.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, n, qe := cs.queryStatus(`Events_CL | where Message == "row-value-two" | count`, ""); st != 200 || n != 1.0 {
		t.Fatalf("query: %d %v %+v", st, n, qe)
	}
	if st, n, qe := cs.queryStatus(`Events_CL | where TimeGenerated < ago(2d) | count`, ""); st != 200 || n != 0.0 {
		t.Fatalf("query of no segment: %d %v %+v", st, n, qe)
	}
	if qe := cs.postQuery(`Events_CL | wher`); qe.status != 400 || qe.Error.InnerError.Code != "SyntaxError" {
		t.Fatalf("bad query: %+v", qe)
	}
	if qe := cs.postQuery(`range x from 1 to 2000000 step 1 | summarize make_set(tostring(x))`); qe.status != 400 || qe.Error.InnerError.Code != "QueryLimitExceeded" {
		t.Fatalf("query over the memory limit: %+v", qe)
	}

	cs.probe()
	cs.verify("secops")
	rule := map[string]any{"kind": "Scheduled", "properties": map[string]any{
		"displayName": "Walkthrough events", "severity": "Low", "enabled": true, "query": "Events_CL | where Message startswith 'row-value'",
		"queryFrequency": "PT5M", "queryPeriod": "PT1H", "triggerOperator": "GreaterThan", "triggerThreshold": 0,
	}}
	if st := cs.call("PUT", cs.alertRuleURL("/walkthrough"), cs.mgmt, rule, nil); st != 201 {
		t.Fatalf("create rule: %d", st)
	}
	// A run is counted when its outcome is noted and timed once it has
	// committed, so the wait is for both.
	waitFor(t, 20*time.Second, "a rule run in the metrics", func() bool {
		fams := cs.scrape()
		return metricstest.Sum(fams["sealwatch_rule_runs_total"], map[string]string{"outcome": "ran"}) >= 1 &&
			metricstest.Sum(fams["sealwatch_rule_run_seconds"], nil) >= 1
	})

	fams := cs.scrape()
	for _, c := range []struct {
		family  string
		labels  map[string]string
		atLeast float64
	}{
		{"sealwatch_http_requests_total", map[string]string{"method": "POST", "route": "/dataCollectionRules/{id}/streams/{stream}", "code": "204"}, 1},
		{"sealwatch_http_request_duration_seconds", map[string]string{"method": "POST", "route": "/dataCollectionRules/{id}/streams/{stream}"}, 2},
		{"sealwatch_ingest_batches_total", map[string]string{"api": "logs_ingestion"}, 2},
		{"sealwatch_ingest_batches_total", map[string]string{"api": "data_collector"}, 2},
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": "logs_ingestion", "reason": "InvalidPayload"}, 1},
		{"sealwatch_ingest_refused_batches_total", map[string]string{"api": "data_collector", "reason": "InvalidAuthorization"}, 1},
		{"sealwatch_ingested_rows_total", map[string]string{"api": "logs_ingestion"}, 2},
		{"sealwatch_ingested_rows_total", map[string]string{"api": "data_collector"}, 1},
		{"sealwatch_ingested_bytes_total", map[string]string{"api": "data_collector"}, float64(len(collected))},
		{"sealwatch_ingested_bytes_total", map[string]string{"api": "logs_ingestion"}, 50},
		{"sealwatch_queries_total", map[string]string{"result": "ok"}, 1},
		{"sealwatch_queries_total", map[string]string{"result": "SyntaxError"}, 1},
		{"sealwatch_queries_total", map[string]string{"result": "QueryLimitExceeded"}, 1},
		{"sealwatch_query_limit_refusals_total", map[string]string{"limit": "memory"}, 1},
		{"sealwatch_query_duration_seconds", nil, 3},
		{"sealwatch_query_rows_scanned_total", nil, 1},
		{"sealwatch_query_scanned_bytes_total", nil, 1},
		{"sealwatch_query_blocks_read_total", nil, 1},
		{"sealwatch_query_segments_skipped_total", nil, 1},
		{"sealwatch_query_peak_memory_bytes", nil, 1},
		{"sealwatch_cluster_key_state", map[string]string{"cluster": cs.clusterID, "cluster_name": "cluster1", "state": "Accessible"}, 1},
		{"sealwatch_keyring_state", map[string]string{"cluster": cs.clusterID, "resource": "logs", "state": "Accessible"}, 1},
		{"sealwatch_keyring_probes_total", map[string]string{"cluster": cs.clusterID, "result": "ok"}, 2},
		{"sealwatch_keyring_probe_duration_seconds", map[string]string{"cluster": cs.clusterID, "result": "ok"}, 2},
		{"sealwatch_log_segments", nil, 2}, // Events_CL's and Walk_CL's
		{"sealwatch_log_segment_bytes", nil, 1000},
		{"sealwatch_wal_files", nil, 0},
		{"sealwatch_wal_bytes", nil, 0},
		{"sealwatch_log_open_stores", nil, 1},
		{"sealwatch_log_unflushed_bytes", nil, 0},
		{"sealwatch_db_bytes", map[string]string{"db": "control"}, 4096},
		{"sealwatch_db_bytes", map[string]string{"db": "vault"}, 4096},
		{"sealwatch_db_bytes", map[string]string{"db": "documents"}, 4096},
		{"sealwatch_db_bytes", map[string]string{"db": "identity"}, 4096},
		{"sealwatch_rule_runs_total", map[string]string{"outcome": "ran"}, 1},
		{"sealwatch_rule_run_seconds", nil, 1},
		{"sealwatch_rule_alerts_total", nil, 1},
		{"sealwatch_damaged_objects", map[string]string{"kind": "log"}, 0},
		{"sealwatch_last_verified_timestamp_seconds", nil, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		if fams[c.family] == nil {
			t.Errorf("%s is not exported", c.family)
			continue
		}
		if got := metricstest.Sum(fams[c.family], c.labels); got < c.atLeast {
			t.Errorf("%s%v = %v, want at least %v", c.family, c.labels, got, c.atLeast)
		}
	}
	if got := metricstest.Sum(fams["sealwatch_cluster_key_state"], map[string]string{"cluster_name": "cluster1"}); got != 1 {
		t.Errorf("cluster1's key is in %v states at once, want 1", got)
	}
	if got := metricstest.Sum(fams["sealwatch_ingested_rows_total"], map[string]string{"api": "data_collector"}); got != 1 {
		t.Errorf("data collector rows: %v, want exactly 1 (the refused batch stored none)", got)
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "row-value") {
					t.Errorf("%s: label %s=%q holds customer data", name, l.GetName(), l.GetValue())
				}
			}
		}
	}

	checkDocsUseExportedMetrics(t, fams)

	// Revoked: the key state names the cluster, and refused ingestion says why.
	cs.disableKey(true)
	if st, code := cs.ingest(immutableID, tok, rows); st != 403 {
		t.Fatalf("ingest with the key revoked: %d %s", st, code)
	}
	fams = cs.scrape()
	if got := metricstest.Sum(fams["sealwatch_cluster_key_state"], map[string]string{"cluster": cs.clusterID, "cluster_name": "cluster1", "state": "Revoked"}); got != 1 {
		t.Errorf("cluster1's key state Revoked = %v, want 1", got)
	}
	if got := metricstest.Sum(fams["sealwatch_ingest_refused_batches_total"], map[string]string{"api": "logs_ingestion", "reason": "CustomerManagedKeyInaccessible"}); got != 1 {
		t.Errorf("batches refused for the key = %v, want 1", got)
	}
}
