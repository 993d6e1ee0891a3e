package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/logstore/pgwal"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// sharedWALNode starts a node as `serve --postgres --object-store
// --shared-wal` runs it: the object store a directory every node mounts,
// the lineage lease short, so that a dead node's lineage is adopted soon.
func sharedWALNode(t *testing.T, dbURL, objectsDir, rootFile, dir string, creds Credentials) *running {
	t.Helper()
	storage := sharedStorage(t, dbURL)
	objects, err := localfs.New(objectsDir)
	if err != nil {
		t.Fatal(err)
	}
	storage.Objects = objects
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	wal, err := pgwal.Open(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wal.Close() }) // after the node's own cleanup, which runs first
	storage.WAL = wal
	return startClusterNode(t, Config{DataDir: dir, Root: nodeseal.File(rootFile), Storage: storage, LineageLease: 3 * time.Second}, creds)
}

// TestSharedWALRowsAreReadBeforeAFlushAndOutliveANodesDisk: with the shared
// WAL, rows taken through node a are read through node b before a flushes,
// and pg_dump, which holds them, holds none of their text;
// a is killed and its data directory deleted, and every row it
// acknowledged is read, once, through b and through a node started on a
// new disk, and after a's lineage is adopted PostgreSQL holds none of its
// records; with PostgreSQL unreachable, an ingest is refused (503) and
// none of it is acknowledged.
func TestSharedWALRowsAreReadBeforeAFlushAndOutliveANodesDisk(t *testing.T) {
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	objectsDir := t.TempDir()
	dirA := t.TempDir()
	a := sharedWALNode(t, dbURL, objectsDir, rootFile, dirA, Credentials{})
	b := sharedWALNode(t, dbURL, objectsDir, rootFile, t.TempDir(), a.creds)
	id, sharedKey := collectorWorkspace(t, a, "walws")
	canary := "canary-wal-" + randomHex(t, 8)
	sent := 0
	send := func(n *running, i int) (int, string) {
		sent++ // a signature covers the length and the second: each request differs in length
		body := fmt.Sprintf(`[{"Message":"%s-%d"},{"Message":"%s-%d"}]`, canary, 2*i, canary, 2*i+1) + strings.Repeat(" ", sent)
		return n.collectorPost(id, sharedKey, "Canary", []byte(body))
	}
	query := "Canary_CL | where Message_s startswith '" + canary + "' | summarize Rows = count(), Distinct = dcount(Message_s)"
	count := func(n *running, what string, want float64) {
		t.Helper()
		rows := n.queryRows(id, query)
		if len(rows) != 1 || rows[0][0] != want || rows[0][1] != want {
			t.Fatalf("%s: %v; want %v rows, each once", what, rows, want)
		}
	}
	// counted asks through n with a token got beforehand, and reports
	// whether it answered with want rows, each once.
	counted := func(n *running, token string, want float64) bool {
		var out struct{ Tables []struct{ Rows [][]any } }
		st := n.call("POST", n.creds.Endpoint+"/v1/workspaces/"+id+"/query", token, map[string]string{"query": query}, &out)
		return st == 200 && len(out.Tables) == 1 && len(out.Tables[0].Rows) == 1 &&
			out.Tables[0].Rows[0][0] == want && out.Tables[0].Rows[0][1] == want
	}
	for i := range 5 {
		if st, code := send(a, i); st != 200 {
			t.Fatalf("ingest through node a: %d %s", st, code)
		}
	}
	count(b, "node b before node a flushed", 10)
	// The rows are in PostgreSQL now, sealed: pg_dump holds neither the
	// canary, as text or as the hex pg_dump writes bytea in, nor the
	// workspace's shared key.
	dump := pgtest.Dump(t, dbURL)
	if !bytes.Contains(dump, []byte("sealwatch_wal")) {
		t.Fatal("pg_dump holds no sealwatch_wal: the search below would find nothing anyway")
	}
	for what, needle := range map[string]string{"the canary": canary, "the shared key": sharedKey} {
		if bytes.Contains(dump, []byte(needle)) || bytes.Contains(dump, []byte(hex.EncodeToString([]byte(needle)))) {
			t.Fatalf("pg_dump holds %s", what)
		}
	}

	dead := a.node.data.Lineage()
	a.crash()
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}
	count(b, "node b once node a and its disk are gone", 10)
	creds := a.creds
	creds.CAFile = filepath.Join(b.dir, "tls", "ca.pem") // a's went with its disk
	c := sharedWALNode(t, dbURL, objectsDir, rootFile, t.TempDir(), creds)
	count(c, "a node started on a new disk", 10)

	// Once a's lease has run out, a live node adopts its lineage, sealing
	// first the rows PostgreSQL holds of it.
	control := sharedStorage(t, dbURL).Control
	waitFor(t, adoptAwait, "the adoption of node a's lineage", func() bool { return retired(t, control, id, dead) })
	count(b, "node b after node a's lineage was adopted", 10)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var left int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM sealwatch_wal WHERE lineage = $1", dead).Scan(&left); err != nil || left != 0 {
		t.Fatalf("sealwatch_wal holds %d records of node a's lineage after its adoption (%v); want none", left, err)
	}

	token := c.adminToken("https://api.loganalytics.io/.default")
	restore := pgtest.Unreachable(t, dbURL)
	st, code := send(b, 5)
	restore()
	if st != 503 || code != "ServiceUnavailable" {
		t.Fatalf("ingest with PostgreSQL unreachable: %d %s; want 503 ServiceUnavailable", st, code)
	}
	// Back, PostgreSQL has ended the nodes' sessions: each pool finds a
	// connection gone when it next uses it, and that call is refused (503)
	// with nothing done, as above.
	waitFor(t, 10*time.Second, "node b taking rows once PostgreSQL is back", func() bool {
		st, _ := send(b, 5)
		return st == 200
	})
	waitFor(t, 10*time.Second, "node c answering with every row once", func() bool { return counted(c, token, 12) })
}
