package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/protocol"
)

// Listen is `arenacast listen`: a minimal WebSocket client that
// authenticates, subscribes and prints every message, one JSON per line.
// It exists so the quickstart works with nothing but this binary.
type Listen struct {
	Stdout, Stderr io.Writer

	url, token string
	channels   multi
	since      string
	count      int
	timeout    time.Duration
}

// ParseFlags reads the command line.
func (c *Listen) ParseFlags(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080/events/", "events endpoint")
	fs.StringVar(&c.token, "token", "", "JWT to authenticate with (omit for /scoreboard/<token> channels only)")
	fs.Var(&c.channels, "channel", "channel to subscribe to (repeatable)")
	fs.StringVar(&c.since, "since", "", "resume after this event id")
	fs.IntVar(&c.count, "count", 0, "exit after this many events, not counting snapshots (0: run until interrupted)")
	fs.DurationVar(&c.timeout, "timeout", 0, "exit after this long (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(c.channels) == 0 {
		return errors.New("give at least one --channel")
	}
	return nil
}

// Run connects and prints until done.
func (c *Listen) Run(ctx context.Context) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	conn, _, err := websocket.Dial(ctx, c.url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	send := func(m protocol.ClientMessage) error {
		b, _ := json.Marshal(m)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if c.token != "" {
		if err := send(protocol.ClientMessage{Type: protocol.MsgAuth, Token: c.token}); err != nil {
			return err
		}
	}
	for _, ch := range c.channels {
		if err := send(protocol.ClientMessage{Type: protocol.MsgSubscribe, Channel: ch, Since: c.since}); err != nil {
			return err
		}
	}
	events := 0
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("connection ended: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fmt.Fprintln(c.Stdout, line)
			var m struct {
				ID       string `json:"id"`
				Snapshot bool   `json:"snapshot"`
			}
			// The stored scoreboard sent after subscribed is marked
			// "snapshot":true: it is printed, but only new events count.
			if json.Unmarshal([]byte(line), &m) == nil && m.ID != "" && !m.Snapshot {
				events++
			}
		}
		if c.count > 0 && events >= c.count {
			conn.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
}

// Close does nothing.
func (c *Listen) Close() error { return nil }
