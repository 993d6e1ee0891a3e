package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

// adoptAwait bounds the waits on the lineage loop, which runs five times a
// lease of three seconds here.
const adoptAwait = 30 * time.Second

// TestADeadNodesLineageIsAdoptedAndADeletedWorkspaceClosedOnEveryNode runs
// three nodes on one PostgreSQL database and one bucket, with a lineage
// lease of three seconds. Node 3 seals rows and stops; once its lease has run
// out one of the others adopts its lineage, and every node counts every row
// exactly once all along; started again, node 3 goes on under a new
// lineage, into which it re-ingests the row it had acknowledged and not
// sealed. Then the workspace, with rows waiting in node 2's write-ahead
// log, is deleted through node 1: nodes 2 and 3 close their stores and
// remove their files, and nothing of the workspace is left in the bucket.
func TestADeadNodesLineageIsAdoptedAndADeletedWorkspaceClosedOnEveryNode(t *testing.T) {
	bucket := s3test.New(t)
	dbURL, rootFile := pgtest.New(t), filepath.Join(t.TempDir(), "root.key")
	var nodes []*running
	for i := range 3 {
		storage := sharedStorage(t, dbURL)
		objects, err := s3store.New(context.Background(), bucket.StoreConfig())
		if err != nil {
			t.Fatal(err)
		}
		storage.Objects = objects
		cfg := Config{DataDir: t.TempDir(), Root: nodeseal.File(rootFile), Storage: storage, LineageLease: 3 * time.Second}
		creds := Credentials{}
		if i > 0 {
			creds = nodes[0].creds
		}
		nodes = append(nodes, startClusterNode(t, cfg, creds))
	}
	control := sharedStorage(t, dbURL).Control
	mgmt := nodes[0].adminToken(mgmtScope)
	ws := "Microsoft.OperationalInsights/workspaces/adoptws"
	customerID, sharedKey := collectorWorkspace(t, nodes[0], "adoptws")
	canary := "canary-adopt-" + randomHex(t, 8)
	ingest := func(n *running, i int) {
		t.Helper()
		body := fmt.Sprintf(`[{"Message":"%s-%s"}]`, canary, strings.Repeat("x", i))
		if st, code := n.collectorPost(customerID, sharedKey, "Canary", []byte(body)); st != 200 {
			t.Fatalf("ingest: %d %s", st, code)
		}
	}
	flush := func(n *running) {
		t.Helper()
		if st := n.call("POST", n.mgmtURL(ws+"/flush"), mgmt, nil, nil); st != 200 && st != 204 {
			t.Fatalf("flush: %d", st)
		}
	}
	stopped := map[int]bool{}
	everyNodeCounts := func(want float64, when string) {
		t.Helper()
		for i, n := range nodes {
			if stopped[i] {
				continue
			}
			rows := n.queryRows(customerID, "Canary_CL | where Message_s startswith '"+canary+"' | summarize n = count(), d = dcount(Message_s)")
			if len(rows) != 1 || rows[0][0].(float64) != want || rows[0][1].(float64) != want {
				t.Fatalf("%s: node %d counts %v; want %v rows, each once", when, i+1, rows, want)
			}
		}
	}
	for i, n := range nodes {
		ingest(n, i+1)
		flush(n)
	}
	everyNodeCounts(3, "before node 3 stops")
	ingest(nodes[2], 4) // acknowledged, never sealed: on node 3's disk alone
	dead := nodes[2].node.data.Lineage()
	nodes[2].stop()
	stopped[2] = true

	waitFor(t, adoptAwait, "adoption of node 3's lineage", func() bool {
		everyNodeCounts(3, "while node 3's lineage is adopted")
		var lease struct{ Adopter string }
		err := control.View(context.Background(), func(tx kv.Tx) error {
			if b := tx.Bucket([]byte("logstore-lineages")); b != nil {
				if v := b.Get([]byte(dead)); v != nil {
					return json.Unmarshal(v, &lease)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return lease.Adopter != "" && retired(t, control, customerID, dead)
	})
	everyNodeCounts(3, "after the adoption")

	// Node 3 comes back on its disk: its lineage is another's now, so it
	// goes on under a new one, and counts every row once too.
	storage := sharedStorage(t, dbURL)
	objects, err := s3store.New(context.Background(), bucket.StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	storage.Objects = objects
	creds := nodes[0].creds
	creds.CAFile = filepath.Join(nodes[2].dir, "tls", "ca.pem")
	nodes[2] = startClusterNode(t, Config{DataDir: nodes[2].dir, Root: nodeseal.File(rootFile), Storage: storage, LineageLease: 3 * time.Second}, creds)
	stopped[2] = false
	if l := nodes[2].node.data.Lineage(); l == dead || l == "" {
		t.Fatalf("node 3 started again under lineage %q; want a new one, not %q", l, dead)
	}
	if _, err := os.Stat(filepath.Join(nodes[2].dir, "logs", ".fenced-"+dead)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("node 3's logs of its adopted lineage are still aside once it started: %v", err)
	}
	ingest(nodes[2], 5)
	flush(nodes[2])
	everyNodeCounts(5, "after node 3 came back under a new lineage with the row it had not sealed")

	// Deleted through node 1 while node 2 holds rows in its write-ahead log.
	ingest(nodes[1], 6)
	wsDir := filepath.Join(nodes[1].dir, "logs", customerID)
	if _, err := os.Stat(wsDir); err != nil {
		t.Fatalf("node 2's directory of the workspace: %v", err)
	}
	if st := nodes[0].call("DELETE", nodes[0].mgmtURL(ws), mgmt, nil, nil); st != 200 && st != 204 {
		t.Fatalf("delete the workspace: %d", st)
	}
	waitFor(t, adoptAwait, "nodes 2 and 3 closing the deleted workspace's store", func() bool {
		for _, n := range nodes[1:] {
			if _, err := os.Stat(filepath.Join(n.dir, "logs", customerID)); !errors.Is(err, fs.ErrNotExist) {
				return false
			}
		}
		return true
	})
	store, err := s3store.New(context.Background(), bucket.StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	if left, err := store.List(context.Background(), customerID+"/"); err != nil || len(left) != 0 {
		t.Fatalf("the bucket holds %d objects of the deleted workspace (%v)", len(left), err)
	}
}

// retired reports whether every pointer of lineage l in workspace ws is
// retired (56 bytes: absorbed by another lineage).
func retired(t *testing.T, db kv.DB, ws, l string) bool {
	t.Helper()
	found, all := 0, true
	err := db.View(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket([]byte("logstore-ledger"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if strings.HasPrefix(string(k), ws+"/") && strings.HasSuffix(string(k), "/"+l) {
				found++
				all = all && len(v) == 56
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return found > 0 && all
}
