package logstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

// cluster is nodes sharing one control plane (ledger), one object store and
// the account keys, each with a disk (WALs, cache) of its own.
type cluster struct {
	ledger  *MemLedger
	objects objstore.Store
	keys    *envelopetest.Keys
}

func (c cluster) node(t *testing.T, lineage string, mod ...func(*Config)) *Store {
	t.Helper()
	return newTestStore(t, t.TempDir(), c.keys, append([]func(*Config){func(cfg *Config) {
		cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage = c.ledger, c.objects, t.TempDir(), lineage
	}}, mod...)...)
}

func sharedDirectory(t testing.TB) objstore.Store {
	t.Helper()
	s, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTwoNodesIngestOneTableAndEachQueriesBoth runs on a directory both
// nodes share and on an S3-compatible bucket.
func TestTwoNodesIngestOneTableAndEachQueriesBoth(t *testing.T) {
	t.Run("shared directory", func(t *testing.T) { twoNodesQueryBoth(t, sharedDirectory(t)) })
	t.Run("bucket", func(t *testing.T) { twoNodesQueryBoth(t, s3test.NewStore(t)) })
}

func twoNodesQueryBoth(t *testing.T, objects objstore.Store) {
	c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
	a, b := c.node(t, "node-a"), c.node(t, "node-b")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 50, testNow.Add(-time.Hour)))
	mustIngest(t, b, ws, tbl, eventsBody(t, 50, 50, testNow))
	// Before a flush, a node's rows are its own: the other does not see them.
	wantScanned(t, a, 50, "node a before any flush")
	for _, st := range []*Store{a, b} {
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i, st := range []*Store{a, b} {
		got, err := scanAll(st, ScanRequest{Workspace: ws, Table: tbl})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		rows := rowsOf(got)
		if len(rows) != 100 || len(slices.Compact(slices.Clone(rows))) != 100 {
			t.Fatalf("node %d sees %d rows (%d distinct); want each of the 100 once", i, len(rows), len(slices.Compact(slices.Clone(rows))))
		}
		if want == nil {
			want = rows
		}
		equalRows(t, rows, want)
		schema, err := st.Schema(context.Background(), ws, tbl)
		if err != nil || !slices.ContainsFunc(schema, func(c ColumnSchema) bool { return c.Name == "TargetLogonGuid" }) {
			t.Fatalf("node %d's schema: %v, %v", i, schema, err)
		}
	}
	// b publishes again: a reads b's new manifest.
	mustIngest(t, b, ws, tbl, eventsBody(t, 100, 10, testNow))
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantScanned(t, a, 110, "node a after b's second flush")
	if tables, err := a.Tables(context.Background(), ws); err != nil || !slices.Equal(tables, []string{tbl}) {
		t.Fatalf("node a's tables: %v, %v", tables, err)
	}

	// A segment of b's lost: a node reading it names it by b's lineage.
	entries, err := objects.List(context.Background(), lineagePrefix(ws, tbl, "node-b"))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e objstore.Entry) bool { return strings.HasSuffix(e.Key, segExt) })
	if err := objects.Delete(context.Background(), entries[i].Key); err != nil {
		t.Fatal(err)
	}
	_, err = scanAll(c.node(t, "node-c"), ScanRequest{Workspace: ws, Table: tbl})
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Problem != ProblemMissing || ie.Object != strings.TrimPrefix(entries[i].Key, tablePrefix(ws, tbl)) {
		t.Fatalf("a scan missing one of b's segments: %v; want it missing, named node-b/<segment>", err)
	}
}

