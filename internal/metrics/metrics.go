// Package metrics defines the Prometheus metrics of the server on their own
// registry: GraphQL requests and latency by operation and outcome, errors
// by code, websocket connections and subscriptions, the notification outbox,
// the database pool, and the Go runtime.
package metrics

import (
	"database/sql"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors. A nil *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	deliveries    *prometheus.CounterVec
	retained      prometheus.Counter

	mu         sync.Mutex
	operations map[string]bool
}

// maxOperations bounds the distinct operation names used as label values:
// names come from clients, and unbounded labels would exhaust memory.
const maxOperations = 200

var operationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Outbox is one channel's outbox backlog.
type Outbox struct{ Pending, Failed int }

// New registers every metric. db (may be nil) adds connection-pool
// statistics; backlog (may be nil) is asked for the outbox backlog by
// channel at each scrape, and a nil answer (it could not be read) leaves
// the outbox gauges out of that scrape rather than reporting zeros.
func New(db *sql.DB, backlog func() map[string]Outbox) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantgraph_graphql_requests_total",
			Help: "GraphQL operations served, by operation name, type and outcome (ok or error).",
		}, []string{"operation", "type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenantgraph_graphql_request_duration_seconds",
			Help:    "Time to serve a GraphQL query or mutation, by operation name, type and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "type", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantgraph_graphql_errors_total",
			Help: "Errors returned to clients, by extensions.code.",
		}, []string{"code"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tenantgraph_websocket_connections",
			Help: "Open, authenticated websocket connections.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tenantgraph_subscriptions_active",
			Help: "Active GraphQL subscriptions.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantgraph_outbox_deliveries_total",
			Help: "Outbox delivery attempts, by channel and outcome (delivered, retry, failed).",
		}, []string{"channel", "outcome"}),
		retained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenantgraph_notifications_expired_total",
			Help: "In-app notifications deleted for being older than NOTIFICATION_RETENTION.",
		}),
		operations: map[string]bool{},
	}
	// Every channel and outcome of a delivery is there from the first
	// scrape, at 0: a series that appears only at its first event cannot
	// be found before it, and rate() and alerts over it miss that event.
	for _, channel := range []string{"EMAIL", "SLACK", "IN_APP"} {
		for _, outcome := range []string{"delivered", "retry", "failed"} {
			m.deliveries.WithLabelValues(channel, outcome)
		}
	}
	m.Registry.MustRegister(m.requests, m.duration, m.errors, m.connections, m.subscriptions, m.deliveries, m.retained,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "tenantgraph"))
	}
	if backlog != nil {
		m.Registry.MustRegister(&backlogCollector{read: backlog,
			pending: prometheus.NewDesc("tenantgraph_outbox_pending", "Outbox entries waiting for delivery, by channel (IN_APP: a large broadcast's shares).", []string{"channel"}, nil),
			failed:  prometheus.NewDesc("tenantgraph_outbox_failed", "Outbox entries that failed for good, by channel.", []string{"channel"}, nil),
		})
	}
	return m
}

// Operation records one served operation.
func (m *Metrics) Operation(name, kind, outcome string, seconds float64) {
	if m == nil {
		return
	}
	name = m.label(name)
	m.requests.WithLabelValues(name, kind, outcome).Inc()
	if kind != "subscription" {
		m.duration.WithLabelValues(name, kind, outcome).Observe(seconds)
	}
}

// Error records one error returned to a client.
func (m *Metrics) Error(code string) {
	if m != nil {
		m.errors.WithLabelValues(code).Inc()
	}
}

// Connections moves the open-websocket gauge by delta.
func (m *Metrics) Connections(delta float64) {
	if m != nil {
		m.connections.Add(delta)
	}
}

// Subscriptions moves the active-subscription gauge by delta.
func (m *Metrics) Subscriptions(delta float64) {
	if m != nil {
		m.subscriptions.Add(delta)
	}
}

// Delivery records one outbox delivery attempt.
func (m *Metrics) Delivery(channel, outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(channel, outcome).Inc()
	}
}

// Expired records n notifications deleted by retention.
func (m *Metrics) Expired(n int) {
	if m != nil {
		m.retained.Add(float64(n))
	}
}

// label keeps operation names bounded: an operation without a name is
// counted as "anonymous"; one with a malformed name, or a name beyond the
// first maxOperations distinct names seen, as "other".
func (m *Metrics) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !operationName.MatchString(name) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.operations[name] {
		return name
	}
	if len(m.operations) >= maxOperations {
		return "other"
	}
	m.operations[name] = true
	return name
}

type backlogCollector struct {
	read            func() map[string]Outbox
	pending, failed *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.failed }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	for channel, o := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(o.Pending), channel)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(o.Failed), channel)
	}
}
