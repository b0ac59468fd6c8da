package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arenacast/arenacast/broadcaster/ccs"
)

// FollowerSource is what the CCS follower collector reads at scrape time
// (*ccs.Follower).
type FollowerSource interface{ Stats() ccs.FollowerStats }

// CCSFollower is a prometheus.Collector for `arenacast ccs-follow`: how its
// connections to the CCS go and what it reads, skips and publishes. Every
// metric carries the followed contest as a constant label, so that one
// Prometheus can scrape the followers of many contests.
type CCSFollower struct {
	src FollowerSource

	connects, disconnects, notifications, repeats *prometheus.Desc
	published, duplicates, skipped                *prometheus.Desc
}

var _ prometheus.Collector = (*CCSFollower)(nil)

// NewCCSFollower returns a collector for src, which follows contest.
func NewCCSFollower(src FollowerSource, contest string) *CCSFollower {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("arenacast_ccs_follow_"+name, help, labels, prometheus.Labels{"contest": contest})
	}
	return &CCSFollower{
		src:           src,
		connects:      d("connects_total", "Connections to the CCS event feed that answered 200."),
		disconnects:   d("disconnects_total", "Connections to the CCS event feed that ended (error, end of stream, idle timeout)."),
		notifications: d("notifications_total", "Notifications read from the CCS, repeats included."),
		repeats:       d("repeats_total", "Notifications skipped as already published (a reconnect reading from the start)."),
		published:     d("published_total", "Events stored on the stream, copies for teams and releases included."),
		duplicates:    d("duplicates_total", "Publishes the stream recognised as repeats of a stored event."),
		skipped:       d("skipped_total", "Feed lines skipped, by reason (malformed: not a notification; oversize: over --max-event-size).", "reason"),
	}
}

// Describe sends every metric description.
func (c *CCSFollower) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connects, c.disconnects, c.notifications, c.repeats, c.published, c.duplicates, c.skipped} {
		ch <- d
	}
}

// Collect reads the follower's counters.
func (c *CCSFollower) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	counter := counterTo(ch)
	counter(c.connects, st.Connects)
	counter(c.disconnects, st.Disconnects)
	counter(c.notifications, st.Notifications)
	counter(c.repeats, st.Repeats)
	counter(c.published, st.Published)
	counter(c.duplicates, st.Duplicates)
	counter(c.skipped, st.Malformed, "malformed")
	counter(c.skipped, st.Oversize, "oversize")
}
