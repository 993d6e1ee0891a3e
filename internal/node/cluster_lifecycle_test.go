package node

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/nodeseal"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

// clusterKeyCheck is the key check interval of the cluster tests' nodes:
// short, so that a revocation reaches every node within the tests' bounds.
const clusterKeyCheck = 200 * time.Millisecond

// keyAwait bounds how long a change of a key's state may take to reach
// every node: many key check intervals, for a loaded machine.
const keyAwait = 30 * time.Second

// cmkCluster is three nodes on one PostgreSQL database and one bucket, with
// a CMK cluster and workspace secops set up through node 1, and the
// workspace's shared key for the Data Collector API.
type cmkCluster struct {
	t          *testing.T
	nodes      []*running
	cs         *cmkSetup // through node 1
	customerID string
	sharedKey  string
	canary     string
	dbURL      string
	bucket     s3test.Config
	rootFile   string
	sent       int                            // requests sent, for distinct signatures
	balanced   atomic.Pointer[http.Transport] // to the node the public URL reaches
}

func startCMKCluster(t *testing.T) *cmkCluster {
	t.Helper()
	bucket := s3test.New(t)
	dbURL := pgtest.New(t)
	rootFile := filepath.Join(t.TempDir(), "root.key")
	c := &cmkCluster{t: t, canary: "canary-life-" + randomHex(t, 8), dbURL: dbURL, bucket: bucket, rootFile: rootFile}
	for i := range 3 {
		var creds Credentials
		if i > 0 {
			creds = c.nodes[0].creds
		}
		c.nodes = append(c.nodes, c.start(t.TempDir(), creds))
		if i == 0 {
			c.balanced.Store(c.nodes[0].client.Transport.(*http.Transport))
		}
	}
	nodes := c.nodes
	c.cs = setUpCMKOn(t, nodes[0])
	c.customerID = c.cs.workspace["properties"].(map[string]any)["customerId"].(string)
	var keys struct{ PrimarySharedKey string }
	if st := nodes[0].call("POST", nodes[0].mgmtURL("Microsoft.OperationalInsights/workspaces/secops/sharedKeys"), c.cs.mgmt, nil, &keys); st != 200 {
		t.Fatalf("shared keys: %d", st)
	}
	c.sharedKey = keys.PrimarySharedKey
	return c
}

// start starts a node of the cluster on the shared database and bucket,
// with data directory dir. What it reaches at the public URL's port (the
// key vaults and the token endpoint its cluster identity signs in at) goes
// to the node c.balanced names, as a load balancer would send it; the
// vault URLs the test uses name that port too.
func (c *cmkCluster) start(dir string, creds Credentials) *running {
	c.t.Helper()
	storage := sharedStorage(c.t, c.dbURL)
	objects, err := s3store.New(context.Background(), c.bucket.StoreConfig())
	if err != nil {
		c.t.Fatal(err)
	}
	storage.Objects = objects
	rn := startClusterNode(c.t, Config{DataDir: dir, Root: nodeseal.File(c.rootFile), Storage: storage, KeyCheckInterval: clusterKeyCheck,
		WrapKeyServiceTransport: func(next http.RoundTripper) http.RoundTripper { return &balancer{next: next, to: &c.balanced} }}, creds)
	rn.port = publicPort
	return rn
}

const publicPort = "8443" // clusterPublicURL's

// balancer sends the requests for the public URL's port to a live node,
// with the test client's transport (which dials every host at its node),
// as a load balancer in front of the nodes would.
type balancer struct {
	next http.RoundTripper
	to   *atomic.Pointer[http.Transport]
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	if lb := b.to.Load(); lb != nil && r.URL.Port() == publicPort {
		return lb.RoundTrip(r)
	}
	return b.next.RoundTrip(r)
}

// ingest sends row i of the canary through node n; it must be taken.
func (c *cmkCluster) ingest(n *running, i int) {
	c.t.Helper()
	if st, code := c.send(n, i); st != 200 {
		c.t.Fatalf("ingest row %d: %d %s", i, st, code)
	}
}

func (c *cmkCluster) send(n *running, i int) (int, string) {
	c.t.Helper()
	c.sent++
	return n.collectorPost(c.customerID, c.sharedKey, "Canary", canaryBody(c.canary, i, c.sent))
}

