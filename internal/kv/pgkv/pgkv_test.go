package pgkv_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/kvtest"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
	"github.com/sealwatch/sealwatch/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// connect opens a pool on url, as one node would, closed when the test ends.
func connect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgkv.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func open(t testing.TB, pool *pgxpool.Pool, name string) *pgkv.DB {
	t.Helper()
	db, err := pgkv.Open(context.Background(), pool, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB {
		return open(t, connect(t, pgtest.New(t)), "control")
	})
}

func TestTwoNodesShareOneDatabase(t *testing.T) {
	url := pgtest.New(t)
	// Two pools, as two nodes hold, on the one database.
	a, b := open(t, connect(t, url), "control"), open(t, connect(t, url), "control")
	ctx := context.Background()
	err := a.Update(ctx, func(tx kv.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("shared"))
		if err != nil {
			return err
		}
		return bk.Put([]byte("k"), []byte("from a"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.View(ctx, func(tx kv.Tx) error {
		if bk := tx.Bucket([]byte("shared")); bk == nil || string(bk.Get([]byte("k"))) != "from a" {
			t.Error("node b does not read what node a committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("writers serialize across nodes", func(t *testing.T) { kvtest.Serialize(t, a, b) })
	t.Run("a reader on one node keeps its snapshot while the other commits", func(t *testing.T) { kvtest.Snapshot(t, a, b) })
	t.Run("a key is claimed once across nodes", func(t *testing.T) { kvtest.Claims(t, a, b) })
}

// TestClaimsDoNotWaitForTheWriter: claims are written beside the writer's
// lock, so a node's claims go on while another node's Update holds it.
func TestClaimsDoNotWaitForTheWriter(t *testing.T) {
	url := pgtest.New(t)
	a, b := open(t, connect(t, url), "control"), open(t, connect(t, url), "control")
	release := holdWriter(t, a)
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set, keys := []byte("taken"), [][]byte{[]byte("k")}
	if got, err := b.Claim(wctx, set, keys); err != nil || !got[0] {
		t.Errorf("a claim while another node's Update holds the writer's lock = %v, %v; want it claimed", got, err)
	}
	if err := b.Unclaim(wctx, set, keys, []byte("z")); err != nil {
		t.Errorf("an unclaim while another node's Update holds the writer's lock: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

// holdWriter begins an Update on db that holds its namespace's writer's
// lock until release is called, which returns the Update's outcome.
func holdWriter(t *testing.T, db *pgkv.DB) (release func() error) {
	t.Helper()
	holding, proceed := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.Update(context.Background(), func(kv.Tx) error {
			close(holding)
			<-proceed
			return nil
		})
	}()
	<-holding
	return func() error {
		close(proceed)
		return <-held
	}
}

func TestNamespacesAreApart(t *testing.T) {
	pool := connect(t, pgtest.New(t))
	identity, vault := open(t, pool, "identity"), open(t, pool, "vault")
	ctx := context.Background()
	for _, db := range []*pgkv.DB{identity, vault} {
		err := db.Update(ctx, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("same name"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte(fmt.Sprintf("%p", db)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := vault.Update(ctx, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("same name")) }); err != nil {
		t.Fatal(err)
	}
	err := identity.View(ctx, func(tx kv.Tx) error {
		if b := tx.Bucket([]byte("same name")); b == nil || string(b.Get([]byte("k"))) != fmt.Sprintf("%p", identity) {
			t.Error("deleting a bucket in one namespace touched another's of the same name")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A writer in one namespace does not wait for another's.
	release := holdWriter(t, identity)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := vault.Update(wctx, func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("b"))
		return err
	}); err != nil {
		t.Errorf("an Update in vault while one in identity is open: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

func TestCursorFollowsWritesOfItsOwnTransaction(t *testing.T) {
	db := open(t, connect(t, pgtest.New(t)), "documents")
	ctx := context.Background()
	key := func(i int) []byte { return fmt.Appendf(nil, "key%05d", i) }
	err := db.Update(ctx, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("docs"))
		if err != nil {
			return err
		}
		for i := range 600 {
			if err := b.Put(key(i), []byte("old")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("docs"))
		c := b.Cursor()
		seen := map[string]string{}
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seen[string(k)] = string(v)
			if bytes.Equal(k, key(100)) {
				// Ahead of the cursor, within the page it fetched, and behind it.
				for _, err := range []error{
					b.Put(append(key(150), 'x'), []byte("added ahead")),
					b.Delete(key(200)),
					b.Put(key(300), []byte("changed ahead")),
					b.Put(append(key(50), 'x'), []byte("added behind")),
				} {
					if err != nil {
						return err
					}
				}
			}
		}
		for k, want := range map[string]string{
			string(append(key(150), 'x')): "added ahead",
			string(key(300)):              "changed ahead",
			string(key(599)):              "old",
		} {
			if got := seen[k]; got != want {
				t.Errorf("the cursor read %s as %q, want %q", k, got, want)
			}
		}
		for _, k := range [][]byte{key(200), append(key(50), 'x')} {
			if v, ok := seen[string(k)]; ok {
				t.Errorf("the cursor read %s (%q): deleted, or added behind it", k, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServerFailureMidTransactionIsAnErrorNeverAMissingKey(t *testing.T) {
	url := pgtest.New(t)
	db := open(t, connect(t, url), "control")
	ctx := context.Background()
	// More keys before k than a bucket's lookup brings (headKeys), so
	// that the reads of k after the failure are statements of their own.
	put := func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 10 {
			if err := b.Put(fmt.Appendf(nil, "a%d", i), []byte("v")); err != nil {
				return err
			}
		}
		return b.Put([]byte("k"), []byte("v"))
	}
	if err := db.Update(ctx, put); err != nil {
		t.Fatal(err)
	}

	t.Run("a read in View", func(t *testing.T) {
		var before, after []byte
		err := db.View(ctx, func(tx kv.Tx) error {
			b := tx.Bucket([]byte("b"))
			before = b.Get([]byte("k"))
			pgtest.TerminateBackends(t, url)
			after = b.Get([]byte("k"))
			if k, _ := b.Cursor().First(); k != nil {
				t.Errorf("a cursor after the failure found %q", k)
			}
			if n := b.KeyN(); n != 0 {
				t.Errorf("KeyN after the failure counted %d keys", n)
			}
			return nil // as code that took nil for absent would
		})
		if string(before) != "v" || after != nil {
			t.Fatalf("reads before and after the failure: %q, %q", before, after)
		}
		if !errors.Is(err, kv.ErrUnavailable) {
			t.Fatalf("View whose read failed: %v; want kv.ErrUnavailable, not nil, which the caller would take for the key absent", err)
		}
	})
	t.Run("a bucket looked up after the failure", func(t *testing.T) {
		err := db.View(ctx, func(tx kv.Tx) error {
			pgtest.TerminateBackends(t, url)
			b := tx.Bucket([]byte("b"))
			if b == nil {
				t.Fatal("a bucket looked up after the failure is nil: code relying on it panics")
			}
			if v := b.Get([]byte("k")); v != nil {
				t.Errorf("Get after the failure: %q", v)
			}
			return b.ForEach(func(k, _ []byte) error {
				t.Errorf("ForEach after the failure found %q", k)
				return nil
			})
		})
		if err == nil {
			t.Fatal("View whose lookup failed returned nil")
		}
	})
	t.Run("a write in Update", func(t *testing.T) {
		var putErr error
		err := db.Update(ctx, func(tx kv.Tx) error {
			b := tx.Bucket([]byte("b"))
			if err := b.Put([]byte("k"), []byte("written before")); err != nil {
				return err
			}
			pgtest.TerminateBackends(t, url)
			putErr = b.Put([]byte("k2"), []byte("v2"))
			return nil
		})
		if putErr == nil || !errors.Is(err, kv.ErrUnavailable) {
			t.Fatalf("a Put after the failure: %v; Update: %v; want errors, the Update's kv.ErrUnavailable", putErr, err)
		}
	})
	t.Run("a database refusing connections", func(t *testing.T) {
		restore := pgtest.Unreachable(t, url)
		defer restore()
		err := db.View(ctx, func(tx kv.Tx) error {
			tx.Bucket([]byte("b")).Get([]byte("k"))
			return nil
		})
		if !errors.Is(err, kv.ErrUnavailable) {
			t.Fatalf("View: %v; want kv.ErrUnavailable", err)
		}
	})
	t.Run("the database afterwards", func(t *testing.T) {
		// pgx closed the connection that failed: the next transaction
		// takes a new one.
		err := db.View(ctx, func(tx kv.Tx) error {
			if got := string(tx.Bucket([]byte("b")).Get([]byte("k"))); got != "v" {
				t.Errorf("after the failed Update, k = %q, want v", got)
			}
			if tx.Bucket([]byte("b")).Get([]byte("k2")) != nil {
				t.Error("the failed Update's write was committed")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestErrorsNeverHoldThePassword(t *testing.T) {
	url := pgtest.New(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	wrong := *u
	wrong.User = neturl.UserPassword("postgres", "wrong-"+password)
	closedPort := *u
	closedPort.Host = "127.0.0.1:1"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for name, dbURL := range map[string]string{
		"a port that does not parse": strings.Replace(url, u.Port(), "notaport", 1),
		// A '/' ends the URL's authority early: url.Parse then reads the
		// password's start as the port.
		"a password holding a '/' unescaped": strings.Replace(url, ":"+password+"@", ":"+password+"/x@", 1),
		"a password holding a bad escape":    strings.Replace(url, ":"+password+"@", ":"+password+"%zz@", 1),
		"an unknown sslmode":                 strings.Replace(url, "sslmode=disable", "sslmode=bogus", 1),
		"a password the server refuses":      wrong.String(),
		"nothing listening":                  closedPort.String(),
	} {
		t.Run(name, func(t *testing.T) {
			pool, err := pgkv.Connect(ctx, dbURL)
			if err == nil {
				pool.Close()
				t.Fatal("Connect succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error holds the password: %v", err)
			}
			t.Logf("%v", err)
		})
	}
	t.Run("a transaction whose server ended it", func(t *testing.T) {
		db := open(t, connect(t, url), "control")
		err := db.Update(ctx, func(tx kv.Tx) error {
			pgtest.TerminateBackends(t, url)
			_, err := tx.CreateBucketIfNotExists([]byte("b"))
			return err
		})
		if err == nil || strings.Contains(err.Error(), password) {
			t.Fatalf("Update: %v", err)
		}
	})
}

func TestNodesOpeningTogetherCreateTheTableOnce(t *testing.T) {
	url := pgtest.New(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for range nodes {
		pool := connect(t, url)
		go func() {
			db, err := pgkv.Open(context.Background(), pool, "control")
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCloseWaitsForTransactionsThenRefusesThem(t *testing.T) {
	db := open(t, connect(t, pgtest.New(t)), "control")
	ctx := context.Background()
	running, finish := make(chan struct{}), make(chan struct{})
	viewDone := make(chan error, 1)
	go func() {
		viewDone <- db.View(ctx, func(kv.Tx) error {
			close(running)
			<-finish
			return nil
		})
	}()
	<-running
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a View was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(finish)
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(kv.Tx) error { return nil }); !errors.Is(err, pgkv.ErrClosed) {
		t.Fatalf("Update after Close: %v, want ErrClosed", err)
	}
}

func TestWaitingWritersLeaveConnectionsForAViewInsideAnUpdate(t *testing.T) {
	// Two connections: were each waiting writer to hold one, the writer
	// holding the lock would find none for its View.
	db := open(t, connect(t, pgtest.New(t)+"&pool_max_conns=2"), "control")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers = 4
	errs := make(chan error, writers)
	for range writers {
		go func() {
			errs <- db.Update(ctx, func(tx kv.Tx) error {
				if _, err := tx.CreateBucketIfNotExists([]byte("b")); err != nil {
					return err
				}
				return db.View(ctx, func(tx kv.Tx) error { return nil })
			})
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestPostgreSQLHoldsTheBytesGivenAndNoOthers(t *testing.T) {
	url := pgtest.New(t)
	db := open(t, connect(t, url), "vault")
	value := []byte("sealed-looking \x00\xff bytes 7f3a")
	err := db.Update(context.Background(), func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("secrets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("key-0042"), value)
	})
	if err != nil {
		t.Fatal(err)
	}
	dump := pgtest.Dump(t, url)
	for what, b := range map[string][]byte{"the value": value, "the key": []byte("key-0042"), "the bucket name": []byte("secrets")} {
		if !bytes.Contains(dump, []byte(hex.EncodeToString(b))) {
			t.Errorf("the dump lacks %s as given (hex %x)", what, b)
		}
	}
	// One row for the bucket, one for the key: nothing else is stored.
	var rows int
	if err := connect(t, url).QueryRow(context.Background(), "SELECT count(*) FROM sealwatch_kv").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("%d rows for one bucket and one key, want 2", rows)
	}
}

// TestAWriterThatHangsHoldingTheLockIsEndedByTheServer: a node that froze
// or lost power inside an Update leaves its connection open, as far as the
// server knows, for hours (until TCP keepalive gives up on it); the server
// must end the idle transaction, releasing the writer's lock, so that
// other nodes' writers go on.
func TestAWriterThatHangsHoldingTheLockIsEndedByTheServer(t *testing.T) {
	url := pgtest.New(t)
	hung, other := open(t, connect(t, url), "control"), open(t, connect(t, url), "control")
	pgkv.SetIdleTimeout(hung, time.Second)
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	hungDone := make(chan error, 1)
	go func() {
		hungDone <- hung.Update(ctx, func(tx kv.Tx) error {
			if _, err := tx.CreateBucketIfNotExists([]byte("hung")); err != nil {
				return err
			}
			close(holding)
			<-release // frozen, its session idle in the transaction
			_, err := tx.CreateBucketIfNotExists([]byte("after"))
			return err
		})
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	<-holding
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := other.Update(wctx, func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("other"))
		return err
	})
	if err != nil {
		t.Fatalf("an Update on another node while one hangs holding the lock: %v", err)
	}
	close(release)
	if err := <-hungDone; err == nil {
		t.Fatal("the hung Update committed after the server ended its transaction")
	}
	err = other.View(ctx, func(tx kv.Tx) error {
		if tx.Bucket([]byte("hung")) != nil || tx.Bucket([]byte("after")) != nil {
			t.Error("the hung Update's writes were committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadsCostTheirRoundTrips counts what reads send PostgreSQL: a View is
// its BEGIN sent with its first statement, one statement per bucket, key or
// page of keys that the bucket's lookup did not bring, and its COMMIT. The
// lookup brings a small bucket whole (up to 8 keys, of 1 KiB each at most),
// and skips that read for a while in a bucket it found larger; a page that
// ends where its bucket ends takes no round trip more to find nothing past
// it; Last reads one key.
func TestReadsCostTheirRoundTrips(t *testing.T) {
	var sent pgkvtest.Statements
	db := pgkvtest.OpenAllCounted(t, pgtest.New(t), &sent, "control")[0]
	ctx := context.Background()
	err := db.Update(ctx, func(tx kv.Tx) error {
		for _, bk := range []struct {
			name string
			keys int
			size int
		}{{"five", 5, 1}, {"ten", 10, 1}, {"three hundred", 300, 1}} {
			b, err := tx.CreateBucketIfNotExists([]byte(bk.name))
			if err != nil {
				return err
			}
			for i := range bk.keys {
				if err := b.Put(fmt.Appendf(nil, "key%03d", i), make([]byte, bk.size)); err != nil {
					return err
				}
			}
		}
		large, err := tx.CreateBucketIfNotExists([]byte("a large value"))
		if err != nil {
			return err
		}
		for i, size := range []int{1, 2 << 10, 1} {
			if err := large.Put(fmt.Appendf(nil, "key%03d", i), make([]byte, size)); err != nil {
				return err
			}
		}
		parent, err := tx.CreateBucketIfNotExists([]byte("parent"))
		if err != nil {
			return err
		}
		child, err := parent.CreateBucketIfNotExists([]byte("child"))
		if err != nil {
			return err
		}
		return child.Put([]byte("key000"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	found := func(k []byte) int {
		if k == nil {
			return 0
		}
		return 1
	}
	get := func(key string) func(kv.Bucket) int {
		return func(b kv.Bucket) int { return found(b.Get([]byte(key))) }
	}
	forward := func(b kv.Bucket) (n int) {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return n
	}
	backward := func(b kv.Bucket) (n int) {
		c := b.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			n++
		}
		return n
	}
	for _, tc := range []struct {
		name   string
		bucket string
		read   func(kv.Bucket) int
		keys   int
		trips  int64
	}{
		{"a key of a small bucket", "five", get("key001"), 1, 2},
		{"a key a small bucket lacks", "five", get("key009"), 0, 2},
		{"a small bucket, first to last", "five", forward, 5, 2},
		{"a small bucket, last to first", "five", backward, 5, 2},
		{"a key in a nested bucket", "parent", func(b kv.Bucket) int { return get("key000")(b.Bucket([]byte("child"))) }, 1, 3},
		{"a key among a larger bucket's first", "ten", get("key001"), 1, 2},
		{"the same key, the bucket now known to be larger", "ten", get("key001"), 1, 3},
		{"a key past a larger bucket's first", "ten", get("key009"), 1, 3},
		{"the last key of a larger bucket", "ten", func(b kv.Bucket) int { k, _ := b.Cursor().Last(); return found(k) }, 1, 3},
		{"ten keys, first to last", "ten", forward, 10, 3},
		{"ten keys, last to first", "ten", backward, 10, 4},
		{"300 keys, first to last: two pages", "three hundred", forward, 300, 4},
		{"a key before a value over 1 KiB", "a large value", get("key000"), 1, 2},
		{"the key of a value over 1 KiB", "a large value", get("key001"), 1, 3},
		{"a key after a value over 1 KiB", "a large value", get("key002"), 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := sent.Read()
			var keys int
			if err := db.View(ctx, func(tx kv.Tx) error { keys = tc.read(tx.Bucket([]byte(tc.bucket))); return nil }); err != nil {
				t.Fatal(err)
			}
			if keys != tc.keys {
				t.Fatalf("read %d keys, want %d", keys, tc.keys)
			}
			if trips := sent.Read().Trips - from.Trips; trips != tc.trips {
				t.Errorf("%d round trips, want %d", trips, tc.trips)
			}
		})
	}
}
