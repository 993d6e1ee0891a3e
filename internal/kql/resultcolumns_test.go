package kql

import (
	"context"
	"slices"
	"testing"
)

// TestResultColumnsAreTheColumnsARunReturns: the schema known from binding
// alone is the one the rows come back with, operator by operator.
func TestResultColumnsAreTheColumnsARunReturns(t *testing.T) {
	src := fixtureSource(t)
	for _, q := range []string{
		"Events",
		"Events | project Computer, EventID",
		"Events | where EventID == 4625 | summarize Failures = count() by Account, bin(TimeGenerated, 1h)",
		"Events | extend IP = tostring(Props.ip) | project-away Props",
		"Events | join kind=inner (Users) on Account | project Computer, Dept",
		"Logs | parse Msg with * \"for \" User \" from \" IP \" port\" *",
		"let t = Events | take 2; t | union Users",
		"Users | take 1; Events | distinct Computer",
		"print x = 1, y = 'a'",
		"Events | summarize count(Account), dcount(Account) by tostring(EventID), tolower(Computer)",
		"Events | extend tostring(EventID), gettype(Count)",
		"Events | summarize Top = arg_max(Count, *) by EventID",
		"Events | summarize n = count(), Rate = 1.0 * sum(Count) / count(), sum(Count) * 2 by tolower(Computer)",
		"Events | summarize (Latest, LatestUser) = arg_max(TimeGenerated, Account) by Computer",
	} {
		t.Run(q, func(t *testing.T) {
			cq, err := Compile(q, src.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			res, err := cq.Run(context.Background(), src, Options{Now: fixtureNow})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			if got, want := cq.ResultColumns(), res.Tables[len(res.Tables)-1].Columns; !slices.Equal(got, want) {
				t.Fatalf("bound %v, ran %v", got, want)
			}
		})
	}
}

func TestTablesAreTheTablesARunScans(t *testing.T) {
	src := fixtureSource(t)
	for q, want := range map[string][]string{
		"Events | count": {"Events"},
		"Events | join kind=inner (Users) on Account": {"Events", "Users"},
		"let t = Events | take 2; t | union Users":    {"Events", "Users"},
		"table('Logs') | take 1":                      {"Logs"},
		"let unused = Users; Events | take 1":         {"Events", "Users"}, // a let is bound where it is written
		"print x = 1":                                 {},
	} {
		t.Run(q, func(t *testing.T) {
			cq, err := Compile(q, src.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			if got := cq.Tables(); !slices.Equal(got, want) {
				t.Fatalf("Tables() = %v, want %v", got, want)
			}
		})
	}
}
