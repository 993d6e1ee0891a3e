package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

const mgmtScope = "https://management.azure.com/.default"

// startCluster starts n nodes on 127.0.0.1, each with a data directory and
// a port of its own, on one PostgreSQL database, the bucket (when not nil)
// and one root of trust (the root key file, kept outside every data
// directory), as `sealwatch serve --postgres --object-store` runs them
// behind a load balancer at clusterPublicURL. The first node makes the
// admin application; the others are given its credentials.
func startCluster(t *testing.T, dbURL string, bucket *s3test.Config, rootFile string, n int) []*running {
	t.Helper()
	var nodes []*running
	for i := range n {
		storage := sharedStorage(t, dbURL)
		if bucket != nil {
			objects, err := s3store.New(context.Background(), bucket.StoreConfig())
			if err != nil {
				t.Fatal(err)
			}
			storage.Objects = objects
		}
		cfg := Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: storage}
		if i == 0 {
			nodes = append(nodes, startClusterNode(t, cfg, Credentials{}))
		} else {
			nodes = append(nodes, startClusterNode(t, cfg, nodes[0].creds))
		}
	}
	return nodes
}

// TestANodeOnPostgreSQLKeepsItsControlPlaneAndDocumentsWithAnEmptyDataDirectory
// runs a node on PostgreSQL through a workspace's life (create, ingest,
// query, a saved search), then starts it again on an empty data directory,
// given only its root of trust: the workspace, its shared key and its saved
// search are all there; the table whose files went with the disk is
// refused as damaged, not answered as empty. pg_dump of the database then holds neither the
// canary (as text, or in hex as pg_dump writes bytea) nor key material (the
// workspace's shared key, the admin's secret, the root key).
func TestANodeOnPostgreSQLKeepsItsControlPlaneAndDocumentsWithAnEmptyDataDirectory(t *testing.T) {
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	dir := t.TempDir()
	a := startClusterNode(t, Config{DataDir: dir, Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, Credentials{})
	mgmt := a.adminToken(mgmtScope)
	canary := "canary-serve-" + randomHex(t, 8)

	customerID, sharedKey := collectorWorkspace(t, a, "pgws")
	if st, code := a.collectorPost(customerID, sharedKey, "Canary", []byte(`[{"Message":"`+canary+`"}]`)); st != 200 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	if rows := a.queryRows(customerID, "Canary_CL | where Message_s == '"+canary+"' | count"); len(rows) != 1 || rows[0][0] != 1.0 {
		t.Fatalf("query: %v, want one row", rows)
	}
	search := map[string]any{"properties": map[string]any{"category": "hunting", "displayName": "canary", "query": "Canary_CL | where Message_s == '" + canary + "'"}}
	if st := a.call("PUT", a.mgmtURL("Microsoft.OperationalInsights/workspaces/pgws/savedSearches/canary"), mgmt, search, nil); st != 200 {
		t.Fatalf("save a search: %d", st)
	}
	a.stop()

	// Everything the node kept on its disk goes; its root of trust stays.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	creds := a.creds
	creds.CAFile = filepath.Join(dir2, "tls", "ca.pem") // written again from the CA in the database
	b := startClusterNode(t, Config{DataDir: dir2, Root: nodeseal.File(rootFile), Storage: sharedStorage(t, dbURL)}, creds)
	if b.node.FirstRun() {
		t.Fatal("the node made another admin application on an empty data directory")
	}
	mgmt = b.adminToken(mgmtScope)
	var again struct {
		Properties struct{ CustomerID string }
	}
	if st := b.call("GET", b.mgmtURL("Microsoft.OperationalInsights/workspaces/pgws"), mgmt, nil, &again); st != 200 || again.Properties.CustomerID != customerID {
		t.Fatalf("the workspace after the restart: %d %+v, want customer ID %s", st, again, customerID)
	}
	var keysAgain struct{ PrimarySharedKey string }
	if st := b.call("POST", b.mgmtURL("Microsoft.OperationalInsights/workspaces/pgws/sharedKeys"), mgmt, nil, &keysAgain); st != 200 || keysAgain.PrimarySharedKey != sharedKey {
		t.Fatalf("the shared key after the restart: %d, same: %v", st, keysAgain.PrimarySharedKey == sharedKey)
	}
	var saved struct {
		Properties struct{ Query string }
	}
	if st := b.call("GET", b.mgmtURL("Microsoft.OperationalInsights/workspaces/pgws/savedSearches/canary"), mgmt, nil, &saved); st != 200 ||
		saved.Properties.Query != search["properties"].(map[string]any)["query"] {
		t.Fatalf("the saved search after the restart: %d %q", st, saved.Properties.Query)
	}
	// The rows were on the lost disk (the log store keeps them there yet):
	// the table is refused as damaged, never answered as empty.
	var refused struct{ Error struct{ Code string } }
	if st := b.call("POST", b.creds.Endpoint+"/v1/workspaces/"+customerID+"/query", b.adminToken("https://api.loganalytics.io/.default"),
		map[string]any{"query": "Canary_CL | count"}, &refused); st != 409 || refused.Error.Code != "DataIntegrityError" {
		t.Fatalf("a query of the table whose files were lost: %d %s, want 409 DataIntegrityError", st, refused.Error.Code)
	}
	b.stop()

	dump := pgtest.Dump(t, dbURL)
	if !bytes.Contains(dump, []byte("sealwatch_kv")) || !bytes.Contains(dump, []byte(hex.EncodeToString([]byte("pgws")))) {
		t.Fatal("pg_dump holds neither the table nor the workspace's name: the search below would find nothing anyway")
	}
	rootKey, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, err := base64.StdEncoding.DecodeString(sharedKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range holding(dump, withLeakForms(map[string][]byte{
		"the canary": []byte(canary), "the workspace's shared key": keyBytes,
		"the admin's client secret": []byte(a.creds.ClientSecret), "the root key file": rootKey,
	})) {
		t.Errorf("pg_dump holds %s", form)
	}
}

// TestAWorkspaceCreatedThroughOneNodeIsSeenThroughTheOthers runs three
// nodes on one PostgreSQL database: a workspace created through node 1 is
// served by nodes 2 and 3, with the token node 1 issued; a saved search
// made through node 2 is read through node 3; the workspace deleted
// through node 3 is gone on nodes 1 and 2.
func TestAWorkspaceCreatedThroughOneNodeIsSeenThroughTheOthers(t *testing.T) {
	nodes := startCluster(t, pgtest.New(t), nil, filepath.Join(t.TempDir(), "root.key"), 3)
	mgmt := nodes[0].adminToken(mgmtScope)
	ws := "Microsoft.OperationalInsights/workspaces/sharedws"
	var created struct {
		Properties struct{ CustomerID string }
	}
	if st := nodes[0].call("PUT", nodes[0].mgmtURL(ws), mgmt, map[string]any{"location": "local"}, &created); st != 201 {
		t.Fatalf("create the workspace through node 1: %d", st)
	}
	for i, n := range nodes[1:] {
		var got struct {
			Properties struct{ CustomerID string }
		}
		if st := n.call("GET", n.mgmtURL(ws), mgmt, nil, &got); st != 200 || got.Properties.CustomerID != created.Properties.CustomerID {
			t.Fatalf("node %d: %d %+v, want customer ID %s", i+2, st, got, created.Properties.CustomerID)
		}
	}

	query := "SecurityEvent | take 1"
	search := map[string]any{"properties": map[string]any{"category": "hunting", "displayName": "one", "query": query}}
	if st := nodes[1].call("PUT", nodes[1].mgmtURL(ws+"/savedSearches/one"), mgmt, search, nil); st != 200 {
		t.Fatalf("save a search through node 2: %d", st)
	}
	var saved struct {
		Properties struct{ Query string }
	}
	if st := nodes[2].call("GET", nodes[2].mgmtURL(ws+"/savedSearches/one"), mgmt, nil, &saved); st != 200 || saved.Properties.Query != query {
		t.Fatalf("the saved search through node 3: %d %q", st, saved.Properties.Query)
	}

	if st := nodes[2].call("DELETE", nodes[2].mgmtURL(ws), mgmt, nil, nil); st != 200 {
		t.Fatalf("delete the workspace through node 3: %d", st)
	}
	for i, n := range nodes[:2] {
		if st := n.call("GET", n.mgmtURL(ws), mgmt, nil, nil); st != 404 {
			t.Fatalf("node %d still serves the deleted workspace: %d", i+1, st)
		}
	}
}

// TestRowsIngestedThroughOneNodeAreQueriedThroughTheOthersOnceFlushed runs
// three nodes on one PostgreSQL database and one bucket: rows ingested
// through node 1 are read through nodes 2 and 3 once node 1 has sealed them
// into segments (not before: they wait in its write-ahead log), rows of
// the same table ingested through node 2 join them; node 3, started again
// on an empty data directory, reads them all at once (the row it had not
// sealed is lost with its disk); and every object in the bucket, read
// whole, holds no canary (as text, hex or base64).
func TestRowsIngestedThroughOneNodeAreQueriedThroughTheOthersOnceFlushed(t *testing.T) {
	bucket := s3test.New(t)
	dbURL, rootFile := pgtest.New(t), filepath.Join(t.TempDir(), "root.key")
	nodes := startCluster(t, dbURL, &bucket, rootFile, 3)
	mgmt := nodes[0].adminToken(mgmtScope)
	ws := "Microsoft.OperationalInsights/workspaces/logsws"
	customerID, sharedKey := collectorWorkspace(t, nodes[0], "logsws")
	canary := "canary-rows-" + randomHex(t, 8)
	count := func(n *running) float64 {
		t.Helper()
		rows := n.queryRows(customerID, "Canary_CL | where Message_s startswith '"+canary+"' | count")
		if len(rows) != 1 {
			t.Fatalf("count: %v", rows)
		}
		return rows[0][0].(float64)
	}
	ingest := func(n *running, i int) {
		t.Helper()
		// Lengths differ: a Data Collector signature covers the length, not
		// the body, and two requests signed alike in one second are one.
		body := fmt.Sprintf(`[{"Message":"%s-%s"}]`, canary, strings.Repeat("x", i))
		if st, code := n.collectorPost(customerID, sharedKey, "Canary", []byte(body)); st != 200 {
			t.Fatalf("ingest through node %d: %d %s", i, st, code)
		}
	}
	flush := func(n *running, i int) {
		t.Helper()
		if st := n.call("POST", n.mgmtURL(ws+"/flush"), mgmt, nil, nil); st != 200 && st != 204 {
			t.Fatalf("flush through node %d: %d", i, st)
		}
	}
	want := func(counts ...float64) {
		t.Helper()
		for i, n := range nodes {
			if got := count(n); got != counts[i] {
				t.Fatalf("node %d counts %v rows, want %v", i+1, got, counts[i])
			}
		}
	}

	ingest(nodes[0], 1)
	if got := count(nodes[0]); got != 1 {
		t.Fatalf("node 1 counts %v of the rows it took, want 1", got)
	}
	flush(nodes[0], 1)
	want(1, 1, 1)
	ingest(nodes[1], 2)
	want(1, 2, 1) // node 2's row waits in its write-ahead log, which only node 2 reads
	flush(nodes[1], 2)
	want(2, 2, 2)

	// Node 3 loses its disk with a row not yet sealed: started again on an
	// empty data directory, it reads every sealed row at once, under a
	// lineage of its own; the unsealed row went with the disk.
	ingest(nodes[2], 3)
	want(2, 2, 3)
	nodes[2].stop()
	if err := os.RemoveAll(nodes[2].dir); err != nil {
		t.Fatal(err)
	}
	storage := sharedStorage(t, dbURL)
	var err error
	if storage.Objects, err = s3store.New(context.Background(), bucket.StoreConfig()); err != nil {
		t.Fatal(err)
	}
	creds := nodes[0].creds
	creds.CAFile = filepath.Join(nodes[2].dir, "tls", "ca.pem")
	nodes[2] = startClusterNode(t, Config{DataDir: nodes[2].dir, Root: nodeseal.File(rootFile), Storage: storage}, creds)
	want(2, 2, 2)

	store, err := s3store.New(context.Background(), bucket.StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	objects, err := store.List(context.Background(), "")
	if err != nil || len(objects) == 0 {
		t.Fatalf("the bucket holds %d objects (%v), want the nodes' segments and manifests", len(objects), err)
	}
	for _, e := range objects {
		o, err := store.Open(context.Background(), e.Key)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, o.Size())
		if _, err := o.ReadAt(body, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		o.Close()
		forms := leakForms("the canary", []byte(canary))
		for _, form := range append(holding(body, forms), holding([]byte(e.Key), forms)...) {
			t.Errorf("object %s holds %s", e.Key, form)
		}
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}
