package metrics

import "github.com/prometheus/client_golang/prometheus"

// FeedSource is what the CCS feed collector reads at scrape time
// (*ccs.Feed).
type FeedSource interface {
	Ready() <-chan struct{}
	Readers() int
	Delivered() uint64
	Trimmed() uint64
}

// CCSFeed is a prometheus.Collector for a served CCS event feed (package
// ccs, --ccs-feed): whether it has read the stream, its readers, what it
// wrote to them and what it dropped because the stream no longer holds it.
type CCSFeed struct {
	src                            FeedSource
	ready, readers, lines, trimmed *prometheus.Desc
}

var _ prometheus.Collector = (*CCSFeed)(nil)

// NewCCSFeed returns a collector for src.
func NewCCSFeed(src FeedSource) *CCSFeed {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("arenacast_ccs_feed_"+name, help, nil, nil)
	}
	return &CCSFeed{
		src:     src,
		ready:   d("ready", "1 once the CCS feed has read the stream up to where it stood at start (until then readers get 503)."),
		readers: d("readers", "Open CCS event-feed requests."),
		lines:   d("lines_total", "Notification lines written to CCS feed readers."),
		trimmed: d("trimmed_total", "Notifications the CCS feed dropped because the stream's limits discarded them."),
	}
}

// Describe sends every metric description.
func (c *CCSFeed) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.readers
	ch <- c.lines
	ch <- c.trimmed
}

// Collect reads the feed's counters.
func (c *CCSFeed) Collect(ch chan<- prometheus.Metric) {
	ready := 0.0
	select {
	case <-c.src.Ready():
		ready = 1
	default:
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(c.readers, prometheus.GaugeValue, float64(c.src.Readers()))
	ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(c.src.Delivered()))
	ch <- prometheus.MustNewConstMetric(c.trimmed, prometheus.CounterValue, float64(c.src.Trimmed()))
}
