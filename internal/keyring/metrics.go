package keyring

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every keyring registered on one Registerer: the
// first keyring registers them, the others reuse what is registered.
type metrics struct {
	state    *prometheus.GaugeVec
	probes   *prometheus.CounterVec
	probeDur *prometheus.HistogramVec
	kekCalls *prometheus.CounterVec
	checks   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sealwatch_keyring_state",
			Help: "1 for the state a (cluster, storage resource) keyring is in, 0 for the others.",
		}, []string{"cluster", "resource", "state"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealwatch_keyring_probes_total",
			Help: "Health probes of account keys, by result (ok, revoked, unreachable, error).",
		}, []string{"cluster", "resource", "result"}),
		probeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealwatch_keyring_probe_duration_seconds",
			Help:    "Time a health probe takes to unwrap every account key with the key-encryption key, by result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cluster", "resource", "result"}),
		kekCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealwatch_keyring_kek_calls_total",
			Help: "Calls to the key-encryption key's service, by operation and result.",
		}, []string{"cluster", "resource", "op", "result"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealwatch_keyring_check_records_total",
			Help: "Key check records of the nodes sharing their checks, by outcome: published (this node's probe), adopted (another node's check taken instead of a probe), stale (too old, or of another registry version: this node probes), untrusted (failed its MAC, a replay, or from the future: this node probes).",
		}, []string{"cluster", "resource", "outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.state, err = register(reg, m.state); err != nil {
		return nil, err
	}
	if m.probes, err = register(reg, m.probes); err != nil {
		return nil, err
	}
	if m.probeDur, err = register(reg, m.probeDur); err != nil {
		return nil, err
	}
	if m.kekCalls, err = register(reg, m.kekCalls); err != nil {
		return nil, err
	}
	if m.checks, err = register(reg, m.checks); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// ringMetrics are the series of one keyring. Once forgotten (the keyring
// closed, its cluster perhaps deleted) they stay gone: a probe or check
// still running when the keyring closed counts nothing more, rather than
// bring back series of a ring that no longer exists.
type ringMetrics struct {
	*metrics
	cluster, resource string

	mu        sync.RWMutex // held for reading while a series is updated
	forgotten bool
}

// live runs update unless the series were forgotten.
func (m *ringMetrics) live(update func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.forgotten {
		update()
	}
}

func (m *metrics) with(cluster, resource string) *ringMetrics {
	return &ringMetrics{metrics: m, cluster: cluster, resource: resource}
}

func (m *ringMetrics) setState(s State) {
	m.live(func() {
		for st, name := range stateNames {
			v := 0.0
			if st == s {
				v = 1
			}
			m.state.WithLabelValues(m.cluster, m.resource, name).Set(v)
		}
	})
}

func (m *ringMetrics) probe(r probeResult, took time.Duration) {
	m.live(func() {
		m.probes.WithLabelValues(m.cluster, m.resource, string(r)).Inc()
		m.probeDur.WithLabelValues(m.cluster, m.resource, string(r)).Observe(took.Seconds())
	})
}

func (m *ringMetrics) kekCall(op string, err error) {
	m.live(func() { m.kekCalls.WithLabelValues(m.cluster, m.resource, op, string(classify(err))).Inc() })
}

func (m *ringMetrics) checkRecord(outcome string) {
	m.live(func() { m.checks.WithLabelValues(m.cluster, m.resource, outcome).Inc() })
}

func (m *ringMetrics) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgotten = true
	l := prometheus.Labels{"cluster": m.cluster, "resource": m.resource}
	m.state.DeletePartialMatch(l)
	m.probes.DeletePartialMatch(l)
	m.probeDur.DeletePartialMatch(l)
	m.kekCalls.DeletePartialMatch(l)
	m.checks.DeletePartialMatch(l)
}
