package logstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// onBucket keeps a store's segments and manifests in bucket, with a cache
// of its own, empty: a node whose cache is cold.
func onBucket(t testing.TB, bucket objstore.Store) func(*Config) {
	return func(c *Config) { c.Objects, c.CacheDir = bucket, t.TempDir() }
}

// readObject reads a whole object of the bucket.
func readObject(t testing.TB, bucket objstore.Store, key string) []byte {
	t.Helper()
	o, err := bucket.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.NewSectionReader(o, 0, o.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putObject(t testing.TB, bucket objstore.Store, key string, b []byte) {
	t.Helper()
	if err := bucket.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// bucketSegments are the keys of the table's segments in the bucket, older
// first (names start with the first row's time).
func bucketSegments(t testing.TB, bucket objstore.Store) []string {
	t.Helper()
	entries, err := bucket.List(context.Background(), tablePrefix(ws, tbl))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		if strings.HasSuffix(e.Key, segExt) {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// TestObjectStorageDamageIsFoundByANodeReadingTheBucket: the integrity
// checks hold when segments and manifests are in an S3-compatible bucket.
// Each case damages the bucket while the node is down and opens the table
// again with a cold cache, so the damaged object is what is read.
func TestObjectStorageDamageIsFoundByANodeReadingTheBucket(t *testing.T) {
	mkey := manifestKey(ws, tbl, "", 0)
	cases := []struct {
		name    string
		damage  func(t *testing.T, bucket objstore.Store, old, recent string, oldManifest []byte)
		object  string // "": the older segment
		problem Problem
	}{
		{"segment deleted", func(t *testing.T, bucket objstore.Store, old, _ string, _ []byte) {
			if err := bucket.Delete(context.Background(), old); err != nil {
				t.Fatal(err)
			}
		}, "", ProblemMissing},
		{"segment truncated", func(t *testing.T, bucket objstore.Store, old, _ string, _ []byte) {
			b := readObject(t, bucket, old)
			putObject(t, bucket, old, b[:len(b)/2])
		}, "", ProblemTruncated},
		{"segment header byte flipped", func(t *testing.T, bucket objstore.Store, old, _ string, _ []byte) {
			b := readObject(t, bucket, old)
			b[9] ^= 0x40 // inside the salt
			putObject(t, bucket, old, b)
		}, "", ProblemAuthentication},
		{"segment substituted by the other one", func(t *testing.T, bucket objstore.Store, old, recent string, _ []byte) {
			putObject(t, bucket, old, readObject(t, bucket, recent))
		}, "", ""},
		{"manifest rolled back", func(t *testing.T, bucket objstore.Store, _, _ string, oldManifest []byte) {
			putObject(t, bucket, mkey, oldManifest)
		}, manifestFile, ProblemRolledBack},
		{"manifest deleted", func(t *testing.T, bucket objstore.Store, _, _ string, _ []byte) {
			if err := bucket.Delete(context.Background(), mkey); err != nil {
				t.Fatal(err)
			}
		}, manifestFile, ProblemMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, keys, bucket, ledger := t.TempDir(), envelopetest.New("aek"), s3test.NewStore(t), &MemLedger{}
			st := newTestStore(t, dir, keys, onBucket(t, bucket), func(c *Config) { c.Ledger = ledger })
			mustIngest(t, st, ws, tbl, eventsBody(t, 0, 50, testNow.Add(-time.Hour)))
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			oldManifest := readObject(t, bucket, mkey)
			mustIngest(t, st, ws, tbl, eventsBody(t, 50, 50, testNow))
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			st.Close()
			segs := bucketSegments(t, bucket)
			if len(segs) != 2 {
				t.Fatalf("%d segments in the bucket, want 2", len(segs))
			}
			c.damage(t, bucket, segs[0], segs[1], oldManifest)

			st = newTestStore(t, dir, keys, onBucket(t, bucket), func(c *Config) { c.Ledger = ledger })
			_, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
			object := c.object
			if object == "" {
				object = segs[0][len(tablePrefix(ws, tbl)):]
			}
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Object != object || (c.problem != "" && ie.Problem != c.problem) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("whole-table scan: %v; want %q of %s", err, c.problem, object)
			}
			if c.object != "" {
				return // the table as a whole is damaged
			}
			if got, err := scanAll(st, lastHalfHour); err != nil || countRows(got) != 50 {
				t.Fatalf("scan of the undamaged hour: %d rows, %v; want 50", countRows(got), err)
			}
		})
	}
}

// TestVerifyReadsTheBucketNotTheCache: a segment substituted in the bucket
// after this node cached it is still served from the cache, the bytes this
// node wrote, but a verification reads the bucket and finds it.
func TestVerifyReadsTheBucketNotTheCache(t *testing.T) {
	keys, bucket := envelopetest.New("aek"), s3test.NewStore(t)
	st := newTestStore(t, t.TempDir(), keys, onBucket(t, bucket))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 50, testNow.Add(-time.Hour)))
	mustIngest(t, st, ws, tbl, eventsBody(t, 50, 50, testNow))
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := bucketSegments(t, bucket)
	if len(segs) != 2 {
		t.Fatalf("%d segments in the bucket, want 2", len(segs))
	}
	putObject(t, bucket, segs[0], readObject(t, bucket, segs[1]))
	wantScanned(t, st, 100, "scan from the cache")
	rep, err := st.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != segs[0][len(tablePrefix(ws, tbl)):] {
		t.Fatalf("verify: %+v, %v; want the substituted segment", rep, err)
	}
}

// TestNothingInTheBucketHoldsRowsOrKeys: after ingest and flush into a
// bucket, no object there holds the canary in any form, nor the account
// key's bytes.
func TestNothingInTheBucketHoldsRowsOrKeys(t *testing.T) {
	canary := "CANARY-" + rand.Text()
	body := canaryRows(t, canary, 200)
	keys, bucket := envelopetest.New("aek"), s3test.NewStore(t)
	st := newTestStore(t, t.TempDir(), keys, onBucket(t, bucket), func(c *Config) { c.BlockRows = 64 })
	mustIngest(t, st, ws, tbl, body)
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(context.Background(), ws, tbl); err != nil {
		t.Fatal(err)
	}
	forms := append(leakForms(t, canary, body), keys.Material()...)
	entries, err := bucket.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var segs, manifests int
	for _, e := range entries {
		data := readObject(t, bucket, e.Key)
		for i, f := range forms {
			if bytes.Contains(data, f) {
				t.Fatalf("%s holds leak form %d (%q)", e.Key, i, f)
			}
		}
		switch {
		case strings.HasSuffix(e.Key, segExt):
			segs++
		case strings.HasSuffix(e.Key, "/"+manifestFile):
			manifests++
		}
		if strings.Contains(e.Key, canary) {
			t.Fatalf("key %s holds the canary", e.Key)
		}
	}
	if segs == 0 || manifests != 1 {
		t.Fatalf("the bucket holds %d segments and %d manifests: %v", segs, manifests, entries)
	}
}
