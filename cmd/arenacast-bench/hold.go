package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// holdChannel is channel k of the n (--channels) the hold and publish
// presets share, so load processes against several nodes and one publisher
// meet on them: <alias>-hold for one, <alias>-hold0..<alias>-hold<n-1> for
// more.
func holdChannel(alias string, k, n int) (contest, channel string) {
	contest = alias + "-hold"
	if n > 1 {
		contest += strconv.Itoa(k)
	}
	return contest, "/contest/" + contest
}

// holdShare is how many of events, published to n channels in turn
// (event i to channel i mod n), channel k gets.
func holdShare(events, k, n int) int {
	if n <= 1 {
		return events
	}
	share := events / n
	if k < events%n {
		share++
	}
	return share
}

// ---- hold ----

// holdResult is the hold preset's outcome.
type holdResult struct {
	Transport  string       `json:"transport"`
	Clients    int          `json:"clients"`
	Channel    string       `json:"channel"` // the first, with Channels > 1
	Channels   int          `json:"channels"`
	RunID      int64        `json:"run_id"`
	Connect    connectStats `json:"connect"`
	RSSBefore  int64        `json:"server_rss_before_bytes"`
	RSSHeld    int64        `json:"server_rss_held_bytes"`
	RSSPerConn float64      `json:"server_rss_per_conn_bytes"`
	ServerFDs  int          `json:"server_fds"`
	Awaited    int          `json:"events_awaited"` // in all: a client awaits its channel's share
	Waited     float64      `json:"waited_s"`
	Expected   int64        `json:"deliveries_expected"`
	Received   int64        `json:"deliveries_received"`
	Loss       float64      `json:"loss"`
	// ServerCPU is the server's CPU from the ready file to the last
	// delivery (or --hold): the publishing, watched from here.
	ServerCPU  float64        `json:"server_cpu_s"`
	Complete   int            `json:"clients_with_every_event"`
	Incomplete int            `json:"clients_missing_events"`
	Dups       uint64         `json:"duplicates"`
	Violations uint64         `json:"violations"`
	Dropped    uint64         `json:"dropped_by_server"`
	Latency    latency        `json:"latency"`
	Closes     map[int]uint64 `json:"closes,omitempty"`
}

