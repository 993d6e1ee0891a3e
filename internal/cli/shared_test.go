package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// TestServeRefusesBadStorageFlagsWithoutTheirSecrets runs serve with bad
// --postgres and --object-store flags: each is a usage error that says
// what to do, before anything is opened or connected, and never repeats
// the password or secret key the flag carried. up takes neither flag.
func TestServeRefusesBadStorageFlagsWithoutTheirSecrets(t *testing.T) {
	const secret = "Qx9-flag-s3cret"
	config := t.TempDir()
	data := filepath.Join(config, "d")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a password in the URL's query", []string{"serve", "--postgres", "postgres://sealwatch@db/sealwatch?password=" + secret},
			"--postgres: the PostgreSQL URL carries password: flags show in the process list, so give the password in PGPASSWORD or a passfile"},
		{"a URL that does not parse", []string{"serve", "--postgres", "postgres://sealwatch:" + secret + "@db:port/sealwatch"},
			"--postgres: the PostgreSQL URL does not parse"},
		{"no database", []string{"serve", "--postgres", "postgres://sealwatch:" + secret + "@db"}, "names no database"},
		{"an object store without PostgreSQL", []string{"serve", "--object-store", "file:///srv/objects"}, "--object-store needs --postgres"},
		{"credentials in the object store URL", []string{"serve", "--postgres", "postgres://sealwatch@db/sealwatch",
			"--object-store", "s3://AKID:" + secret + "@bucket?endpoint=https://s3.example.com&region=r"},
			"--object-store: the object store URL holds credentials"},
		{"a shared WAL without PostgreSQL", []string{"serve", "--shared-wal", "--object-store", "file:///srv/objects"}, "--shared-wal needs --postgres"},
		{"a shared WAL without an object store", []string{"serve", "--shared-wal", "--postgres", "postgres://sealwatch:" + secret + "@db/sealwatch"},
			"--shared-wal needs --postgres, which keeps it, and --object-store"},
		{"up is embedded", []string{"up", "--postgres", "postgres://sealwatch@db/sealwatch"}, "unknown flag: --postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, config, append(tc.args, "--data", data)...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, secret) {
				t.Errorf("the output repeats the secret:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestServeRunsOnPostgreSQL starts serve on a real PostgreSQL, its password
// from PGPASSWORD, and an object store in a directory: it says which
// database it keeps its databases in, where the password came from and
// where its objects and write-ahead log go, serves, and stops on its context; the output never
// holds the password.
func TestServeRunsOnPostgreSQL(t *testing.T) {
	u, err := url.Parse(pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	t.Setenv("PGPASSWORD", password)
	objects := filepath.Join(t.TempDir(), "objects")

	var stderr bytes.Buffer
	stdout := &awaitWriter{want: "is running", seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--postgres", u.String(), "--object-store", "file://" + objects, "--shared-wal", "--data", filepath.Join(t.TempDir(), "d"),
			"--addr", "127.0.0.1:0", "--public-url", "https://sealwatch.localhost:8443"}, testEnv(t.TempDir(), stdout, &stderr))
	}()
	select {
	case <-stdout.seen:
	case code := <-done:
		t.Fatalf("serve exited %d before serving:\n%s%s", code, stdout.String(), stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not start in 2 minutes:\n%s", stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
	want := fmt.Sprintf("Databases: the PostgreSQL database %s at %s as postgres (password from PGPASSWORD, sslmode disable", strings.TrimPrefix(u.Path, "/"), u.Host)
	for _, want := range []string{want, "Object store: objects in the directory " + objects, "Write-ahead log: shared, in the PostgreSQL database."} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), password) {
		t.Errorf("the output holds the password")
	}
}

// awaitWriter is serve's output, closing seen once it holds want.
type awaitWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *awaitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *awaitWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
