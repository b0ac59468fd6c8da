package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// bench is one load-tool run's wiring: where clients connect, how tokens
// are minted, where events are published, which processes are sampled.
type bench struct {
	cfg    config
	signer *auth.Signer
	target target
	dialer *dialer
	pub    *publisher
	server serverWatch
	self   serverWatch
	srvLat metricsWatch
}

// userToken mints a one-hour token for user with the given grants.
// Against a peer (--peer), the token is the peer's, naming user only.
func (b *bench) userToken(user string, contests, admins []string) (string, error) {
	if b.cfg.peer != "" {
		return peerToken(b.cfg.peerSecret, user, time.Now())
	}
	c := auth.Claims{Contests: contests, ContestsAdmin: admins}
	c.Subject = user
	return b.signer.UserToken(c, time.Hour, time.Now())
}

// newMeter is a meter for one preset, with --run-id when given.
func (b *bench) newMeter() *meter {
	m := newMeter()
	if b.cfg.runID > 0 {
		m.runID = b.cfg.runID
	}
	return m
}

// transportFor says whether client i uses SSE under --transport.
func (b *bench) transportFor(i int) bool {
	switch b.cfg.transport {
	case "sse":
		return true
	case "mix":
		return i%2 == 1
	}
	return false
}

// members builds n participant clients of contest alias, each subscribed
// to channels(i).
func (b *bench) members(prefix string, n int, alias string, m *meter, channels func(i int, user string) []string) ([]*client, error) {
	out := make([]*client, n)
	for i := range out {
		user := prefix + strconv.Itoa(i)
		tok, err := b.userToken(user, []string{alias}, nil)
		if err != nil {
			return nil, err
		}
		out[i] = newClient(&clientSpec{user: user, role: roleMember, token: tok, channels: channels(i, user), sse: b.transportFor(i), peer: b.cfg.peer != ""}, m)
	}
	return out, nil
}

