// Package pgtest runs a real PostgreSQL for tests: one server per test
// binary, from Debian's binaries, in a temporary directory, on 127.0.0.1
// only, and a fresh database for each test. scripts/test.sh installs
// Debian's postgresql and exports its binaries' directory in
// SEALWATCH_TEST_POSTGRES_BIN; without it, the newest
// /usr/lib/postgresql/*/bin is used, and a test finding neither fails,
// naming the script.
//
// A package using it runs its tests through Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/freeport"
	"github.com/sealwatch/sealwatch/internal/testproc"
)

// EnvBin names the environment variable holding the directory of
// PostgreSQL's server binaries (initdb, postgres, pg_dump).
const EnvBin = "SEALWATCH_TEST_POSTGRES_BIN"

// EnvDurable, set to any value, starts the server durable, as in
// production (fsync and synchronous commit on), for benchmarks whose
// commits must wait for the disk; tests run without.
const EnvDurable = "SEALWATCH_TEST_POSTGRES_DURABLE"

// debianBins is where Debian's postgresql packages put each major
// version's binaries.
const debianBins = "/usr/lib/postgresql/*/bin"

// startTimeout bounds initdb plus the server's start; stopTimeout its
// shutdown before it is killed.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// The one server of the test binary, started by the first New.
var (
	mu      sync.Mutex
	inMain  bool
	shared  *server
	failed  error
	dbCount atomic.Int64
)

// Main runs the tests and stops the server, if one was started; its result
// is the exit code for os.Exit. m is a *testing.M, or a Run that runs
// one inside another helper's Main (s3test.Main) for a package that needs
// both servers.
func Main(m interface{ Run() int }) int {
	mu.Lock()
	inMain = true
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared = nil
	}
	return code
}

// New creates a fresh database on the test binary's server, starting the
// server on first use, and returns its URL (password included); the
// database is dropped when the test ends.
func New(t testing.TB) string {
	t.Helper()
	s := get(t)
	name := fmt.Sprintf("test_%d", dbCount.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v%s", name, err, s.logTail())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		// FORCE ends sessions a failed test left open.
		if _, err := s.admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// Dump returns pg_dump's plain-text dump of the database at url: everything
// the database holds, as an operator's backup would. bytea columns come out
// in hex (\x...), so a search of the dump for bytes must look for their
// hex as well.
func Dump(t testing.TB, dbURL string) []byte {
	t.Helper()
	s := get(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: parse the database URL: %v", err)
	}
	// The password goes by the environment, not the command line that
	// every user of the machine can read.
	env := os.Environ()
	if password, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+password)
		u.User = url.User(u.User.Username())
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(s.bin, "pg_dump"), "--no-owner", "--dbname", u.String())
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgtest: pg_dump: %v: %s", err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TerminateBackends ends every session connected to the database at url,
// as a crash of their server processes would: the clients' next round trip
// fails.
func TerminateBackends(t testing.TB, dbURL string) {
	t.Helper()
	s := get(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: parse the database URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_, err = s.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatalf("pgtest: terminate the sessions: %v", err)
	}
}

// Unreachable makes the database at url refuse connections and ends the
// sessions it has, as a database that went down would look to its clients,
// until the function it returns is called (or the test ends).
func Unreachable(t testing.TB, dbURL string) (restore func()) {
	t.Helper()
	s := get(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: parse the database URL: %v", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	allow := func(on bool) error {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		_, err := s.admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", name, on))
		return err
	}
	if err := allow(false); err != nil {
		t.Fatalf("pgtest: refuse connections: %v", err)
	}
	TerminateBackends(t, dbURL)
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := allow(true); err != nil {
			t.Errorf("pgtest: take connections again: %v", err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// get returns the running server, starting it if need be.
func get(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		t.Fatal("pgtest: the package's TestMain must run its tests through pgtest.Main, which stops the server")
	}
	if shared == nil && failed == nil {
		shared, failed = start()
	}
	if failed != nil {
		t.Fatalf("pgtest: %v", failed)
	}
	select {
	case <-shared.exited:
		t.Fatalf("pgtest: the PostgreSQL server exited during the tests: %v%s", shared.cmd.ProcessState, shared.logTail())
	default:
	}
	return shared
}

// server is a running postgres and what it takes to reach and remove it.
type server struct {
	bin      string // directory of the binaries
	dir      string // temporary directory: data, log
	port     int
	password string
	cmd      *exec.Cmd
	exited   <-chan struct{} // closed when the process has ended (cmd.ProcessState then says how)
	admin    *pgxpool.Pool
}

// start initializes a cluster in a new temporary directory and runs its
// server until stop.
func start() (s *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sealwatch-pgtest-")
	if err != nil {
		return nil, err
	}
	s = &server{bin: bin, dir: dir, password: randomHex()}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, s.logTail())
			s.stop()
		}
	}()
	cred, err := unprivileged()
	if err != nil {
		return s, err
	}
	if err := s.prepareDir(cred); err != nil {
		return s, err
	}
	if err := s.initdb(cred); err != nil {
		return s, err
	}
	if err := s.run(cred); err != nil {
		return s, err
	}
	return s, s.awaitReady()
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	if dir := os.Getenv(EnvBin); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("%s=%s holds no initdb (%v): run the tests with scripts/test.sh, which installs Debian's postgresql and sets it", EnvBin, dir, err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob(filepath.Join(debianBins, "initdb"))
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL server: %s is not set and there is no %s/initdb: run the tests with scripts/test.sh, which installs Debian's postgresql", EnvBin, debianBins)
	}
	// The newest major version: /usr/lib/postgresql/<major>/bin/initdb.
	major := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	newest := slices.MaxFunc(dirs, func(a, b string) int { return major(a) - major(b) })
	return filepath.Dir(newest), nil
}

