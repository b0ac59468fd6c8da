package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/legacy"
	"github.com/arenacast/arenacast/broadcaster/metrics"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

const waitFor = 20 * time.Second

// node is a broadcaster on an embedded NATS, served over loopback.
type node struct {
	bus  *natsbus.Bus
	srv  *broadcaster.Server
	http *httptest.Server
}

func startNode(t *testing.T) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	bus, err := natsbus.Open(ctx, natsbus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("test", []byte("metrics-test-secret-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broadcaster.New(broadcaster.Options{Verifier: v, Bus: bus, PublishKey: "pk"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(rctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-srv.Ready():
	case <-time.After(waitFor):
		t.Fatal("node not ready")
	}
	n := &node{bus: bus, srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() {
		n.http.Close()
		stop()
		<-done
		bus.Close()
	})
	return n
}

// gather scrapes a pedantic registry (which checks that what is collected
// matches what is described) holding only the collector.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value is the value of the family's metric whose labels include want
// (name=value pairs), and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func post(t *testing.T, n *node, key, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.http.URL+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestCollector: the scrape reads the node's counters and the stream's
// state: published and refused requests, consumed and malformed events,
// NATS up, no lag once routed; with the NATS connection gone, nats_connected
// is 0 and the lag (unknown) is left out.
func TestCollector(t *testing.T) {
	n := startNode(t)
	good := `{"type":"run_update","channel":"/contest/c1","public":true,"data":{}}`
	post(t, n, "pk", good)
	post(t, n, "pk", good)
	post(t, n, "wrong", good)
	if _, err := n.bus.JetStream().Publish(context.Background(), "arenacast.contest.c1", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for st := n.srv.Stats(); st.EventsConsumed < 2 || st.EventsBad < 1; st = n.srv.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not route the events: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}

	mfs := gather(t, metrics.New(n.srv, n.bus))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"arenacast_http_published_total", nil, 2},
		{"arenacast_http_publish_refused_total", nil, 1},
		{"arenacast_events_consumed_total", nil, 2},
		{"arenacast_events_malformed_total", nil, 1},
		{"arenacast_nats_connected", nil, 1},
		{"arenacast_consumer_lag_events", nil, 0},
		{"arenacast_delivery_latency_seconds", nil, 0}, // no client: nothing written
		{"arenacast_resumes_total", []string{"outcome", "recovered"}, 0},
		{"arenacast_state_entries", []string{"kind", "recent"}, 1}, // /contest/c1's ring
		{"arenacast_state_entries", []string{"kind", "snapshot"}, 0},
		{"arenacast_state_entries", []string{"kind", "hub"}, 0},
		{"arenacast_state_evictions_total", []string{"kind", "recent", "reason", "count"}, 0},
	} {
		got, ok := value(mfs, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

	// Without a stream the NATS metrics are not reported at all.
	if _, ok := value(gather(t, metrics.New(n.srv, nil)), "arenacast_nats_connected"); ok {
		t.Error("nats_connected reported without a stream")
	}

	n.bus.Close()
	mfs = gather(t, metrics.New(n.srv, n.bus))
	if got, ok := value(mfs, "arenacast_nats_connected"); !ok || got != 0 {
		t.Errorf("nats_connected after the close = %v (present %v), want 0", got, ok)
	}
	if _, ok := value(mfs, "arenacast_consumer_lag_events"); ok {
		t.Error("a lag reported while the stream cannot be read")
	}
}

// legacyStats is a fixed legacy.Stats source.
type legacyStats legacy.Stats

func (s legacyStats) Stats() legacy.Stats { return legacy.Stats(s) }

// TestLegacyCollector: every counter of legacy.Stats is exported under its
// name and labels.
func TestLegacyCollector(t *testing.T) {
	src := legacyStats{
		Connections: 1, ValidateAsked: 2, ValidateReused: 3, BroadcastEvents: 4, Deauthenticated: 5,
		Refused:    map[string]uint64{"platform": 6, "bad_request": 7},
		Broadcasts: map[string]uint64{"published": 8, "refused": 9},
		Refreshes:  map[string]uint64{"ok": 10, "failed": 11},
	}
	mfs := gather(t, metrics.NewLegacy(src))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"arenacast_legacy_connections_total", nil, 1},
		{"arenacast_legacy_validate_requests_total", nil, 2},
		{"arenacast_legacy_validate_reused_total", nil, 3},
		{"arenacast_legacy_broadcast_events_total", nil, 4},
		{"arenacast_legacy_deauthenticated_total", nil, 5},
		{"arenacast_legacy_refused_total", []string{"reason", "platform"}, 6},
		{"arenacast_legacy_refused_total", []string{"reason", "bad_request"}, 7},
		{"arenacast_legacy_broadcasts_total", []string{"result", "published"}, 8},
		{"arenacast_legacy_broadcasts_total", []string{"result", "refused"}, 9},
		{"arenacast_legacy_scoreboard_refreshes_total", []string{"result", "ok"}, 10},
		{"arenacast_legacy_scoreboard_refreshes_total", []string{"result", "failed"}, 11},
	} {
		if got, ok := value(mfs, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

// feedStats is a fixed metrics.FeedSource.
type feedStats struct {
	ready              chan struct{}
	readers            int
	delivered, trimmed uint64
}

func (f feedStats) Ready() <-chan struct{} { return f.ready }
func (f feedStats) Readers() int           { return f.readers }
func (f feedStats) Delivered() uint64      { return f.delivered }
func (f feedStats) Trimmed() uint64        { return f.trimmed }

// TestCCSFeedCollector: the feed's readiness and counters, before and
// after it is ready.
func TestCCSFeedCollector(t *testing.T) {
	src := feedStats{ready: make(chan struct{}), readers: 2, delivered: 30, trimmed: 4}
	for _, ready := range []bool{false, true} {
		if ready {
			close(src.ready)
		}
		mfs := gather(t, metrics.NewCCSFeed(src))
		want := map[string]float64{
			"arenacast_ccs_feed_ready": 0, "arenacast_ccs_feed_readers": 2,
			"arenacast_ccs_feed_lines_total": 30, "arenacast_ccs_feed_trimmed_total": 4,
		}
		if ready {
			want["arenacast_ccs_feed_ready"] = 1
		}
		for name, w := range want {
			if got, ok := value(mfs, name); !ok || got != w {
				t.Errorf("ready %v: %s = %v (present %v), want %v", ready, name, got, ok, w)
			}
		}
	}
}

// followerStats is a fixed metrics.FollowerSource.
type followerStats ccs.FollowerStats

func (s followerStats) Stats() ccs.FollowerStats { return ccs.FollowerStats(s) }

// TestCCSFollowerCollector: every counter of ccs.FollowerStats is exported
// under its name, with the contest label.
func TestCCSFollowerCollector(t *testing.T) {
	src := followerStats{Connects: 1, Disconnects: 2, Notifications: 3, Repeats: 4, Published: 5, Duplicates: 6, Malformed: 7, Oversize: 8}
	mfs := gather(t, metrics.NewCCSFollower(src, "wf"))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"arenacast_ccs_follow_connects_total", nil, 1},
		{"arenacast_ccs_follow_disconnects_total", nil, 2},
		{"arenacast_ccs_follow_notifications_total", nil, 3},
		{"arenacast_ccs_follow_repeats_total", nil, 4},
		{"arenacast_ccs_follow_published_total", nil, 5},
		{"arenacast_ccs_follow_duplicates_total", nil, 6},
		{"arenacast_ccs_follow_skipped_total", []string{"reason", "malformed"}, 7},
		{"arenacast_ccs_follow_skipped_total", []string{"reason", "oversize"}, 8},
	} {
		if got, ok := value(mfs, c.name, append([]string{"contest", "wf"}, c.labels...)...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}
