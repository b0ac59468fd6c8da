// Package metrics exports a broadcaster node's counters to Prometheus. It
// is a Collector that reads broadcaster.Server.Stats at scrape time, so the
// hot path pays only the atomic adds it already does, and nothing is
// registered globally: the caller owns the registry.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arenacast/arenacast/broadcaster"
)

// Stream is what the collector asks of the event bus at scrape time.
type Stream interface {
	// Connected reports whether the NATS connection is up.
	Connected() bool
	// LastID is the newest id on the stream.
	LastID(ctx context.Context) (uint64, error)
}

// Collector is a prometheus.Collector for one node.
type Collector struct {
	srv    *broadcaster.Server
	stream Stream // may be nil

	connections, connectionsOpen, subscriptions                      *prometheus.Desc
	eventsConsumed, eventsBad, deliveries, framesWritten, ringWrites *prometheus.Desc
	boardsRefused, boardsUnknown, boardFolds                         *prometheus.Desc
	drops, slowConsumers, closes, authFailures, badMsgs              *prometheus.Desc
	writeTimeouts, positionsSkipped                                  *prometheus.Desc
	originRefused, resumes, published, publishRefused                *prometheus.Desc
	natsConnected, consumerLag, latency                              *prometheus.Desc
	stateEvictions, stateEntries                                     *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector for srv; stream adds NATS state and consumer lag.
func New(srv *broadcaster.Server, stream Stream) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("arenacast_"+name, help, labels, nil)
	}
	return &Collector{
		srv: srv, stream: stream,
		connections:      d("connections_total", "Client connections accepted."),
		connectionsOpen:  d("connections_open", "Open client connections by transport.", "transport"),
		subscriptions:    d("subscriptions", "Live subscriptions by channel kind.", "kind"),
		eventsConsumed:   d("events_consumed_total", "Events taken off the stream."),
		eventsBad:        d("events_malformed_total", "Malformed events on the stream, skipped."),
		deliveries:       d("events_delivered_total", "Event frames queued to clients."),
		framesWritten:    d("frames_written_total", "Frames (events and replies) written to clients."),
		ringWrites:       d("io_uring_writes_total", "Connection writes sent in the flushers' io_uring batches (0: the ring is off or missing)."),
		drops:            d("events_dropped_total", "Event frames meant for a client and not sent, by reason.", "reason"),
		slowConsumers:    d("slow_consumer_closes_total", "Connections closed because their queue filled."),
		writeTimeouts:    d("write_timeout_closes_total", "WebSocket connections closed because a write stayed blocked longer than the write timeout."),
		boardsRefused:    d("scoreboard_events_refused_total", "Scoreboard events that did not fit their view's board, skipped (also in events_malformed_total)."),
		boardsUnknown:    d("scoreboard_patches_unknown_total", "Scoreboard patches for a view whose board this node did not hold: not delivered; the board is rebuilt from the stream for the next subscriber."),
		boardFolds:       d("scoreboard_patches_folded_total", "Queued scoreboard patches folded into a newer one for a slow viewer."),
		positionsSkipped: d("stream_positions_skipped_total", "Stream positions after the node started that it never routed because the stream discarded them first: events its clients missed."),
		closes:           d("closes_total", "Closed connections by close code (0: the peer went away).", "code"),
		authFailures:     d("auth_failures_total", "Failed authentications by reason.", "reason"),
		badMsgs:          d("bad_messages_total", "Malformed client messages."),
		originRefused:    d("origin_refused_total", "Requests refused for their Origin."),
		resumes:          d("resumes_total", "Resume attempts by outcome.", "outcome"),
		published:        d("http_published_total", "Events accepted by POST /publish."),
		publishRefused:   d("http_publish_refused_total", "Requests refused by POST /publish."),
		natsConnected:    d("nats_connected", "1 when the NATS connection is up."),
		consumerLag:      d("consumer_lag_events", "Stream positions between the newest stored event and the newest routed."),
		latency:          d("delivery_latency_seconds", "Time from the stream storing an event to its write to a client (oldest event of each write)."),
		stateEvictions:   d("state_evictions_total", "Per-channel state forgotten, by structure (recent, snapshot, throttle) and reason (bytes, count, idle).", "kind", "reason"),
		stateEntries:     d("state_entries", "Entries each per-channel structure holds (recent, snapshot: channels; throttle: channel views; hub: channels with subscribers).", "kind"),
	}
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.connectionsOpen, c.subscriptions, c.eventsConsumed, c.eventsBad, c.deliveries,
		c.framesWritten, c.ringWrites, c.drops, c.slowConsumers, c.writeTimeouts, c.positionsSkipped, c.closes, c.authFailures, c.badMsgs, c.originRefused,
		c.resumes, c.published, c.publishRefused, c.natsConnected, c.consumerLag, c.latency,
		c.boardsRefused, c.boardsUnknown, c.boardFolds, c.stateEvictions, c.stateEntries,
	} {
		ch <- d
	}
}

