package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/protocol"
)

// publisher puts load events on the stream through NATS (JetStream
// asynchronous publishes, acknowledged), as the platform's backend would.
type publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	failed atomic.Uint64 // publishes JetStream did not acknowledge
}

func newPublisher(natsURL, prefix string) (*publisher, error) {
	nc, err := nats.Connect(natsURL, nats.Name("arenacast-bench"))
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS %s: %w", natsURL, err)
	}
	p := &publisher{nc: nc, prefix: prefix}
	p.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(8192),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { p.failed.Add(1) }))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

func (p *publisher) close() { p.nc.Close() }

// event is one load event to publish.
type event struct {
	typ, channel, user string
	public             bool
	aud                string // payload audience: "pub", "adm" or "u:<user>"
	phase              int
}

// publish sends ev with a payload of about size bytes, stamped now.
func (p *publisher) publish(buf []byte, run int64, ev event, size int) ([]byte, error) {
	ch, err := protocol.ParseChannel(ev.channel)
	if err != nil {
		return buf, err
	}
	subj, err := protocol.Subject(p.prefix, ch)
	if err != nil {
		return buf, err
	}
	b := buf[:0]
	b = append(b, `{"type":"`...)
	b = append(b, ev.typ...)
	b = append(b, `","channel":"`...)
	b = append(b, ev.channel...)
	if ev.user != "" {
		b = append(b, `","user":"`...)
		b = append(b, ev.user...)
	}
	b = append(b, '"')
	if ev.public {
		b = append(b, `,"public":true`...)
	}
	b = append(b, `,"data":`...)
	b = appendPayload(b, run, ev.phase, ev.aud, size)
	b = append(b, '}')
	// PublishAsync keeps the slice until acknowledged: hand it a copy.
	if _, err := p.js.PublishAsync(subj, append([]byte(nil), b...)); err != nil {
		p.failed.Add(1)
		return b, err
	}
	return b, nil
}

// paced publishes gen(i) for i = 0, 1, ... at rate events per second for
// dur, in small bursts every millisecond, and returns how many it sent.
// expected receives each event's number of intended recipients.
func (p *publisher) paced(ctx context.Context, run int64, rate float64, dur time.Duration, size int, gen func(i int) (event, int), expected *atomic.Int64) int {
	if rate <= 0 {
		return 0
	}
	var buf []byte
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for {
		el := time.Since(start)
		if el >= dur || ctx.Err() != nil {
			break
		}
		due := int(rate * el.Seconds())
		for ; sent < due; sent++ {
			ev, n := gen(sent)
			var err error
			if buf, err = p.publish(buf, run, ev, size); err != nil {
				logf("publish: %v", err)
				continue
			}
			expected.Add(int64(n))
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return sent
}

// settle waits until every publish is acknowledged (or 10 s pass).
func (p *publisher) settle() {
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		logf("publish acks still pending after 10 s")
	}
}
