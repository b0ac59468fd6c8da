package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/demo"
	"github.com/arenacast/arenacast/broadcaster/metrics"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// Serve is `arenacast serve`: one broadcaster node.
type Serve struct {
	Stdout, Stderr io.Writer

	listen, addrFile                      string
	natsURL, natsListen, dataDir          string
	keys, issuer, audience                string
	origins, publishKey                   string
	prefix, stream                        string
	historyAge                            time.Duration
	historyMsgs, historyBytes             int
	maxSubs, maxMsgSize, maxEvent, burst  int
	maxBatch, maxBatchBytes               int
	maxConns, queueMsgs, queueBytes       int
	rate                                  float64
	writeTimeout, authTimeout             time.Duration
	pingInterval, pongTimeout             time.Duration
	sseCookie                             string
	sseHeartbeat, sseLifetime, ticketTTL  time.Duration
	scoreboardInterval                    time.Duration
	presenceInterval                      time.Duration // 0: off
	refetchSpread                         time.Duration
	debugStored                           bool
	drain, shutdownTimeout                time.Duration
	consumerStall, natsConnectTimeout     time.Duration
	natsAuth                              natsAuthFlags
	natsListenAuth                        natsListenFlags
	logFormat, logLevel                   string
	metricsListen                         string
	pprof                                 bool // /debug/pprof/ on the metrics listener
	gcPercent                             int  // 0: leave the runtime's GC setting
	revocationTTL                         time.Duration
	writePace                             time.Duration
	ioUringEntries                        int
	recentEvents, recentBytes, warmEvents int
	snapshotBytes                         int
	channelStateMax                       int
	channelStateIdle                      time.Duration
	replicas                              int
	demo                                  bool
	demoKey                               string
	demoSeed                              uint64 // 0: from the clock
	legacy                                legacyFlags
	ccsFeed, ccsAnonymous                 bool // GET /api/contests/{id}/event-feed
	ccsKeepAlive                          time.Duration
	tls                                   tlsFlags // --tls-cert, --tls-key, --h2c on --listen

	log *slog.Logger
	bus *natsbus.Bus
	ln  net.Listener
}