// canaryBody is row i of the canary, padded with n spaces: a Data Collector
// signature covers the body's length and the date to the second, not the
// body, and each request must be signed differently to be taken.
func canaryBody(canary string, i, n int) []byte {
	return []byte(fmt.Sprintf(`[{"Message":"%s-%d"}]`, canary, i) + strings.Repeat(" ", n))
}

// flush seals node n's write-ahead log of the workspace, so that the
// other nodes read its rows.
func (c *cmkCluster) flush(n *running) {
	c.t.Helper()
	if st := n.call("POST", n.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), c.cs.mgmt, nil, nil); st != 200 && st != 204 {
		c.t.Fatalf("flush: %d", st)
	}
}

// query counts the canary's rows through node n: the status, the error
// code when refused, and the count when answered.
func (c *cmkCluster) query(n *running) (int, string, float64) {
	c.t.Helper()
	var out struct {
		Tables []struct{ Rows [][]any }
		Error  struct{ Code string }
	}
	st := n.call("POST", n.creds.Endpoint+"/v1/workspaces/"+c.customerID+"/query", n.adminToken("https://api.loganalytics.io/.default"),
		map[string]string{"query": "Canary_CL | where Message_s startswith '" + c.canary + "' | count"}, &out)
	if st != 200 {
		return st, out.Error.Code, 0
	}
	if len(out.Tables) != 1 || len(out.Tables[0].Rows) != 1 {
		c.t.Fatalf("count: %+v", out.Tables)
	}
	return st, "", out.Tables[0].Rows[0][0].(float64)
}

// allServe checks that every node answers the count with want rows.
func (c *cmkCluster) allServe(what string, want float64) {
	c.t.Helper()
	for i, n := range c.nodes {
		if st, code, got := c.query(n); st != 200 || got != want {
			c.t.Fatalf("%s: node %d answers %d %s with %v rows, want 200 with %v", what, i+1, st, code, got, want)
		}
	}
}

// awaitAllServe waits, bounded, until every node answers the count with
// want rows: after a key comes back, each node finds out at its own next
// key check.
func (c *cmkCluster) awaitAllServe(what string, want float64) {
	c.t.Helper()
	for i, n := range c.nodes {
		waitFor(c.t, keyAwait, fmt.Sprintf("%s: node %d answering with %v rows", what, i+1, want), func() bool {
			st, _, got := c.query(n)
			return st == 200 && got == want
		})
	}
}

// awaitAllRefuse waits, bounded, until every node refuses a query with 403
// CustomerManagedKeyInaccessible, then checks each refuses ingest and
// flush the same way. Ingest is tried only once a node refuses queries, so
// that no row is taken while the revocation is on its way.
func (c *cmkCluster) awaitAllRefuse(what string) {
	c.t.Helper()
	for i, n := range c.nodes {
		waitFor(c.t, keyAwait, fmt.Sprintf("%s: node %d refusing queries", what, i+1), func() bool {
			st, code, _ := c.query(n)
			return st == 403 && code == "CustomerManagedKeyInaccessible"
		})
		if st, code := c.send(n, -1); st != 403 || code != "CustomerManagedKeyInaccessible" {
			c.t.Fatalf("%s: node %d answers ingest %d %s, want 403 CustomerManagedKeyInaccessible", what, i+1, st, code)
		}
		var er struct{ Error struct{ Code string } }
		if st := n.call("POST", n.mgmtURL("Microsoft.OperationalInsights/workspaces/secops/flush"), c.cs.mgmt, nil, &er); st != 403 || er.Error.Code != "CustomerManagedKeyInaccessible" {
			c.t.Fatalf("%s: node %d answers a flush %d %s, want 403 CustomerManagedKeyInaccessible", what, i+1, st, er.Error.Code)
		}
	}
}

// probeAll has every node check the cluster's key now.
func (c *cmkCluster) probeAll() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), keyAwait)
	defer cancel()
	for _, n := range c.nodes {
		n.node.keys.ProbeNow(ctx, c.cs.clusterID)
	}
}

