package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
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
	fs.StringVar(&c.url, "url", "ws://127.0.0.1:8080/events/", "events endpoint")
	fs.StringVar(&c.token, "token", "", "JWT to authenticate with (omit for /scoreboard/<token> channels only)")
	fs.Var(&c.channels, "channel", "channel to subscribe to (repeatable)")
	fs.StringVar(&c.since, "since", "", "resume after this event id")
	fs.IntVar(&c.count, "count", 0, "exit after this many events, not counting snapshots (0: run until interrupted)")
	fs.DurationVar(&c.timeout, "timeout", 0, "exit after this long (0: no limit); exit 1 if --count events had not come by then")
	if err := parseFlags(fs, args, c.Stdout); err != nil {
		return err
	}
	if len(c.channels) == 0 {
		return errors.New("give at least one --channel")
	}
	return nil
}

// authID is the id of listen's auth message, echoed on the server's reply.
const authID = "auth"

// Run connects and prints until done: --count new events, --timeout, or an
// interrupt. A refused auth or subscribe, or a close by the server, ends
// it at once with the server's error; so does --timeout before every
// channel was subscribed or --count was reached.
func (c *Listen) Run(ctx context.Context) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, errListenTimeout)
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
		if err := send(protocol.ClientMessage{Type: protocol.MsgAuth, ID: authID, Token: c.token}); err != nil {
			return fmt.Errorf("sending auth: %w", err)
		}
	}
	pending := map[string]bool{}
	for _, ch := range c.channels {
		pending[ch] = true
		if err := send(protocol.ClientMessage{Type: protocol.MsgSubscribe, Channel: ch, Since: c.since}); err != nil {
			return fmt.Errorf("subscribing to %s: %w", ch, err)
		}
	}
	events := 0
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return c.ended(ctx, err, pending, events)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fmt.Fprintln(c.Stdout, line)
			var m struct {
				Type     string             `json:"type"`
				ID       string             `json:"id"`
				Channel  string             `json:"channel"`
				Error    protocol.ErrorCode `json:"error"`
				Message  string             `json:"message"`
				Reason   string             `json:"reason"`
				Snapshot bool               `json:"snapshot"`
			}
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m.Type {
			case protocol.MsgAuthSuccess, protocol.MsgPong:
			case protocol.MsgSubscribed:
				delete(pending, m.Channel)
			case protocol.MsgUnsubscribed:
				return fmt.Errorf("unsubscribed from %s by the server (%s)", m.Channel, m.Reason)
			case protocol.MsgError:
				// An error naming a channel refuses that subscribe; one
				// echoing the auth id refuses the token. Others (the
				// token_expired warning) are printed and go on.
				if m.Channel != "" {
					return fmt.Errorf("subscribe to %s refused: %s: %s", m.Channel, m.Error, m.Message)
				}
				if m.ID == authID {
					return fmt.Errorf("auth refused: %s: %s", m.Error, m.Message)
				}
			default:
				// The stored scoreboard sent after subscribed is marked
				// "snapshot":true: it is printed, but only new events count.
				if m.ID != "" && !m.Snapshot {
					events++
				}
			}
		}
		if c.count > 0 && events >= c.count {
			conn.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
}

// errListenTimeout is the cause of the --timeout deadline.
var errListenTimeout = errors.New("--timeout reached")

// ended explains why the connection ended: an interrupt is a normal end,
// and so is --timeout once every channel is subscribed and no --count is
// owed; a close by the server names its code and reason.
func (c *Listen) ended(ctx context.Context, err error, pending map[string]bool, events int) error {
	if ctx.Err() != nil {
		if !errors.Is(context.Cause(ctx), errListenTimeout) {
			return nil // interrupted
		}
		switch {
		case len(pending) > 0:
			return fmt.Errorf("--timeout %s reached before the server answered the subscribe to %s", c.timeout, strings.Join(slices.Sorted(maps.Keys(pending)), ", "))
		case c.count > 0:
			return fmt.Errorf("--timeout %s reached after %d of %d events", c.timeout, events, c.count)
		}
		return nil
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("the server closed the connection: %d %s", ce.Code, ce.Reason)
	}
	return fmt.Errorf("connection ended: %w", err)
}

// Close does nothing.
func (c *Listen) Close() error { return nil }