// ParseFlags reads the command line and environment.
func (c *Serve) ParseFlags(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	e.fs.StringVar(&c.listen, "listen", envOr("listen", "127.0.0.1:8080"), e.usage("listen", "HTTP listen address for /events/ and /publish"))
	addrFile := e.String("addr-file", "", "write the bound listen address to this file once listening (for --listen :0)")
	natsURL := e.String("nats-url", "", "NATS server URLs, comma-separated; empty starts an embedded NATS with JetStream")
	natsListen := e.String("nats-listen", "", "embedded NATS: also listen for NATS clients here (e.g. 127.0.0.1:4222); empty: in-process only")
	dataDir := e.String("data-dir", "./arenacast-data", "embedded NATS: JetStream storage directory")
	keys := e.String("keys", "", "JWT verification keys: comma-separated files or directories (*.pem public/private keys, *.secret HMAC secrets; kid = file name); required")
	issuer := e.String("issuer", "", "required JWT issuer (iss); empty: not checked")
	audience := e.String("audience", "", "required JWT audience (aud); empty: not checked")
	origins := e.String("allowed-origins", "", "cross-origin pages allowed to connect: comma-separated host patterns such as 'app.example.com,*.example.org,localhost:*'; same-origin is always allowed")
	publishKey := e.String("publish-key", "", "static bearer key accepted by POST /publish (prefer the environment variable); empty: only tokens with \"publish\":true")
	prefix := e.String("subject-prefix", "arenacast", "first NATS subject token of every event subject")
	stream := e.String("stream", "ARENACAST", "JetStream stream name")
	historyAge := e.Duration("history-max-age", 24*time.Hour, "how long events are kept for resume")
	historyMsgs := e.Int("history-max-msgs", 1_000_000, "how many events are kept for resume")
	historyBytes := e.Int("history-max-bytes", 1<<30, "how many bytes of events are kept for resume")
	maxSubs := e.Int("max-subscriptions", 100, "subscriptions per connection")
	maxMsg := e.Int("max-message-size", 4096, "largest client message in bytes (larger: close 1009)")
	maxEvent := e.Int("max-event-size", 64<<10, "largest publisher event in bytes")
	maxBatch := e.Int("max-publish-batch", 1000, "most events in one POST /publish batch (more: the batch is refused, 413)")
	maxBatchBytes := e.Int("max-publish-bytes", 4<<20, "largest POST /publish body in bytes (larger: refused, 413)")
	rate := e.Float("message-rate", 20, "client messages per second per connection")
	burst := e.Int("message-burst", 40, "client message burst per connection")
	maxConns := e.Int("max-connections", 100_000, "connections on this node (above: close 4502 / HTTP 503)")
	queueMsgs := e.Int("queue-messages", 4096, "per-connection send queue, in messages (full: close 4001)")
	queueBytes := e.Int("queue-bytes", 4<<20, "per-connection send queue, in bytes (full: close 4001)")
	writeTimeout := e.Duration("write-timeout", 10*time.Second, "deadline for one write to a client")
	authTimeout := e.Duration("auth-timeout", 10*time.Second, "close connections that neither auth nor subscribe within this (4004)")
	pingInterval := e.Duration("ping-interval", 30*time.Second, "WebSocket ping interval")
	pongTimeout := e.Duration("pong-timeout", 20*time.Second, "close when a pong takes longer (4002)")
	sseCookie := e.String("sse-cookie", "", "cookie holding a JWT for SSE requests; empty: cookies ignored")
	sseHeartbeat := e.Duration("sse-heartbeat", 20*time.Second, "SSE heartbeat comment interval")
	sseLifetime := e.Duration("sse-max-lifetime", 30*time.Minute, "end SSE streams after this long (minus jitter) so they re-authenticate")
	scoreboardInterval := e.Duration("scoreboard-min-interval", 0, "send at most one scoreboard_update per channel and view per interval; the newest held back goes out at its end; 0: off")
	presenceInterval := e.Duration("presence-interval", 5*time.Second, "how often each node publishes its presence counts (who is subscribed to each contest) on NATS and admins get the totals; 0: presence off")
	debugStored := e.Bool("debug-stored-time", false, "add stored_us (when the stream stored the event, microseconds) to every delivery, for load tools; not for production clients")
	refetchSpread := e.Duration("scoreboard-refetch-spread", 2*time.Second, "jitter_ms sent with opaque scoreboard_update events: clients that refetch the board spread their requests over it; 0: not sent")
	ticketTTL := e.Duration("ticket-ttl", 60*time.Second, "lifetime of SSE tickets from POST /events/ticket")
	drain := e.Duration("shutdown-drain", 5*time.Second, "on SIGTERM, spread client disconnects over this window")
	shutdownTimeout := e.Duration("shutdown-timeout", 15*time.Second, "give up a graceful shutdown after this")
	consumerStall := e.Duration("consumer-stall-timeout", 5*time.Second, "/readyz turns 503 (\"consumer\":\"stalled\") when the node's consumer made no progress for this long while the stream holds events it has not routed")
	var natsAuth natsAuthFlags
	natsAuth.register(e)
	c.natsListenAuth.register(e)
	natsConnectTimeout := e.Duration("nats-connect-timeout", 60*time.Second, "at start, keep retrying (with backoff) to reach NATS and create the stream for this long, e.g. while a fresh cluster elects its JetStream leader")
	replicas := e.Int("stream-replicas", 1, "replicas of the stream and buckets on a NATS cluster (1, 3 or 5)")
	writePace := e.Duration("write-pace", 20*time.Millisecond, "shortest time between two writes to one WebSocket or SSE connection; frames arriving meanwhile share one write (negative: off)")
	ioUringEntries := e.Int("io-uring-entries", 128, "connections written with one system call through a Linux io_uring (where there is none, a system call each; negative: off)")
	recentEvents := e.Int("recent-events", 1000, "newest events per channel kept in memory to answer resumes (negative: off)")
	snapshotBytes := e.Int("snapshot-bytes", 32<<20, "memory for scoreboard snapshots across contests; over it the least recently updated contests are dropped (their next snapshot is searched in the stream; negative: unbounded)")
	recentBytes := e.Int("recent-bytes", 64<<20, "memory for those events across channels; over it the least recently updated channels are dropped (negative: unbounded)")
	channelStateMax := e.Int("channel-state-max", 20_000, "channels kept in memory by the recent log and by the snapshot cache, each, besides their byte budgets; over it the least recently updated are forgotten (read again from the stream when asked; negative: unbounded)")
	channelStateIdle := e.Duration("channel-state-idle", time.Hour, "forget the in-memory state of channels without subscribers on this node not updated for this long (negative: never)")
	warmEvents := e.Int("warm-events", 20000, "stored events read into memory at start, before the node turns ready (negative: off)")
	revocationTTL := e.Duration("revocation-ttl", 24*time.Hour, "how long revocations are kept; must exceed the longest token lifetime")
	metricsListen := e.String("metrics-listen", "", "serve Prometheus /metrics on this separate address (e.g. 127.0.0.1:9090); empty: off")
	gcPercent := e.Int("gc-percent", 200, "Go GC target percentage (as GOGC); 200 halves collections in connect storms for ~2 KiB more RSS per idle connection; 0: keep the runtime's. A GOGC environment variable wins over the default, not over this flag")
	pprofOn := e.Bool("pprof", false, "also serve the Go profiler under /debug/pprof/ on --metrics-listen (keep that address internal)")
	logFormat := e.String("log-format", "text", "log format: text or json")
	logLevel := e.String("log-level", "info", "log level: debug, info, warn, error")
	demoOn := e.Bool("demo", false, "run a simulated contest \"demo\" and serve a page showing it at /demo/; the page hands out tokens: development only")
	demoSeed := e.Int("demo-seed", 0, "--demo: seed of the simulated contest, for a reproducible run (0: from the clock)")
	demoKey := e.String("demo-key", "testdata/devkeys/dev.pem", "--demo: private key the demo page's tokens are minted with (EdDSA, ES256 or HS256); --keys must verify it")
	ccsFeed := e.Bool("ccs-feed", false, "serve followed CCS feeds (arenacast ccs-follow) at GET /api/contests/{id}/event-feed (docs/ccs.md)")
	ccsAnonymous := e.Bool("ccs-feed-anonymous", true, "--ccs-feed: readers without a token get the public (frozen) view; false: a token is required")
	ccsKeepAlive := e.Duration("ccs-feed-keepalive", 120*time.Second, "--ccs-feed: idle newline period")
	c.legacy.register(e)
	c.tls.register(e)
	if err := parseFlags(fs, args, c.Stdout); err != nil {
		return err
	}
	if e.err != nil {
		return e.err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.ccsFeed, c.ccsAnonymous, c.ccsKeepAlive = *ccsFeed, *ccsAnonymous, *ccsKeepAlive
	c.addrFile, c.natsURL, c.natsListen, c.dataDir = *addrFile, *natsURL, *natsListen, *dataDir
	c.keys, c.issuer, c.audience = *keys, *issuer, *audience
	c.origins, c.publishKey, c.prefix, c.stream = *origins, *publishKey, *prefix, *stream
	c.historyAge, c.historyMsgs, c.historyBytes = *historyAge, *historyMsgs, *historyBytes
	c.maxSubs, c.maxMsgSize, c.maxEvent, c.rate, c.burst = *maxSubs, *maxMsg, *maxEvent, *rate, *burst
	c.maxConns, c.queueMsgs, c.queueBytes = *maxConns, *queueMsgs, *queueBytes
	c.maxBatch, c.maxBatchBytes = *maxBatch, *maxBatchBytes
	c.writeTimeout, c.authTimeout, c.pingInterval, c.pongTimeout = *writeTimeout, *authTimeout, *pingInterval, *pongTimeout
	c.sseCookie, c.sseHeartbeat, c.sseLifetime, c.ticketTTL = *sseCookie, *sseHeartbeat, *sseLifetime, *ticketTTL
	c.scoreboardInterval = *scoreboardInterval
	c.presenceInterval = *presenceInterval
	c.refetchSpread = *refetchSpread
	c.debugStored = *debugStored
	if c.refetchSpread == 0 {
		c.refetchSpread = -1 // Options: negative is off, zero the default
	}
	c.drain, c.shutdownTimeout = *drain, *shutdownTimeout
	c.consumerStall, c.natsConnectTimeout = *consumerStall, *natsConnectTimeout
	c.natsAuth = natsAuth
	c.logFormat, c.logLevel = *logFormat, *logLevel
	c.metricsListen, c.pprof = *metricsListen, *pprofOn
	if *gcPercent < 0 {
		return fmt.Errorf("--gc-percent %d: want 0 (the runtime's setting) or more", *gcPercent)
	}
	c.gcPercent = *gcPercent
	if _, set := os.LookupEnv("GOGC"); set && !flagGiven(fs, e, "gc-percent") {
		c.gcPercent = 0 // GOGC names the operator's choice; the default must not override it
	}
	c.revocationTTL = *revocationTTL
	c.writePace, c.recentEvents, c.recentBytes, c.warmEvents = *writePace, *recentEvents, *recentBytes, *warmEvents
	c.ioUringEntries = *ioUringEntries
	c.snapshotBytes = *snapshotBytes
	c.channelStateMax, c.channelStateIdle = *channelStateMax, *channelStateIdle
	c.replicas = *replicas
	c.demo, c.demoKey, c.demoSeed = *demoOn, *demoKey, uint64(*demoSeed)
	if c.keys == "" && c.demo {
		c.keys = c.demoKey // the demo key verifies what it mints
	}
	if c.keys == "" {
		return errors.New("--keys is required (try --keys testdata/devkeys for development)")
	}
	if c.pprof && c.metricsListen == "" {
		return errors.New("--pprof needs --metrics-listen: the profiler is served only on the internal address")
	}
	if err := c.natsListenAuth.check(c.natsListen, c.natsURL); err != nil {
		return err
	}
	if err := c.tls.check(); err != nil {
		return err
	}
	return c.legacy.check()
}

// flagGiven reports whether name was set on the command line or through
// its ARENACAST_ environment variable, rather than left at its default.
func flagGiven(fs *flag.FlagSet, e *envFlags, name string) bool {
	if _, ok := e.env(name); ok {
		return true
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// seedOr is seed, or a seed from the clock when it is 0.
func seedOr(seed uint64) uint64 {
	if seed != 0 {
		return seed
	}
	return uint64(time.Now().UnixNano())
}

func envOr(flagName, def string) string {
	if v, ok := os.LookupEnv(envName(flagName)); ok {
		return v
	}
	return def
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// Run serves until ctx ends, then shuts down gracefully.
func (c *Serve) Run(ctx context.Context) error {
	log, err := newLogger(c.Stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	c.log = log
	if c.gcPercent > 0 {
		// Connects allocate (HTTP, JSON, JWT) far more than an idle
		// connection keeps, so at the default 100 the collector runs often
		// in a connect storm: 18% of CPU at 4,000 connects/s, and 200 took
		// the rate past 5,000/s (docs/benchmarks.md).
		debug.SetGCPercent(c.gcPercent)
	}
	keys, err := auth.LoadKeys(list(c.keys)...)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys, Issuer: c.issuer, Audience: c.audience})
	if err != nil {
		return err
	}
	var demoPage http.Handler
	if c.demo {
		if demoPage, err = c.demoPage(verifier); err != nil {
			return err
		}
	}
	natsAuth, err := c.natsAuth.auth()
	if err != nil {
		return err
	}
	listenAuth, err := c.natsListenAuth.auth()
	if err != nil {
		return err
	}
	c.bus, err = natsbus.Open(ctx, natsbus.Config{
		Auth: natsAuth,
		URL:  c.natsURL, DataDir: c.dataDir, Listen: c.natsListen,
		Prefix: c.prefix, Stream: c.stream,
		MaxAge: c.historyAge, MaxMsgs: int64(c.historyMsgs), MaxBytes: int64(c.historyBytes),
		MaxEventSize: c.maxEvent, Replicas: c.replicas, Logger: log, ConnectTimeout: c.natsConnectTimeout,
		ListenAuth: listenAuth,
	})
	if err != nil {
		return err
	}
	if u := c.bus.ClientURL(); u != "" {
		log.Info("embedded NATS listening", "url", u)
	}
	tickets, err := c.bus.Tickets(ctx, c.ticketTTL)
	if err != nil {
		return err
	}
	revocations, err := c.bus.Revocations(ctx, c.revocationTTL)
	if err != nil {
		return err
	}
	srv, err := broadcaster.New(broadcaster.Options{
		Verifier: verifier, Bus: c.bus, Logger: log,
		AllowedOrigins: list(c.origins), PublishKey: c.publishKey,
		MaxMessageSize: int64(c.maxMsgSize), MaxEventSize: c.maxEvent, MaxSubscriptions: c.maxSubs,
		MaxPublishBatch: c.maxBatch, MaxPublishBytes: c.maxBatchBytes,
		MessageRate: c.rate, MessageBurst: c.burst, MaxConnections: c.maxConns,
		QueueMessages: c.queueMsgs, QueueBytes: c.queueBytes, WriteTimeout: c.writeTimeout,
		AuthTimeout: c.authTimeout, PingInterval: c.pingInterval, PongTimeout: c.pongTimeout,
		WritePace: c.writePace, IOUringEntries: c.ioUringEntries, RecentEvents: c.recentEvents, RecentBytes: c.recentBytes, SnapshotBytes: c.snapshotBytes, WarmEvents: c.warmEvents,
		ChannelStateMax: c.channelStateMax, ChannelStateIdle: c.channelStateIdle,
		SSECookie: c.sseCookie, Tickets: tickets, Revocations: revocations, SSEHeartbeat: c.sseHeartbeat, SSEMaxLifetime: c.sseLifetime,
		ScoreboardMinInterval:   c.scoreboardInterval,
		PresenceInterval:        presenceOption(c.presenceInterval),
		PresenceLink:            c.bus.PresenceLink(),
		ScoreboardRefetchSpread: c.refetchSpread,
		DebugStoredTime:         c.debugStored,
		ConsumerStall:           c.consumerStall,
	})
	if err != nil {
		return err
	}
	if err := revocations.Watch(ctx, srv, func(key string, err error) {
		log.Warn("ignoring malformed revocation", "key", key, "err", err)
	}); err != nil {
		return err
	}
	c.ln, err = net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.listen, err)
	}
	addr := c.ln.Addr().String()
	handler := srv.Handler()
	var feed *ccs.Feed
	if c.ccsFeed {
		if feed, err = ccs.NewFeed(ccs.FeedConfig{Bus: c.bus, Verifier: verifier, Anonymous: c.ccsAnonymous, KeepAlive: c.ccsKeepAlive, Logger: log}); err != nil {
			return err
		}
	}
	if c.demo || feed != nil {
		mux := http.NewServeMux()
		if c.demo {
			mux.Handle("/demo/", demoPage)
			mux.Handle("GET /{$}", http.RedirectHandler("/demo/", http.StatusFound))
		}
		if feed != nil {
			mux.Handle("/api/contests/", feed)
		}
		mux.Handle("/", handler)
		handler = mux
	}
	handler, legacyAdapter, stopLegacy, err := c.legacy.start(srv, c.bus, c.maxEvent, handler, log)
	if err != nil {
		return err
	}
	defer stopLegacy()
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	serveHTTP, reloadTLS, err := c.tls.setup(runCtx, hs, log)
	if err != nil {
		return err
	}
	var reloads []func() // on SIGHUP
	if reloadTLS != nil {
		reloads = append(reloads, reloadTLS)
	}
	watchHangup(runCtx, log, reloads...)
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(runCtx) }()
	if feed != nil {
		go func() {
			if err := feed.Run(runCtx); err != nil {
				log.Error("ccs feed stopped consuming", "err", err)
			}
		}()
	}
	select {
	case <-srv.Ready():
	case err := <-runErr:
		switch {
		case err != nil:
			return fmt.Errorf("consuming events: %w", err)
		case runCtx.Err() != nil:
			return nil // stopped (a signal) before it was ready, e.g. while NATS was away
		}
		return errors.New("consuming events: the NATS connection closed before the node was ready")
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveHTTP(c.ln) }()
	demoDone := make(chan struct{})
	if c.demo {
		sim, err := demo.NewSimulator(demo.Options{Bus: c.bus, Seed: seedOr(c.demoSeed), Logger: log})
		if err != nil {
			return err
		}
		go func() {
			defer close(demoDone)
			if err := sim.Run(runCtx); err != nil {
				log.Error("demo simulator stopped", "err", err)
			}
		}()
	} else {
		close(demoDone)
	}
	if c.metricsListen != "" {
		var extra []prometheus.Collector
		if legacyAdapter != nil {
			extra = append(extra, metrics.NewLegacy(legacyAdapter))
		}
		if feed != nil {
			extra = append(extra, metrics.NewCCSFeed(feed))
		}
		ms, err := startMetrics(c.metricsListen, srv, c.bus, c.pprof, log, extra...)
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	if c.addrFile != "" {
		if err := os.WriteFile(c.addrFile+".tmp", []byte(addr), 0o644); err != nil {
			return err
		}
		if err := os.Rename(c.addrFile+".tmp", c.addrFile); err != nil {
			return err
		}
	}
	log.Info("arenacast listening", "addr", addr, "events", c.tls.scheme(true)+"://"+addr+"/events/", "nats", natsDesc(c.natsURL))
	if c.demo {
		log.Info("demo running: open the page in a browser", "url", c.tls.scheme(false)+"://"+addr+"/demo/")
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case err := <-runErr:
		return fmt.Errorf("consuming events: %w", err)
	}
	log.Info("shutting down", "drain", c.drain)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	// The listener stays open for the drain window: /readyz answers 503
	// draining:true (so the load balancer sees the node turn unready),
	// connections arriving meanwhile are closed with 4000 (SSE: 503), and
	// the clients are told to reconnect elsewhere, spread over the window.
	// Then the listener closes.
	drainEnd := time.Now().Add(c.drain)
	if err := srv.Shutdown(sctx, c.drain); err != nil {
		log.Warn("graceful shutdown incomplete", "err", err)
	}
	if d := time.Until(drainEnd); d > 0 {
		select {
		case <-time.After(d):
		case <-sctx.Done():
		}
	}
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http server shutdown incomplete", "err", err)
	}
	stopRun()
	<-demoDone
	<-runErr
	return nil
}

