// Package s3test runs a real S3-compatible server, SeaweedFS, for a test
// binary: started by the first New, stopped when the tests end (and killed
// with the test process if it dies first), every port it opens on
// 127.0.0.1, its data in a temporary directory, its telemetry off, and
// signature checks on with an access key and secret made for the run. Each
// test gets a bucket of its own.
//
// scripts/test.sh builds SeaweedFS and exports its path in
// SEALWATCH_TEST_SEAWEEDFS; a test without it fails, naming the script.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sealwatch/sealwatch/internal/freeport"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/testproc"
)

// EnvBinary names the environment variable holding the weed binary.
const EnvBinary = "SEALWATCH_TEST_SEAWEEDFS"

// Region is the signing region the tests use; SeaweedFS accepts any.
const Region = "us-east-1"

// startTimeout bounds the wait for the server to store its first object.
const startTimeout = 90 * time.Second

// Config is where a test's bucket is and the credentials that reach it.
type Config struct {
	Endpoint        string // http://127.0.0.1:port
	Region          string
	Bucket          string // created for the test, empty
	AccessKeyID     string
	SecretAccessKey string
}

// shared is the test binary's server: tests share it, each with its own
// bucket, because it takes seconds to start.
var shared struct {
	mu      sync.Mutex
	inMain  bool
	started bool
	srv     *server
	err     error
	buckets atomic.Int64
}

// Main runs the tests of a package that uses New and stops the server
// afterwards. Call it from TestMain: os.Exit(s3test.Main(m)); m may also be
// a Run that runs a *testing.M inside another helper's Main, for a package
// that needs both (see Runner).
func Main(m interface{ Run() int }) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.stop()
	}
	return code
}

// Runner is a Run function as Main takes it, for nesting one helper's Main
// in another's: os.Exit(pgtest.Main(s3test.Runner(func() int { return s3test.Main(m) }))).
type Runner func() int

// Run runs the function.
func (r Runner) Run() int { return r() }

