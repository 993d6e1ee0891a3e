package boltkv

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// leafPages appends n records, 100 to a transaction as the audit
// log does, to a fresh bucket and returns how many leaf pages hold them.
func leafPages(t *testing.T, appendOnly bool, n int) int {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "kv.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	value := bytes.Repeat([]byte{'v'}, 300)
	for start := 0; start < n; start += 100 {
		err := db.Update(ctx, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("log"))
			if err != nil {
				return err
			}
			if appendOnly {
				b.(kv.Appender).AppendOnly()
			}
			for seq := start; seq < start+100; seq++ {
				if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(seq)), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	return tx.Bucket([]byte("log")).Stats().LeafPageN
}

func TestAppendOnlyPacksPagesFuller(t *testing.T) {
	const n = 5000
	half, packed := leafPages(t, false, n), leafPages(t, true, n)
	// Half-full pages after splits take nearly twice the pages of packed ones.
	t.Logf("%d leaf pages without AppendOnly, %d with it", half, packed)
	if packed*3 > half*2 {
		t.Errorf("AppendOnly: %d leaf pages for %d records, without it %d; want at most two thirds", packed, n, half)
	}
}
