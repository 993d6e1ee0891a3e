package wsdata

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
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
