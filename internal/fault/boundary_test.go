package fault

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// httpLayers may choose HTTP statuses: the API layer, the web console served
// beside it, and the programs and client around it (internal/<dir> and
// everything below it).
var httpLayers = []string{"api", "cli", "client", "console", "node"}

// httpClients are domain packages that are HTTP clients of another service
// (a key vault, AWS KMS, a token issuer, an automation rule's webhook
// receiver, the file servers KQL's externaldata reads under the prefixes the
// operator allows, fetched by extdata, a key event's subscribed webhook, an
// S3-compatible bucket). They may import net/http to call it and read its
// answers, but never to choose a status of ours.
var httpClients = []string{"identity", "keyring/kv", "keyring/awskms", "automation", "extdata", "keyevents", "objstore/s3store"}

// testServices stand in for another service in tests, answering its HTTP as
// it does (Local KMS's gate answers KMS's errors): choosing that service's
// statuses is their job, and no request of ours reaches them.
var testServices = []string{"keyring/awskms/localkms"}

// TestDomainPackagesDoNotChooseHTTPStatuses: a package outside the HTTP
// layers returns refusals of a Kind and leaves the status to the API layer,
// so it does not import net/http; one that calls an HTTP service may, but
// uses http.Status… only to compare a response's status.
func TestDomainPackagesDoNotChooseHTTPStatuses(t *testing.T) {
	root := filepath.Join("..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if slices.ContainsFunc(httpLayers, func(l string) bool { return pkg == l || strings.HasPrefix(pkg, l+"/") }) || slices.Contains(testServices, pkg) {
			return nil
		}
		checked++
		for _, p := range checkFile(t, path, slices.Contains(httpClients, pkg)) {
			t.Errorf("%s: %s", path, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files: the walk missed the domain packages", checked)
	}
}

// checkFile lists a file's breaches: an import of net/http (or below) where
// none is allowed, or where a client may import it, a status it chooses.
func checkFile(t *testing.T, path string, client bool) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	httpName := ""
	var problems []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != "net/http" && !strings.HasPrefix(p, "net/http/") {
			continue
		}
		if !client || p != "net/http" {
			problems = append(problems, "imports "+p+": return a *fault.Error of a Kind and let internal/api choose the status")
			continue
		}
		httpName = "http"
		if imp.Name != nil {
			httpName = imp.Name.Name
		}
	}
	if httpName == "" {
		return problems
	}
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		if sel, ok := n.(*ast.SelectorExpr); ok && isStatus(sel, httpName) && !compared(stack) {
			problems = append(problems, fmt.Sprintf("line %d uses %s.%s other than to compare a response's status",
				fset.Position(sel.Pos()).Line, httpName, sel.Sel.Name))
		}
		stack = append(stack, n)
		return true
	})
	return problems
}

// isStatus tells whether sel is http.StatusXxx.
func isStatus(sel *ast.SelectorExpr, httpName string) bool {
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == httpName && strings.HasPrefix(sel.Sel.Name, "Status") && sel.Sel.Name != "StatusText"
}

// compared tells whether the parent on top of stack uses the status in a
// comparison or a switch case: reading a status, not choosing one.
func compared(stack []ast.Node) bool {
	if len(stack) == 0 {
		return false
	}
	switch p := stack[len(stack)-1].(type) {
	case *ast.BinaryExpr:
		switch p.Op {
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			return true
		}
	case *ast.CaseClause:
		return true
	}
	return false
}
