package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ingestAPIVersion is the Logs Ingestion API version the cloud's SDKs send.
const ingestAPIVersion = "2023-01-01"

// ingest sends the rows of a JSON file (an array of objects) to a stream of
// a data collection rule with the Logs Ingestion API. The Go ingestion client
// (monitor/ingestion/azlogs) could not be had where these examples are
// tested, so this one signs in with azidentity and sends the request itself,
// as that client does: one POST of at most 1 MiB, bearer token for
// https://monitor.azure.com.
func ingest(ctx context.Context, n *node, immutableID, stream, file string) error {
	rows, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var check []map[string]any
	if err := json.Unmarshal(rows, &check); err != nil {
		return fmt.Errorf("%s must hold a JSON array of objects: %w", file, err)
	}
	cred, err := n.credential()
	if err != nil {
		return err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://monitor.azure.com/.default"}})
	if err != nil {
		return err
	}
	opts, err := n.clientOptions()
	if err != nil {
		return err
	}
	target := n.endpoint + "/dataCollectionRules/" + url.PathEscape(immutableID) + "/streams/" + url.PathEscape(stream) + "?api-version=" + ingestAPIVersion
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(rows))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := opts.Transport.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("the node answered %s", resp.Status)
	}
	fmt.Printf("sent %d rows to stream %s of rule %s\n", len(check), stream, immutableID)
	return nil
}
