package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/metrics"
)

// startMetrics serves /metrics from a registry of its own on addr, apart
// from the public listener so it can stay internal. With profile, it also
// serves the Go profiler under /debug/pprof/ (heap, goroutines, CPU), which
// is how the figures in docs/benchmarks.md were explained; it is off by
// default because a profile reveals internals and costs CPU while it runs.
func startMetrics(addr string, srv *broadcaster.Server, stream metrics.Stream, profile bool, log *slog.Logger, extra ...prometheus.Collector) (*http.Server, error) {
	return listenMetrics(addr, profile, log, append([]prometheus.Collector{metrics.New(srv, stream)}, extra...)...)
}

// listenMetrics serves /metrics on addr from a registry of its own holding
// cs and the Go runtime and process collectors (and the profiler, with
// profile): what serve and ccs-follow share.
func listenMetrics(addr string, profile bool, log *slog.Logger, cs ...prometheus.Collector) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(cs...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("metrics listening", "addr", ln.Addr().String())
	return hs, nil
}
