package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestKeysAreReachedBehindABalancerOnAnotherPort serves a node behind a
// load balancer whose port is not the node's: vault URLs name the
// balancer's port, and the node's own calls to its vaults and token
// endpoint (setting a cluster's key checks it as the cluster's identity)
// must reach the node all the same, not the balancer's port on the node's
// host, where nothing of the balancer listens.
func TestKeysAreReachedBehindABalancerOnAnotherPort(t *testing.T) {
	lb := startTCPBalancer(t)
	rn := startNodeWith(t, Config{DataDir: t.TempDir(), PublicURL: "https://sealwatch.localhost:" + lb.port()})
	lb.forwardTo(rn.node.listener.Addr().String())
	rn.client = lb.client(t, rn.creds.CAFile)
	rn.port = lb.port()
	if rn.port == strconv.Itoa(rn.node.listener.Addr().(*net.TCPAddr).Port) {
		t.Fatal("the balancer's port is the node's")
	}

	cs := setUpCMKOn(t, rn)
	if st := rn.call("GET", rn.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, nil, nil); st != 200 {
		t.Fatalf("the cluster through the balancer: %d", st)
	}
	if n := lb.refusedCount(); n != 0 {
		t.Fatalf("the node dialled the balancer's port on its own host %d times; behind a real balancer that is another host", n)
	}
}

// tcpBalancer is a TCP proxy on 127.0.0.1 standing for a load balancer on
// another host: it forwards only the connections its client made. A
// connection from anyone else, the node itself included, stands for one
// to the balancer's port on the node's own host, and is closed unanswered.
type tcpBalancer struct {
	ln      net.Listener
	mu      sync.Mutex
	to      string
	clients map[string]bool // local addresses of the client's connections
	refused int
}

func startTCPBalancer(t *testing.T) *tcpBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &tcpBalancer{ln: ln, clients: map[string]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				lb.serve(c)
			}()
		}
	}()
	return lb
}

func (lb *tcpBalancer) port() string {
	return strconv.Itoa(lb.ln.Addr().(*net.TCPAddr).Port)
}

func (lb *tcpBalancer) forwardTo(addr string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.to = addr
}

func (lb *tcpBalancer) refusedCount() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.refused
}

// serve forwards c once it has sent its first byte: a client sends its TLS
// hello only after its dial returned and recorded the connection, so the
// record is complete by then.
func (lb *tcpBalancer) serve(c net.Conn) {
	defer c.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		return
	}
	lb.mu.Lock()
	ours, to := lb.clients[c.RemoteAddr().String()], lb.to
	if !ours {
		lb.refused++
	}
	lb.mu.Unlock()
	if !ours || to == "" {
		return
	}
	up, err := net.DialTimeout("tcp", to, 10*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := up.Write(first); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, up)
		c.Close()
		close(done)
	}()
	_, _ = io.Copy(up, c)
	up.Close()
	<-done
}

// client is an HTTP client that dials every host at the balancer and
// trusts the node's CA file.
func (lb *tcpBalancer) client(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := lb.ln.Addr().String()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			lb.mu.Lock()
			lb.clients[c.LocalAddr().String()] = true
			lb.mu.Unlock()
			return c, nil
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
