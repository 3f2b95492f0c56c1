package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// metrics are the Prometheus series served at /metrics, in a registry of
// the Server's own so several servers can live in one process (tests).
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// unreadable counts values left out of listings because they do not open.
	unreadable prometheus.Counter
	// quotaRefused counts writes refused by a quota, by limit.
	quotaRefused *prometheus.CounterVec

	// The series observe has used, so that an answer costs a map lookup,
	// not the vectors' hashing of its labels and a status formatted anew.
	mu        sync.RWMutex
	counters  map[obsKey]prometheus.Counter
	durations map[string]prometheus.Observer
}

type obsKey struct {
	route, method string
	code          int
}

func newMetrics() *metrics {
	m := &metrics{
		counters:  map[obsKey]prometheus.Counter{},
		durations: map[string]prometheus.Observer{},
		registry:  prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nosana_secrets_http_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nosana_secrets_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		unreadable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nosana_secrets_unreadable_values_total",
			Help: "Stored values left out of listings because they do not open (altered, or sealed with a key not configured).",
		}),
		quotaRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nosana_secrets_quota_refused_writes_total",
			Help: "Writes refused because they would take an owner past QUOTA_SECRETS or QUOTA_BYTES, by limit (secrets, bytes).",
		}, []string{"limit"}),
	}
	// Both series exist from the start, at 0.
	m.quotaRefused.WithLabelValues(storage.LimitSecrets)
	m.quotaRefused.WithLabelValues(storage.LimitBytes)
	m.registry.MustRegister(m.requests, m.duration, m.unreadable, m.quotaRefused,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one answer. route must be a registered route or
// "unmatched" and method one of the standard methods or "other", so that
// nothing a client sends creates a series.
func (m *metrics) observe(route, method string, code int, d time.Duration) {
	k := obsKey{route, method, code}
	m.mu.RLock()
	c, o := m.counters[k], m.durations[route]
	m.mu.RUnlock()
	if c == nil || o == nil {
		c = m.requests.WithLabelValues(route, method, strconv.Itoa(code))
		o = m.duration.WithLabelValues(route)
		m.mu.Lock()
		m.counters[k], m.durations[route] = c, o
		m.mu.Unlock()
	}
	c.Inc()
	o.Observe(d.Seconds())
}

func (m *metrics) handler() echo.HandlerFunc { return echo.WrapHandler(m.httpHandler()) }

func (m *metrics) httpHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// methodLabel is method when it is one of the methods of RFC 9110 (and
// PATCH), else "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}
