package wsdata

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStoragePackagesImportNoMetricsOrHTTP: the stores and the query engine
// know nothing of how they are served or measured. They hand out plain
// figures (DiskUsage, Integrity, ScanStats) and typed errors; the node
// makes metrics of the first, the API picks HTTP statuses for the second.
func TestStoragePackagesImportNoMetricsOrHTTP(t *testing.T) {
	for _, dir := range []string{".", "../logstore", "../docstore", "../kql", "../envelope"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path == "net/http" || strings.HasPrefix(path, "github.com/prometheus/") {
					t.Errorf("%s imports %s: give the figures or errors to the node or the API instead", file, path)
				}
			}
		}
	}
}
