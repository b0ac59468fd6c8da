package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// Publish is `arenacast publish`: put one event on the stream, over HTTP
// (POST /publish) or straight onto NATS; with --ndjson, every event read
// from stdin (one JSON event per line), in batches.
type Publish struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	httpURL, natsURL, prefix string
	token, key               string
	typ, channel, user, data string
	public                   bool
	timeout                  time.Duration
	ndjson                   bool
	batch                    int
	linger                   time.Duration
	natsAuth                 natsAuthFlags // --nats-url's credentials and TLS
}

// ParseFlags reads the command line and environment.
func (c *Publish) ParseFlags(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	httpURLF := e.String("http", "", "broadcaster base URL, e.g. http://127.0.0.1:8080 (publishes with POST /publish)")
	natsURLF := e.String("nats-url", "", "NATS URL to publish to directly (instead of --http)")
	prefixF := e.String("subject-prefix", protocol.DefaultSubjectPrefix, "subject prefix (with --nats-url)")
	tokenF := e.String("publish-token", "", "bearer credential for --http: a token with \"publish\":true or the static publish key")
	keyF := e.String("key", "", "with --http and no --publish-token: mint a short publisher token from this signing key")
	c.natsAuth.register(e)
	fs.StringVar(&c.typ, "type", "", "event type, e.g. run_update (required)")
	fs.StringVar(&c.channel, "channel", "", "channel, e.g. /contest/demo (required)")
	fs.StringVar(&c.user, "user", "", "owner of the event (sees it even when private)")
	fs.BoolVar(&c.public, "public", false, "everyone on the channel may see the event")
	fs.StringVar(&c.data, "data", "{}", "event data, JSON")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up after this (with --ndjson: on one batch)")
	fs.BoolVar(&c.ndjson, "ndjson", false, "read events from stdin, one JSON event per line (blank lines skipped), instead of --type/--channel/...; prints one result per event, in order")
	fs.IntVar(&c.batch, "batch", 500, "--ndjson: events per POST /publish request, or unacknowledged NATS publishes in flight")
	fs.DurationVar(&c.linger, "linger", 5*time.Millisecond, "--ndjson: send a partial batch once stdin has been quiet this long")
	if err := parseFlags(fs, args, c.Stdout); err != nil {
		return err
	}
	if e.err != nil {
		return e.err
	}
	if c.ndjson {
		single := false
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "type", "channel", "user", "public", "data":
				single = true
			}
		})
		if single {
			return errors.New("--ndjson reads whole events from stdin: drop --type, --channel, --user, --public and --data")
		}
		if c.batch < 1 {
			return errors.New("--batch must be at least 1")
		}
	}
	c.httpURL, c.natsURL, c.prefix, c.token, c.key = *httpURLF, *natsURLF, *prefixF, *tokenF, *keyF
	if (c.httpURL == "") == (c.natsURL == "") {
		return errors.New("give exactly one of --http or --nats-url")
	}
	return nil
}

// Run validates and publishes the event and prints its id and channel, in
// both modes as POST /publish answers: {"id":"42","channel":"/contest/demo"}.
func (c *Publish) Run(ctx context.Context) error {
	if c.ndjson {
		return c.runNDJSON(ctx)
	}
	ev := &protocol.Event{Type: c.typ, Channel: c.channel, User: c.user, Public: c.public, Data: json.RawMessage(c.data)}
	if err := ev.Validate(); err != nil {
		return err
	}
	body, err := ev.Encode()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.natsURL != "" {
		return c.viaNATS(ctx, ev, body)
	}
	return c.viaHTTP(ctx, body)
}

func (c *Publish) viaNATS(ctx context.Context, ev *protocol.Event, body []byte) error {
	subj, err := protocol.Subject(c.prefix, ev.Parsed)
	if err != nil {
		return err
	}
	opts, err := c.natsAuth.connectOptions("arenacast-publish")
	if err != nil {
		return err
	}
	nc, err := nats.Connect(c.natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ack, err := js.Publish(ctx, subj, body)
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", subj, err)
	}
	// The same line as POST /publish answers, so both modes print alike.
	out, _ := json.Marshal(map[string]string{"id": protocol.IDString(ack.Sequence), "channel": ev.Channel})
	_, err = fmt.Fprintf(c.Stdout, "%s\n", out)
	return err
}

// credential is the bearer for --http: --publish-token, or a short
// publisher token minted from --key.
func (c *Publish) credential(life time.Duration) (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	if c.key == "" {
		return "", errors.New("--http needs --publish-token or --key")
	}
	s, err := auth.LoadSigner(c.key)
	if err != nil {
		return "", err
	}
	claims := auth.Claims{Publish: true}
	claims.Subject = "arenacast-cli"
	return s.UserToken(claims, life, time.Now())
}

func (c *Publish) viaHTTP(ctx context.Context, body []byte) error {
	tok, err := c.credential(5 * time.Minute)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.httpURL, "/")+"/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST /publish: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /publish: %s: %s", resp.Status, bytes.TrimSpace(out))
	}
	_, err = fmt.Fprintf(c.Stdout, "%s\n", bytes.TrimSpace(out))
	return err
}

// Close does nothing.
func (c *Publish) Close() error { return nil }