// TestALineagesManifestRolledBackOrSubstitutedIsFound: whoever reads a
// lineage, its owner after a restart or another node, finds its manifest
// replaced by an older one of its own, or by another lineage's.
func TestALineagesManifestRolledBackOrSubstitutedIsFound(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, objects objstore.Store, older, bsCurrent, asCurrent string)
		problem Problem
	}{
		{"rolled back", func(t *testing.T, objects objstore.Store, older, bsCurrent, _ string) {
			putObject(t, objects, bsCurrent, readObject(t, objects, older))
		}, ProblemRolledBack},
		{"substituted by the other lineage's", func(t *testing.T, objects objstore.Store, _, bsCurrent, asCurrent string) {
			putObject(t, objects, bsCurrent, readObject(t, objects, asCurrent))
		}, ProblemAuthentication},
		{"deleted", func(t *testing.T, objects objstore.Store, _, bsCurrent, _ string) {
			if err := objects.Delete(context.Background(), bsCurrent); err != nil {
				t.Fatal(err)
			}
		}, ProblemMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objects := sharedDirectory(t)
			c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
			a, b := c.node(t, "node-a"), c.node(t, "node-b")
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 20, testNow))
			mustIngest(t, b, ws, tbl, eventsBody(t, 20, 20, testNow))
			for _, st := range []*Store{a, b} {
				if err := st.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			ptrs, _ := c.ledger.Lineages(context.Background(), ws, tbl)
			older := readObject(t, objects, manifestKey(ws, tbl, "node-b", ptrs["node-b"].Epoch))
			mustIngest(t, b, ws, tbl, eventsBody(t, 40, 20, testNow))
			if err := b.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			b.Close()
			ptrs, _ = c.ledger.Lineages(context.Background(), ws, tbl)
			olderKey := manifestKey(ws, tbl, "node-b", ptrs["node-b"].Epoch-1)
			putObject(t, objects, olderKey, older) // an old copy the attacker kept
			bsCurrent := manifestKey(ws, tbl, "node-b", ptrs["node-b"].Epoch)
			asCurrent := manifestKey(ws, tbl, "node-a", ptrs["node-a"].Epoch)
			tc.damage(t, objects, olderKey, bsCurrent, asCurrent)

			object := manifestName("node-b", ptrs["node-b"].Epoch)
			_, err := scanAll(a, ScanRequest{Workspace: ws, Table: tbl})
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Object != object || ie.Problem != tc.problem {
				t.Fatalf("node a's scan: %v; want %s of %s", err, tc.problem, object)
			}
			b = c.node(t, "node-b") // b restarted
			_, err = scanAll(b, ScanRequest{Workspace: ws, Table: tbl})
			if !errors.As(err, &ie) || ie.Object != object || ie.Problem != tc.problem {
				t.Fatalf("node b's scan after a restart: %v; want %s of %s", err, tc.problem, object)
			}
		})
	}
}

// TestTwoWritersOfOneLineageCannotBothPublish: a second process that took
// the same lineage (a node started twice) publishes; the first's next
// publication finds the pointer moved and fails, rather than overwrite.
func TestTwoWritersOfOneLineageCannotBothPublish(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	first := c.node(t, "node-a")
	mustIngest(t, first, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := first.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := c.node(t, "node-a")
	mustIngest(t, second, ws, tbl, eventsBody(t, 10, 10, testNow))
	if err := second.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Its next manifest is written when its next WAL starts, or flushed.
	_, err := first.Ingest(context.Background(), ws, tbl, eventsBody(t, 20, 10, testNow))
	if err == nil {
		err = first.Flush(context.Background())
	}
	if !errors.Is(err, ErrLineageConflict) {
		t.Fatalf("the first writer's ingest and flush after the second published: %v; want ErrLineageConflict", err)
	}
}

func TestALineageMustBeNamedWellAndNeedsALineageLedger(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lineage string
		ledger  Ledger
	}{
		{"upper case", "Node-A", &MemLedger{}},
		{"a slash", "node/a", &MemLedger{}},
		{"a leading digit", "1node", &MemLedger{}},
		{"the manifest's name", "manifest", &MemLedger{}},
		{"a ledger without lineages", "node-a", plainLedger{&MemLedger{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Dir: t.TempDir(), Keys: envelopetest.New("aek"), Lineage: tc.lineage, Ledger: tc.ledger})
			if err == nil {
				t.Fatal("New took it")
			}
		})
	}
}

// plainLedger is a Ledger that keeps no lineages.
type plainLedger struct{ Ledger }

