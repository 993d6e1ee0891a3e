package kql

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckFunctionAcceptsWhatParsersDeclare(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Function
	}{
		{"no parameters", Function{Name: "Heartbeats", Body: "Heartbeat | take 10"}},
		{"defaults of every kind", Function{Name: "vimDnsTest",
			Parameters: "starttime:datetime=datetime(null),endtime:datetime=datetime(null),srcipaddr:string='*',domain_has_any:dynamic=dynamic([]),disabled:bool=False",
			Body:       "DnsEvents | where not(disabled)\n| where isnull(starttime) or TimeGenerated >= starttime"}},
		{"lets in the body and a union of other functions", Function{Name: "_Im_Test", Parameters: "disabled:bool=false",
			Body: "let Sources = (d:bool) { union isfuzzy=true A, B(d) };\n// all of them\nSources(disabled)"}},
		{"a tabular parameter", Function{Name: "f", Parameters: "T:(TimeGenerated:datetime), n:long", Body: "T | take n"}},
		{"a scalar body", Function{Name: "Double", Parameters: "x:long", Body: "x * 2"}},
		{"a body ending in a comment", Function{Name: "f", Body: "T | take 1 // the newest"}},
		{"parameters over several lines", Function{Name: "f", Parameters: "a:long,\n b:string='x'", Body: "print a, b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckFunction(tc.f); err != nil {
				t.Fatalf("CheckFunction: %v", err)
			}
		})
	}
}

func TestCheckFunctionPointsIntoThePartAtFault(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         Function
		part      string
		line, col int
	}{
		{"empty name", Function{Body: "T"}, FunctionPartName, 1, 1},
		{"name starting with a digit", Function{Name: "1f", Body: "T"}, FunctionPartName, 1, 1},
		{"name with a dash", Function{Name: "my-func", Body: "T"}, FunctionPartName, 1, 1},
		{"name too long", Function{Name: strings.Repeat("a", MaxFunctionNameLength+1), Body: "T"}, FunctionPartName, 1, 1},
		{"parameter without a type", Function{Name: "f", Parameters: "a", Body: "T"}, FunctionPartParameters, 1, 2},
		{"unknown type on the second line", Function{Name: "f", Parameters: "a:long,\n  b:wibble", Body: "T"}, FunctionPartParameters, 2, 5},
		{"parameter list not closed", Function{Name: "f", Parameters: "a:long, b:string='x", Body: "T"}, FunctionPartParameters, 1, 18},
		{"body with lets only", Function{Name: "f", Body: "let x = 1;"}, FunctionPartBody, 1, 11},
		{"operator missing its operand on line 2", Function{Name: "f", Body: "T\n| where X ==\n| take 1"}, FunctionPartBody, 3, 1},
		{"unknown operator", Function{Name: "f", Body: "T | frobnicate"}, FunctionPartBody, 1, 5},
		{"body cut short", Function{Name: "f", Body: "T | where"}, FunctionPartBody, 1, 10},
		{"empty body", Function{Name: "f"}, FunctionPartBody, 1, 1},
		{"parameters that close the function", Function{Name: "f", Parameters: "a:long) { print 1 }; let g = (b:long", Body: "T"}, FunctionPartParameters, 1, 7},
		{"body that closes the function", Function{Name: "f", Body: "T\n};\nlet g = () {\nprint 1"}, FunctionPartBody, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFunction(tc.f)
			var fe *FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("CheckFunction = %v, want a *FunctionError", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%v is not a *SyntaxError", err)
			}
			if fe.Part != tc.part || se.Line != tc.line || se.Col != tc.col {
				t.Errorf("CheckFunction = %s at %d:%d (%v), want %s at %d:%d", fe.Part, se.Line, se.Col, err, tc.part, tc.line, tc.col)
			}
		})
	}
}
