package cli

import (
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/pgtest"
)

// TestMain stops the PostgreSQL server that serve's tests on shared
// storage start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
