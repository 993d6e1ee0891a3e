package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/azquery"
)

func (cs *cmkSetup) logsClient() *azquery.LogsClient {
	cs.t.Helper()
	c, err := azquery.NewLogsClient(cs.credential(cs.creds.ClientID, cs.creds.ClientSecret), &azquery.LogsClientOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				azquery.ServiceNameLogs: {Endpoint: cs.creds.Endpoint + "/v1", Audience: "https://api.loganalytics.io"},
			}},
			Transport: cs.client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
	})
	if err != nil {
		cs.t.Fatal(err)
	}
	return c
}

// TestOfficialQueryClientReadsBackWhatWasIngested ingests rows into a CMK
// workspace and reads them back with the official query client, before and
// after the rows are flushed from the WAL into sealed segments.
func TestOfficialQueryClientReadsBackWhatWasIngested(t *testing.T) {
	cs := setUpCMK(t)
	immutableID, tok := cs.dcr()
	now := time.Now().UTC().Truncate(time.Second)
	var rows []map[string]any
	for i := range 20 {
		rows = append(rows, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339), "Message": map[bool]string{true: "failed logon for admin", false: "ok"}[i%4 == 0]})
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	lc := cs.logsClient()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := func(kql string, span *azquery.TimeInterval) *azquery.LogsClientQueryWorkspaceResponse {
		t.Helper()
		res, err := lc.QueryWorkspace(ctx, customerID, azquery.Body{Query: to.Ptr(kql), Timespan: span}, nil)
		if err != nil {
			t.Fatalf("%s: %v", kql, err)
		}
		return &res
	}
	check := func(when string) {
		res := query(`Events_CL | where Message has "admin" | summarize n = count()`, nil)
		if len(res.Tables) != 1 || *res.Tables[0].Name != "PrimaryResult" || len(res.Tables[0].Rows) != 1 || res.Tables[0].Rows[0][0] != 5.0 {
			t.Fatalf("%s: count of admin rows: %+v", when, res.Tables)
		}
		res = query(`Events_CL | project TimeGenerated, Message | sort by TimeGenerated desc | take 3`, to.Ptr(azquery.NewTimeInterval(now.Add(-time.Hour), now.Add(time.Minute))))
		if len(res.Tables[0].Rows) != 3 || *res.Tables[0].Columns[0].Type != azquery.LogsColumnTypeDatetime || res.Tables[0].Rows[0][1] != "failed logon for admin" {
			t.Fatalf("%s: newest rows: %+v", when, res.Tables[0].Rows)
		}
		// A timespan of the last 5 minutes sees rows 0-4 only.
		res = query(`Events_CL | count`, to.Ptr(azquery.TimeInterval("PT5M")))
		if res.Tables[0].Rows[0][0] != 5.0 && res.Tables[0].Rows[0][0] != 6.0 {
			t.Fatalf("%s: rows in the last 5 minutes: %v", when, res.Tables[0].Rows)
		}
	}
	check("from the WAL")
	if err := cs.node.data.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("from sealed segments")

	_, err := lc.QueryWorkspace(ctx, customerID, azquery.Body{Query: to.Ptr("Events_CL | where")}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BadArgumentError" {
		t.Fatalf("syntax error: %v", err)
	}
	_, err = lc.QueryWorkspace(ctx, customerID, azquery.Body{Query: to.Ptr("NoSuchTable | take 1")}, nil)
	if !errors.As(err, &re) || re.StatusCode != 400 {
		t.Fatalf("unknown table: %v", err)
	}
}

// TestOfficialQueryClientReadsAResultOverTheLimitsAsPartial: a result over the rows one
// answer holds reaches azquery as the cloud's does, a partial result and no error: the first
// rows, and Results.Error with the code PartialError naming the limit.
func TestOfficialQueryClientReadsAResultOverTheLimitsAsPartial(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), QueryResultRows: 5}) // small, to stay fast
	lc := cs.logsClient()
	customerID := cs.workspace["properties"].(map[string]any)["customerId"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := lc.QueryWorkspace(ctx, customerID, azquery.Body{Query: to.Ptr(`datatable(x:long)[1,2,3,4,5,6,7]`)}, nil)
	if err != nil {
		t.Fatalf("a partial result is an error to the client: %v", err)
	}
	if res.Error == nil || res.Error.Code != "PartialError" || !strings.Contains(res.Error.Error(), "E_QUERY_RESULT_SET_TOO_LARGE") {
		t.Fatalf("Results.Error = %v, want the PartialError naming the limit", res.Error)
	}
	if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 5 || res.Tables[0].Rows[4][0] != 5.0 {
		t.Fatalf("tables %+v, want the first 5 rows", res.Tables)
	}
	res, err = lc.QueryWorkspace(ctx, customerID, azquery.Body{Query: to.Ptr(`datatable(x:long)[1,2,3,4,5]`)}, nil)
	if err != nil || res.Error != nil || len(res.Tables[0].Rows) != 5 {
		t.Fatalf("a result within the limit: %v, error %v", err, res.Error)
	}
}