// TestAMergedLineagesRetiredSegmentsStayForTheGrace: a node merges its
// lineage while another node's scan, which read the lineage's manifest
// before, has yet to read the segments; they stay until the grace is over,
// and then go.
func TestAMergedLineagesRetiredSegmentsStayForTheGrace(t *testing.T) {
	objects := sharedDirectory(t)
	c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func(cfg *Config) {
		cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
		cfg.BlockRows, cfg.RetiredGrace = 64, time.Hour
	}
	a, b := c.node(t, "node-a", clock), c.node(t, "node-b", clock)
	smallSegments(t, a, 4, 50)
	before, err := b.Scan(context.Background(), ScanRequest{Workspace: ws, Table: compactTable})
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if n, err := a.Compact(context.Background(), ws, compactTable); err != nil || n < 2 {
		t.Fatalf("merge: %d segments, %v", n, err)
	}
	rows := 0
	for before.Next() {
		rows += before.Batch().Len
	}
	if before.Err() != nil || rows != 200 {
		t.Fatalf("a scan begun before the merge read %d rows, %v; want 200", rows, before.Err())
	}
	if got, err := scanAll(b, ScanRequest{Workspace: ws, Table: compactTable}); err != nil || countRows(got) != 200 {
		t.Fatalf("a scan after the merge: %d rows, %v", countRows(got), err)
	}

	segments := func() int {
		entries, err := objects.List(context.Background(), lineagePrefix(ws, compactTable, "node-a"))
		if err != nil {
			t.Fatal(err)
		}
		return len(slices.DeleteFunc(entries, func(e objstore.Entry) bool { return !strings.HasSuffix(e.Key, segExt) }))
	}
	tb, _ := a.table(ws, compactTable)
	kept := segments()
	tb.removeRetired()
	if segments() != kept || len(tb.merge.retired) == 0 {
		t.Fatal("retired segments were removed within the grace")
	}
	now.Add(int64(time.Hour))
	tb.removeRetired()
	if got := segments(); got >= kept || len(tb.merge.retired) != 0 {
		t.Fatalf("%d segments after the grace, %d before; %d still retired", got, kept, len(tb.merge.retired))
	}
	if got, err := scanAll(b, ScanRequest{Workspace: ws, Table: compactTable}); err != nil || countRows(got) != 200 {
		t.Fatalf("a scan after the retired segments went: %d rows, %v", countRows(got), err)
	}
}

// TestVerifyOnOneNodeCoversEveryLineage: a node that never wrote the table
// verifies it: it reads every lineage's manifest and segments, and names a
// flipped byte in another node's segment by that node's lineage.
func TestVerifyOnOneNodeCoversEveryLineage(t *testing.T) {
	objects := sharedDirectory(t)
	c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
	a, b, verifier := c.node(t, "node-a"), c.node(t, "node-b"), c.node(t, "node-c")
	for i, st := range []*Store{a, b} {
		mustIngest(t, st, ws, tbl, eventsBody(t, i*20, 20, testNow))
		if err := st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verifier.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 0 || rep.Tables != 1 || rep.Objects < 4 || rep.Bytes == 0 {
		t.Fatalf("verify: %+v, %v; want both lineages' manifests and segments read, no damage", rep, err)
	}
	entries, err := objects.List(context.Background(), lineagePrefix(ws, tbl, "node-a"))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e objstore.Entry) bool { return strings.HasSuffix(e.Key, segExt) })
	seg := readObject(t, objects, entries[i].Key)
	seg[len(seg)/2] ^= 1
	putObject(t, objects, entries[i].Key, seg)
	rep, err = verifier.Verify(context.Background(), ws, nil)
	if err != nil || len(rep.Damaged) != 1 || rep.Damaged[0].Object != strings.TrimPrefix(entries[i].Key, tablePrefix(ws, tbl)) {
		t.Fatalf("verify after a byte of node-a's segment flipped: %+v, %v; want that segment named", rep.Damaged, err)
	}
}

// unreachableFor is an object store that does not answer for the keys
// cut selects, as a bucket whose network fails.
type unreachableFor struct {
	objstore.Store
	cut func(key string) bool
}

