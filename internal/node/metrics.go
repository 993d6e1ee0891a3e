package node

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/clusterkeys"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
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

// dbCollector exports the size of the node's database files, read with one
// stat each at scrape time.
type dbCollector struct {
	dbs map[string]*boltkv.DB // by the name the db label gives
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

var (
	damagedDesc = prometheus.NewDesc("sealwatch_damaged_objects",
		"Sealed objects found damaged and not restored since (log segments, WALs and manifests; documents), by workspace.",
		[]string{"workspace", "kind"}, nil)
	verifiedDesc = prometheus.NewDesc("sealwatch_last_verified_timestamp_seconds",
		"When a workspace's sealed data was last verified whole (by the background scrub or sealwatch verify).",
		[]string{"workspace"}, nil)
)

// integrityCollector exports the workspaces' integrity: damage found, and
// when each was last verified. It reads only what is already known.
type integrityCollector struct{ data *wsdata.Data }

func (c integrityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- damagedDesc
	ch <- verifiedDesc
}

func (c integrityCollector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range c.data.Known() {
		in := c.data.Integrity(id)
		ch <- prometheus.MustNewConstMetric(damagedDesc, prometheus.GaugeValue, float64(len(in.Damaged)), id, "log")
		ch <- prometheus.MustNewConstMetric(damagedDesc, prometheus.GaugeValue, float64(len(in.DamagedDocs)), id, "document")
		if !in.LastVerified.IsZero() {
			ch <- prometheus.MustNewConstMetric(verifiedDesc, prometheus.GaugeValue, float64(in.LastVerified.Unix()), id)
		}
	}
}

var (
	segmentsDesc = prometheus.NewDesc("sealwatch_log_segments",
		"Sealed segment files of every workspace's log store on disk.", nil, nil)
	segmentBytesDesc = prometheus.NewDesc("sealwatch_log_segment_bytes",
		"Bytes of the sealed segment files on disk.", nil, nil)
	walsDesc = prometheus.NewDesc("sealwatch_wal_files",
		"Write-ahead logs on disk: rows acknowledged and not yet in a segment.", nil, nil)
	walBytesDesc = prometheus.NewDesc("sealwatch_wal_bytes",
		"Bytes of the write-ahead logs on disk.", nil, nil)
	otherBytesDesc = prometheus.NewDesc("sealwatch_log_other_bytes",
		"Bytes of the log stores' other files on disk: manifests, and files being written.", nil, nil)
	openStoresDesc = prometheus.NewDesc("sealwatch_log_open_stores",
		"Workspaces' log stores open now (a store closes when idle).", nil, nil)
	unflushedDesc = prometheus.NewDesc("sealwatch_log_unflushed_bytes",
		"Bytes of rows held in memory for the WALs being filled, of every workspace.", nil, nil)
	unflushedLimitDesc = prometheus.NewDesc("sealwatch_log_unflushed_limit_bytes",
		"The node's bound on unflushed rows (0: none).", nil, nil)
)

// storeCollector exports the log stores' size on disk and in memory, the
// closed stores' as well as the open ones'.
type storeCollector struct {
	data *wsdata.Data
	log  *slog.Logger
}

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{segmentsDesc, segmentBytesDesc, walsDesc, walBytesDesc, otherBytesDesc,
		openStoresDesc, unflushedDesc, unflushedLimitDesc} {
		ch <- desc
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	if u, err := c.data.DiskUsage(); err != nil {
		c.log.Warn("metrics: measure the log stores on disk", "err", err)
	} else {
		gauge(segmentsDesc, u.Segments)
		gauge(segmentBytesDesc, u.SegmentBytes)
		gauge(walsDesc, u.WALs)
		gauge(walBytesDesc, u.WALBytes)
		gauge(otherBytesDesc, u.OtherBytes)
	}
	gauge(openStoresDesc, c.data.OpenStores())
	unflushed, limit := c.data.Unflushed()
	gauge(unflushedDesc, unflushed)
	gauge(unflushedLimitDesc, limit)
}
