package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arenacast/arenacast/broadcaster/legacy"
)

// LegacySource is what the legacy collector reads at scrape time
// (*legacy.Adapter).
type LegacySource interface{ Stats() legacy.Stats }

// Legacy is a prometheus.Collector for the omegaUp drop-in's counters
// (package legacy), registered beside the node's when --legacy-frontend-url
// is set: how much of a platform still connects and publishes the legacy
// way, and how its validateFilter answers.
type Legacy struct {
	src LegacySource

	connections, refused, validateAsked, validateReused *prometheus.Desc
	broadcasts, broadcastEvents, deauthenticated        *prometheus.Desc
	refreshes                                           *prometheus.Desc
}

var _ prometheus.Collector = (*Legacy)(nil)

// NewLegacy returns a collector for src.
func NewLegacy(src LegacySource) *Legacy {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("arenacast_legacy_"+name, help, labels, nil)
	}
	return &Legacy{
		src:             src,
		connections:     d("connections_total", "Legacy (omegaUp) WebSocket connections handed to the node."),
		refused:         d("refused_total", "Legacy connection attempts refused before the upgrade, by reason.", "reason"),
		validateAsked:   d("validate_requests_total", "Calls to the platform's validateFilter."),
		validateReused:  d("validate_reused_total", "Legacy connections answered by a cached validateFilter answer or a call in flight."),
		broadcasts:      d("broadcasts_total", "POST /broadcast/ requests by result (published, refused, failed).", "result"),
		broadcastEvents: d("broadcast_events_total", "Events published for legacy broadcasts (one per channel an envelope concerns)."),
		deauthenticated: d("deauthenticated_total", "/deauthenticate/ requests whose revocation was stored."),
		refreshes:       d("scoreboard_refreshes_total", "Scoreboard refresh calls to the platform by result (ok, refused, failed).", "result"),
	}
}

// Describe sends every metric description.
func (c *Legacy) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.refused, c.validateAsked, c.validateReused,
		c.broadcasts, c.broadcastEvents, c.deauthenticated, c.refreshes,
	} {
		ch <- d
	}
}

// Collect reads the counters.
func (c *Legacy) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	counter := counterTo(ch)
	counter(c.connections, st.Connections)
	for r, n := range st.Refused {
		counter(c.refused, n, r)
	}
	counter(c.validateAsked, st.ValidateAsked)
	counter(c.validateReused, st.ValidateReused)
	for r, n := range st.Broadcasts {
		counter(c.broadcasts, n, r)
	}
	counter(c.broadcastEvents, st.BroadcastEvents)
	counter(c.deauthenticated, st.Deauthenticated)
	for r, n := range st.Refreshes {
		counter(c.refreshes, n, r)
	}
}
