package kql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
)

func Example() {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	t := kql.NewMemTable("SecurityEvent",
		kql.Column{Name: "TimeGenerated", Type: kql.TypeDatetime},
		kql.Column{Name: "Computer", Type: kql.TypeString},
		kql.Column{Name: "EventID", Type: kql.TypeInt})
	t.Append(now.Add(-30*time.Minute), "web01", 4625)
	t.Append(now.Add(-20*time.Minute), "web01", 4625)
	t.Append(now.Add(-2*time.Hour), "db01", 4625)
	src := kql.NewMemSource(t)

	q, err := kql.Compile(`SecurityEvent
| where TimeGenerated > ago(1h) and EventID == 4625
| summarize Failures = count(), Last = max(TimeGenerated) by Computer`, src.Catalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := q.Run(context.Background(), src, kql.Options{Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))

	_, err = kql.Compile("SecurityEvent\n| where Nope == 1", src.Catalog())
	fmt.Println(err)
	// Output:
	// {"tables":[{"name":"PrimaryResult","columns":[{"name":"Computer","type":"string"},{"name":"Failures","type":"long"},{"name":"Last","type":"datetime"}],"rows":[["web01",2,"2026-11-26T11:40:00Z"]]}]}
	// semantic error at 2:9: unknown column or variable "Nope"
}
