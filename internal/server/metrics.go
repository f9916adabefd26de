package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/store"
)

// metrics are Countersign's Prometheus series, on a registry of their own so
// tests can build several servers in one process.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	verifiers *prometheus.CounterVec
	delivery  *prometheus.CounterVec
}

func newMetrics(h *password.Hasher, st store.Store) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "countersign_http_request_duration_seconds", Help: "API request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		verifiers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_guesses_total", Help: "Evaluated and refused guesses by kind (password, totp) and outcome.",
		}, []string{"kind", "outcome"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_delivery_attempts_total", Help: "Outbox delivery attempts by channel and outcome (delivered, retry, dead).",
		}, []string{"channel", "outcome"}),
	}
	queued := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "countersign_outbox_messages", Help: "Outbox messages by state.",
	}, []string{"state"})
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "countersign_password_hashes_in_flight", Help: "Password hashes holding a slot of the hashing pool (running, or waiting at the hashing worker to start).",
	}, func() float64 { return float64(h.InFlight()) })
	m.registry.MustRegister(m.requests, m.latency, m.verifiers, m.delivery, inFlight, outboxCollector{st, queued},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeRequest(route string, status int, r *http.Request) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if start, ok := r.Context().Value(startKey{}).(time.Time); ok {
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) observeDelivery(channel, outcome string) {
	m.delivery.WithLabelValues(channel, outcome).Inc()
}

// outboxCollector reads the outbox's states when scraped.
type outboxCollector struct {
	st interface {
		CountOutbox(ctx context.Context) (map[string]int, error)
	}
	gauge *prometheus.GaugeVec
}

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { c.gauge.Describe(ch) }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.st.CountOutbox(ctx)
	if err != nil {
		return
	}
	c.gauge.Reset()
	for _, s := range []string{"pending", "sending", "retry", "delivered", "dead"} {
		c.gauge.WithLabelValues(s).Set(float64(counts[s]))
	}
	c.gauge.Collect(ch)
}

func (m *metrics) observeGuess(kind, outcome string) {
	m.verifiers.WithLabelValues(kind, outcome).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type startKey struct{}
