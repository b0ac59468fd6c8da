// Command arenacast-bench is a bounded load generator for a running
// `arenacast serve` on loopback. It opens WebSocket and/or SSE clients from
// several source addresses (127.0.0.2, .3, ...), authenticates and
// subscribes them, publishes through NATS at a given rate and payload size,
// and reports connect rate, deliveries per second, loss, end-to-end latency
// (each payload carries its send time) and, given the server's pid, server
// CPU-seconds per million deliveries and RSS per connection.
//
// Presets (--preset, comma-separated to run several in order):
//
//	fanout   N clients on one channel, rising publish rate until p99 or loss breaks
//	contest  5,000 contestants, 20 admins, 1,000 scoreboard viewers; checks visibility
//	idle     N idle authenticated subscribed connections: memory per connection
//	spike    N clients connect at once, then drop and reconnect at once with resume
//	restart  N clients connected while --restart-cmd restarts the server; they
//	         reconnect with backoff and resume (restart.sh runs it)
//	hold     N idle clients on a shared channel, held until each has --events
//	         events of --run-id (multi.sh: several processes, several nodes)
//	publish  publish --events events of --run-id to the hold channel
//	boards   N scoreboard viewers of a keyed board; row patches at a rate, once
//	         as patches and once as whole boards: bytes per viewer and server CPU
//	channels many small contests: --clients (5,000) over --channels (500)
//	         channels, publish rates 2,000-20,000 events/s (fanout's steps)
//
// It starts nothing: point it at a server (--url), its NATS (--nats-url) and
// the signing key the server trusts (--key). With --publish-http it
// publishes in NDJSON batches to the server's POST /publish instead of NATS. The restart preset runs a
// command the caller gives to restart the server. With --peer centrifugo the fanout, channels,
// spike and idle presets measure a Centrifugo server instead, with the same clients and publisher (peer.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// config is the command line.
type config struct {
	url, natsURL, key, prefix  string
	serverPID                  int
	metricsURL                 string
	kernelTS                   bool
	presets                    []string
	transport                  string
	batch                      bool
	clients, channels          int
	payload                    int
	rates                      []float64
	step                       time.Duration
	p99Limit                   time.Duration
	lossLimit                  float64
	conc                       int
	sources, sourceBase        int
	duration, settle, idleHold time.Duration
	spikeRate                  float64
	alias                      string
	jsonOut, cpuProfile        string
	timeout                    time.Duration

	restartCmd  string        // restart: shell command that restarts the server
	restartWait time.Duration // restart: how long to wait for every client to be back
	maxBackoff  time.Duration // restart: longest pause between a client's reconnect attempts
	runID       int64         // payload run id (0: random); shared by hold and publish processes
	events      int           // hold: events awaited per client; publish: events sent
	eventRate   float64       // publish: events per second
	hold        time.Duration // hold: longest time to hold the connections
	readyFile   string        // hold: created once every client is connected
	boardRows   int           // boards: rows of the keyed board
	boardRate   float64       // boards: row patches per second

	publishHTTP     string        // publish in batches to this server's POST /publish instead of NATS
	publishKey      string        // its credential (empty: a publisher token minted with --key)
	publishBatch    int           // events per POST /publish at most
	publishLinger   time.Duration // a partial batch leaves after this
	publishInFlight int           // most POST /publish requests at a time
	ratesSet        bool          // --rates was given
	channelsSet     bool          // --channels was given

	peer       string // "centrifugo": the server under test is that peer (peer.go)
	peerSecret string // --peer: the HMAC secret its connection tokens are signed with
	peerAPIKey string // --peer: its HTTP API key
}

