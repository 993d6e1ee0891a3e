package kql

import (
	"strings"
	"testing"
)

func TestNearestNameIsALikelyTypoOrNothing(t *testing.T) {
	cols := []string{"TimeGenerated", "Computer", "EventID", "Account", "Id"}
	tests := []struct {
		name, typed, want string
	}{
		{"a wrong letter case", "computer", "Computer"},
		{"a letter left out", "Compter", "Computer"},
		{"two letters swapped", "Acocunt", "Account"},
		{"a letter too many", "EventIDs", "EventID"},
		{"a short name in the wrong case", "ID", "Id"},
		{"a name far from every column", "Message", ""},
		{"a short name near others by one edit is no typo", "Ix", ""},
		{"the name itself is no suggestion", "Computer", ""},
		{"three edits in a long name", "TimeGenrtd", "TimeGenerated"},
		{"four edits are too many", "TimeGnrtd", ""},
		{"none to choose from", "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nearestName(tt.typed, cols); got != tt.want {
				t.Errorf("nearestName(%q) = %q, want %q", tt.typed, got, tt.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"same", "same", 0},
	} {
		if got := editDistance([]rune(tt.a), []rune(tt.b), 100); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if got := editDistance([]rune("abcdef"), []rune("uvwxyz"), 2); got < 2 {
		t.Errorf("a distance past the bound is %d, below the bound 2", got)
	}
}

func TestUnknownNamesSuggestTheNearest(t *testing.T) {
	src := NewMemSource(
		&MemTable{Schema: TableSchema{Name: "SecurityEvent", Columns: []Column{{"TimeGenerated", TypeDatetime}, {"Computer", TypeString}, {"EventID", TypeInt}}}},
		&MemTable{Schema: TableSchema{Name: "SigninLogs", Columns: []Column{{"UserPrincipalName", TypeString}}}})
	cat := src.Catalog()
	cat.Functions = append(cat.Functions, Function{Name: "FailedLogons", Body: "SecurityEvent | where EventID == 4625"})
	tests := []struct {
		name, q, want string
	}{
		{"a column in the wrong case", `SecurityEvent | where computer == "web01"`, `unknown column or variable "computer"; did you mean 'Computer'?`},
		{"a column after project names only the columns left", `SecurityEvent | project EventID | where Computr == "x"`, `unknown column or variable "Computr"`},
		{"a column of the join's right side", `SecurityEvent | join (SecurityEvent) on $left.Computer == $right.Compute`, `on the right side of the join; did you mean 'Computer'?`},
		{"a column of a search term", `SecurityEvent | where Computr:"web"`, `unknown column "Computr"; did you mean 'Computer'?`},
		{"a table", `SecurityEvents | count`, `unknown table or let name "SecurityEvents"; did you mean 'SecurityEvent'?`},
		{"a built-in function", `SecurityEvent | extend x = tostrin(EventID)`, `unknown function "tostrin"; did you mean 'tostring'?`},
		{"a stored function called as a table", `FailedLogon() | count`, `unknown function or table "FailedLogon"; did you mean 'FailedLogons'?`},
		{"no suggestion when nothing is near", `SecurityEvent | where Nope == 1`, `unknown column or variable "Nope"`},
		{"a tabular operator", `SecurityEvent | wher EventID == 4625`, `unknown tabular operator "wher"; did you mean 'where'?`},
		{"a dashed tabular operator", `SecurityEvent | mv-expnd Computer`, `unknown tabular operator "mv-expnd"; did you mean 'mv-expand'?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.q, cat)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.HasSuffix(tt.want, `"`) && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("a suggestion where none is near: %v", err)
			}
		})
	}
}
