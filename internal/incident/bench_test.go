package incident

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/alert"
	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/kv/boltkv"
)

// BenchmarkRaiseFromAlert measures what raising one alert costs against
// the baseline of a user creating one incident, as wall and CPU time and
// documents written per raise (docs/op). Writes that belong together go in
// one transaction: a PUT is one; a raise one (the alert with its incident,
// trail, link and any new number), two with grouping (the group's shard
// first). fsync=false is the store's own work (sealing, JSON, bbolt);
// fsync=true adds what each transaction's fsync costs on this disk. Each
// alert has an account and an address; under AllEntities each is its own
// group, under AnyAlert all join one incident.
func BenchmarkRaiseFromAlert(b *testing.B) {
	arms := []struct {
		name string
		g    *Grouping // nil: the baseline, a user's PUT of a new incident
	}{
		{"op=put", nil},
		{"op=raise-ungrouped", &Grouping{}},
		{"op=raise-AllEntities", &Grouping{Enabled: true, Lookback: time.Hour, Method: MatchAllEntities}},
		{"op=raise-AnyAlert", &Grouping{Enabled: true, Lookback: time.Hour, Method: MatchAnyAlert}},
	}
	for _, fsync := range []bool{false, true} {
		for _, arm := range arms {
			b.Run(fmt.Sprintf("fsync=%v/%s", fsync, arm.name), func(b *testing.B) { benchRaise(b, fsync, arm.g) })
		}
	}
}

// benchRaise raises b.N alerts under g (nil: PUTs b.N incidents), on a
// database that syncs each transaction if fsync.
func benchRaise(b *testing.B, fsync bool, g *Grouping) {
	db, err := boltkv.Open(filepath.Join(b.TempDir(), "docs.db"), boltkv.Options{NoSync: !fsync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	keys := &countingSeals{Keys: envelopetest.New("doc-aek")}
	docs, _ := docstore.New(db, keys)
	s := New(docs, "ws-1", testWorkspaceID, func() time.Time { return testNow })
	ctx := context.Background()
	alerts := make([]*alert.Alert, b.N)
	for i := range alerts {
		alerts[i] = benchAlert(b, i)
	}
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		if g == nil {
			_, _, err = s.PutAs(ctx, "oid", alerts[i].SystemAlertID, Properties{Title: alerts[i].DisplayName, Severity: "High"}, "")
		} else {
			_, _, err = s.RaiseFromAlert(ctx, alerts[i], "rule-1", *g)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(keys.seals.Load())/float64(b.N), "docs/op")
}

// cpuTime is the process's CPU time so far: under other load on the
// machine it says more of the work done than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingSeals counts the documents sealed: one per document written.
type countingSeals struct {
	*envelopetest.Keys
	seals atomic.Int64
}

func (k *countingSeals) Current(ctx context.Context) (envelope.Sealer, error) {
	k.seals.Add(1)
	return k.Keys.Current(ctx)
}

func benchAlert(b *testing.B, i int) *alert.Alert {
	acc, _ := alert.NewEntity("Account", map[string]string{"Name": fmt.Sprintf("user%06d", i), "UPNSuffix": "contoso.com"})
	ip, _ := alert.NewEntity("IP", map[string]string{"Address": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)})
	at := testNow.Add(time.Duration(i) * time.Millisecond)
	return &alert.Alert{
		SystemAlertID: fmt.Sprintf("0b1e2c3d-0000-4000-8000-%012d", i), DisplayName: "Brute force then success", Severity: "High",
		Description: "31 failed sign-ins then a success", Tactics: []string{"CredentialAccess"}, Techniques: []string{"T1110"},
		StartTime: at.Add(-10 * time.Minute), EndTime: at, TimeGenerated: at,
		RuleID: "rule-1", RuleName: "Brute force", Query: "SigninLogs | where ResultType != 0 | summarize Failures = count() by UserPrincipalName, IPAddress",
		QueryStart: at.Add(-time.Hour), QueryEnd: at, ResultCount: 1,
		Entities: []alert.Entity{acc, ip}, CustomDetails: map[string][]any{"Failures": {31}},
	}
}
