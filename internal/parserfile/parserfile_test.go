package parserfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/savedsearch"
)

// The parsers under ../cli/testdata/parsers were written for the tests.
func readTestdata(t *testing.T, rel string) *Parser {
	t.Helper()
	path := filepath.Join("..", "cli", "testdata", "parsers", rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Read(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestANormalizingParserIsInstalledUnderBothItsNames(t *testing.T) {
	p := readTestdata(t, "asim/vimDnsContoso.yaml")
	if p.Format != FormatASIM || p.Name != "vimDnsContoso" || p.Version != "0.2.0" || p.Title != "DNS activity filtering parser for the Contoso resolver" {
		t.Fatalf("parser: %+v", p)
	}
	if len(p.Searches) != 2 || p.Searches[0].ID != "vimDnsContoso" || p.Searches[1].ID != "_Im_Dns_Contoso" {
		t.Fatalf("searches: %+v", p.Searches)
	}
	for _, s := range p.Searches {
		pr := s.Properties
		if pr.FunctionAlias != s.ID || pr.Category != "ASIM" || pr.DisplayName != p.Title || pr.Version != 1 {
			t.Errorf("search %s: %+v", s.ID, pr)
		}
		if want := "starttime:datetime=datetime(null), domain:string='*', disabled:bool=false"; pr.FunctionParameters != want {
			t.Errorf("parameters %q, want %q", pr.FunctionParameters, want)
		}
		if !strings.HasPrefix(pr.Query, "ContosoDns_CL\n| where not(disabled)\n") || strings.HasSuffix(pr.Query, "\n") {
			t.Errorf("query %q", pr.Query)
		}
		want := []savedsearch.Tag{{Name: TagParserName, Value: "vimDnsContoso"}, {Name: TagParserVersion, Value: "0.2.0"}, {Name: TagSchema, Value: "Dns"}, {Name: TagSchemaVersion, Value: "0.1.7"}}
		if fmt.Sprint(pr.Tags) != fmt.Sprint(want) {
			t.Errorf("tags %+v", pr.Tags)
		}
	}
}

func TestASolutionsParserIsInstalledUnderItsAlias(t *testing.T) {
	p := readTestdata(t, "solutions/ContosoFirewall.yaml")
	if p.Format != FormatSolution || p.Name != "ContosoFirewall" || p.Version != "1.1.0" || len(p.Searches) != 1 {
		t.Fatalf("parser: %+v", p)
	}
	s := p.Searches[0]
	if s.ID != "ContosoFirewall" || s.Properties.Category != "Microsoft Sentinel Parser" || s.Properties.FunctionParameters != "action:string=''" ||
		s.Properties.DisplayName != "Parser for Contoso firewall events" || s.Properties.Tags[0] != (savedsearch.Tag{Name: TagParserVersion, Value: "1.1.0"}) {
		t.Fatalf("search: %+v", s)
	}
}

func TestParameterDefaultsAreWrittenAsKQL(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"a string is quoted", "Type: string\n    Default: lookup", "p:string='lookup'"},
		{"a quote in a string is escaped", "Type: string\n    Default: \"it's\"", `p:string='it\'s'`},
		{"a string literal already is kept", "Type: string\n    Default: \"'x'\"", "p:string='x'"},
		{"an empty string", "Type: string\n    Default: ''", "p:string=''"},
		{"a bool as YAML writes it", "Type: bool\n    Default: False", "p:bool=False"},
		{"a number", "Type: int\n    Default: 10", "p:int=10"},
		{"a dynamic", "Type: dynamic\n    Default: dynamic(['a', 'b'])", "p:dynamic=dynamic(['a', 'b'])"},
		{"no default", "Type: string", "p:string"},
		{"a null default is none", "Type: string\n    Default:", "p:string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "ParserName: vimX\nParserParams:\n  - Name: p\n    " + tc.yaml + "\nParserQuery: T\n"
			p, err := Read("x.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Searches[0].Properties.FunctionParameters; got != tc.want {
				t.Fatalf("parameters %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFilesThatAreNotParsersAreRefusedNamingTheFileAndField(t *testing.T) {
	for _, tc := range []struct {
		name, src   string
		notParser   bool
		line        int
		field, want string
	}{
		{"empty", "", true, 0, "", "empty"},
		{"a list", "- a\n- b\n", true, 1, "", "not a YAML mapping"},
		{"a rule", "id: x\nname: y\nquery: T\n", true, 1, "ParserName", "neither ParserName"},
		{"not YAML", "ParserName: [\n", false, 0, "", "not valid YAML"},
		{"no query", "ParserName: vimX\n", false, 0, "ParserQuery", "is required"},
		{"blank query", "ParserName: vimX\nParserQuery: '  '\n", false, 2, "ParserQuery", "is required"},
		{"name a list", "ParserName: [a]\nParserQuery: T\n", false, 1, "ParserName", "must be text"},
		{"name not an identifier", "ParserName: vim-X\nParserQuery: T\n", false, 1, "ParserName", "is not a function name"},
		{"built-in name not an identifier", "ParserName: vimX\nEquivalentBuiltInParser: 2x\nParserQuery: T\n", false, 2, "EquivalentBuiltInParser", "is not a function name"},
		{"params a mapping", "ParserName: vimX\nParserParams:\n  a: b\nParserQuery: T\n", false, 3, "ParserParams", "must be a list"},
		{"param without type", "ParserName: vimX\nParserParams:\n  - Name: a\nParserQuery: T\n", false, 3, "ParserParams[0].Type", "is required"},
		{"param named badly", "ParserName: vimX\nParserParams:\n  - Name: a b\n    Type: string\nParserQuery: T\n", false, 3, "ParserParams[0].Name", "is not a parameter name"},
		{"param of an unknown type", "ParserName: vimX\nParserParams:\n  - Name: a\n    Type: long\n  - Name: b\n    Type: wibble\nParserQuery: T\n", false, 5, "ParserParams[1]", "does not parse"},
		{"query that does not parse", "ParserName: vimX\nParserQuery: |\n  T\n  | where\n", false, 4, "ParserQuery", "column 8"},
		{"solution without query", "FunctionName: F\nCategory: c\n", false, 0, "FunctionQuery", "is required"},
		{"solution alias bad", "FunctionName: F\nFunctionAlias: a.b\nFunctionQuery: T\n", false, 2, "FunctionAlias", "is not a function name"},
		{"header not a mapping", "ParserName: vimX\nParser: x\nParserQuery: T\n", false, 2, "Parser", "must be a mapping"},
		{"a title the server would refuse", "ParserName: vimX\nParser:\n  Title: " + strings.Repeat("t", 300) + "\nParserQuery: T\n", false, 1, "", "displayName is at most"},
		{"a field twice", "ParserName: vimX\nParserName: vimY\nParserQuery: T\n", false, 2, "ParserName", "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read("parsers/x.yaml", []byte(tc.src))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Read = %v, want an *Error", err)
			}
			if errors.Is(err, ErrNotParser) != tc.notParser || pe.File != "parsers/x.yaml" || pe.Field != tc.field ||
				(tc.line != 0 && pe.Line != tc.line) || !strings.Contains(pe.Msg, tc.want) {
				t.Fatalf("Read = %v (line %d, field %q, not a parser %v), want line %d field %q saying %q, not a parser %v",
					err, pe.Line, pe.Field, errors.Is(err, ErrNotParser), tc.line, tc.field, tc.want, tc.notParser)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, rel := range []string{"asim/vimDnsContoso.yaml", "asim/imDns.yaml", "solutions/ContosoFirewall.yaml", "solutions/rule.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "parsers", rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Read("f.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "f.yaml" {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		for _, s := range p.Searches {
			if s.ID != s.Properties.FunctionAlias || s.Properties.Query == "" || s.Properties.Category == "" || s.Properties.DisplayName == "" {
				t.Fatalf("a search the server would refuse: %+v", s)
			}
		}
	})
}
