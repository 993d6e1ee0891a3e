package detection

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scheduler's figures for operators: runs by outcome,
// alerts raised, run time, the workspaces whose rules are paused, and
// those whose rules this node runs.
type metrics struct {
	runs    *prometheus.CounterVec
	alerts  prometheus.Counter
	seconds prometheus.Histogram
	delay   prometheus.Histogram
	held    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, paused, leased func() float64) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sealwatch_rule_runs_total",
			Help: "Analytics rule windows evaluated or skipped, by outcome (ran, caughtUp, late, suppressed, skipped, failed)."}, []string{"outcome"}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "sealwatch_rule_alerts_total",
			Help: "Alerts raised by analytics rules."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sealwatch_rule_run_seconds",
			Help: "Time one analytics rule takes to run what is due of it.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sealwatch_rule_run_delay_seconds",
			Help: "How long after its window's end a Scheduled rule's on-time run ran.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		held: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sealwatch_rule_watermark_held_seconds",
			Help: "How far behind this node's own ingestion watermark the other nodes' marks held a workspace's rules at a tick (0: not held).", Buckets: append([]float64{0}, prometheus.ExponentialBuckets(1, 2, 14)...)}),
	}
	// Every outcome from 0: alerts.yml watches the increase of failed
	// runs, which a series made at the first failure would hide.
	for _, o := range []string{OutcomeRan, OutcomeCaughtUp, OutcomeLate, OutcomeSuppressed, OutcomeSkipped, OutcomeFailed} {
		m.runs.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.alerts, m.seconds, m.delay, m.held, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sealwatch_rule_paused_workspaces",
			Help: "Workspaces whose analytics rules cannot run now because their stores cannot be opened (key revoked, locked or unreachable)."}, paused),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sealwatch_rule_leased_workspaces",
				Help: "Workspaces whose analytics rules this node runs: those whose lease it holds."}, leased))
	}
	return m
}
