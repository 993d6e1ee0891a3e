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
