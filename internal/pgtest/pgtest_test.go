package pgtest_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sealwatch/sealwatch/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestEachTestGetsAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	if a == b {
		t.Fatalf("two calls gave one database: %s", a)
	}
	if _, err := connect(t, a).Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, b).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("a table made in one test's database is in another's")
	}
}

func TestServerListensOnLoopbackOnlyWithoutUnixSocket(t *testing.T) {
	conn := connect(t, pgtest.New(t))
	for setting, want := range map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": "",
	} {
		var got string
		if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
}

func TestDumpHoldsWhatTheDatabaseHolds(t *testing.T) {
	url := pgtest.New(t)
	if _, err := connect(t, url).Exec(context.Background(),
		"CREATE TABLE canary (v text); INSERT INTO canary VALUES ('tweety-pie-1729')"); err != nil {
		t.Fatal(err)
	}
	if dump := pgtest.Dump(t, url); !bytes.Contains(dump, []byte("tweety-pie-1729")) {
		t.Fatalf("the dump lacks the row written:\n%s", dump)
	}
}

func TestTerminateBackendsFailsTheSessionsNextRoundTrip(t *testing.T) {
	url := pgtest.New(t)
	conn := connect(t, url)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	pgtest.TerminateBackends(t, url)
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a terminated session still answered")
	}
	if _, err := connect(t, url).Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("a new session after the termination: %v", err)
	}
}
