package detection

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/kql"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// BenchmarkScheduler is the cost of 200 Scheduled rules at a 5-minute
// frequency over a workspace of 1,000,000 sign-in rows. One iteration is one
// simulated hour: twelve ticks, each after 10,000 new rows arrive (one in 50
// of them late, for windows already run). It reports the CPU seconds the
// scheduler spends per hour of scheduling, the p50 and p95 time of one
// rule's window evaluation (from the health records), and, as the same-run
// baseline, the CPU seconds of the bare queries — each rule's query run
// once over its window at each tick, with no late rows looked for, no
// dedupe, no health records — measured on the same data just before each
// tick.
//
//	go test ./internal/detection -run '^$' -bench Scheduler -benchtime 1x -timeout 0
func BenchmarkScheduler(b *testing.B) {
	const (
		rows      = 1_000_000
		rules     = 200
		perTick   = 10_000
		lateShare = 50 // one row in 50 arrives after its window ran
	)
	e := newEnv(b, func(c *Config) { c.MaxAlertsPerRun = 10_000 })
	rng := rand.New(rand.NewPCG(1, 2))
	// the workspace's history: the last hour
	for done := 0; done < rows; done += perTick {
		e.ingestRaw("SigninLogs", signinBatch(rng, e.clock.Now(), perTick, time.Hour, 0))
	}
	if err := e.logs.Flush(e.ctx); err != nil {
		b.Fatal(err)
	}
	specs := make([]map[string]any, rules)
	for i := range rules {
		specs[i] = benchRule(i)
		e.putRule(fmt.Sprintf("rule-%03d", i), "Scheduled", specs[i])
	}
	e.tick() // first runs
	b.ResetTimer()
	var sched, bare time.Duration
	for range b.N {
		for range 12 {
			e.advance(5 * time.Minute)
			e.ingestRaw("SigninLogs", signinBatch(rng, e.clock.Now(), perTick, 5*time.Minute, lateShare))
			c0 := cpuTime()
			e.bareQueries(specs)
			c1 := cpuTime()
			e.tick()
			sched += cpuTime() - c1
			bare += c1 - c0
		}
	}
	b.StopTimer()
	pct := e.query(`SentinelHealth | where ExtendedProperties.Outcome in ("ran", "late") | summarize percentiles(toint(ExtendedProperties.DurationMs), 50, 95), count()`)
	b.ReportMetric(sched.Seconds()/float64(b.N), "cpu-s/h")
	b.ReportMetric(bare.Seconds()/float64(b.N), "bare-cpu-s/h")
	b.ReportMetric(sched.Seconds()/bare.Seconds(), "x-bare")
	b.ReportMetric(toFloat(pct[0][0]), "p50-ms")
	b.ReportMetric(toFloat(pct[0][1]), "p95-ms")
	b.ReportMetric(toFloat(pct[0][2])/float64(b.N), "windows/h")
}

// bareQueries runs each rule's query once over the window ending now.
func (e *env) bareQueries(specs []map[string]any) {
	e.t.Helper()
	src := wsdata.NewSource(e.logs, testCustomer)
	cat, err := kql.CatalogOf(e.ctx, src)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	for _, p := range specs {
		q, err := kql.Compile(p["query"].(string), cat)
		if err != nil {
			e.t.Fatal(err)
		}
		period := 5 * time.Minute
		if p["queryPeriod"] == "PT1H" {
			period = time.Hour
		}
		res, err := q.Run(e.ctx, src, kql.Options{Now: now.Add(-time.Nanosecond), Timespan: period - time.Nanosecond})
		if err != nil {
			e.t.Fatal(err)
		}
		res.Release()
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRule is one of three kinds of rule: a filter over five minutes, a
// count per user over an hour, and a term search over an hour.
func benchRule(i int) map[string]any {
	switch i % 3 {
	case 0:
		return scheduled(fmt.Sprintf(`SigninLogs | where ResultType == "%d" and AppId == "app-%d" | project TimeGenerated, UserPrincipalName, IPAddress`, 50000+i%7, i%40),
			"PT5M", "PT5M", nil)
	case 1:
		return scheduled(fmt.Sprintf(`SigninLogs | where ResultType != "0" | summarize Failures = count() by UserPrincipalName | where Failures > %d`, 40+i%20),
			"PT5M", "PT1H", nil)
	default:
		return scheduled(fmt.Sprintf(`SigninLogs | where UserAgent has "scanner%d" | summarize n = count() by IPAddress`, i%50),
			"PT5M", "PT1H", nil)
	}
}

// signinBatch is n sign-in rows spread over the span before now; one in
// late of them (none if late is 0) is stamped ten minutes earlier.
func signinBatch(rng *rand.Rand, now time.Time, n int, span time.Duration, late int) []byte {
	out := make([]map[string]any, n)
	for i := range out {
		at := now.Add(-time.Duration(rng.Int64N(int64(span))))
		if late > 0 && i%late == 0 {
			at = at.Add(-10 * time.Minute)
		}
		result := "0"
		if rng.IntN(4) == 0 {
			result = fmt.Sprint(50000 + rng.IntN(7))
		}
		out[i] = map[string]any{
			"TimeGenerated": at, "UserPrincipalName": fmt.Sprintf("user%04d@contoso.com", rng.IntN(5000)),
			"IPAddress": fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(256), rng.IntN(256)), "ResultType": result,
			"AppId": fmt.Sprintf("app-%d", rng.IntN(40)), "UserAgent": fmt.Sprintf("Mozilla/5.0 scanner%d", rng.IntN(5000)),
		}
	}
	body, _ := json.Marshal(out)
	return body
}
