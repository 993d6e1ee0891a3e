package kql

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// signinSource is a table whose string column holds numbers and whose bool columns rules
// compare with 0, 1 and "True", as sign-in and device tables are written against.
func signinSource(t *testing.T) *countingSource {
	t.Helper()
	tb := NewMemTable("Signins", Column{"TimeGenerated", TypeDatetime}, Column{"User", TypeString},
		Column{"ResultType", TypeString}, Column{"IsPrivate", TypeBool}, Column{"IsAdmin", TypeBool})
	for _, r := range [][]any{
		{ts("2026-11-26T08:00:00Z"), "alice", "0", true, true},
		{ts("2026-11-26T08:10:00Z"), "bob", "50126", false, false},
		{ts("2026-11-26T08:20:00Z"), "carol", "0", false, nil},
		{ts("2026-11-26T08:30:00Z"), "dave", "00", nil, false},
		{ts("2026-11-26T08:40:00Z"), "erin", "1.5", true, true},
	} {
		if err := tb.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	return &countingSource{MemSource: NewMemSource(tb), cells: map[string]int{}}
}

// TestEqualityWithAConstantOfAnotherType: a string or bool column compared for equality with a
// constant of another type, as published rules write it, converts the constant to the column's
// type; the store is handed the converted constant, and gives the same rows as the engine.
func TestEqualityWithAConstantOfAnotherType(t *testing.T) {
	for _, c := range []struct{ name, q, users, pred string }{
		{"string column == 0 compares the text 0", `Signins | where ResultType == 0`, "alice,carol", `ResultType == 0`},
		{"0 == string column", `Signins | where 0 == ResultType`, "alice,carol", `ResultType == 0`},
		{"string column != 0, not pushed down: a null cell reads as the empty string", `Signins | where ResultType != 0`, "bob,dave,erin", ``},
		{"string column == a real", `Signins | where ResultType == 1.5`, "erin", `ResultType == 1.5`},
		{"string column in numbers", `Signins | where ResultType in (0, 50126)`, "alice,bob,carol", `ResultType in [0 50126]`},
		{"string column in numbers and strings", `Signins | where ResultType in (50126, "00")`, "bob,dave", `ResultType in [50126 00]`},
		{"string column !in numbers", `Signins | where ResultType !in (0, 50126)`, "dave,erin", ``},
		{"a let number", `let ok = 0; Signins | where ResultType == ok`, "alice,carol", `ResultType == 0`},
		{"in countif", `Signins | summarize n = countif(ResultType == 0) | project User = tostring(n)`, "2", ``},
		{"bool column == 1", `Signins | where IsPrivate == 1`, "alice,erin", `IsPrivate == true`},
		{"bool column == 0; null is neither", `Signins | where IsPrivate == 0`, "bob,carol", `IsPrivate == false`},
		{"bool column != 1", `Signins | where isnotnull(IsPrivate) and IsPrivate != 1`, "bob,carol", `IsPrivate != true`},
		{"bool column == \"True\" in any case", `Signins | where IsAdmin == "True"`, "alice,erin", `IsAdmin == true`},
		{"bool column == \"false\"", `Signins | where IsAdmin == "false"`, "bob,dave", `IsAdmin == false`},
		{"bool column in (1)", `Signins | where IsAdmin in (1, "TRUE")`, "alice,erin", ``},
		{"bool column compared in an extend", `Signins | extend Admin = IsAdmin == 1 | where Admin`, "alice,erin", ``},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := signinSource(t)
			res := runOn(t, src, src.Catalog(), c.q+` | project User`, Options{})
			var users string
			for i, r := range res.Tables[0].Rows {
				if i > 0 {
					users += ","
				}
				users += fmt.Sprint(r[0])
			}
			if users != c.users {
				t.Fatalf("users %q, want %q", users, c.users)
			}
			if c.pred == "" {
				return
			}
			var preds []string
			for _, p := range src.reqs[0].Predicates {
				preds = append(preds, p.String())
				if p.String() == c.pred {
					return
				}
			}
			t.Fatalf("predicates %q lack %q", preds, c.pred)
		})
	}
}

func TestEqualityWithAConstantOfAnotherTypeRefused(t *testing.T) {
	src := signinSource(t)
	for _, c := range []struct{ name, q, err string }{
		{"bool column == 2 could never hold", `Signins | where IsPrivate == 2`, `1:30: cannot compare the bool column IsPrivate with "2", which is neither true nor false`},
		{"bool column == \"yes\"", `Signins | where IsAdmin == "yes"`, `1:28: cannot compare the bool column IsAdmin with "yes", which is neither true nor false`},
		{"bool column in a list with 5", `Signins | where IsAdmin in (1, 5)`, `1:32: cannot compare the bool column IsAdmin with "5"`},
		{"string column > number: ordering stays refused", `Signins | where ResultType > 0`, `cannot compare values of types string and long`},
		{"string column between numbers stays refused", `Signins | where ResultType between (0 .. 5)`, `between needs values of comparable types, not string and long`},
		{"bool column < 1 stays refused", `Signins | where IsAdmin < 1`, `cannot compare values of types bool and long`},
		{"computed string == number stays refused", `Signins | where strcat(ResultType, "") == 0`, `cannot compare values of types string and long`},
		{"string column == bool column stays refused", `Signins | where ResultType == IsAdmin`, `cannot compare values of types string and bool`},
		{"string column == true stays refused", `Signins | where ResultType == true`, `cannot compare values of types string and bool`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.q, src.Catalog())
			var be *BindError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("Compile: %v, want a bind error containing %q", err, c.err)
			}
		})
	}
}
