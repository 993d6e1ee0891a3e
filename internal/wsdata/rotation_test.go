package wsdata_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
)

// fill ingests about mb megabytes of ~700-byte events and flushes them.
func fill(t *testing.T, st *logstore.Store, mb int) {
	t.Helper()
	now := time.Now().UTC()
	for written := 0; written < mb<<20; {
		// Random messages, so that compression cannot make the data small.
		var batch []map[string]any
		for i := range 500 {
			msg := make([]byte, 300)
			rand.Read(msg)
			batch = append(batch, map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339Nano),
				"Computer": fmt.Sprintf("host-%d", i%50), "EventID": 4624 + i%5, "Message": hex.EncodeToString(msg)})
		}
		body, _ := json.Marshal(batch)
		written += len(body)
		if _, err := st.Ingest(context.Background(), "ws", "SecurityEvent", body); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return err
	})
	return n
}

func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRotationAndReplacementTouchNoDataAndCostTheSameOverAnyAmountOfIt
// ingests tens of megabytes under one key, rotates the key, then replaces it
// with another: the sealed files are byte for byte the same afterwards, the
// key service is asked exactly as often as over an empty store, and after
// warm-up ingesting costs no key-service call at all.
func TestRotationAndReplacementTouchNoDataAndCostTheSameOverAnyAmountOfIt(t *testing.T) {
	mb := 64
	if testing.Short() {
		mb = 8
	}
	calls := map[int]kektest.Calls{}
	for _, size := range []int{0, mb} {
		dir := t.TempDir()
		db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		kek := kektest.New("cmk")
		ring, err := keyring.Open(context.Background(), keyring.Config{DB: db, Cluster: "c1", Resource: "logs", KEK: kek})
		if err != nil {
			t.Fatal(err)
		}
		defer ring.Close()
		st, err := logstore.New(logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: ring})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()

		fill(t, st, 1) // warm-up: the account key is unwrapped and cached
		kek.ResetCalls()
		fill(t, st, size)
		if c := kek.Calls(); c.Total() != 0 {
			t.Fatalf("ingesting %d MB called the key service %d times; want 0", size, c.Total())
		}
		before := hashTree(t, filepath.Join(dir, "logs"))
		if stored := dirSize(t, filepath.Join(dir, "logs")); stored < int64(size)<<20/4 {
			t.Fatalf("only %d bytes stored for %d MB ingested", stored, size)
		}

		kek.Rotate()
		if _, err := ring.ProbeNow(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := ring.SetKEK(context.Background(), kektest.New("cmk-replacement"), ""); err != nil {
			t.Fatal(err)
		}
		calls[size] = kek.Calls()

		after := hashTree(t, filepath.Join(dir, "logs"))
		if len(after) != len(before) {
			t.Fatalf("%d files before, %d after", len(before), len(after))
		}
		for p, h := range before {
			if after[p] != h {
				t.Fatalf("%s changed during rotation", p)
			}
		}
		// Everything still reads, under the new key.
		sc, err := st.Scan(context.Background(), logstore.ScanRequest{Workspace: "ws", Table: "SecurityEvent", Columns: []string{"EventID"}})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for sc.Next() {
			rows += sc.Batch().Len
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		sc.Close()
		if rows == 0 {
			t.Fatal("no rows read back")
		}
	}
	if calls[0] != calls[mb] {
		t.Fatalf("key-service calls for rotation differ with data: empty %+v, %d MB %+v", calls[0], mb, calls[mb])
	}
}