// hold connects N idle authenticated clients to the shared hold channels
// (client i to channel i mod --channels), samples the server's RSS,
// announces itself by creating --ready-file, and keeps every connection
// open until each client has received its channel's share of --events
// events of --run-id (published by the publish preset, possibly through
// another node), or --hold passes.
func (b *bench) hold(ctx context.Context) (*holdResult, error) {
	cfg := b.cfg
	n := cfg.clientsOr(10000)
	nch := max(cfg.channels, 1)
	if nch > 1 && cfg.events < nch {
		// A client of a channel without events would count as done.
		return nil, fmt.Errorf("--events %d is fewer than --channels %d: some channels would get none", cfg.events, nch)
	}
	m := b.newMeter()
	clients := make([]*client, n)
	want := make([]uint64, n)
	var expected int64
	for i := range clients {
		alias, ch := holdChannel(cfg.alias, i%nch, nch)
		user := "h" + strconv.Itoa(i)
		tok, err := b.userToken(user, []string{alias}, nil)
		if err != nil {
			return nil, err
		}
		clients[i] = newClient(&clientSpec{user: user, role: roleMember, token: tok, channels: []string{ch}, sse: b.transportFor(i)}, m)
		want[i] = uint64(holdShare(cfg.events, i%nch, nch))
		expected += int64(want[i])
	}
	_, first := holdChannel(cfg.alias, 0, nch)
	before := b.server.sample()
	res := &holdResult{Transport: cfg.transport, Clients: n, Channel: first, Channels: nch, RunID: m.runID, RSSBefore: before.RSS, Awaited: cfg.events}
	logf("hold: connecting %d clients to %s (%d channel(s), %d in flight)", n, first, nch, cfg.conc)
	res.Connect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, false)
	defer closeAll(clients)
	if res.Connect.Failed > 0 {
		logf("hold: %d connects failed; first: %s", res.Connect.Failed, res.Connect.FirstErr)
	}
	time.Sleep(cfg.settle)
	s := b.server.sample()
	res.RSSHeld, res.ServerFDs = s.RSS, s.FDs
	if res.Connect.OK > 0 && s.RSS > 0 {
		res.RSSPerConn = float64(s.RSS-before.RSS) / float64(res.Connect.OK)
	}
	logf("hold: %d connected at %.0f/s; server RSS %.1f MiB, %.1f KiB per connection",
		res.Connect.OK, res.Connect.Rate, float64(s.RSS)/(1<<20), res.RSSPerConn/1024)
	if cfg.readyFile != "" {
		if err := os.WriteFile(cfg.readyFile, fmt.Appendf(nil, "%d\n", res.Connect.OK), 0o644); err != nil {
			return nil, fmt.Errorf("--ready-file: %w", err)
		}
	}

	// Wait for every connected client to have every event.
	cpu0 := b.server.sample().CPU
	t0 := time.Now()
	deadline := t0.Add(cfg.hold)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := 0
		for i, c := range clients {
			if c.received.Load() >= want[i] {
				done++
			}
		}
		if cfg.events > 0 && done >= res.Connect.OK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Waited = time.Since(t0).Seconds()
	res.ServerCPU = (b.server.sample().CPU - cpu0).Seconds()
	for i, c := range clients {
		if got := c.received.Load(); got >= want[i] && cfg.events > 0 {
			res.Complete++
		} else if cfg.events > 0 {
			res.Incomplete++
		}
	}
	if res.Connect.OK == n {
		res.Expected = expected
	} else { // which clients failed is not kept: the mean share
		res.Expected = expected * int64(res.Connect.OK) / int64(n)
	}
	res.Received = int64(m.phases[1].received.Load())
	res.Loss = lossOf(res.Expected, res.Received)
	res.Dups, res.Violations, res.Dropped = m.dups.Load(), m.violations.Load(), m.dropped.Load()
	res.Latency = m.phases[1].lat.summary()
	res.Closes = diffCloses(nil, m.closeCodes())
	logf("hold: %d/%d clients got all their channel's share of %d events (%d of %d deliveries) after %.1fs; %d duplicates",
		res.Complete, res.Connect.OK, cfg.events, res.Received, res.Expected, res.Waited, res.Dups)
	return res, nil
}

// ---- publish ----

// publishResult is the publish preset's outcome.
type publishResult struct {
	Channel  string  `json:"channel"` // the first, with Channels > 1
	Channels int     `json:"channels"`
	RunID    int64   `json:"run_id"`
	Events   int     `json:"events"`
	Rate     float64 `json:"events_per_s"`
	Failed   uint64  `json:"publishes_failed"`
}

// publish sends --events public events of --run-id to the hold channels
// (event i to channel i mod --channels) at --event-rate and waits for
// JetStream to acknowledge them. It connects no clients: hold processes
// count the deliveries.
func (b *bench) publish(ctx context.Context) (*publishResult, error) {
	cfg := b.cfg
	m := b.newMeter()
	nch := max(cfg.channels, 1)
	chans := make([]string, nch)
	for k := range chans {
		_, chans[k] = holdChannel(cfg.alias, k, nch)
	}
	res := &publishResult{Channel: chans[0], Channels: nch, RunID: m.runID, Rate: cfg.eventRate}
	var expected atomic.Int64
	gen := func(i int) (event, int) {
		return event{typ: protocol.TypeRunUpdate, channel: chans[i%nch], public: true, aud: "pub", phase: 1}, 0
	}
	// Half an interval past the last event: paced sends exactly --events.
	dur := time.Duration((float64(cfg.events) + 0.5) / cfg.eventRate * float64(time.Second))
	logf("publish: %d events to %s (%d channel(s)) at %.0f/s (run %d)", cfg.events, chans[0], nch, cfg.eventRate, m.runID)
	res.Events = b.pub.paced(ctx, m.runID, cfg.eventRate, dur, cfg.payload, gen, &expected)
	b.pub.settle()
	res.Failed = b.pub.failed.Load()
	if res.Failed > 0 {
		return res, fmt.Errorf("%d of %d publishes failed", res.Failed, res.Events)
	}
	return res, nil
}
