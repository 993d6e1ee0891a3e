package s3test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func client(cfg Config, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func TestEachTestGetsAnEmptyBucketOfItsOwn(t *testing.T) {
	a, b := New(t), New(t)
	if a.Bucket == b.Bucket {
		t.Fatalf("two calls gave one bucket, %s", a.Bucket)
	}
	c := client(a, a.SecretAccessKey)
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Fatalf("the second bucket holds %d objects, want none", len(out.Contents))
	}
}

func TestRequestsNotSignedWithTheRunsSecretAreRefused(t *testing.T) {
	cfg := New(t)
	ctx := context.Background()
	_, err := client(cfg, "not-"+cfg.SecretAccessKey).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket)})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("a request signed with a wrong secret: %v, want 403", err)
	}
	resp, err := http.Get(cfg.Endpoint + "/" + cfg.Bucket + "?list-type=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an anonymous list: %s, want 403", resp.Status)
	}
	if _, err := client(cfg, cfg.SecretAccessKey).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatalf("a request signed with the run's secret: %v", err)
	}
}

// TestEverySocketIsOnLoopback looks at each TCP and UDP socket the server
// holds, after it has stored and read an object: each is bound to, and
// connected to, 127.0.0.1 alone (telemetry off, no listener on another
// address).
func TestEverySocketIsOnLoopback(t *testing.T) {
	cfg := New(t)
	c := client(cfg, cfg.SecretAccessKey)
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err, shared.srv.logTail())
	}
	pid := shared.srv.cmd.Process.Pid
	inodes := socketInodes(t, pid)
	if len(inodes) == 0 {
		t.Fatal("found no socket of the server: the test would prove nothing")
	}
	seen := 0
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		for _, s := range readSockets(t, fmt.Sprintf("/proc/%d/net/%s", pid, table)) {
			if !inodes[s.inode] {
				continue
			}
			seen++
			// A listener's remote address is unspecified (0.0.0.0:0).
			if !s.local.IsLoopback() || !s.remote.IsLoopback() && !s.remote.IsUnspecified() {
				t.Errorf("a %s socket of the server is %s → %s: not on loopback alone", table, s.local, s.remote)
			}
		}
	}
	if seen < len(ports) {
		t.Fatalf("found %d of the server's network sockets, fewer than its %d listeners", seen, len(ports))
	}
}

// socketInodes returns the inodes of the sockets process pid holds open.
func socketInodes(t *testing.T, pid int) map[string]bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	return inodes
}

type socket struct {
	local, remote net.IP
	inode         string
}

// readSockets parses a /proc/net/{tcp,udp}[6] table.
func readSockets(t *testing.T, path string) []socket {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no IPv6 on this machine
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []socket
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		out = append(out, socket{local: procIP(t, f[1]), remote: procIP(t, f[2]), inode: f[9]})
	}
	return out
}

// procIP decodes the address of "0100007F:1F90": 32-bit words in host
// (little-endian) order.
func procIP(t *testing.T, s string) net.IP {
	hexIP, _, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(hexIP)
	if err != nil || len(b)%4 != 0 {
		t.Fatalf("cannot read the address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}

func TestAMissingBinaryNamesTheScriptThatBuildsIt(t *testing.T) {
	for _, bin := range []string{"", filepath.Join(t.TempDir(), "weed")} {
		t.Setenv(EnvBinary, bin)
		if _, err := start(); err == nil || !strings.Contains(err.Error(), "scripts/test.sh") {
			t.Errorf("start with %s=%q: %v, want an error naming scripts/test.sh", EnvBinary, bin, err)
		}
	}
}
