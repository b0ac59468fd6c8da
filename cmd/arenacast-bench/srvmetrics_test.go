package main

import (
	"strings"
	"testing"
)

// exposition is a scrape of serve's /metrics in the shape the Prometheus
// client writes, latency buckets abridged.
func exposition(counts ...string) string {
	les := []string{"0.01", "0.025", "0.05", "+Inf"}
	var b strings.Builder
	b.WriteString("# HELP arenacast_delivery_latency_seconds Time from the stream storing an event to its write.\n")
	b.WriteString("# TYPE arenacast_delivery_latency_seconds histogram\n")
	for i, n := range counts {
		b.WriteString(latencyMetric + `{le="` + les[i] + `"} ` + n + "\n")
	}
	b.WriteString("arenacast_delivery_latency_seconds_sum 12.5\narenacast_delivery_latency_seconds_count " + counts[len(counts)-1] + "\n")
	b.WriteString("arenacast_connections_open{transport=\"websocket\"} 2000\n")
	return b.String()
}

func TestServerLatency(t *testing.T) {
	parse := func(s string) latencyCounts {
		t.Helper()
		c, err := parseLatency(strings.NewReader(s))
		if err != nil {
			t.Fatalf("parseLatency: %v", err)
		}
		return c
	}
	before := parse(exposition("10", "20", "30", "30"))
	cases := []struct {
		name          string
		after         string
		writes        float64
		p50, p99      float64
		wantNoLatency bool
	}{
		// 100 writes in the step: 10 within 10 ms, 80 more within 25 ms,
		// 9 more within 50 ms, 1 beyond.
		{"spread", exposition("20", "100", "129", "130"), 100, 25, 50, false},
		{"all fast", exposition("60", "70", "80", "80"), 50, 10, 10, false},
		{"p99 beyond the last bound", exposition("10", "20", "30", "130"), 100, -1, -1, false},
		{"no writes", exposition("10", "20", "30", "30"), 0, 0, 0, true},
		{"other buckets", exposition("10", "20", "30"), 0, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after, err := parseLatency(strings.NewReader(tc.after))
			if err != nil && !tc.wantNoLatency {
				t.Fatalf("parseLatency: %v", err)
			}
			got := between(before, after)
			if tc.wantNoLatency {
				if got != nil {
					t.Fatalf("between = %+v, want nil", got)
				}
				return
			}
			if got == nil || got.Writes != tc.writes || got.P50AtMost != tc.p50 || got.P99AtMost != tc.p99 {
				t.Fatalf("between = %+v, want %v writes, p50 <= %v, p99 <= %v", got, tc.writes, tc.p50, tc.p99)
			}
		})
	}
	for _, bad := range []string{
		"arenacast_connections_open 3\n",                                                // no histogram
		latencyMetric + `{le="0.05"} 3` + "\n" + latencyMetric + `{le="0.01"} 1` + "\n", // out of order, no +Inf
		latencyMetric + `{le="x"} 3` + "\n",
	} {
		if _, err := parseLatency(strings.NewReader(bad)); err == nil {
			t.Errorf("parseLatency(%q): no error", bad)
		}
	}
}