// setKeyEnabled enables or disables every version of key name in vault,
// through node n's vault endpoint.
func (c *cmkCluster) setKeyEnabled(n *running, vault, name string, enabled bool) {
	c.t.Helper()
	var versions struct{ Value []struct{ KID string } }
	if st := n.call("GET", n.vaultURL(vault)+"/keys/"+name+"/versions?api-version=7.6", c.cs.vtok, nil, &versions); st != 200 || len(versions.Value) == 0 {
		c.t.Fatalf("versions of %s: %d %+v", name, st, versions)
	}
	for _, v := range versions.Value {
		version := v.KID[strings.LastIndexByte(v.KID, '/')+1:]
		if st := n.call("PATCH", n.vaultURL(vault)+"/keys/"+name+"/"+version+"?api-version=7.6", c.cs.vtok,
			map[string]any{"attributes": map[string]any{"enabled": enabled}}, nil); st != 200 {
			c.t.Fatalf("set %s/%s enabled=%v: %d", name, version, enabled, st)
		}
	}
}

// TestTheKeyLifecycleHoldsOnEveryNode runs three nodes on one PostgreSQL
// database and one bucket, a CMK cluster and workspace made through node 1
// and rows ingested through node 2. The key disabled through node 3's
// vault: every node refuses query, ingest and flush with
// CustomerManagedKeyInaccessible. Enabled again: every node serves every
// row. A new version by rotation: every node still reads everything, and
// takes rows under it. Replaced by another key in another vault (PATCH
// through node 2): every node reads everything; disabling the old key
// changes nothing, disabling the new one revokes on all three.
func TestTheKeyLifecycleHoldsOnEveryNode(t *testing.T) {
	c := startCMKCluster(t)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	rows := 0
	ingestAndFlush := func(through *running, k int) {
		t.Helper()
		for range k {
			c.ingest(through, rows)
			rows++
		}
		c.flush(through)
	}
	ingestAndFlush(n2, 3)
	c.allServe("after ingest through node 2", float64(rows))

	t.Run("revoked through node 3's vault, every node refuses", func(t *testing.T) {
		c.setKeyEnabled(n3, "cmkvault", "ws-cmk", false)
		disabled := time.Now()
		c.awaitAllRefuse("the key disabled")
		t.Logf("every node refused %s after the key was disabled (key check every %s)", time.Since(disabled).Round(time.Millisecond), clusterKeyCheck)
	})
	t.Run("restored, every node serves every row", func(t *testing.T) {
		c.setKeyEnabled(n3, "cmkvault", "ws-cmk", true)
		c.awaitAllServe("the key enabled again", float64(rows))
		ingestAndFlush(n3, 1)
		c.allServe("after ingest through node 3", float64(rows))
	})
	t.Run("rotated, every node reads everything", func(t *testing.T) {
		var rotated struct{ Key struct{ Kid string } }
		if st := n1.call("POST", n1.vaultURL("cmkvault")+"/keys/ws-cmk/rotate?api-version=7.6", c.cs.vtok, nil, &rotated); st != http.StatusOK {
			t.Fatalf("rotate: %d", st)
		}
		c.probeAll()
		for _, u := range c.cs.keyUsage() {
			if u.InUse && u.KeyURI != rotated.Key.Kid {
				t.Fatalf("after rotation %s wraps account keys, not %s", u.KeyURI, rotated.Key.Kid)
			}
		}
		c.allServe("after rotation", float64(rows))
		ingestAndFlush(n2, 1)
		c.allServe("after ingest under the new version", float64(rows))
	})
	t.Run("replaced, the old key is free and the new one in force", func(t *testing.T) {
		adminOID := n1.objectIDOf(n1.creds.ClientID)
		n1.createVault("othervault", map[string][]string{adminOID: {"all"},
			c.cs.principalID: {"get", "wrapKey", "unwrapKey"}, n1.node.DocumentStorePrincipalID(): {"get", "wrapKey", "unwrapKey"}})
		var created struct{ Key struct{ Kid string } }
		if st := n1.call("POST", n1.vaultURL("othervault")+"/keys/new-cmk/create?api-version=7.6", c.cs.vtok, map[string]any{"kty": "RSA", "key_size": 2048}, &created); st != 200 {
			t.Fatalf("create the new key: %d", st)
		}
		replace := map[string]any{"properties": map[string]any{"keyVaultProperties": map[string]string{
			"keyVaultUri": n1.vaultURL("othervault") + "/", "keyName": "new-cmk", "keyVersion": ""}}}
		if st := n2.call("PATCH", n2.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), c.cs.mgmt, replace, nil); st != 200 {
			t.Fatalf("replace the key through node 2: %d", st)
		}
		// Node 1 reports the key usage: it learns of the replacement node 2
		// made at its next key check.
		waitFor(t, keyAwait, "node 1 reporting every account key wrapped by the new key", func() bool {
			for _, u := range c.cs.keyUsage() {
				if u.InUse && u.KeyURI != created.Key.Kid {
					return false
				}
			}
			return true
		})
		c.probeAll()
		c.allServe("after replacement", float64(rows))

		c.setKeyEnabled(n3, "cmkvault", "ws-cmk", false)
		c.probeAll() // every node has checked its key since the old one went
		c.allServe("the old key disabled", float64(rows))
		ingestAndFlush(n1, 1)
		c.allServe("after ingest under the new key", float64(rows))

		c.setKeyEnabled(n3, "othervault", "new-cmk", false)
		c.awaitAllRefuse("the new key disabled")
		c.setKeyEnabled(n3, "othervault", "new-cmk", true)
		c.awaitAllServe("the new key enabled again", float64(rows))
	})
}

