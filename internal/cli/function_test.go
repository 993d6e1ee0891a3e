package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/node"
)

// functionWorkspace logs in to a new node and makes workspace secops:
// functions belong to the workspace, with or without security onboarding.
func functionWorkspace(t *testing.T) *testNode {
	t.Helper()
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	return n
}

// copyParsers copies the test parsers (written for the tests) to a new
// folder, so that a test may change them.
func copyParsers(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", "parsers")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		writeFile(t, dst, rel, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestParsersAreImportedFromAFolderListedAndImportedAgainInPlace(t *testing.T) {
	n := functionWorkspace(t)
	dir := copyParsers(t)
	out := n.must("function", "import", "-w", "secops", dir)
	for _, want := range []string{
		"created     imDns, _Im_Dns  " + filepath.Join(dir, "asim", "imDns.yaml"),
		"created     vimDnsContoso, _Im_Dns_Contoso  " + filepath.Join(dir, "asim", "vimDnsContoso.yaml"),
		"created     ContosoFirewall  " + filepath.Join(dir, "solutions", "ContosoFirewall.yaml"),
		"Imported 3 parsers as 5 functions into workspace secops (3 created, 0 updated, 0 unchanged); 0 failed; 1 file skipped (not parsers).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import does not say %q:\n%s", want, out)
		}
	}

	list := decode[[]savedSearchResource](t, n.must("function", "list", "-w", "secops", "-o", "json"))
	var names []string
	for _, s := range list {
		names = append(names, s.Properties.FunctionAlias)
	}
	if strings.Join(names, " ") != "ContosoFirewall _Im_Dns _Im_Dns_Contoso imDns vimDnsContoso" {
		t.Errorf("functions listed: %v", names)
	}
	table := n.must("function", "list", "-w", "secops")
	if !strings.Contains(table, "_Im_Dns_Contoso") || !strings.Contains(table, "0.2.0") || !strings.Contains(table, "domain:string='*'") {
		t.Errorf("function list:\n%s", table)
	}
	got := decode[savedSearchResource](t, n.must("function", "show", "_Im_Dns_Contoso", "-w", "secops", "-o", "json"))
	p := got.Properties
	if p.FunctionParameters != "starttime:datetime=datetime(null), domain:string='*', disabled:bool=false" ||
		!strings.HasPrefix(p.Query, "ContosoDns_CL\n| where not(disabled)\n") || !strings.HasSuffix(p.Query, "EventResultDetails = Rcode") ||
		p.Category != "ASIM" || p.DisplayName != "DNS activity filtering parser for the Contoso resolver" || got.tag("ParserVersion") != "0.2.0" {
		t.Errorf("the imported parser: %+v", got)
	}
	fw := decode[savedSearchResource](t, n.must("function", "show", "ContosoFirewall", "-w", "secops", "-o", "json"))
	if fw.Properties.FunctionParameters != "action:string=''" || !strings.HasPrefix(fw.Properties.Query, "Syslog\n| where ProcessName == 'contoso-fw'") ||
		fw.Properties.Category != "Microsoft Sentinel Parser" {
		t.Errorf("the imported solution parser: %+v", fw)
	}

	// Again: nothing changes. Then a new version of one parser updates it.
	out = n.must("function", "import", "-w", "secops", dir)
	if !strings.Contains(out, "(0 created, 0 updated, 3 unchanged)") {
		t.Errorf("a second import:\n%s", out)
	}
	path := filepath.Join(dir, "asim", "vimDnsContoso.yaml")
	data, _ := os.ReadFile(path)
	writeFile(t, dir, filepath.Join("asim", "vimDnsContoso.yaml"), strings.Replace(string(data), "'0.2.0'", "'0.2.1'", 1))
	out = n.must("function", "import", "-w", "secops", path)
	if !strings.Contains(out, "updated     vimDnsContoso, _Im_Dns_Contoso") || !strings.Contains(out, "(0 created, 1 updated, 0 unchanged)") {
		t.Errorf("an import of a new version:\n%s", out)
	}
	if v := decode[savedSearchResource](t, n.must("function", "show", "vimDnsContoso", "-w", "secops", "-o", "json")).tag("ParserVersion"); v != "0.2.1" {
		t.Errorf("version after the update: %q", v)
	}
}

