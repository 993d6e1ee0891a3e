package wsdata

import (
	"testing"

	"github.com/sealwatch/sealwatch/internal/workspace"
)

// CMKData is cmkData for the benchmarks of package wsdata_test: a data
// plane and its workspace under a customer-managed key, with a table of
// rows, a declared table, a watchlist and a function.
func CMKData(tb testing.TB) (*Data, *workspace.WorkspaceInfo) {
	f := cmkData(tb)
	return f.d, f.ws
}

// KeptTables is the tables kept in the catalog of the workspace of
// customerID, or nil: a query served from the kept catalog leaves it the
// same, one that built it again replaces it.
func KeptTables(d *Data, customerID string) any {
	o := d.openStoreOf(customerID)
	if o == nil {
		return nil
	}
	o.catalog.mu.Lock()
	defer o.catalog.mu.Unlock()
	return o.catalog.tables
}