// clientsOr is --clients, or the preset's default when it is unset.
func (c config) clientsOr(def int) int {
	if c.clients > 0 {
		return c.clients
	}
	return def
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("arenacast-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080/events/", "the server's events endpoint (loopback)")
	fs.StringVar(&c.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS to publish through (e.g. serve's --nats-listen)")
	fs.StringVar(&c.key, "key", "testdata/devkeys/dev.pem", "signing key the server trusts (mints client tokens)")
	fs.StringVar(&c.prefix, "subject-prefix", protocol.DefaultSubjectPrefix, "the server's NATS subject prefix")
	fs.IntVar(&c.serverPID, "server-pid", 0, "the server's pid: report its CPU-seconds and RSS (0: not measured)")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "fanout: the server's /metrics (serve --metrics-listen): report its own latency, stream store to write, beside the clients' (empty: not measured)")
	presets := fs.String("preset", "fanout", "comma-separated presets to run in order: fanout, contest, idle, spike, restart, hold, publish, channels, boards")
	fs.StringVar(&c.transport, "transport", "ws", "client transport: ws, sse, or mix (every other client SSE)")
	fs.BoolVar(&c.batch, "batch", false, "WebSocket clients ask for packed frames (?batch=1)")
	fs.BoolVar(&c.kernelTS, "kernel-timestamps", false, "measure latency to the kernel's receipt of the bytes (SO_TIMESTAMPNS, 64-bit Linux) instead of to the reader's wake-up: leaves out the load tool's own delays")
	fs.IntVar(&c.clients, "clients", 0, "clients (0: the preset's default: fanout 2000, idle 10000, spike 5000, restart 5000, hold 10000, contest 5000 contestants)")
	fs.IntVar(&c.channels, "channels", 1, "fanout, hold, publish: channels the clients are spread over (hold and publish: give both the same)")
	fs.IntVar(&c.payload, "payload", 200, "event data size in bytes")
	rates := fs.String("rates", "100,250,500,1000,2000,4000", "fanout: publish rates to step through, events per second")
	fs.DurationVar(&c.step, "step", 5*time.Second, "fanout: duration of each rate step")
	fs.DurationVar(&c.p99Limit, "p99-limit", 25*time.Millisecond, "fanout: stop stepping when p99 exceeds this")
	fs.Float64Var(&c.lossLimit, "loss-limit", 0, "fanout: stop stepping when the lost fraction exceeds this")
	fs.IntVar(&c.conc, "concurrency", 200, "connects in flight")
	fs.IntVar(&c.sources, "sources", 8, "loopback source addresses to dial from (0: let the kernel pick)")
	fs.IntVar(&c.sourceBase, "source-base", 2, "first source address: 127.0.0.<source-base>")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "contest: publishing time")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "idle: wait before sampling RSS")
	fs.DurationVar(&c.idleHold, "idle-hold", 0, "idle: keep the connections open this long after sampling (to profile the server)")
	fs.Float64Var(&c.spikeRate, "spike-rate", 50, "spike, restart: events per second published through the drop (or restart) and reconnect")
	fs.StringVar(&c.alias, "alias", "bench", "contest alias prefix of the channels used")
	fs.StringVar(&c.jsonOut, "json", "", "also write the JSON report to this file ('-': stdout, instead of the table)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile here")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.StringVar(&c.restartCmd, "restart-cmd", "", "restart: shell command (sh -c) that stops the server and starts it again on the same address, run 1 s into publishing")
	fs.DurationVar(&c.restartWait, "restart-wait", time.Minute, "restart: after the command, wait at most this long for every client to be dropped and resubscribed")
	fs.DurationVar(&c.maxBackoff, "max-backoff", 2*time.Second, "restart: a client's reconnect backoff starts at 100 ms and doubles up to this (each pause jittered ±50%)")
	fs.Int64Var(&c.runID, "run-id", 0, "run id stamped into event payloads; events of other runs are ignored (0: random; give hold and publish processes the same one)")
	fs.IntVar(&c.events, "events", 10, "hold: events each client waits for; publish: events to send")
	fs.Float64Var(&c.eventRate, "event-rate", 20, "publish: events per second")
	fs.DurationVar(&c.hold, "hold", time.Minute, "hold: keep the connections at most this long waiting for --events")
	fs.StringVar(&c.readyFile, "ready-file", "", "hold: create this file (holding the connected count) once the clients are connected")
	fs.IntVar(&c.boardRows, "board-rows", 500, "boards: rows of the keyed board")
	fs.Float64Var(&c.boardRate, "board-rate", 20, "boards: row patches per second (for --duration)")
	fs.StringVar(&c.publishHTTP, "publish-http", "", "publish in NDJSON batches to POST /publish at this base URL (e.g. http://127.0.0.1:8080) instead of through NATS")
	fs.StringVar(&c.publishKey, "publish-key", "", "--publish-http: the server's static --publish-key (empty: a publisher token minted with --key)")
	fs.IntVar(&c.publishBatch, "publish-batch", 500, "--publish-http: most events per request")
	fs.DurationVar(&c.publishLinger, "publish-linger", 5*time.Millisecond, "--publish-http: a partial batch leaves after this")
	fs.IntVar(&c.publishInFlight, "publish-inflight", 4, "--publish-http: most requests in flight; a batch waits for a free one, and that wait is in the measured latency")
	fs.StringVar(&c.peer, "peer", "", "measure a peer instead of Arenacast: centrifugo (fanout, channels, spike and idle presets; spike needs its history and recovery on; WebSocket, --publish-http to its HTTP API; see peer.go)")
	fs.StringVar(&c.peerSecret, "peer-secret", "", "--peer: the HMAC secret key its connection tokens are signed with")
	fs.StringVar(&c.peerAPIKey, "peer-api-key", "", "--peer: its HTTP API key")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) {
		c.ratesSet = c.ratesSet || f.Name == "rates"
		c.channelsSet = c.channelsSet || f.Name == "channels"
	})
	if c.publishBatch < 1 || c.publishLinger < 0 || c.publishInFlight < 1 {
		return c, errors.New("--publish-batch and --publish-inflight must be >= 1 and --publish-linger >= 0")
	}
	for p := range strings.SplitSeq(*presets, ",") {
		switch p = strings.TrimSpace(p); p {
		case "fanout", "contest", "idle", "spike", "restart", "hold", "publish", "channels", "boards":
			c.presets = append(c.presets, p)
		case "":
		default:
			return c, fmt.Errorf("unknown preset %q", p)
		}
	}
	for r := range strings.SplitSeq(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return c, fmt.Errorf("--rates: %q is not a positive rate", r)
		}
		c.rates = append(c.rates, v)
	}
	switch c.transport {
	case "ws", "sse", "mix":
	default:
		return c, fmt.Errorf("--transport %q: want ws, sse or mix", c.transport)
	}
	if c.kernelTS && !kernelTimestamps {
		return c, errors.New("--kernel-timestamps: receive stamps are read on 64-bit Linux only")
	}
	if c.sources < 0 || c.sourceBase < 1 || c.sourceBase+c.sources > 255 {
		return c, errors.New("--sources/--source-base: addresses must stay within 127.0.0.1-254")
	}
	if c.boardRows < 1 || c.boardRate <= 0 {
		return c, errors.New("--board-rows must be >= 1 and --board-rate > 0")
	}
	if c.events < 0 || c.eventRate <= 0 {
		return c, errors.New("--events must be >= 0 and --event-rate > 0")
	}
	if c.maxBackoff <= 0 {
		return c, errors.New("--max-backoff must be positive")
	}
	if c.runID < 0 || c.runID >= 1_000_000_000 {
		return c, errors.New("--run-id must be within 0-999999999")
	}
	if err := c.checkPeer(); err != nil {
		return c, err
	}
	return c, nil
}

