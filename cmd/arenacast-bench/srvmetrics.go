package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// latencyMetric is the server's histogram of the time from the stream
// storing an event to its write to a client, observed once per write for
// its oldest event (docs/operations.md).
const latencyMetric = "arenacast_delivery_latency_seconds_bucket"

// metricsWatch reads the server's own delivery latency from its Prometheus
// endpoint (serve --metrics-listen), when a URL was given. The load tool's
// latency is measured at its clients, after its own reading; the server's
// shows how much of that the server accounts for.
type metricsWatch struct {
	url    string
	client *http.Client
}

// latencyCounts is one reading of the histogram: cumulative counts by
// upper bound in seconds, the last +Inf.
type latencyCounts struct {
	le    []float64
	count []float64
}

// sample reads the histogram; a zero latencyCounts when no URL was given
// or the read failed (logged).
func (w metricsWatch) sample(ctx context.Context) latencyCounts {
	if w.url == "" {
		return latencyCounts{}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := w.read(ctx)
	if err != nil {
		logf("reading server metrics %s: %v", w.url, err)
	}
	return c
}

func (w metricsWatch) read(ctx context.Context) (latencyCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	if err != nil {
		return latencyCounts{}, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return latencyCounts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return latencyCounts{}, fmt.Errorf("%s", resp.Status)
	}
	return parseLatency(resp.Body)
}

// parseLatency finds the latency histogram's buckets in a Prometheus text
// exposition.
func parseLatency(r io.Reader) (latencyCounts, error) {
	var c latencyCounts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, latencyMetric+`{le="`)
		if !ok {
			continue
		}
		bound, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return c, fmt.Errorf("unexpected line %q", line)
		}
		le, err := strconv.ParseFloat(bound, 64) // "+Inf" parses as +Inf
		if err != nil {
			return c, fmt.Errorf("bucket bound in %q: %w", line, err)
		}
		n, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return c, fmt.Errorf("bucket count in %q: %w", line, err)
		}
		c.le = append(c.le, le)
		c.count = append(c.count, n)
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if len(c.le) == 0 {
		return c, fmt.Errorf("no %s in the metrics", latencyMetric)
	}
	if !sort.Float64sAreSorted(c.le) || !math.IsInf(c.le[len(c.le)-1], 1) {
		return c, fmt.Errorf("%s: buckets out of order or without +Inf", latencyMetric)
	}
	return c, nil
}

// serverLatency is the server's latency over a step: the writes observed
// and the upper bounds of the buckets holding their p50 and p99, in ms
// (-1: beyond the largest finite bound).
type serverLatency struct {
	Writes    float64 `json:"writes"`
	P50AtMost float64 `json:"p50_ms_at_most"`
	P99AtMost float64 `json:"p99_ms_at_most"`
}

// between is the latency of the writes from reading a to reading b; nil
// when either is missing or they do not match.
func between(a, b latencyCounts) *serverLatency {
	if len(a.le) == 0 || len(a.le) != len(b.le) {
		return nil
	}
	diff := make([]float64, len(b.count))
	for i := range diff {
		if a.le[i] != b.le[i] {
			return nil
		}
		diff[i] = b.count[i] - a.count[i]
	}
	total := diff[len(diff)-1]
	if total <= 0 {
		return nil
	}
	at := func(q float64) float64 {
		for i, n := range diff {
			if n >= q*total {
				if math.IsInf(b.le[i], 1) {
					return -1
				}
				return b.le[i] * 1000
			}
		}
		return -1
	}
	return &serverLatency{Writes: total, P50AtMost: at(0.50), P99AtMost: at(0.99)}
}