func (u unreachableFor) Open(ctx context.Context, key string) (objstore.Object, error) {
	if u.cut(key) {
		return nil, fmt.Errorf("open %s: %w", key, objstore.ErrUnreachable)
	}
	return u.Store.Open(ctx, key)
}

// TestAnotherLineageTheObjectStoreDoesNotServeIsNamedNotLeftOut: a node's
// scan that cannot read another node's manifest or segment fails with a
// LineageUnreachableError naming that lineage, rather than answering
// without its rows.
func TestAnotherLineageTheObjectStoreDoesNotServeIsNamedNotLeftOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object string // of node-a's keys, the ones that fail
	}{{"manifest", "/node-a/manifest-"}, {"segment", segExt}} {
		t.Run(tc.name, func(t *testing.T) {
			objects := sharedDirectory(t)
			c := cluster{ledger: &MemLedger{}, objects: objects, keys: envelopetest.New("aek")}
			a := c.node(t, "node-a")
			mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
			if err := a.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			cut := unreachableFor{Store: objects, cut: func(key string) bool {
				return strings.Contains(key, "/node-a/") && strings.Contains(key, tc.object)
			}}
			reader := newTestStore(t, t.TempDir(), c.keys, func(cfg *Config) {
				cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage = c.ledger, cut, t.TempDir(), "node-b"
			})
			_, err := scanAll(reader, ScanRequest{Workspace: ws, Table: tbl})
			var lu *LineageUnreachableError
			if !errors.As(err, &lu) || lu.Lineage != "node-a" || !errors.Is(err, objstore.ErrUnreachable) {
				t.Fatalf("a scan that cannot read node-a's %s: %v; want a LineageUnreachableError naming node-a", tc.name, err)
			}
		})
	}
}

// racingLedger is a reader's ledger whose Lineages, while race is set,
// lets another node publish right after the pointers are read: the
// manifest a pointer names is gone by the time the reader reads it.
type racingLedger struct {
	*MemLedger
	race func()
}

func (l *racingLedger) Lineages(ctx context.Context, ws, table string) (map[string]Pointer, error) {
	ptrs, err := l.MemLedger.Lineages(ctx, ws, table)
	if l.race != nil {
		l.race()
	}
	return ptrs, err
}

// TestAManifestReplacedAtEveryReadOfItsPointerIsNotDamage: node a
// publishes after each of the reader's first reads of the pointers (a busy
// node flushing, or compacting, during a query). A manifest gone whose
// pointer has moved on is a read to do again, never damage: the reader
// counts every row and notes none.
func TestAManifestReplacedAtEveryReadOfItsPointerIsNotDamage(t *testing.T) {
	c := cluster{ledger: &MemLedger{}, objects: sharedDirectory(t), keys: envelopetest.New("aek")}
	a := c.node(t, "node-a")
	mustIngest(t, a, ws, tbl, eventsBody(t, 0, 10, testNow))
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	racing := &racingLedger{MemLedger: c.ledger}
	reader := newTestStore(t, t.TempDir(), c.keys, func(cfg *Config) {
		cfg.Ledger, cfg.Objects, cfg.CacheDir, cfg.Lineage = racing, c.objects, t.TempDir(), "node-r"
	})
	rows, races := 10, 0
	racing.race = func() {
		if races == 3 {
			return
		}
		races++
		mustIngest(t, a, ws, tbl, eventsBody(t, rows, 1, testNow))
		if err := a.Flush(context.Background()); err != nil {
			t.Error(err)
		}
		rows++
	}
	got, err := scanAll(reader, ScanRequest{Workspace: ws, Table: tbl})
	racing.race = nil
	if err != nil {
		t.Fatalf("a query while a publishes at each read of the pointers: %v", err)
	}
	if n := countRows(got); n < 10 {
		t.Fatalf("%d rows; want every row a had published before the query", n)
	}
	if d := reader.Damage(); len(d) > 0 {
		t.Fatalf("a manifest replaced meanwhile is noted as damage: %v", d)
	}
}
