package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/metrics"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// CCSFollow is `arenacast ccs-follow`: follow one CCS Contest API event feed
// into a contest's channel on the stream (docs/ccs.md). Run one per
// followed contest; the nodes serve it (serve --ccs-feed).
type CCSFollow struct {
	Stdout, Stderr io.Writer

	feedURL, user, password, contest string
	mapping                          *ccs.Mapping
	natsURL, prefix, stream          string
	minBackoff, maxBackoff, idle     time.Duration
	maxEvent                         int
	logFormat, logLevel              string
	metricsListen                    string // "" : no /metrics
	printOnly                        bool
	natsAuth                         natsAuthFlags // --nats-url's credentials and TLS

	bus *natsbus.Bus
}

// ParseFlags reads the command line and environment.
func (c *CCSFollow) ParseFlags(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("ccs-follow", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	e := &envFlags{fs: fs}
	feedURL := e.String("feed-url", "", "the CCS event feed, e.g. https://ccs.example/api/contests/wf2024/event-feed (required)")
	user := e.String("ccs-user", "", "basic auth user for the CCS")
	password := e.String("ccs-password", "", "basic auth password for the CCS (prefer the environment variable)")
	contest := e.String("contest", "", "Arenacast contest alias the notifications go to: /contest/<alias> (required)")
	mappingFile := e.String("mapping", "", "JSON file with the visibility mapping (merged over the default; see --print-mapping)")
	printMapping := e.Bool("print-mapping", false, "print the mapping in force (the default, or --mapping merged over it) and exit")
	natsURL := e.String("nats-url", "", "NATS server URLs of the nodes' stream (required; the stream must exist: start a node first)")
	prefix := e.String("subject-prefix", "arenacast", "first NATS subject token of every event subject")
	stream := e.String("stream", "ARENACAST", "JetStream stream name")
	c.natsAuth.register(e)
	minBackoff := e.Duration("min-backoff", 500*time.Millisecond, "first wait before reconnecting to the CCS (doubles, with jitter)")
	maxBackoff := e.Duration("max-backoff", 30*time.Second, "longest wait before reconnecting to the CCS")
	idle := e.Duration("idle-timeout", 5*time.Minute, "reconnect when the CCS sent nothing, not even its keep-alive newline, for this long")
	maxEvent := e.Int("max-event-size", 64<<10, "largest event in bytes (the nodes' --max-event-size); larger notifications are counted and skipped")
	logFormat := e.String("log-format", "text", "log format: text or json")
	logLevel := e.String("log-level", "info", "log level: debug, info, warn, error")
	metricsListen := e.String("metrics-listen", "", "serve Prometheus /metrics (arenacast_ccs_follow_*) on this address, e.g. 127.0.0.1:9481 (empty: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if e.err != nil {
		return e.err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	m := ccs.DefaultMapping()
	if *mappingFile != "" {
		f, err := os.Open(*mappingFile)
		if err != nil {
			return err
		}
		m, err = ccs.ReadMapping(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *mappingFile, err)
		}
	}
	c.mapping, c.printOnly = &m, *printMapping
	if c.printOnly {
		return nil
	}
	c.feedURL, c.user, c.password, c.contest = *feedURL, *user, *password, *contest
	c.natsURL, c.prefix, c.stream = *natsURL, *prefix, *stream
	c.minBackoff, c.maxBackoff, c.idle, c.maxEvent = *minBackoff, *maxBackoff, *idle, *maxEvent
	c.logFormat, c.logLevel, c.metricsListen = *logFormat, *logLevel, *metricsListen
	if c.feedURL == "" || c.contest == "" || c.natsURL == "" {
		return errors.New("--feed-url, --contest and --nats-url are required")
	}
	return nil
}

// Run follows the feed until ctx ends.
func (c *CCSFollow) Run(ctx context.Context) error {
	if c.printOnly {
		_, err := c.Stdout.Write(c.mapping.JSON())
		return err
	}
	log, err := newLogger(c.Stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	natsAuth, err := c.natsAuth.auth()
	if err != nil {
		return err
	}
	c.bus, err = natsbus.Open(ctx, natsbus.Config{URL: c.natsURL, Auth: natsAuth, Prefix: c.prefix, Stream: c.stream, Bind: true,
		MaxEventSize: c.maxEvent, Name: "arenacast-ccs-follow", Logger: log})
	if err != nil {
		return err
	}
	f, err := ccs.NewFollower(ccs.FollowerConfig{
		FeedURL: c.feedURL, Username: c.user, Password: c.password, Contest: c.contest,
		Mapping: c.mapping, Bus: c.bus, MinBackoff: c.minBackoff, MaxBackoff: c.maxBackoff,
		IdleTimeout: c.idle, MaxEventSize: c.maxEvent, Logger: log,
	})
	if err != nil {
		return err
	}
	if c.metricsListen != "" {
		ms, err := listenMetrics(c.metricsListen, false, log, metrics.NewCCSFollower(f, c.contest))
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	log.Info("following a CCS event feed", "contest", c.contest)
	err = f.Run(ctx)
	log.Info("stopped following", "stats", fmt.Sprintf("%+v", f.Stats()))
	return err
}

// Close closes the NATS connection.
func (c *CCSFollow) Close() error {
	if c.bus != nil {
		c.bus.Close()
	}
	return nil
}
