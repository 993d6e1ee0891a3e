package node

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// keyStates are the states a cluster's key can be in, as KeyState names them.
var keyStates = []string{"Accessible", "Unreachable", "Locked", "Revoked"}

var clusterKeyStateDesc = prometheus.NewDesc("sealwatch_cluster_key_state",
	"1 for the state a cluster's customer-managed key is in (the worse of its keyrings'), 0 for the others; by cluster ID and name.",
	[]string{"cluster", "cluster_name", "state"}, nil)

// clusterKeyCollector exports, at each scrape, the key state of every
// cluster whose key is set, labelled with the cluster's name as well as its
// ID: the name is what an operator reads in an alert. It reads the control
// plane's cluster records and the keyrings' states in memory; no key
// service is called.
type clusterKeyCollector struct {
	workspaces *workspace.Service
	keys       *clusterkeys.Manager
	log        *slog.Logger
}

func (c clusterKeyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- clusterKeyStateDesc }

func (c clusterKeyCollector) Collect(ch chan<- prometheus.Metric) {
	names, err := c.workspaces.ClusterNames(context.Background())
	if err != nil {
		c.log.Warn("metrics: list clusters", "err", err)
		return
	}
	for id, name := range names {
		state := c.keys.KeyState(id)
		if state == "" {
			continue // no key set: no customer-managed key to report on
		}
		for _, s := range keyStates {
			v := 0.0
			if s == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(clusterKeyStateDesc, prometheus.GaugeValue, v, id, name, s)
		}
	}
}

var dbBytesDesc = prometheus.NewDesc("sealwatch_db_bytes",
	"Size of the node's embedded databases on disk, by database (identity, vault, control, documents).",
	[]string{"db"}, nil)

// dbCollector exports the size of the node's bbolt files, read with one
// stat each at scrape time.
type dbCollector struct {
	dbs map[string]*bbolt.DB // by the name the db label gives
}

func (c dbCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dbBytesDesc }

func (c dbCollector) Collect(ch chan<- prometheus.Metric) {
	for name, db := range c.dbs {
		if db == nil {
			continue // not opened by this node's services
		}
		if fi, err := os.Stat(db.Path()); err == nil {
			ch <- prometheus.MustNewConstMetric(dbBytesDesc, prometheus.GaugeValue, float64(fi.Size()), name)
		}
	}
}
