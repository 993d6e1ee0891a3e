package node

import (
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// TestMain stops the PostgreSQL server the shared-storage tests start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