// presenceOption is --presence-interval as Options takes it: 0 (off) is
// negative there, where zero means the default.
func presenceOption(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// demoPage is the --demo page, minting its tokens with --demo-key.
func (c *Serve) demoPage(v *auth.Verifier) (http.Handler, error) {
	signer, err := auth.LoadSigner(c.demoKey)
	if err != nil {
		return nil, fmt.Errorf("--demo-key: %w", err)
	}
	// The bus opens after the page is checked, before the page is served.
	lastID := func(ctx context.Context) (uint64, error) {
		if c.bus == nil {
			return 0, errors.New("the event bus is not open yet")
		}
		return c.bus.LastID(ctx)
	}
	return demo.NewHandler(demo.HandlerOptions{Signer: signer, Verifier: v, LastID: lastID})
}

func natsDesc(url string) string {
	if url == "" {
		return "embedded"
	}
	// URLs may carry credentials: show hosts only.
	var hosts []string
	for _, u := range list(url) {
		if i := strings.LastIndex(u, "@"); i >= 0 {
			u = u[i+1:]
		}
		hosts = append(hosts, u)
	}
	return strings.Join(hosts, ",")
}

// Close releases the bus and the listener.
func (c *Serve) Close() error {
	if c.ln != nil {
		c.ln.Close()
	}
	if c.bus != nil {
		c.bus.Close()
	}
	return nil
}