// unprivileged returns the credential to run initdb and postgres with,
// which refuse to run as root: nobody's when the tests run as root, nil
// (the tests' own) otherwise.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("the tests run as root, and PostgreSQL refuses root, but there is no user nobody to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user nobody's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user nobody's gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// prepareDir lets the server's user into the temporary directory and gives
// it the data directory.
func (s *server) prepareDir(cred *syscall.Credential) error {
	if err := os.Mkdir(s.dataDir(), 0o700); err != nil {
		return err
	}
	if cred == nil {
		return nil
	}
	// MkdirTemp's 0700 would keep nobody out of its own data directory;
	// passing through is all it needs, not listing the directory.
	if err := os.Chmod(s.dir, 0o711); err != nil {
		return err
	}
	return os.Chown(s.dataDir(), int(cred.Uid), int(cred.Gid))
}

func (s *server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// initdb creates the cluster with one superuser, postgres, whose password
// the URLs carry: the tests connect over TCP with a password, as a node
// does.
func (s *server) initdb(cred *syscall.Credential) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "initdb"), "--pgdata", s.dataDir(),
		"--username", "postgres", "--pwfile", pwfile, "--auth", "scram-sha-256",
		"--encoding", "UTF8", "--locale", "C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// run starts postgres in the foreground, killed by the kernel should the
// test binary die first, so a crashed test leaves no server behind.
func (s *server) run(cred *syscall.Credential) error {
	port, err := freeport.Get()
	if err != nil {
		return err
	}
	s.port = port
	// The log may quote rows (a failed statement's detail): the tests'
	// alone, even when the server runs as nobody, as it writes through
	// the descriptor it is given.
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"-D", s.dataDir(),
		"-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200"}
	if os.Getenv(EnvDurable) == "" {
		// Durability across a machine crash is not what the tests test.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes
	// its backends down with it.
	if s.exited, err = testproc.Start(s.cmd, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return nil
}

// awaitReady polls a connection until the server accepts one, it exits, or
// startTimeout passes, then opens the administrative pool.
func (s *server) awaitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			conn.Close(ctx)
			break
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited on start: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("postgres accepted no connection within %s", startTimeout)
		case <-tick.C:
		}
	}
	admin, err := pgxpool.New(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	s.admin = admin
	return nil
}

// url is the URL of database name, as the postgres superuser.
func (s *server) url(name string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", s.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + name,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// stop shuts the server down (fast, then killed if it lingers) and removes
// its directory.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	var errs []error
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGINT is PostgreSQL's fast shutdown: sessions are ended.
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			errs = append(errs, fmt.Errorf("postgres did not stop within %s and was killed", stopTimeout))
		}
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

// logTail returns the end of the server's log, for a failure's message.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil || len(b) == 0 {
		return ""
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "\npostgres log:\n" + string(b)
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
