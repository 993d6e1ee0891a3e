package kql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/cputime"
)

const benchRows = 1_000_000

// benchSource generates 1M SecurityEvent rows (~700 bytes each: a long event message drawn
// from a pool, plus the usual fields) and a 5,000-row IdentityInfo table to join with.
var benchSource = sync.OnceValue(func() *MemSource {
	se := NewMemTable("SecurityEvent",
		Column{"TimeGenerated", TypeDatetime}, Column{"Computer", TypeString}, Column{"EventID", TypeInt},
		Column{"Account", TypeString}, Column{"TargetUserName", TypeString}, Column{"IpAddress", TypeString},
		Column{"LogonType", TypeInt}, Column{"Activity", TypeString}, Column{"EventData", TypeString})
	var msgs []string
	words := strings.Fields("the quick brown fox jumps over a lazy dog while logon session token process service network share object handle privilege audit policy kerberos ticket")
	for m := 0; m < 997; m++ {
		var b strings.Builder
		fmt.Fprintf(&b, "EventRecord %d: ", m)
		for b.Len() < 560 {
			b.WriteString(words[(m*7+b.Len()*13)%len(words)])
			b.WriteByte(' ')
		}
		if m%100 == 7 {
			b.WriteString("mimikatz sekurlsa logonpasswords ")
		}
		msgs = append(msgs, b.String())
	}
	cols := make([][]any, len(se.Schema.Columns))
	for i := range cols {
		cols[i] = make([]any, benchRows)
	}
	start := fixtureNow.Add(-24 * time.Hour)
	hosts := make([]any, 500)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("HOST-%04d.corp.contoso.com", i)
	}
	users := make([]any, 5000)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d", i)
	}
	ips := make([]any, 1000)
	for i := range ips {
		ips[i] = fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)
	}
	boxedMsgs := make([]any, len(msgs))
	for i, m := range msgs {
		boxedMsgs[i] = m
	}
	ids := []any{int64(4624), int64(4625), int64(4688), int64(4634)}
	lt := []any{int64(2), int64(3), int64(10)}
	data := any(`<EventData><Data Name="SubjectUserSid">S-1-5-18</Data><Data Name="LogonProcessName">Advapi</Data></EventData>`)
	for r := 0; r < benchRows; r++ {
		cols[0][r] = start.Add(time.Duration(r) * 86 * time.Millisecond)
		cols[1][r] = hosts[(r*7)%len(hosts)]
		cols[2][r] = ids[r%len(ids)]
		u := users[(r*13)%len(users)]
		if r%10000 == 5 {
			u = "x"
		}
		cols[3][r] = u
		cols[4][r] = u
		cols[5][r] = ips[(r*31)%len(ips)]
		cols[6][r] = lt[r%3]
		cols[7][r] = boxedMsgs[r%len(boxedMsgs)]
		cols[8][r] = data
	}
	se.Columns = cols
	id := NewMemTable("IdentityInfo", Column{"AccountName", TypeString}, Column{"Department", TypeString})
	for i := range users {
		id.Append(users[i], fmt.Sprintf("dept%02d", i%20))
	}
	return NewMemSource(se, id)
})

// BenchmarkQuery runs representative queries as the query API does, within the default
// per-query memory limit and reserving from a node-wide pool (accounting=on), and with
// memory accounting off, the baseline of what accounting costs.
func BenchmarkQuery(b *testing.B) {
	src := benchSource()
	pool := NewMemoryPool(4<<30, time.Second)
	arms := []struct {
		name string
		opts Options
	}{
		{"accounting=on", Options{Now: fixtureNow, Memory: pool}},
		{"accounting=off", Options{Now: fixtureNow, MaxMemory: -1}},
	}
	for _, bc := range []struct{ name, q string }{
		{"summarize-count-by-Computer", `SecurityEvent | summarize count() by Computer`},
		{"where-TargetUserName-eq", `SecurityEvent | where TargetUserName == "x"`},
		{"where-has-message", `SecurityEvent | where Activity has "mimikatz"`},
		{"join-two-tables", `SecurityEvent | where EventID == 4625 | join kind=inner (IdentityInfo) on $left.TargetUserName == $right.AccountName | summarize count() by Department`},
		{"sort-250k", `SecurityEvent | where EventID == 4625 | sort by TimeGenerated desc | take 10`},
		{"top-100", `SecurityEvent | project TimeGenerated, Computer | top 100 by TimeGenerated desc`},
		{"make_set-by-Computer", `SecurityEvent | summarize make_set(TargetUserName) by Computer`},
		{"dcount-by-Computer", `SecurityEvent | summarize dcount(IpAddress) by Computer`},
		{"mv-expand-100k", `SecurityEvent | take 100000 | extend p = split(IpAddress, ".") | mv-expand p | summarize count() by tostring(p)`},
	} {
		q, err := Compile(bc.q, src.Catalog())
		if err != nil {
			b.Fatal(err)
		}
		// a first run pages in the columns the query reads, so that the first arm is not
		// charged for it
		res, err := q.Run(context.Background(), src, arms[0].opts)
		if err != nil {
			b.Fatal(err)
		}
		res.Release()
		for _, arm := range arms {
			b.Run(bc.name+"/"+arm.name, func(b *testing.B) {
				var rows int
				runtime.GC() // each arm starts from a collected heap, not the last one's garbage
				cpu := cputime.Process()
				for b.Loop() {
					res, err := q.Run(context.Background(), src, arm.opts)
					if err != nil {
						b.Fatal(err)
					}
					rows = len(res.Tables[0].Rows)
					res.Release()
				}
				if cpu := cputime.Process() - cpu; cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
				b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(rows), "result-rows")
			})
		}
	}
	// the bare rate: reading the same columns from the source and touching every value, with
	// no engine at all (the in-memory stand-in for decrypt-and-decompress)
	for _, cols := range [][]string{{"Computer"}, {"TargetUserName"}, {"Activity"}} {
		b.Run("bare-scan-"+cols[0], func(b *testing.B) {
			var n int
			for b.Loop() {
				it, _ := src.Scan(context.Background(), ScanRequest{Table: "SecurityEvent", Columns: cols})
				for {
					bt, err := it.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					for _, v := range bt.Columns[0] {
						s, _ := v.(string)
						n += len(s)
					}
				}
			}
			_ = n
			b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func TestBenchQueriesAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1M rows")
	}
	src := benchSource()
	for q, want := range map[string]int{
		`SecurityEvent | summarize count() by Computer`:                         500,
		`SecurityEvent | where TargetUserName == "x"`:                           100,
		`SecurityEvent | where Activity has "mimikatz" | summarize by Activity`: 10,
	} {
		res := runOn(t, src, src.Catalog(), q, Options{})
		if got := len(res.Tables[0].Rows); got != want && !strings.HasSuffix(q, "count") {
			t.Fatalf("%s: %d rows, want %d", q, got, want)
		}
	}
}