// TestAcknowledgedRowsOutliveANodeKilledMidIngest ingests through node 2
// of three while node 2 is killed (it stops serving and is never closed:
// its write-ahead log is left unsealed), starts node 2 again on the same
// data directory, and has it flush: every row node 2 acknowledged is read
// through nodes 1 and 3. Then the key is revoked and all three refuse.
func TestAcknowledgedRowsOutliveANodeKilledMidIngest(t *testing.T) {
	c := startCMKCluster(t)
	n2 := c.nodes[1]

	var (
		mu    sync.Mutex
		acked []string
	)
	sent := make(chan struct{}, 1000)
	stopped := make(chan struct{})
	tried := 0
	var failed string // why the last request was not taken, once stopped is closed
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			tried = i + 1
			msg := fmt.Sprintf("%s-%d", c.canary, i)
			st, e, err := n2.collectorTry(c.customerID, c.sharedKey, "Canary", time.Now().UTC().Format(http.TimeFormat), canaryBody(c.canary, i, i))
			switch {
			case err != nil:
				failed = fmt.Sprintf("request %d: %v", i, err)
				return // the node is gone
			case st != 200:
				failed = fmt.Sprintf("request %d: %d %s", i, st, e)
				return
			}
			mu.Lock()
			acked = append(acked, msg)
			mu.Unlock()
			sent <- struct{}{}
		}
	}()
	for range 20 {
		select {
		case <-sent:
		case <-stopped:
			t.Fatalf("ingest through node 2 failed before the kill: %s", failed)
		case <-time.After(keyAwait):
			t.Fatal("node 2 acknowledged fewer than 20 rows in time")
		}
	}
	n2.crash()
	<-stopped
	t.Logf("ingest through node 2 stopped at the kill: %s", failed)
	c.sent = tried // the requests below are padded past those sent
	mu.Lock()
	want := slices.Clone(acked)
	mu.Unlock()
	t.Logf("node 2 acknowledged %d rows before it was killed", len(want))

	restarted := c.start(n2.dir, c.nodes[0].creds)
	c.nodes[1] = restarted
	waitFor(t, keyAwait, "node 2, restarted, serving the workspace", func() bool {
		st, _, _ := c.query(restarted)
		return st == 200
	})
	c.flush(restarted)
	for _, i := range []int{0, 2} {
		n := c.nodes[i]
		var out struct{ Tables []struct{ Rows [][]any } }
		if st := n.call("POST", n.creds.Endpoint+"/v1/workspaces/"+c.customerID+"/query", n.adminToken("https://api.loganalytics.io/.default"),
			map[string]string{"query": "Canary_CL | where Message_s startswith '" + c.canary + "' | summarize by Message_s"}, &out); st != 200 || len(out.Tables) != 1 {
			t.Fatalf("node %d: %d", i+1, st)
		}
		got := map[string]bool{}
		for _, r := range out.Tables[0].Rows {
			got[r[0].(string)] = true
		}
		for _, msg := range want {
			if !got[msg] {
				t.Errorf("node %d lost acknowledged row %s (%d of %d acknowledged rows read)", i+1, msg, len(got), len(want))
			}
		}
	}

	c.setKeyEnabled(c.nodes[2], "cmkvault", "ws-cmk", false)
	c.awaitAllRefuse("the key disabled after the restart")
}
