package node

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogFlushBytesSealsSegmentsWhileServing: with a 64 KiB flush size, rows
// reach sealed segments while the node serves, long before the default
// 32 MiB or ten minutes.
func TestLogFlushBytesSealsSegmentsWhileServing(t *testing.T) {
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), LogFlushBytes: 64 << 10})
	immutableID, tok := cs.dcr()
	rows := make([]map[string]any, 100)
	for i := range rows {
		rows[i] = map[string]any{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": strings.Repeat("x", 400)}
	}
	// About 45 KiB a call: the third call finds the log over 64 KiB and
	// starts a new one, and the full one is sealed in the background.
	for range 3 {
		if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
			t.Fatalf("ingest: %d %s", st, code)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for segments(t, cs.dir) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no segment 30 s after the write-ahead log passed its flush size")
		}
		<-tick.C // the flush runs in the node's background; its files are all there is to watch
	}
}

// segments counts the sealed segment files under dir.
func segments(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
