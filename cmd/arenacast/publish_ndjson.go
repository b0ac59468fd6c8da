package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/protocol"
)

// maxBatchBytes bounds one POST /publish body the CLI sends: under the
// server's default --max-publish-bytes (4 MiB), so a batch is never
// refused whole for its size alone.
const maxBatchBytes = 1 << 20

// result is one event's outcome as --ndjson prints it: the server's
// answer for the event ({"id","channel"} or {"error",...,"message"}).
type result struct {
	ID      string `json:"id,omitempty"`
	Channel string `json:"channel,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// runNDJSON publishes every event of stdin in order and prints one result
// line per event. It fails (after publishing the rest) when any event
// failed.
func (c *Publish) runNDJSON(ctx context.Context) error {
	if c.Stdin == nil {
		return errors.New("--ndjson: no standard input")
	}
	// Returning early (a failed batch) must also end the reader below.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan []byte, c.batch)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		readErr <- readLines(ctx, c.Stdin, lines)
	}()
	var send func(ctx context.Context, batch [][]byte) ([]result, error)
	var flush func() ([]result, error)
	if c.natsURL != "" {
		n, err := c.newNATSBatcher()
		if err != nil {
			return err
		}
		defer n.close()
		send, flush = n.send, n.drain
	} else {
		tok, err := c.credential(time.Hour)
		if err != nil {
			return err
		}
		send = func(ctx context.Context, batch [][]byte) ([]result, error) { return c.postBatch(ctx, tok, batch) }
		flush = func() ([]result, error) { return nil, nil }
	}
	total, failed := 0, 0
	out := bufio.NewWriter(c.Stdout)
	defer out.Flush()
	emit := func(rs []result) {
		for _, r := range rs {
			total++
			if r.Error != "" {
				failed++
			}
			b, _ := json.Marshal(r)
			out.Write(append(b, '\n'))
		}
	}
	var batch [][]byte
	size := 0
	sendBatch := func() error {
		if len(batch) == 0 {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, c.timeout)
		rs, err := send(bctx, batch)
		cancel()
		if err != nil {
			return err
		}
		emit(rs)
		batch, size = batch[:0], 0
		return out.Flush()
	}
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if len(batch) > 0 && size+len(line) > maxBatchBytes {
				if err := sendBatch(); err != nil {
					return err
				}
			}
			batch = append(batch, line)
			size += len(line) + 1
			if len(batch) >= c.batch {
				if err := sendBatch(); err != nil {
					return err
				}
			}
			linger.Reset(c.linger)
		case <-linger.C:
			if err := sendBatch(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := sendBatch(); err != nil {
		return err
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	rest, err := flush()
	if err != nil {
		return err
	}
	emit(rest)
	if failed > 0 {
		return fmt.Errorf("%d of %d events failed (see their results)", failed, total)
	}
	return nil
}

// readLines sends every non-blank line of r, trimmed, to lines, whatever
// its length.
func readLines(ctx context.Context, r io.Reader, lines chan<- []byte) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			select {
			case lines <- line:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// postBatch sends batch as one NDJSON POST /publish and returns the
// server's result per event.
func (c *Publish) postBatch(ctx context.Context, tok string, batch [][]byte) ([]result, error) {
	body := bytes.Join(batch, []byte("\n"))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.httpURL, "/")+"/publish", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /publish: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /publish (a batch of %d): %s: %s", len(batch), resp.Status, bytes.TrimSpace(out))
	}
	var rep struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Results) != len(batch) {
		return nil, fmt.Errorf("POST /publish: unexpected answer to a batch of %d: %.200s", len(batch), out)
	}
	return rep.Results, nil
}

// natsBatcher publishes straight onto JetStream asynchronously, at most
// window publishes unacknowledged, validating each event first (nothing
// else checks it before the stream stores it).
type natsBatcher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	prefix  string
	window  int
	pending []pendingPub // in input order; the oldest first
	out     []result     // results ready, in order
}

// pendingPub is one event in flight, or one refused before it left
// (fut nil, res set).
type pendingPub struct {
	fut     jetstream.PubAckFuture
	channel string
	res     result
}

func (c *Publish) newNATSBatcher() (*natsBatcher, error) {
	opts, err := c.natsAuth.connectOptions("arenacast-publish")
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.natsURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(c.batch))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsBatcher{nc: nc, js: js, prefix: c.prefix, window: c.batch}, nil
}

func (n *natsBatcher) close() { n.nc.Close() }

// send publishes batch and returns the results of the events acknowledged
// so far (the oldest first); drain waits for the rest.
func (n *natsBatcher) send(ctx context.Context, batch [][]byte) ([]result, error) {
	for _, line := range batch {
		for n.inFlight() >= n.window {
			if err := n.waitOldest(ctx); err != nil {
				return nil, err
			}
		}
		p := pendingPub{}
		ev, err := protocol.DecodeEvent(line, 0)
		var subj string
		if err == nil {
			p.channel = ev.Channel
			subj, err = protocol.Subject(n.prefix, ev.Parsed)
		}
		if err != nil {
			p.res = result{Channel: p.channel, Error: string(protocol.ErrBadRequest), Message: err.Error()}
		} else if p.fut, err = n.js.PublishAsync(subj, mustEncode(ev)); err != nil {
			p.res = result{Channel: p.channel, Error: string(protocol.ErrInternal), Message: "publishing to " + subj + ": " + err.Error()}
			p.fut = nil
		}
		n.pending = append(n.pending, p)
	}
	n.collect(false)
	out := n.out
	n.out = nil
	return out, nil
}

// inFlight counts the publishes not yet acknowledged.
func (n *natsBatcher) inFlight() int {
	k := 0
	for _, p := range n.pending {
		if p.fut != nil {
			k++
		}
	}
	return k
}

// settle records p's acknowledgement (or its error).
func (p *pendingPub) settle(ack *jetstream.PubAck, err error) {
	if err != nil {
		p.res = result{Channel: p.channel, Error: string(protocol.ErrInternal), Message: err.Error()}
	} else {
		p.res = result{ID: strconv.FormatUint(ack.Sequence, 10), Channel: p.channel}
	}
	p.fut = nil
}

// waitOldest waits for the oldest publish in flight and moves the results
// that are complete to out.
func (n *natsBatcher) waitOldest(ctx context.Context) error {
	for i := range n.pending {
		p := &n.pending[i]
		if p.fut == nil {
			continue
		}
		select {
		case ack := <-p.fut.Ok():
			p.settle(ack, nil)
		case err := <-p.fut.Err():
			p.settle(nil, err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for JetStream acknowledgements: %w", ctx.Err())
		}
		break
	}
	n.collect(false)
	return nil
}

// collect moves the results of the oldest pending events that are
// complete to out, in order; with wait, it waits for every one.
func (n *natsBatcher) collect(wait bool) {
	i := 0
loop:
	for ; i < len(n.pending); i++ {
		p := &n.pending[i]
		if p.fut != nil {
			if wait {
				select {
				case ack := <-p.fut.Ok():
					p.settle(ack, nil)
				case err := <-p.fut.Err():
					p.settle(nil, err)
				}
			} else {
				select {
				case ack := <-p.fut.Ok():
					p.settle(ack, nil)
				case err := <-p.fut.Err():
					p.settle(nil, err)
				default:
					break loop
				}
			}
		}
		n.out = append(n.out, p.res)
	}
	n.pending = n.pending[i:]
}

// drain waits for every publish in flight and returns the results left.
func (n *natsBatcher) drain() ([]result, error) {
	select {
	case <-n.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return nil, errors.New("JetStream acknowledgements still pending after 30 s")
	}
	n.collect(true)
	out := n.out
	n.out = nil
	return out, nil
}

// mustEncode is ev in the form every other publisher puts on the stream
// (ev was decoded and validated, so encoding cannot fail).
func mustEncode(ev *protocol.Event) []byte {
	b, err := ev.Encode()
	if err != nil {
		panic("publish: encoding a validated event: " + err.Error())
	}
	return b
}
