package kql

import (
	"reflect"
	"testing"
)

func TestOperatorsListsEachTabularOperatorWhereItIsWritten(t *testing.T) {
	for _, c := range []struct {
		name, query string
		want        []Operator
	}{
		{"operators after pipes", "source\n| where A > 1\n| project-away B", []Operator{{"where", 2, 3}, {"project-away", 3, 3}}},
		{"an operator in a subquery", "source | extend N = toscalar(T | summarize count())",
			[]Operator{{"extend", 1, 10}, {"summarize", 1, 34}}},
		{"a union that starts the query", "union source, T", []Operator{{"union", 1, 1}}},
		{"a print in a let", "let x = print 1;\nsource", []Operator{{"print", 1, 9}}},
		{"names in strings and comments are not operators", "source // | summarize\n| where S == \"| take 1\"", []Operator{{"where", 2, 3}}},
		{"the first operator of an mv-apply subquery", "source | mv-apply x on (where x > 1 | take 1)",
			[]Operator{{"mv-apply", 1, 10}, {"where", 1, 25}, {"take", 1, 39}}},
		{"a column named like an operator is not one", "source | where range > 1", []Operator{{"where", 1, 10}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Operators(c.query)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestOperatorsRefusesWhatDoesNotLex(t *testing.T) {
	if _, err := Operators(`source | where S == "open`); err == nil {
		t.Fatal("an unterminated string lexed")
	}
}