// Collect reads the counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	counter := counterTo(ch)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.connections, st.Connections)
	for t, n := range st.Open {
		gauge(c.connectionsOpen, float64(n), t)
	}
	for k, n := range st.Subscriptions {
		gauge(c.subscriptions, float64(n), k)
	}
	counter(c.eventsConsumed, st.EventsConsumed)
	counter(c.eventsBad, st.EventsBad)
	counter(c.deliveries, st.Deliveries)
	counter(c.framesWritten, st.FramesWritten)
	counter(c.ringWrites, st.RingWrites)
	for r, n := range st.Drops {
		counter(c.drops, n, string(r))
	}
	counter(c.slowConsumers, st.SlowConsumers)
	counter(c.writeTimeouts, st.WriteTimeouts)
	counter(c.positionsSkipped, st.PositionsSkipped)
	counter(c.boardsRefused, st.BoardsRefused)
	counter(c.boardsUnknown, st.BoardsUnknown)
	counter(c.boardFolds, st.BoardFolds)
	for code, n := range st.Closes {
		counter(c.closes, n, strconv.Itoa(int(code)))
	}
	for r, n := range st.AuthFailuresByReason {
		counter(c.authFailures, n, r)
	}
	counter(c.badMsgs, st.BadMessages)
	counter(c.originRefused, st.OriginRefused)
	counter(c.resumes, st.ResumeOK, "recovered")
	counter(c.resumes, st.ResumeMissed, "not_recovered")
	counter(c.resumes, st.ResumeFailed, "failed")
	counter(c.resumes, st.ResumeAborted, "aborted")
	counter(c.published, st.Published)
	counter(c.publishRefused, st.PublishRefused)
	for k, n := range st.StateEvictions {
		counter(c.stateEvictions, n, string(k.Kind), string(k.Reason))
	}
	for k, n := range st.StateEntries {
		gauge(c.stateEntries, float64(n), k)
	}

	buckets := make(map[float64]uint64, len(broadcaster.LatencyBuckets))
	var cum uint64
	for i, ub := range broadcaster.LatencyBuckets {
		cum += st.LatencyCounts[i]
		buckets[ub.Seconds()] = cum
	}
	cum += st.LatencyCounts[len(broadcaster.LatencyBuckets)]
	ch <- prometheus.MustNewConstHistogram(c.latency, cum, st.LatencySum.Seconds(), buckets)

	if c.stream != nil {
		up := 0.0
		if c.stream.Connected() {
			up = 1
		}
		gauge(c.natsConnected, up)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if last, err := c.stream.LastID(ctx); err == nil {
			lag := 0.0
			if last > st.LastConsumed {
				lag = float64(last - st.LastConsumed)
			}
			gauge(c.consumerLag, lag)
		}
	}
}

// counterTo returns a function that sends one counter sample to ch: what
// every collector's Collect does for each of its counters.
func counterTo(ch chan<- prometheus.Metric) func(d *prometheus.Desc, v uint64, labels ...string) {
	return func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
}
