package node

import (
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

// TestMain stops the PostgreSQL server and the S3-compatible server that
// the shared-storage tests start.
func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(s3test.Runner(func() int { return s3test.Main(m) })))
}
