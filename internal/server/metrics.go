package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/countersign/countersign/internal/password"
)

// metrics are Countersign's Prometheus series, on a registry of their own so
// tests can build several servers in one process.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	verifiers *prometheus.CounterVec
}

func newMetrics(h *password.Hasher) *metrics {
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
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "countersign_password_hashes_in_flight", Help: "Password hashes running now (bounded by the hashing pool).",
	}, func() float64 { return float64(h.InFlight()) })
	m.registry.MustRegister(m.requests, m.latency, m.verifiers, inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeRequest(route string, status int, r *http.Request) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if start, ok := r.Context().Value(startKey{}).(time.Time); ok {
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) observeGuess(kind, outcome string) {
	m.verifiers.WithLabelValues(kind, outcome).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type startKey struct{}
