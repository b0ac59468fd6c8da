package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything one run of the tool measured, as JSON.
type report struct {
	Date string   `json:"date"`
	Host hostInfo `json:"host"`
	// KernelTimestamps: every latency is to the kernel's receipt of the
	// bytes (--kernel-timestamps), not to the load tool's reader.
	KernelTimestamps bool     `json:"kernel_timestamps,omitempty"`
	Args             []string `json:"args"`
	Results          []result `json:"results"`
}

type hostInfo struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
}

// result is one preset's outcome; exactly one field is set.
type result struct {
	Preset  string         `json:"preset"`
	Fanout  *fanoutResult  `json:"fanout,omitempty"`
	Idle    *idleResult    `json:"idle,omitempty"`
	Spike   *spikeResult   `json:"spike,omitempty"`
	Contest *contestResult `json:"contest,omitempty"`
	Restart *restartResult `json:"restart,omitempty"`
	Hold    *holdResult    `json:"hold,omitempty"`
	Publish *publishResult `json:"publish,omitempty"`
	Boards  *boardsResult  `json:"boards,omitempty"`
}

func newReport() *report {
	return &report{Date: time.Now().UTC().Format(time.RFC3339), Host: host(), Args: os.Args[1:]}
}

func host() hostInfo {
	h := hostInfo{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return h
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTables prints every result as aligned tables.
func (r *report) writeTables(w io.Writer) {
	fmt.Fprintf(w, "arenacast-bench %s: %d CPUs (%s), %s\n", r.Date, r.Host.CPUs, r.Host.CPUModel, r.Host.Go)
	if r.KernelTimestamps {
		fmt.Fprintln(w, "latency: to the kernel's receipt of the bytes (--kernel-timestamps), without the load tool's own delays")
	}
	for _, res := range r.Results {
		fmt.Fprintln(w)
		switch {
		case res.Fanout != nil:
			res.Fanout.table(w)
		case res.Idle != nil:
			res.Idle.table(w)
		case res.Spike != nil:
			res.Spike.table(w)
		case res.Contest != nil:
			res.Contest.table(w)
		case res.Restart != nil:
			res.Restart.table(w)
		case res.Hold != nil:
			res.Hold.table(w)
		case res.Publish != nil:
			res.Publish.table(w)
		case res.Boards != nil:
			res.Boards.table(w)
		}
	}
}

func ms(v float64) string { return fmt.Sprintf("%.1f", v) }

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

func connectLine(w io.Writer, what string, c connectStats) {
	fmt.Fprintf(w, "%s: %d/%d in %.2fs = %.0f/s (connect+auth+subscribe), latency p50 %s p99 %s max %s ms",
		what, c.OK, c.Clients, c.Elapsed.Seconds(), c.Rate, ms(c.Latency.P50), ms(c.Latency.P99), ms(c.Latency.Max))
	if c.Failed > 0 {
		fmt.Fprintf(w, "; %d FAILED (%s)", c.Failed, c.FirstErr)
	}
	fmt.Fprintln(w)
}

func (f *fanoutResult) table(w io.Writer) {
	fmt.Fprintf(w, "== fanout (%s): %d %s clients (batch=%v) on %d channel(s), %d-byte payload\n",
		f.Server, f.Clients, f.Transport, f.Batch, f.Channels, f.Payload)
	connectLine(w, "connect", f.Connect)
	if f.RSSPerConn > 0 {
		fmt.Fprintf(w, "server RSS per connection (subscribed, idle): %s\n", kib(f.RSSPerConn))
	} else {
		fmt.Fprintf(w, "server RSS per connection: not measured (the server had grown in an earlier preset)\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ev/s target\tev/s\tdeliv/s\texpected\treceived\tloss %\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsrv CPU s\tCPU s/1M\tdeliv/CPU-s\tsrv RSS\ttool cores\tsrv p50 ms\tsrv p99 ms\t")
	for _, s := range f.Steps {
		srv50, srv99 := "-", "-"
		if s.Server != nil {
			srv50, srv99 = atMost(s.Server.P50AtMost), atMost(s.Server.P99AtMost)
		}
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%d\t%d\t%.3f\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.0f\t%s\t%.2f\t%s\t%s\t\n",
			s.TargetRate, s.EventRate, s.DeliveriesPerSec, s.Expected, s.Received, 100*s.Loss,
			ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max),
			s.ServerCPU, s.ServerCPUPerM, s.PerServerCPUSec, fmt.Sprintf("%.0f MiB", float64(s.ServerRSS)/(1<<20)), s.ToolCores, srv50, srv99)
	}
	tw.Flush()
	for _, s := range f.Steps {
		if s.ToStore != nil {
			fmt.Fprintf(w, "%.0f ev/s split (--debug-stored-time): publisher to store p50 %s p99 %s ms; store to client p50 %s p99 %s ms\n",
				s.TargetRate, ms(s.ToStore.P50), ms(s.ToStore.P99), ms(s.FromStore.P50), ms(s.FromStore.P99))
		}
		if r := s.PublishRequest; r != nil {
			fmt.Fprintf(w, "%.0f ev/s: %d POST /publish (%s), round trip p50 %s p99 %s max %s ms\n",
				s.TargetRate, r.Count, f.Publish, ms(r.P50), ms(r.P99), ms(r.Max))
		}
		if s.PublishFailed > 0 {
			fmt.Fprintf(w, "%.0f ev/s: %d events not acknowledged by the server\n", s.TargetRate, s.PublishFailed)
		}
	}
	if f.BrokeAt != "" {
		fmt.Fprintf(w, "broke at %s\n", f.BrokeAt)
	}
}

// atMost shows a histogram bucket bound: the value is at most it.
func atMost(ms float64) string {
	if ms < 0 {
		return "> 5000"
	}
	return "≤ " + strconv.FormatFloat(ms, 'f', -1, 64)
}

func (r *idleResult) table(w io.Writer) {
	fmt.Fprintf(w, "== idle: %d %s clients, authenticated and subscribed\n", r.Clients, r.Transport)
	connectLine(w, "connect", r.Connect)
	fmt.Fprintf(w, "server RSS %.1f MiB -> %.1f MiB: %s per connection after %s, %s after %s more; %d fds; %.2f CPU-s idle over %s\n",
		float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20), kib(r.RSSPerConn), r.Settle, kib(r.RSSPerConn2), r.Settle,
		r.ServerFDs, r.IdleCPU, r.Settle)
}

