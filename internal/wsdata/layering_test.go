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

// TestStoragePackagesImportNoMetricsLibrary: the stores and the query engine
// know nothing of how they are measured. They hand out plain figures
// (DiskUsage, Integrity, ScanStats), which the node and the API make
// metrics of. (That no domain package imports net/http is held by
// internal/fault's TestDomainPackagesDoNotChooseHTTPStatuses.)
func TestStoragePackagesImportNoMetricsLibrary(t *testing.T) {
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
				if strings.HasPrefix(path, "github.com/prometheus/") {
					t.Errorf("%s imports %s: hand the figures to the node, which exports them", file, path)
				}
			}
		}
	}
}