// New starts the server if no test has yet, creates an empty bucket and
// returns where it is. It fails the test if SeaweedFS is missing or does not
// start: it never skips.
func New(t testing.TB) Config {
	t.Helper()
	srv, err := running()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("test-%d-%s", shared.buckets.Add(1), strings.ToLower(randomString(6)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s on SeaweedFS: %v", name, err)
	}
	return Config{Endpoint: srv.endpoint, Region: Region, Bucket: name, AccessKeyID: srv.accessKey, SecretAccessKey: srv.secret}
}

// StoreConfig is the bucket c as s3store opens it.
func (c Config) StoreConfig() s3store.Config {
	return s3store.Config{Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
}

// NewStore is New's bucket opened as a node opens its own.
func NewStore(t testing.TB) *s3store.Store {
	t.Helper()
	s, err := s3store.New(context.Background(), New(t).StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// running returns the shared server, starting it on the first call.
func running() (*server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		return nil, errors.New("s3test: the package's TestMain must run its tests through s3test.Main, which stops the server")
	}
	if !shared.started {
		shared.started = true
		shared.srv, shared.err = start()
	}
	return shared.srv, shared.err
}

type server struct {
	cmd       *exec.Cmd
	exited    <-chan struct{}
	dir       string
	logPath   string
	sockets   []string // the Unix sockets it makes in /tmp, whatever TMPDIR says
	endpoint  string
	accessKey string
	secret    string
	admin     *s3.Client
}

// ports are the listeners weed server opens: each on 127.0.0.1, each on a
// port chosen free.
var ports = []string{"master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc"}

func start() (_ *server, err error) {
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		return nil, fmt.Errorf("%s is not set: run the tests with scripts/test.sh, which builds SeaweedFS and sets it", EnvBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s=%s: %v: run scripts/test.sh, which builds SeaweedFS there", EnvBinary, bin, err)
	}
	dir, err := os.MkdirTemp("", "sealwatch-s3test-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, logPath: filepath.Join(dir, "weed.log"), accessKey: "AKST" + randomString(16), secret: randomString(40)}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	port, err := freeport.GetN(len(ports))
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	for i, name := range ports {
		byName[name] = port[i]
	}
	for _, svc := range []string{"master", "volume", "filer", "s3"} {
		s.sockets = append(s.sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", svc, byName[svc+".port.grpc"]))
	}
	s.endpoint = fmt.Sprintf("http://127.0.0.1:%d", byName["s3.port"])
	config := filepath.Join(dir, "s3.json")
	if err := writeIdentities(config, s.accessKey, s.secret); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "master.toml"), []byte(masterTOML), 0o600); err != nil {
		return nil, err
	}
	args := []string{"-config_dir=" + dir, "server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + data, "-volume.max=200", "-master.volumeSizeLimitMB=64",
		"-s3", "-s3.config=" + config,
		"-s3.port.iceberg=0", "-s3.port.lance=0", // no catalog listeners
		"-s3.iam=false",            // no IAM API beside S3
		"-master.telemetry=false",  // nothing leaves 127.0.0.1
		"-volume.preStopSeconds=0", // it is killed, not drained
		// A test's buckets are small: the default, 1% of the disk free,
		// left every volume read-only on a large disk nearly full.
		"-volume.minFreeSpace=256MiB",
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"), // in the temporary directory, not /tmp
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
	}
	for name, p := range byName {
		args = append(args, "-"+name+"="+strconv.Itoa(p))
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	// Its own environment: no AWS_* credentials of the caller's (SeaweedFS
	// takes them as an admin identity), no WEED_* settings, no configuration
	// files but in dir.
	s.cmd.Env = []string{"HOME=" + dir, "TMPDIR=" + dir, "PATH=" + os.Getenv("PATH")}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if s.exited, err = testproc.Start(s.cmd, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("start SeaweedFS: %w", err)
	}
	s.admin = s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, s.secret, ""),
		Retryer:      aws.NopRetryer{}, // ready polls; a test's call fails at once
	})
	if err := s.awaitReady(); err != nil {
		return nil, fmt.Errorf("SeaweedFS did not start: %w\nits log ends:\n%s", err, s.logTail())
	}
	return s, nil
}

// masterTOML makes the master grow one volume at a time, not seven (each
// bucket is a collection of volumes of its own, and every test makes a
// bucket), and lets it allocate at once: there are no earlier volume servers
// to wait for.
const masterTOML = `[master.volume_growth]
copy_1 = 1
allocation_deferral = "0s"
`

// awaitReady polls until a signed request stores an object and reads it
// back: the S3 gateway, the filer and a volume server are all up.
func (s *server) awaitReady() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	const bucket = "s3test-ready"
	var last error
	for step := 0; step < 3; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		switch step {
		case 0:
			_, last = s.admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		case 1:
			_, last = s.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("ready"), Body: strings.NewReader("ready")})
		case 2:
			var out *s3.GetObjectOutput
			if out, last = s.admin.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("ready")}); last == nil {
				out.Body.Close()
			}
		}
		cancel()
		if last == nil {
			step++
			continue
		}
		select {
		case <-s.exited:
			return fmt.Errorf("it exited (%v)", s.cmd.ProcessState)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", startTimeout, last)
		}
	}
	return nil
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
	for _, p := range s.sockets {
		os.Remove(p)
	}
	os.RemoveAll(s.dir)
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// writeIdentities writes SeaweedFS's S3 configuration: one identity, the
// run's key and secret, allowed everything. With it, requests that are not
// signed with that key are refused.
func writeIdentities(path, accessKey, secret string) error {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials"`
		Actions     []string     `json:"actions"`
	}
	b, err := json.Marshal(map[string][]identity{"identities": {{
		Name:        "sealwatch-test",
		Credentials: []credential{{AccessKey: accessKey, SecretKey: secret}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// randomString returns n random upper-case letters and digits.
func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