// checkPeer refuses a --peer run the peer mode cannot do.
func (c config) checkPeer() error {
	switch c.peer {
	case "":
		return nil
	case peerCentrifugo:
	default:
		return fmt.Errorf("--peer %q: the only peer is %s", c.peer, peerCentrifugo)
	}
	publishes := false
	for _, p := range c.presets {
		switch p {
		case "fanout", "channels", "spike":
			publishes = true
		case "idle":
		default:
			return fmt.Errorf("--peer: preset %s is Arenacast's only (fanout, channels, spike and idle run against the peer)", p)
		}
	}
	switch {
	case c.transport != "ws" || c.batch:
		return errors.New("--peer: WebSocket clients only (--transport ws, no --batch)")
	case publishes && c.publishHTTP == "":
		return errors.New("--peer: give --publish-http (the peer's HTTP API)")
	case c.peerSecret == "" || c.peerAPIKey == "":
		return errors.New("--peer: give --peer-secret and --peer-api-key")
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the presets and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "arenacast-bench:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "arenacast-bench:", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	rep, err := runPresets(ctx, cfg)
	if rep != nil {
		if cfg.jsonOut != "-" {
			rep.writeTables(stdout)
		}
		if cfg.jsonOut != "" {
			out := stdout
			if cfg.jsonOut != "-" {
				f, ferr := os.Create(cfg.jsonOut)
				if ferr != nil {
					fmt.Fprintln(stderr, "arenacast-bench:", ferr)
					return 1
				}
				defer f.Close()
				out = f
			}
			if werr := rep.writeJSON(out); werr != nil {
				fmt.Fprintln(stderr, "arenacast-bench:", werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "arenacast-bench:", err)
		return 1
	}
	return 0
}

func runPresets(ctx context.Context, cfg config) (*report, error) {
	var signer *auth.Signer
	var err error
	if cfg.peer == "" {
		if signer, err = auth.LoadSigner(cfg.key); err != nil {
			return nil, err
		}
	}
	t, err := parseTarget(cfg.url, cfg.batch, cfg.peer != "")
	if err != nil {
		return nil, err
	}
	var pub *publisher
	if cfg.publishHTTP != "" {
		pub = &publisher{prefix: cfg.prefix, peer: cfg.peer != ""}
		tok := cfg.publishKey
		if pub.peer {
			tok = cfg.peerAPIKey
		} else if tok == "" {
			c := auth.Claims{Publish: true}
			c.Subject = "arenacast-bench"
			if tok, err = signer.UserToken(c, 24*time.Hour, time.Now()); err != nil {
				return nil, err
			}
		}
		pub.useHTTP(cfg.publishHTTP, tok, cfg.publishBatch, cfg.publishLinger, cfg.publishInFlight)
	} else if cfg.peer != "" {
		pub = &publisher{peer: true} // idle only (checkPeer): nothing is published
	} else if pub, err = newPublisher(cfg.natsURL, cfg.prefix); err != nil {
		return nil, err
	}
	defer pub.close()
	b := &bench{
		cfg: cfg, signer: signer, target: t, pub: pub,
		dialer: &dialer{base: cfg.sourceBase, n: cfg.sources, kernelTS: cfg.kernelTS},
		server: serverWatch{pid: cfg.serverPID}, self: serverWatch{pid: os.Getpid()},
		srvLat: metricsWatch{url: cfg.metricsURL, client: &http.Client{}},
	}
	rep := newReport()
	rep.KernelTimestamps = cfg.kernelTS
	for _, p := range cfg.presets {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		r := result{Preset: p}
		switch p {
		case "fanout":
			r.Fanout, err = b.fanout(ctx)
		case "channels":
			r.Fanout, err = b.channels(ctx)
		case "idle":
			r.Idle, err = b.idle(ctx)
		case "spike":
			r.Spike, err = b.spike(ctx)
		case "contest":
			r.Contest, err = b.contest(ctx)
		case "restart":
			r.Restart, err = b.restart(ctx)
		case "hold":
			r.Hold, err = b.hold(ctx)
		case "publish":
			r.Publish, err = b.publish(ctx)
		case "boards":
			r.Boards, err = b.boards(ctx)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", p, err)
		}
		rep.Results = append(rep.Results, r)
		time.Sleep(time.Second) // let the server see the clients go
	}
	return rep, nil
}
