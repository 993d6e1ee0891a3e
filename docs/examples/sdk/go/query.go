package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/azquery"
)

// query runs KQL over the last day of a workspace, by its workspace ID, and
// prints each row as a JSON object. The one setting azquery needs: the Logs
// service of its cloud configuration is the node's endpoint followed by /v1,
// with the cloud's audience (the node issues tokens for it).
func query(ctx context.Context, n *node, workspaceID, kql string) error {
	cred, err := n.credential()
	if err != nil {
		return err
	}
	opts, err := n.clientOptions()
	if err != nil {
		return err
	}
	opts.Cloud = cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		azquery.ServiceNameLogs: {Endpoint: n.endpoint + "/v1", Audience: "https://api.loganalytics.io"},
	}}
	client, err := azquery.NewLogsClient(cred, &azquery.LogsClientOptions{ClientOptions: opts})
	if err != nil {
		return err
	}
	// A duration, not two times: the node measures it back from its own
	// clock, and the times the SDK would send are cut to the second, which
	// leaves out rows sent in the current one.
	res, err := client.QueryWorkspace(ctx, workspaceID, azquery.Body{
		Query:    to.Ptr(kql),
		Timespan: to.Ptr(azquery.TimeInterval("P1D")),
	}, nil)
	if err != nil {
		return err
	}
	if res.Error != nil {
		// A result over the rows or bytes one answer holds comes, as from the
		// cloud, as its first rows and an error saying where it was cut.
		fmt.Fprintf(os.Stderr, "partial result: %s\n", partialMessage(res.Error))
	}
	if len(res.Tables) == 0 {
		return errors.New("the answer holds no table")
	}
	out := json.NewEncoder(os.Stdout)
	table := res.Tables[0]
	for _, row := range table.Rows {
		obj := make(map[string]any, len(row))
		for i, col := range table.Columns {
			obj[*col.Name] = row[i]
		}
		if err := out.Encode(obj); err != nil {
			return err
		}
	}
	return nil
}

// partialMessage is what the node said of an answer holding part of its
// result: azquery keeps the error's code, and its JSON as the error's text.
func partialMessage(e *azquery.ErrorInfo) string {
	var info struct {
		Message string
		Details []struct{ Message string }
	}
	if err := json.Unmarshal([]byte(e.Error()), &info); err != nil {
		return e.Error()
	}
	if len(info.Details) > 0 && info.Details[0].Message != "" {
		return info.Details[0].Message
	}
	return info.Message
}
