package wsdata

import (
	"slices"

	"github.com/sealwatch/sealwatch/internal/logstore"
)

// What an operator's figures read of the workspaces' data, in plain values;
// the node turns them into metrics, so that this package stays free of any
// metrics library.

// Known lists, sorted, the workspaces the data plane knows of since the
// node started: those whose log store was used, and those verified (by the
// scrub or on request). Integrity reports on each.
func (d *Data) Known() []string {
	ids := make([]string, 0)
	for id := range d.slots() {
		ids = append(ids, id)
	}
	d.scrubs.mu.Lock()
	for id := range d.scrubs.last {
		ids = append(ids, id)
	}
	d.scrubs.mu.Unlock()
	slices.Sort(ids)
	return slices.Compact(ids)
}

// DiskUsage measures every workspace's log store on disk, the closed ones
// too. It walks the log directory's entries and reads their sizes: no file
// is opened, no key used.
func (d *Data) DiskUsage() (logstore.DiskUsage, error) {
	return logstore.MeasureDisk(d.dir)
}

// OpenStores is the number of workspaces' log stores open now (a store
// closes when idle).
func (d *Data) OpenStores() int64 {
	return d.open.Load()
}