func (r *spikeResult) table(w io.Writer) {
	fmt.Fprintf(w, "== spike: %d %s clients, %d dials in flight\n", r.Clients, r.Transport, r.Concurrency)
	connectLine(w, "connect at once", r.Connect)
	connectLine(w, "drop all, reconnect at once with resume", r.Reconnect)
	fmt.Fprintf(w, "recovered:true %d, recovered:false %d; %d events published throughout: expected %d, received %d, loss %.4f%%, duplicates %d\n",
		r.Recovered, r.NotRecovered, r.Events, r.Expected, r.Received, 100*r.Loss, r.Dups)
	fmt.Fprintf(w, "latency (incl. the outage) p50 %s p90 %s p99 %s max %s ms; server CPU %.2f s, RSS %.0f MiB; closes %v\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.ServerCPU, float64(r.PeakRSS)/(1<<20), r.Closes)
}

func (r *contestResult) table(w io.Writer) {
	fmt.Fprintf(w, "== contest: %d contestants (contest + user channels), %d admins, %d scoreboard viewers, %s clients, %s\n",
		r.Contestants, r.Admins, r.Viewers, r.Transport, r.Duration)
	connectLine(w, "connect", r.Connect)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tev/s\tevents\texpected\treceived\tloss %\tp50 ms\tp99 ms\tmax ms\t")
	for _, k := range r.Kinds {
		name := k.Name
		if k.MayCoalece {
			name += " [coalescable]"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%d\t%d\t%.3f\t%s\t%s\t%s\t\n", name, k.Rate, k.Events, k.Expected, k.Received,
			100*k.Loss, ms(k.Latency.P50), ms(k.Latency.P99), ms(k.Latency.Max))
	}
	tw.Flush()
	fmt.Fprintf(w, "visibility violations: %d; duplicates: %d; server CPU %.2f s, RSS %.0f MiB; closes %v\n",
		r.Violations, r.Dups, r.ServerCPU, float64(r.ServerRSS)/(1<<20), r.Closes)
}

func (r *restartResult) table(w io.Writer) {
	fmt.Fprintf(w, "== restart: %d %s clients, server restarted by %q (took %.2fs), %d connects in flight\n",
		r.Clients, r.Transport, r.Command, r.CommandTime, r.Concurrency)
	connectLine(w, "connect", r.Connect)
	fmt.Fprintf(w, "dropped by the server: %d/%d clients (%d drops), over %.2fs; resubscribed %d, NOT resubscribed %d, never dropped %d\n",
		r.Dropped, r.Clients, r.Drops, r.DropSpread, r.Resubscribed, r.Missing, r.NotDropped)
	if r.Abrupt > 0 {
		fmt.Fprintf(w, "%d drops came without a close code (first: %s)\n", r.Abrupt, r.AbruptErr)
	}
	fmt.Fprintf(w, "reconnect attempts %d (%d failed", r.Attempts, r.Failed)
	if r.FirstErr != "" {
		fmt.Fprintf(w, ", first: %s", r.FirstErr)
	}
	fmt.Fprintf(w, "); first drop -> first resubscribe %.2fs, -> all resubscribed %.2fs (%.2fs after the command returned); resubscribes %.0f/s over %.2fs\n",
		r.Outage, r.AllBack, r.AfterCommand, r.ResubRate, r.ResubWindow)
	if len(r.FailedBy) > 0 {
		fmt.Fprintf(w, "failed attempts by cause: %v\n", r.FailedBy)
	}
	fmt.Fprintf(w, "drop -> resubscribed per client p50 %s p99 %s max %s ms\n", ms(r.DropToResub.P50), ms(r.DropToResub.P99), ms(r.DropToResub.Max))
	fmt.Fprintf(w, "recovered:true %d, recovered:false %d; %d events published throughout: expected %d, received %d, loss %.4f%%, duplicates %d\n",
		r.Recovered, r.NotRecovered, r.Events, r.Expected, r.Received, 100*r.Loss, r.Dups)
	fmt.Fprintf(w, "latency (incl. the outage) p50 %s p90 %s p99 %s max %s ms; closes %v\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Closes)
}

func (r *holdResult) table(w io.Writer) {
	fmt.Fprintf(w, "== hold: %d %s clients on %s (%d channel(s), run %d)\n", r.Clients, r.Transport, r.Channel, r.Channels, r.RunID)
	connectLine(w, "connect", r.Connect)
	fmt.Fprintf(w, "server RSS %.1f MiB -> %.1f MiB held: %s per connection; %d fds\n",
		float64(r.RSSBefore)/(1<<20), float64(r.RSSHeld)/(1<<20), kib(r.RSSPerConn), r.ServerFDs)
	fmt.Fprintf(w, "events: %d awaited over %d channel(s), each client its channel's share; %d/%d clients got every one within %.1fs; deliveries expected %d, received %d, loss %.4f%%; duplicates %d, violations %d, dropped %d\n",
		r.Awaited, r.Channels, r.Complete, r.Connect.OK, r.Waited, r.Expected, r.Received, 100*r.Loss, r.Dups, r.Violations, r.Dropped)
	fmt.Fprintf(w, "latency p50 %s p90 %s p99 %s max %s ms; closes %v; server CPU %.2f s while publishing and delivering\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Closes, r.ServerCPU)
}

func (r *publishResult) table(w io.Writer) {
	fmt.Fprintf(w, "== publish: %d events of run %d to %s (%d channel(s)) at %.0f/s, %d failed\n", r.Events, r.RunID, r.Channel, r.Channels, r.Rate, r.Failed)
}

func (r *boardsResult) table(w io.Writer) {
	fmt.Fprintf(w, "boards: %d viewers, %d rows (%s whole), %.0f row patches/s\n", r.Viewers, r.Rows, kib(float64(r.BoardBytes)), r.Rate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tupdates\tbytes/viewer/update\tmsgs/viewer/update\tserver CPU-s\tfinal equal\tdifferent\tAPI fetches\t")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%d\t%d\t%d\t\n", run.Mode, run.Updates, run.BytesPerViewerPerUpdate,
			run.MessagesPerUpdate, run.ServerCPU, run.Equal, run.Different, run.Fetches)
	}
	tw.Flush()
	if len(r.Runs) == 2 && r.Runs[0].BytesPerViewerPerUpdate > 0 && r.Runs[0].ServerCPU > 0 {
		fmt.Fprintf(w, "whole boards / patches: %.0fx the bytes, %.1fx the server CPU\n",
			r.Runs[1].BytesPerViewerPerUpdate/r.Runs[0].BytesPerViewerPerUpdate, r.Runs[1].ServerCPU/r.Runs[0].ServerCPU)
	}
}
