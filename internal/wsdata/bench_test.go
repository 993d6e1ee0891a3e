package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/s3test"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// sealedBench is one sealed store of generated SecurityEvent rows, built once
// per benchmark process: ingesting a million rows takes several seconds.
var sealedBench struct {
	once  sync.Once
	dir   string // removed by TestMain when the process ends
	store *logstore.Store
	rows  int
	err   error
}

// TestMain removes the benchmark's store, which outlives any one benchmark,
// and stops the S3-compatible server if a test started it.
func TestMain(m *testing.M) {
	code := s3test.Main(m) // the S3-compatible server some tests start
	if sealedBench.store != nil {
		sealedBench.store.Close()
	}
	if sealedBench.dir != "" {
		os.RemoveAll(sealedBench.dir)
	}
	for _, st := range []*logstore.Store{compactBench.small, compactBench.merged} {
		if st != nil {
			st.Close()
		}
	}
	if compactBench.dir != "" {
		os.RemoveAll(compactBench.dir)
	}
	if sideBench.store != nil {
		sideBench.store.Close()
	}
	if sideBench.dir != "" {
		os.RemoveAll(sideBench.dir)
	}
	os.Exit(code)
}

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("SEALWATCH_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// securityEvents generates n SecurityEvent rows of about 700 bytes, the
// same for every call, and hands them to ingest as JSON bodies of 2,000.
// One TargetUserName in 10,000 is "x", spread over every block; "y" and a
// procdump Activity are a hundred rows within two minutes halfway through;
// mimikatz is in 1% of the Activity.
func securityEvents(n int, ingest func(body []byte) error) error {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	activities := []string{"An account was successfully logged on.", "An account failed to log on.", "A new process has been created.", "Special privileges assigned to new logon."}
	for done := 0; done < n; {
		batch := make([]map[string]any, 0, 2000)
		for i := 0; i < 2000 && done < n; i, done = i+1, done+1 {
			act := activities[r.IntN(len(activities))]
			if r.IntN(100) == 0 {
				act += " Process: mimikatz.exe"
			}
			user := fmt.Sprintf("user%05d", r.IntN(20000))
			if done%10000 == 7 {
				user = "x" // a rare value present in every block
			}
			at := now.Add(-time.Duration(r.IntN(86400)) * time.Second)
			if done >= n/2 && done < n/2+100 {
				// A rare value in one burst, as an attack often is: a
				// hundred rows within two minutes.
				user = "y"
				act = "Credential dump: procdump lsass"
				at = now.Add(-5*time.Hour + time.Duration(done-n/2)*time.Second)
			}
			batch = append(batch, map[string]any{
				"TimeGenerated":  at.Format(time.RFC3339Nano),
				"Computer":       fmt.Sprintf("host-%03d.corp.example", r.IntN(500)),
				"Account":        `CORP\` + user,
				"TargetUserName": user,
				"EventID":        []int{4624, 4625, 4688, 4672}[r.IntN(4)],
				"IpAddress":      fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)),
				"Activity":       act + " Subject: Security ID S-1-5-18 Logon Type 3 Authentication Package Kerberos Workstation WS-" + strconv.Itoa(r.IntN(9999)),
				"EventData":      fmt.Sprintf(`<EventData><Data Name="SubjectUserSid">S-1-5-21-%d</Data><Data Name="LogonGuid">{%016x}</Data><Data Name="ProcessName">C:\Windows\System32\svchost.exe</Data></EventData>`, r.IntN(1e9), r.Uint64()),
			})
		}
		body, err := json.Marshal(batch)
		if err != nil {
			return err
		}
		if err := ingest(body); err != nil {
			return err
		}
	}
	return nil
}

// buildSealedStore ingests SecurityEvent rows of about 700 bytes (Computer,
// Account, TargetUserName, EventID, IpAddress, Activity, EventData) under a
// real keyring, plus a 5,000-row IdentityInfo table, and flushes them into
// sealed segments.
func buildSealedStore(b *testing.B) (*logstore.Store, int) {
	sealedBench.once.Do(func() {
		dir, err := os.MkdirTemp("", "sealwatch-bench-")
		if err != nil {
			sealedBench.err = err
			return
		}
		sealedBench.dir = dir
		db, err := boltkv.Open(filepath.Join(dir, "registry.db"), boltkv.Options{})
		if err != nil {
			sealedBench.err = err
			return
		}
		ring, err := keyring.Open(context.Background(), keyring.Config{DB: db, Cluster: "bench", Resource: "logs", KEK: kektest.New("cmk")})
		if err != nil {
			sealedBench.err = err
			return
		}
		st, err := logstore.New(logstore.Config{Dir: filepath.Join(dir, "logs"), Keys: ring, Retention: 30 * 24 * time.Hour})
		if err != nil {
			sealedBench.err = err
			return
		}
		n := benchRows()
		sealedBench.err = securityEvents(n, func(body []byte) error {
			_, err := st.Ingest(context.Background(), "ws", "SecurityEvent", body)
			return err
		})
		var ids []map[string]any
		for i := range 5000 {
			ids = append(ids, map[string]any{"AccountName": fmt.Sprintf("user%05d", i*4), "Department": []string{"Finance", "IT", "Sales", "Legal", "HR"}[i%5]})
		}
		body, _ := json.Marshal(ids)
		if _, err := st.Ingest(context.Background(), "ws", "IdentityInfo", body); err != nil {
			sealedBench.err = err
		}
		if err := st.Flush(context.Background()); err != nil {
			sealedBench.err = err
		}
		sealedBench.store, sealedBench.rows = st, n
	})
	if sealedBench.err != nil {
		b.Fatal(sealedBench.err)
	}
	return sealedBench.store, sealedBench.rows
}

// BenchmarkSealedQuery runs the queries over sealed segments, each
// next to a bare scan (decrypt and decompress, no engine) of the columns it
// reads, in the same run.
func BenchmarkSealedQuery(b *testing.B) {
	st, rows := buildSealedStore(b)
	ctx := context.Background()
	src := wsdata.NewSource(st, "ws")
	tables, err := src.Tables(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, query string
		columns     []string
		preds       []logstore.Predicate
	}{
		{"summarize-by-computer", "SecurityEvent | summarize count() by Computer", []string{"Computer"}, nil},
		{"where-equals", `SecurityEvent | where TargetUserName == "x"`, nil,
			[]logstore.Predicate{{Column: "TargetUserName", Op: logstore.OpEq, Value: "x"}}},
		{"has-term", `SecurityEvent | where Activity has "mimikatz" | count`, []string{"Activity"},
			[]logstore.Predicate{{Column: "Activity", Op: logstore.OpHas, Value: "mimikatz"}}},
		{"where-equals-burst", `SecurityEvent | where TargetUserName == "y"`, nil,
			[]logstore.Predicate{{Column: "TargetUserName", Op: logstore.OpEq, Value: "y"}}},
		{"has-term-burst", `SecurityEvent | where Activity has "procdump" | count`, []string{"Activity"},
			[]logstore.Predicate{{Column: "Activity", Op: logstore.OpHas, Value: "procdump"}}},
		{"join", `SecurityEvent | where EventID == 4625 | join kind=inner (IdentityInfo) on $left.TargetUserName == $right.AccountName | summarize count() by Department`,
			[]string{"EventID", "TargetUserName"}, nil},
		// every column: the store has no any-column predicate, so all are read
		{"search-term", `search in (SecurityEvent) "mimikatz" | count`, nil, nil},
		// the same search after the union, on boxed rows, as a predicate on $table forces
		{"search-term-after-union", `search in (SecurityEvent) "mimikatz" and $table == "SecurityEvent" | count`, nil, nil},
		{"where-star-has", `SecurityEvent | where * has "mimikatz" | count`, nil, nil},
		// the same match on boxed rows, as before it ran on column batches
		{"where-star-has-rows", `SecurityEvent | where * has "mimikatz" or false | count`, nil, nil},
	}
	// The query API reads the tables' schemas for every query.
	b.Run("query=schemas/via=engine", func(b *testing.B) {
		for b.Loop() {
			if _, err := wsdata.NewSource(st, "ws").Tables(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range cases {
		q, err := kql.Compile(c.query, kql.Catalog{Tables: tables})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.Run(ctx, src, kql.Options{}); err != nil { // warm
			b.Fatal(err)
		}
		b.Run("query="+c.name+"/via=engine", func(b *testing.B) {
			for b.Loop() {
				if _, err := q.Run(ctx, src, kql.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run("query="+c.name+"/via=bare", func(b *testing.B) {
			for b.Loop() {
				sc, err := st.Scan(ctx, logstore.ScanRequest{Workspace: "ws", Table: "SecurityEvent", Columns: c.columns, Predicates: c.preds})
				if err != nil {
					b.Fatal(err)
				}
				for sc.Next() {
				}
				if err := sc.Err(); err != nil {
					b.Fatal(err)
				}
				sc.Close()
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
