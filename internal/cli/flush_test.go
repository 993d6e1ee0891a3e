package cli

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// wals counts the write-ahead logs under the node's data directory.
func (n *testNode) wals() int {
	n.t.Helper()
	count := 0
	err := filepath.WalkDir(n.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".wal") {
			count++
		}
		return err
	})
	if err != nil {
		n.t.Fatal(err)
	}
	return count
}

// TestWorkspaceFlushSealsTheRowsAndNeedsAContributor: rows sent wait in a
// write-ahead log until workspace flush seals them, of one table or all;
// they read back the same; a Reader may not flush, a Contributor may.
func TestWorkspaceFlushSealsTheRowsAndNeedsAContributor(t *testing.T) {
	ds := setUpDataWithCLI(t)
	ds.must("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", writeRows(t, "rows.json", false, event("one", 1), event("two", 2)))
	const kql = "Events_CL | project Message, Count | order by Count asc"
	before := ds.must("query", "--workspace", "secops", kql)
	if ds.wals() == 0 {
		t.Fatal("no write-ahead log holds the rows sent")
	}
	if out := ds.must("workspace", "flush", "--name", "secops", "--table", "Events_CL"); !strings.Contains(out, "Sealed the rows of table Events_CL of workspace secops into segments") {
		t.Errorf("flush of a table:\n%s", out)
	}
	if n := ds.wals(); n != 0 {
		t.Fatalf("%d write-ahead logs left after the flush", n)
	}
	if after := ds.must("query", "--workspace", "secops", kql); after != before {
		t.Fatalf("rows after the flush:\n%s\nbefore:\n%s", after, before)
	}

	analyst, creds := ds.appCredentialsFile("analyst")
	ds.must("role", "assign", "--role", "Reader", "--object-id", analyst.ID, "--workspace", "secops")
	if r := ds.run("workspace", "flush", "--credentials", creds, "--name", "secops", "-g", "rg1"); r.code != exitError || !strings.Contains(r.stderr, "HTTP 403") {
		t.Errorf("flush as a Reader: exit %d\n%s", r.code, r.stderr)
	}
	ds.must("role", "assign", "--role", "Contributor", "--object-id", analyst.ID, "--workspace", "secops")
	if out := ds.must("workspace", "flush", "--credentials", creds, "--name", "secops", "-g", "rg1"); !strings.Contains(out, "Sealed the rows of the tables of workspace secops") {
		t.Errorf("flush as a Contributor:\n%s", out)
	}
}
