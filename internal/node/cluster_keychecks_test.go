package node

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv/pgkvtest"
)

// checkRecords reads, as the database's operator could, the key check
// records of a cluster's two keyrings: which node wrote each (its JSON
// follows a 32-byte MAC), and the raw bytes.
type checkRecords struct {
	t       *testing.T
	db      kv.DB
	cluster string
}

func (c checkRecords) ring(resource string) []byte {
	return []byte(c.cluster + "\x00" + resource)
}

func (c checkRecords) raw(resource string) []byte {
	c.t.Helper()
	var raw []byte
	err := c.db.View(context.Background(), func(tx kv.Tx) error {
		if rings := tx.Bucket([]byte("keyring.rings")); rings != nil {
			if ring := rings.Bucket(c.ring(resource)); ring != nil {
				raw = append([]byte(nil), ring.Get([]byte("check"))...)
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return raw
}

// lessee is the node that wrote the record of resource's keyring, "" when
// there is none or it does not parse.
func (c checkRecords) lessee(resource string) string {
	raw := c.raw(resource)
	if len(raw) <= sha256.Size {
		return ""
	}
	var r struct{ Node string }
	if json.Unmarshal(raw[sha256.Size:], &r) != nil {
		return ""
	}
	return r.Node
}

// flip changes one byte of the record's JSON, keeping its MAC.
func (c checkRecords) flip(resource string) {
	c.t.Helper()
	raw := c.raw(resource)
	if len(raw) <= sha256.Size {
		c.t.Fatalf("no check record of the %s keyring to tamper with", resource)
	}
	raw[len(raw)-2] ^= 1
	err := c.db.Update(context.Background(), func(tx kv.Tx) error {
		return tx.Bucket([]byte("keyring.rings")).Bucket(c.ring(resource)).Put([]byte("check"), raw)
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// TestTheLesseeKilledAndItsRecordTamperedWithEveryNodeStillRefuses runs
// three nodes on one PostgreSQL database. One node holds each keyring's
// probe lease, as the check records in the database say. That node is
// killed; the database's operator flips a byte of each record; the key is
// disabled. The other two nodes refuse within the bound (one key-check
// interval after the last check of the dead lessee, plus a probe), and one
// of them holds the lease.
func TestTheLesseeKilledAndItsRecordTamperedWithEveryNodeStillRefuses(t *testing.T) {
	c := startCMKCluster(t)
	recs := checkRecords{t: t, db: pgkvtest.Open(t, c.dbURL, "control"), cluster: c.cs.clusterID}
	names := map[string]int{}
	for i, n := range c.nodes {
		if n.node.checkNode == "" {
			t.Fatalf("node %d on shared storage does not share its key checks", i+1)
		}
		names[n.node.checkNode] = i
	}
	var dead string
	waitFor(t, keyAwait, "a node of the three holding the logs keyring's probe lease", func() bool {
		dead = recs.lessee(clusterkeys.Logs)
		_, ok := names[dead]
		return ok
	})
	c.ingest(c.nodes[0], 0)
	c.flush(c.nodes[0])
	c.awaitAllServe("before the lessee is killed", 1)

	killed := names[dead]
	c.nodes[killed].crash()
	c.nodes = append(c.nodes[:killed:killed], c.nodes[killed+1:]...)
	// The load balancer in front of the vaults and the token endpoint
	// sends to a live node.
	c.balanced.Store(c.nodes[0].client.Transport.(*http.Transport))
	for _, res := range []string{clusterkeys.Logs, clusterkeys.Documents} {
		recs.flip(res)
	}
	c.setKeyEnabled(c.nodes[0], "cmkvault", "ws-cmk", false)
	disabled := time.Now()
	c.awaitAllRefuse("the lessee killed, its record tampered with, the key disabled")
	t.Logf("the two nodes left refused %s after the key was disabled (key check every %s)", time.Since(disabled).Round(time.Millisecond), clusterKeyCheck)
	waitFor(t, keyAwait, "another node taking the probe lease", func() bool {
		l := recs.lessee(clusterkeys.Logs)
		_, ok := names[l]
		return ok && l != dead
	})
}