func TestAnImportReportsEachBadFileAndGoesOn(t *testing.T) {
	n := functionWorkspace(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "ParserName: vimGood\nParserQuery: |\n  Syslog | take 1\n")
	broken := writeFile(t, dir, "broken.yaml", "ParserName: vimBroken\nParserQuery: |\n  Syslog\n  | where\n")
	rule := filepath.Join("testdata", "parsers", "solutions", "rule.yaml")
	r := n.run("function", "import", "-w", "secops", broken, rule, good, filepath.Join(dir, "missing.yaml"))
	if r.code != exitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, exitError, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"failed      " + filepath.Join(dir, "missing.yaml") + ": no such file or directory",
		"failed      " + broken + ":4: ParserQuery: column 8: expected an expression",
		"failed      " + rule + ":2: ParserName: not a parser file",
		"created     vimGood  " + good,
		"Imported 1 parser as 1 function into workspace secops (1 created, 0 updated, 0 unchanged); 3 failed; 0 files skipped (not parsers).",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import does not say %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "3 parser files failed") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestAFunctionIsCreatedShownReplacedAndDeleted(t *testing.T) {
	n := functionWorkspace(t)
	dir := t.TempDir()
	q := writeFile(t, dir, "failed.kql", "SigninLogs\n| where ResultType != '0'\n| where isempty(user) or UserPrincipalName == user\n")
	out := n.must("function", "create", "FailedSignins", "-w", "secops", "--query-file", q, "--params", "user:string=''", "--category", "Identity")
	for _, want := range []string{"name:          FailedSignins", "parameters:    (user:string='')", "category:      Identity", "etag:", "  | where ResultType != '0'"} {
		if !strings.Contains(out, want) {
			t.Errorf("function create does not show %q:\n%s", want, out)
		}
	}
	if r := n.run("function", "create", "FailedSignins", "-w", "secops", "--query-file", q); r.code != exitError || !strings.Contains(r.stderr, "already has a function FailedSignins; add --replace") {
		t.Errorf("create over an existing function: exit %d\n%s", r.code, r.stderr)
	}
	n.must("function", "create", "FailedSignins", "-w", "secops", "--query-file", q, "--params", "user:string='x'", "--replace")
	if got := decode[savedSearchResource](t, n.must("function", "show", "FailedSignins", "-w", "secops", "-o", "json")); got.Properties.FunctionParameters != "user:string='x'" {
		t.Errorf("after --replace: %+v", got.Properties)
	}
	n.must("function", "delete", "FailedSignins", "-w", "secops")
	if r := n.run("function", "show", "FailedSignins", "-w", "secops"); r.code != exitError || !strings.Contains(r.stderr, "has no function FailedSignins") {
		t.Errorf("show a deleted function: exit %d\n%s", r.code, r.stderr)
	}
}

func TestFunctionsAreCheckedBeforeTheyAreSent(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	dir := t.TempDir()
	good := writeFile(t, dir, "good.kql", "T | take 1")
	bad := writeFile(t, dir, "bad.kql", "T\n| where\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a name with a dash", []string{"my-func", "--query-file", good}, "NAME 'my-func' is not a function name"},
		{"parameters that do not parse", []string{"f", "--query-file", good, "--params", "a:wibble"}, "--params: syntax error at 1:3"},
		{"a query that does not parse", []string{"f", "--query-file", bad}, bad + ": syntax error at 2:8"},
		{"an empty query", []string{"f", "--query-file", writeFile(t, dir, "empty.kql", "\n")}, "empty.kql is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, config, append([]string{"function", "create", "-w", "w"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", r.code, exitUsage, tc.want, r.stderr)
			}
		})
	}
}

// TestARuleRunsThroughAnImportedParser imports the test parsers, ingests
// rows into the fictional resolver's table, queries through the unifying
// parser by its built-in name with a named argument, as current content
// does, and imports a rule that calls it, which the node's scheduler runs.
func TestARuleRunsThroughAnImportedParser(t *testing.T) {
	n := incidentWorkspaceOn(t, startNodeWith(t, node.Config{RuleInterval: 100 * time.Millisecond}))
	n.must("function", "import", "-w", "secops", filepath.Join("testdata", "parsers"))
	n.must("dcr", "create", "--name", "contoso-dns", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-ContosoDns",
		"--table", "ContosoDns_CL", "--column", "QueryName:string", "--column", "Client:string", "--column", "Rcode:string")
	dir := t.TempDir()
	rows := writeFile(t, dir, "rows.json", `[
		{"QueryName":"www.contoso.com","Client":"10.0.0.5","Rcode":"NOERROR"},
		{"QueryName":"bad.example.net","Client":"10.0.0.6","Rcode":"NXDOMAIN"},
		{"QueryName":"bad.example.net","Client":"10.0.0.7","Rcode":"NXDOMAIN"}]`)
	n.must("ingest", "--dcr", "contoso-dns", "--stream", "Custom-ContosoDns", "--file", rows)

	out := n.must("query", "-w", "secops", "_Im_Dns(domain='example.net') | summarize n = count() by EventResultDetails")
	if !regexp.MustCompile(`NXDOMAIN +2`).MatchString(out) || strings.Contains(out, "NOERROR") {
		t.Fatalf("a query through the parser:\n%s", out)
	}
	const ruleID = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
	rule := writeFile(t, dir, "rule.yaml", "id: "+ruleID+"\nname: NXDOMAIN burst\nseverity: Medium\n"+
		"queryFrequency: 5m\nqueryPeriod: 1h\ntriggerOperator: gt\ntriggerThreshold: 0\n"+
		"query: _Im_Dns(starttime=ago(1h), domain='example.net') | where EventResultDetails == 'NXDOMAIN' | summarize n = count() by SrcIpAddr\n")
	n.must("rule", "import", "-w", "secops", rule)
	runs := n.must("rule", "runs", "-w", "secops", ruleID, "--wait", "30s")
	if !regexp.MustCompile(`Success +ran .* 2 +\d+ `).MatchString(runs) {
		t.Fatalf("the rule's first run, through the parser, should find two sources:\n%s", runs)
	}
}
