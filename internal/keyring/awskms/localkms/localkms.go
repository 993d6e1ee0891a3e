// Package localkms runs Local KMS (github.com/nsmithuk/local-kms, which
// answers the AWS KMS API) for tests, on 127.0.0.1, behind a gate that does
// what Local KMS does not: refuse a principal whose access was removed, as
// KMS answers AccessDeniedException, and answer throttling or 5xx on
// demand. scripts/test.sh builds Local KMS and exports its path in
// SEALWATCH_TEST_LOCAL_KMS; a test without it fails, naming the script.
package localkms

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// EnvBinary names the environment variable holding the Local KMS binary.
const EnvBinary = "SEALWATCH_TEST_LOCAL_KMS"

// Region and Account are those of every key the server makes.
const (
	Region  = "eu-west-2"
	Account = "111122223333"
)

// Server is a running Local KMS behind its gate.
type Server struct {
	// Endpoint is the gate's URL: what a driver under test calls.
	Endpoint string
	// Admin is an SDK client for the key's administrator, straight to Local
	// KMS (never refused by the gate).
	Admin *kms.Client

	mu     sync.Mutex
	denied map[string]bool // access key IDs refused
	fault  *fault
	calls  map[string]int // by operation, as X-Amz-Target names it
}

type fault struct {
	op     string // "" for every operation
	status int
	code   string
}

var startedOn = regexp.MustCompile(`Local KMS started on [0-9.]+:([0-9]+)`)

// Start runs Local KMS with its data in a temporary directory until the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		t.Fatalf("%s is not set: run the tests with scripts/test.sh, which builds Local KMS and sets it", EnvBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v: run scripts/test.sh, which builds Local KMS there", EnvBinary, bin, err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT=0", "KMS_DATA_PATH="+filepath.Join(dir, "data"),
		"KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"), "KMS_REGION="+Region, "KMS_ACCOUNT_ID="+Account)
	out, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Local KMS: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		w.Close()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := startedOn.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
	}()
	var addr string
	select {
	case p := <-port:
		addr = "127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatal("Local KMS did not say it started within 30 s")
	}

	s := &Server{denied: map[string]bool{}, calls: map[string]int{}}
	target, _ := url.Parse("http://" + addr)
	gate := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if s.refuse(rw, r) {
			return
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(rw, r)
	}))
	t.Cleanup(gate.Close)
	s.Endpoint = gate.URL
	s.Admin = kms.New(kms.Options{Region: Region, BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDADMIN", "admin-secret", "")})
	return s
}

// accessKeyOf reads the access key ID from a SigV4 Authorization header.
func accessKeyOf(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

// refuse answers for KMS when the caller is denied or a fault is set.
func (s *Server) refuse(rw http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	s.calls[op]++
	denied, f := s.denied[accessKeyOf(r)], s.fault
	s.mu.Unlock()
	if f != nil && f.op != "" && f.op != op {
		f = nil
	}
	switch {
	case f != nil:
		writeError(rw, f.status, f.code)
	case denied:
		writeError(rw, http.StatusBadRequest, "AccessDeniedException")
	default:
		return false
	}
	return true
}

func writeError(rw http.ResponseWriter, status int, code string) {
	rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
	rw.Header().Set("X-Amzn-RequestId", "00000000-0000-0000-0000-000000000000")
	rw.WriteHeader(status)
	fmt.Fprintf(rw, `{"__type":%q,"message":"the service's message, never to be repeated"}`, code)
}

// Calls counts the calls made through the gate since Start or ResetCalls,
// by operation (Encrypt, Decrypt, DescribeKey), refused ones included.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls starts the count again.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// SetAccess refuses (false) or lets through (true) the access key ID's calls.
func (s *Server) SetAccess(accessKeyID string, allowed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if allowed {
		delete(s.denied, accessKeyID)
	} else {
		s.denied[accessKeyID] = true
	}
}

// SetFault answers every call with status and error code (code "" clears it).
func (s *Server) SetFault(status int, code string) { s.SetOperationFault("", status, code) }

// SetOperationFault answers the calls of one operation (Encrypt, Decrypt,
// DescribeKey; "" for all) with status and error code (code "" clears it).
func (s *Server) SetOperationFault(op string, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
	if code != "" {
		s.fault = &fault{op: op, status: status, code: code}
	}
}

// CreateKey makes a symmetric encryption key and returns its ARN.
func (s *Server) CreateKey(t testing.TB) string {
	t.Helper()
	out, err := s.Admin.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(t.Name())})
	if err != nil {
		t.Fatalf("create a key in Local KMS: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// SetEnabled enables or disables the key arn.
func (s *Server) SetEnabled(t testing.TB, arn string, enabled bool) {
	t.Helper()
	var err error
	if enabled {
		_, err = s.Admin.EnableKey(context.Background(), &kms.EnableKeyInput{KeyId: aws.String(arn)})
	} else {
		_, err = s.Admin.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(arn)})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Credentials are static credentials for the access key ID, as a customer
// would hand them to Sealwatch.
func Credentials(accessKeyID, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(accessKeyID, secret, "")
}