// drain waits until the phases' received counts reach want, or stop
// growing for quiet, or max passes.
func drain(m *meter, phases []int, want int64, quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	var last uint64
	lastChange := time.Now()
	for time.Now().Before(deadline) {
		var got uint64
		for _, p := range phases {
			got += m.phases[p].received.Load()
		}
		if int64(got) >= want {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > quiet {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func diffCloses(before, after map[int]uint64) map[int]uint64 {
	out := map[int]uint64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func lossOf(expected, received int64) float64 {
	if expected <= 0 {
		return 0
	}
	return float64(expected-received) / float64(expected)
}

// ---- fanout ----

// fanoutStep is one publish rate of the fanout preset.
type fanoutStep struct {
	TargetRate       float64        `json:"target_events_per_s"`
	Events           int            `json:"events"`
	EventRate        float64        `json:"events_per_s"`
	Expected         int64          `json:"deliveries_expected"`
	Received         int64          `json:"deliveries_received"`
	Loss             float64        `json:"loss"`
	DeliveriesPerSec float64        `json:"deliveries_per_s"`
	Latency          latency        `json:"latency"`
	ServerCPU        float64        `json:"server_cpu_s"`
	ServerCPUPerM    float64        `json:"server_cpu_s_per_million"`
	PerServerCPUSec  float64        `json:"deliveries_per_server_cpu_s"`
	ServerRSS        int64          `json:"server_rss_bytes"`
	ToolCores        float64        `json:"load_tool_cores"`
	Server           *serverLatency `json:"server_latency,omitempty"`
	// ToStore and FromStore split Latency when the server runs with
	// --debug-stored-time: publisher to the stream's store, and store to
	// the client (the part that is the node's).
	ToStore        *latency `json:"publish_to_store,omitempty"`
	FromStore      *latency `json:"store_to_client,omitempty"`
	PublishRequest *latency `json:"publish_request_latency,omitempty"` // POST /publish round trips (--publish-http)
	// PublishFailed counts the step's events the server did not
	// acknowledge (a request that failed counts all of its events, even
	// when the server delivered them before failing to answer).
	PublishFailed uint64         `json:"publish_failed,omitempty"`
	Closes        map[int]uint64 `json:"closes,omitempty"`
	Broke         string         `json:"broke,omitempty"`
}

// fanoutResult is the fanout preset's outcome.
type fanoutResult struct {
	Server     string       `json:"server"` // arenacast, or the --peer measured
	Transport  string       `json:"transport"`
	Batch      bool         `json:"batch"`
	Clients    int          `json:"clients"`
	Channels   int          `json:"channels"`
	Payload    int          `json:"payload_bytes"`
	Publish    string       `json:"publish"`
	Connect    connectStats `json:"connect"`
	RSSPerConn float64      `json:"server_rss_per_conn_bytes"`
	Steps      []fanoutStep `json:"steps"`
	BrokeAt    string       `json:"broke_at,omitempty"`
}

func (b *bench) fanout(ctx context.Context) (*fanoutResult, error) {
	cfg := b.cfg
	n := cfg.clientsOr(2000)
	nch := max(cfg.channels, 1)
	m := b.newMeter()
	chName := func(k int) string { return fmt.Sprintf("/contest/%s-fan%d", cfg.alias, k) }
	aliases := make([]string, nch)
	for k := range aliases {
		aliases[k] = fmt.Sprintf("%s-fan%d", cfg.alias, k)
	}
	clients := make([]*client, n)
	perChannel := make([]int, nch)
	for i := range clients {
		user := "f" + strconv.Itoa(i)
		// Each token grants its own channel's contest only: one granting
		// 500 would not fit a client message.
		tok, err := b.userToken(user, aliases[i%nch:i%nch+1], nil)
		if err != nil {
			return nil, err
		}
		clients[i] = newClient(&clientSpec{user: user, role: roleMember, token: tok, channels: []string{chName(i % nch)}, sse: b.transportFor(i), peer: b.cfg.peer != ""}, m)
		perChannel[i%nch]++
	}
	base := b.server.sample()
	logf("fanout: connecting %d clients over %d channel(s)", n, nch)
	res := &fanoutResult{Server: "arenacast", Transport: cfg.transport, Batch: cfg.batch, Clients: n, Channels: nch, Payload: cfg.payload, Publish: "nats"}
	if cfg.peer != "" {
		res.Server = cfg.peer
	}
	if cfg.publishHTTP != "" {
		res.Publish = fmt.Sprintf("http batches of <= %d, linger %s, %d in flight", cfg.publishBatch, cfg.publishLinger, cfg.publishInFlight)
	}
	res.Connect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, false)
	defer closeAll(clients)
	if res.Connect.Failed > 0 {
		logf("fanout: %d connects failed; first: %s", res.Connect.Failed, res.Connect.FirstErr)
	}
	time.Sleep(time.Second)
	// After an earlier preset the server reuses memory it has not returned
	// to the system, so the difference means nothing: it is left at 0.
	if s := b.server.sample(); s.RSS > base.RSS && res.Connect.OK > 0 {
		res.RSSPerConn = float64(s.RSS-base.RSS) / float64(res.Connect.OK)
	}
	for k, rate := range cfg.rates {
		phase := k + 1
		if phase >= maxPhases {
			break
		}
		var expected atomic.Int64
		closes0 := m.closeCodes()
		srv0, self0, lat0 := b.server.sample(), b.self.sample(), b.srvLat.sample(ctx)
		gen := func(i int) (event, int) {
			c := i % nch
			return event{typ: protocol.TypeRunUpdate, channel: chName(c), public: true, aud: "pub", phase: phase}, perChannel[c]
		}
		b.pub.takeRequestLatency()
		failed0 := b.pub.failed.Load()
		t0 := time.Now()
		sent := b.pub.paced(ctx, m.runID, rate, cfg.step, cfg.payload, gen, &expected)
		pubDur := time.Since(t0)
		srvMid := b.server.sample()
		b.pub.settle()
		drain(m, []int{phase}, expected.Load(), 500*time.Millisecond, 5*time.Second)
		srv1, self1, lat1 := b.server.sample(), b.self.sample(), b.srvLat.sample(ctx)
		ph := &m.phases[phase]
		st := fanoutStep{
			TargetRate: rate, Events: sent, EventRate: float64(sent) / pubDur.Seconds(),
			Expected: expected.Load(), Received: int64(ph.received.Load()),
			Latency: ph.lat.summary(), ServerRSS: srvMid.RSS,
			Closes: diffCloses(closes0, m.closeCodes()),
			Server: between(lat0, lat1),
		}
		if ph.split.Load() > 0 {
			to, from := ph.toStore.summary(), ph.fromStore.summary()
			st.ToStore, st.FromStore = &to, &from
		}
		st.PublishRequest = b.pub.takeRequestLatency()
		st.PublishFailed = b.pub.failed.Load() - failed0
		st.Loss = lossOf(st.Expected, st.Received)
		st.DeliveriesPerSec = float64(st.Received) / pubDur.Seconds()
		st.ServerCPU = (srv1.CPU - srv0.CPU).Seconds()
		if st.ServerCPU > 0 && st.Received > 0 {
			st.ServerCPUPerM = st.ServerCPU / float64(st.Received) * 1e6
			st.PerServerCPUSec = float64(st.Received) / st.ServerCPU
		}
		st.ToolCores = (self1.CPU - self0.CPU).Seconds() / time.Since(t0).Seconds()
		switch {
		case st.Loss > cfg.lossLimit:
			st.Broke = fmt.Sprintf("loss %.3f%%", 100*st.Loss)
		case st.Latency.P99 > float64(cfg.p99Limit.Microseconds())/1000:
			st.Broke = fmt.Sprintf("p99 %.1f ms", st.Latency.P99)
		case len(st.Closes) > 0:
			st.Broke = fmt.Sprintf("closes %v", st.Closes)
		}
		logf("fanout: %.0f ev/s -> %.0f deliveries/s, loss %.4f%%, p99 %.1f ms, %.0f deliveries per server CPU-s",
			rate, st.DeliveriesPerSec, 100*st.Loss, st.Latency.P99, st.PerServerCPUSec)
		res.Steps = append(res.Steps, st)
		if st.Broke != "" {
			res.BrokeAt = fmt.Sprintf("%.0f events/s: %s", rate, st.Broke)
			break
		}
	}
	return res, nil
}

// channels is the many-contests preset: fanout with --clients (default
// 5,000) spread over --channels (default 500: 10 subscribers each) and, unless
// --rates is given, 2,000, 5,000, 10,000 and 20,000 events/s in total.
func (b *bench) channels(ctx context.Context) (*fanoutResult, error) {
	c := *b
	if c.cfg.clients <= 0 {
		c.cfg.clients = 5000
	}
	if !c.cfg.channelsSet {
		c.cfg.channels = 500
	}
	if !c.cfg.ratesSet {
		c.cfg.rates = []float64{2000, 5000, 10000, 20000}
	}
	c.cfg.alias = b.cfg.alias + "-ch"
	return c.fanout(ctx)
}

// ---- idle ----

// idleResult is the idle preset's outcome.
type idleResult struct {
	Transport   string       `json:"transport"`
	Clients     int          `json:"clients"`
	Connect     connectStats `json:"connect"`
	RSSBefore   int64        `json:"server_rss_before_bytes"`
	RSSAfter    int64        `json:"server_rss_after_bytes"`
	RSSPerConn  float64      `json:"server_rss_per_conn_bytes"`
	RSSPerConn2 float64      `json:"server_rss_per_conn_later_bytes"`
	ServerFDs   int          `json:"server_fds"`
	IdleCPU     float64      `json:"server_cpu_s_while_idle"`
	Settle      string       `json:"settle"`
}

func (b *bench) idle(ctx context.Context) (*idleResult, error) {
	cfg := b.cfg
	n := cfg.clientsOr(10000)
	m := b.newMeter()
	alias := cfg.alias + "-idle"
	clients, err := b.members("i", n, alias, m, func(int, string) []string { return []string{"/contest/" + alias} })
	if err != nil {
		return nil, err
	}
	before := b.server.sample()
	logf("idle: connecting %d clients", n)
	res := &idleResult{Transport: cfg.transport, Clients: n, RSSBefore: before.RSS, Settle: cfg.settle.String()}
	res.Connect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, false)
	defer closeAll(clients)
	if res.Connect.Failed > 0 {
		logf("idle: %d connects failed; first: %s", res.Connect.Failed, res.Connect.FirstErr)
	}
	time.Sleep(cfg.settle)
	s1 := b.server.sample()
	res.RSSAfter, res.ServerFDs = s1.RSS, s1.FDs
	if res.Connect.OK > 0 && s1.RSS > 0 {
		res.RSSPerConn = float64(s1.RSS-before.RSS) / float64(res.Connect.OK)
	}
	time.Sleep(cfg.settle)
	s2 := b.server.sample()
	if res.Connect.OK > 0 && s2.RSS > 0 {
		res.RSSPerConn2 = float64(s2.RSS-before.RSS) / float64(res.Connect.OK)
	}
	res.IdleCPU = (s2.CPU - s1.CPU).Seconds()
	logf("idle: %d connected at %.0f/s; %.0f B of server RSS per connection (%.0f B later)",
		res.Connect.OK, res.Connect.Rate, res.RSSPerConn, res.RSSPerConn2)
	if cfg.idleHold > 0 {
		logf("idle: holding the connections for %s", cfg.idleHold)
		select {
		case <-time.After(cfg.idleHold):
		case <-ctx.Done():
		}
	}
	return res, nil
}

// ---- spike ----

// spikeResult is the spike preset's outcome.
type spikeResult struct {
	Transport    string         `json:"transport"`
	Clients      int            `json:"clients"`
	Concurrency  int            `json:"concurrency"`
	Connect      connectStats   `json:"connect"`
	Reconnect    connectStats   `json:"reconnect_resume"`
	Recovered    uint64         `json:"recovered_true"`
	NotRecovered uint64         `json:"recovered_false"`
	Events       int            `json:"events"`
	Expected     int64          `json:"deliveries_expected"`
	Received     int64          `json:"deliveries_received"`
	Loss         float64        `json:"loss"`
	Dups         uint64         `json:"duplicates"`
	Latency      latency        `json:"latency"`
	PeakRSS      int64          `json:"server_rss_bytes"`
	ServerCPU    float64        `json:"server_cpu_s"`
	Closes       map[int]uint64 `json:"closes,omitempty"`
}

func (b *bench) spike(ctx context.Context) (*spikeResult, error) {
	cfg := b.cfg
	n := cfg.clientsOr(5000)
	m := b.newMeter()
	alias := cfg.alias + "-spike"
	ch := "/contest/" + alias
	clients, err := b.members("s", n, alias, m, func(int, string) []string { return []string{ch} })
	if err != nil {
		return nil, err
	}
	res := &spikeResult{Transport: cfg.transport, Clients: n, Concurrency: cfg.conc}
	srv0 := b.server.sample()
	logf("spike: %d clients connect at once (%d in flight)", n, cfg.conc)
	res.Connect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, false)
	defer closeAll(clients)

	// Publish throughout the drop and the reconnect; every client must
	// end with every event exactly once.
	var expected atomic.Int64
	per := int64(res.Connect.OK)
	pctx, stop := context.WithCancel(ctx)
	var sent int
	var wg sync.WaitGroup
	wg.Go(func() {
		gen := func(int) (event, int) {
			return event{typ: protocol.TypeRunUpdate, channel: ch, public: true, aud: "pub", phase: 1}, int(per)
		}
		sent = b.pub.paced(pctx, m.runID, cfg.spikeRate, time.Hour, cfg.payload, gen, &expected)
	})
	time.Sleep(time.Second)
	logf("spike: dropping all %d connections, then reconnecting at once with resume", n)
	closeAll(clients)
	res.Reconnect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, true)
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	b.pub.settle()
	drain(m, []int{1}, expected.Load(), time.Second, 10*time.Second)
	srv1 := b.server.sample()
	res.Events, res.Expected = sent, expected.Load()
	res.Received = int64(m.phases[1].received.Load())
	res.Loss = lossOf(res.Expected, res.Received)
	res.Dups = m.dups.Load()
	res.Recovered, res.NotRecovered = m.recovered.Load(), m.notRecov.Load()
	res.Latency = m.phases[1].lat.summary()
	res.PeakRSS = srv1.RSS
	res.ServerCPU = (srv1.CPU - srv0.CPU).Seconds()
	res.Closes = diffCloses(nil, m.closeCodes())
	logf("spike: connect %.0f/s, reconnect+resume %.0f/s, loss %.4f%%, %d recovered",
		res.Connect.Rate, res.Reconnect.Rate, 100*res.Loss, res.Recovered)
	return res, nil
}

// ---- contest ----

// contestKind is one kind of event the contest preset publishes.
type contestKind struct {
	Name       string  `json:"name"`
	Rate       float64 `json:"events_per_s"`
	Events     int     `json:"events"`
	Expected   int64   `json:"deliveries_expected"`
	Received   int64   `json:"deliveries_received"`
	Loss       float64 `json:"loss"`
	Latency    latency `json:"latency"`
	MayCoalece bool    `json:"may_coalesce,omitempty"`
}

// contestResult is the contest preset's outcome.
type contestResult struct {
	Transport   string         `json:"transport"`
	Contestants int            `json:"contestants"`
	Admins      int            `json:"admins"`
	Viewers     int            `json:"viewers"`
	Connect     connectStats   `json:"connect"`
	Duration    string         `json:"duration"`
	Kinds       []contestKind  `json:"kinds"`
	Violations  uint64         `json:"violations"`
	Dups        uint64         `json:"duplicates"`
	ServerCPU   float64        `json:"server_cpu_s"`
	ServerRSS   int64          `json:"server_rss_bytes"`
	Closes      map[int]uint64 `json:"closes,omitempty"`
}

func (b *bench) contest(ctx context.Context) (*contestResult, error) {
	cfg := b.cfg
	nc, na, nv := cfg.clientsOr(5000), 20, 1000
	m := b.newMeter()
	alias := cfg.alias + "-contest"
	contestCh, adminCh := "/contest/"+alias, "/contest/"+alias+"/admin"
	contestants, err := b.members("c", nc, alias, m, func(_ int, user string) []string { return []string{contestCh, "/user/" + user} })
	if err != nil {
		return nil, err
	}
	all := contestants
	for i := range na {
		user := "a" + strconv.Itoa(i)
		tok, err := b.userToken(user, nil, []string{alias})
		if err != nil {
			return nil, err
		}
		all = append(all, newClient(&clientSpec{user: user, role: roleAdmin, token: tok, channels: []string{contestCh, adminCh}, sse: b.transportFor(i)}, m))
	}
	sb, err := b.signer.ScoreboardToken(alias, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	for i := range nv {
		all = append(all, newClient(&clientSpec{role: roleViewer, channels: []string{"/scoreboard/" + sb}, sse: b.transportFor(i)}, m))
	}
	res := &contestResult{Transport: cfg.transport, Contestants: nc, Admins: na, Viewers: nv, Duration: cfg.duration.String()}
	logf("contest: connecting %d contestants, %d admins, %d scoreboard viewers", nc, na, nv)
	res.Connect = connectAll(ctx, all, b.dialer, b.target, cfg.conc, false)
	defer closeAll(all)
	if res.Connect.Failed > 0 {
		logf("contest: %d connects failed; first: %s", res.Connect.Failed, res.Connect.FirstErr)
	}
	user := func(i int) string { return "c" + strconv.Itoa((i*7919)%nc) }
	kinds := []struct {
		name     string
		rate     float64
		size     int
		coalesce bool
		gen      func(i int) (event, int)
	}{
		{"run_update (private)", 20, cfg.payload, false, func(i int) (event, int) {
			u := user(i)
			return event{typ: protocol.TypeRunUpdate, channel: contestCh, user: u, aud: "u:" + u}, 1 + na
		}},
		{"scoreboard_update (public)", 2, 2048, true, func(int) (event, int) {
			return event{typ: protocol.TypeScoreboardUpdate, channel: contestCh, public: true, aud: "pub"}, nc + na + nv
		}},
		{"clarification (public / private)", 1, cfg.payload, false, func(i int) (event, int) {
			if i%2 == 0 {
				return event{typ: protocol.TypeClarification, channel: contestCh, public: true, aud: "pub"}, nc + na
			}
			u := user(i)
			return event{typ: protocol.TypeClarification, channel: contestCh, user: u, aud: "u:" + u}, 1 + na
		}},
		{"admin only (contest, admin channel)", 1, cfg.payload, false, func(i int) (event, int) {
			if i%2 == 0 {
				return event{typ: protocol.TypeContestUpdate, channel: contestCh, aud: "adm"}, na
			}
			return event{typ: "admin_note", channel: adminCh, aud: "adm"}, na
		}},
	}
	srv0 := b.server.sample()
	closes0 := m.closeCodes()
	expected := make([]atomic.Int64, len(kinds))
	sent := make([]int, len(kinds))
	var wg sync.WaitGroup
	for k, kd := range kinds {
		wg.Go(func() {
			gen := func(i int) (event, int) {
				ev, n := kd.gen(i)
				ev.phase = k + 1
				return ev, n
			}
			sent[k] = b.pub.paced(ctx, m.runID, kd.rate, cfg.duration, kd.size, gen, &expected[k])
		})
	}
	wg.Wait()
	srvMid := b.server.sample()
	b.pub.settle()
	var want int64
	phases := make([]int, len(kinds))
	for k := range kinds {
		want += expected[k].Load()
		phases[k] = k + 1
	}
	drain(m, phases, want, time.Second, 10*time.Second)
	srv1 := b.server.sample()
	for k, kd := range kinds {
		ph := &m.phases[k+1]
		ck := contestKind{Name: kd.name, Rate: kd.rate, Events: sent[k], Expected: expected[k].Load(),
			Received: int64(ph.received.Load()), Latency: ph.lat.summary(), MayCoalece: kd.coalesce}
		ck.Loss = lossOf(ck.Expected, ck.Received)
		res.Kinds = append(res.Kinds, ck)
	}
	res.Violations, res.Dups = m.violations.Load(), m.dups.Load()
	res.ServerCPU = (srv1.CPU - srv0.CPU).Seconds()
	res.ServerRSS = srvMid.RSS
	res.Closes = diffCloses(closes0, m.closeCodes())
	logf("contest: %d visibility violations, %d duplicates", res.Violations, res.Dups)
	return res, nil
}

// logf prints progress to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}
