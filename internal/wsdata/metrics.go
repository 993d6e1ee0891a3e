package wsdata

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

var (
	damagedDesc = prometheus.NewDesc("sealwatch_damaged_objects",
		"Sealed objects found damaged and not restored since (log segments, WALs and manifests; documents), by workspace.",
		[]string{"workspace", "kind"}, nil)
	verifiedDesc = prometheus.NewDesc("sealwatch_last_verified_timestamp_seconds",
		"When a workspace's sealed data was last verified whole (by the background scrub or sealwatch verify).",
		[]string{"workspace"}, nil)
)

// Collector exposes the workspaces' integrity to Prometheus: damage found,
// and when each was last verified. It reads only what is already known.
func (d *Data) Collector() prometheus.Collector { return integrityCollector{d} }

type integrityCollector struct{ d *Data }

func (c integrityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- damagedDesc
	ch <- verifiedDesc
}

func (c integrityCollector) Collect(ch chan<- prometheus.Metric) {
	slots := c.d.slots()
	ids := make([]string, 0, len(slots))
	for id := range slots {
		ids = append(ids, id)
	}
	c.d.scrubs.mu.Lock()
	for id := range c.d.scrubs.last {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	c.d.scrubs.mu.Unlock()
	for _, id := range ids {
		in := c.d.Integrity(id)
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

// StoreCollector exposes the log stores' size on disk and in memory. Each
// scrape walks the log directory's entries and reads their sizes (no file
// is opened, no key used), so the closed stores count as well as the open.
func (d *Data) StoreCollector() prometheus.Collector { return storeCollector{d} }

type storeCollector struct{ d *Data }

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
	if u, err := logstore.MeasureDisk(c.d.dir); err != nil {
		c.d.log.Warn("metrics: measure the log stores on disk", "err", err)
	} else {
		gauge(segmentsDesc, u.Segments)
		gauge(segmentBytesDesc, u.SegmentBytes)
		gauge(walsDesc, u.WALs)
		gauge(walBytesDesc, u.WALBytes)
		gauge(otherBytesDesc, u.OtherBytes)
	}
	gauge(openStoresDesc, c.d.open.Load())
	unflushed, limit := c.d.Unflushed()
	gauge(unflushedDesc, unflushed)
	gauge(unflushedLimitDesc, limit)
}
