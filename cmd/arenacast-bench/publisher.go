package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/protocol"
)

// publisher puts load events on the stream, as the platform's backend
// would: through NATS (JetStream asynchronous publishes in a window of
// 8,192, acknowledged), or, with an HTTP URL, in NDJSON batches to POST
// /publish (at most batchMax events, sent at least every linger, several
// requests in flight).
type publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	failed atomic.Uint64 // publishes JetStream or the server did not acknowledge

	// HTTP batches; httpURL empty: NATS.
	httpURL  string
	peer     bool // Centrifugo's batch API (--peer): token is its API key
	token    string
	batchMax int
	linger   time.Duration
	client   *http.Client
	mu       sync.Mutex // guards batch and batchN
	batch    []byte     // NDJSON of the events not yet sent
	batchN   int
	lastSend time.Time                 // when the previous batch left; owned by paced's goroutine
	sendQ    chan sendJob              // batches for the senders
	inFlight sync.WaitGroup            // batches queued or being sent
	requests atomic.Uint64             // POST /publish requests sent
	reqLat   atomic.Pointer[histogram] // POST /publish round trips of the current step
}

// takeRequestLatency returns the POST /publish round trips recorded since
// the previous call (nil when publishing through NATS) and starts anew.
func (p *publisher) takeRequestLatency() *latency {
	if p.httpURL == "" {
		return nil
	}
	h := p.reqLat.Swap(&histogram{})
	if h == nil {
		return nil
	}
	s := h.summary()
	return &s
}

// sendJob is one batch for a sender.
type sendJob struct {
	body []byte
	n    int
}

// useHTTP switches p to batched HTTP publishing to base (the server's
// http:// address) with the publisher credential token, at most senders
// requests in flight.
func (p *publisher) useHTTP(base, token string, batchMax int, linger time.Duration, senders int) {
	p.httpURL = strings.TrimRight(base, "/") + "/publish"
	if p.peer {
		p.httpURL = strings.TrimRight(base, "/") + "/api/batch"
	}
	p.token, p.batchMax, p.linger = token, max(batchMax, 1), linger
	p.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	p.sendQ = make(chan sendJob, 64)
	p.reqLat.Store(&histogram{})
	for range senders {
		go p.sender()
	}
}

// sender posts batches until the queue closes.
func (p *publisher) sender() {
	for job := range p.sendQ {
		p.post(job)
		p.inFlight.Done()
	}
}

// post sends one batch and counts the events the server did not store.
func (p *publisher) post(job sendJob) {
	body := job.body
	if p.peer {
		body = peerBatchBody(body)
	}
	req, err := http.NewRequest(http.MethodPost, p.httpURL, bytes.NewReader(body))
	if err != nil {
		p.failed.Add(uint64(job.n))
		return
	}
	if p.peer {
		req.Header.Set("X-API-Key", p.token)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Authorization", "Bearer "+p.token)
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	p.requests.Add(1)
	t0 := time.Now()
	resp, err := p.client.Do(req)
	defer func() { p.reqLat.Load().record(time.Since(t0)) }()
	if err != nil {
		p.failed.Add(uint64(job.n))
		logf("publish: POST: %v", err)
		return
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted && job.n == 1 {
		return // a server without batches answered its one event
	}
	if resp.StatusCode != http.StatusOK {
		p.failed.Add(uint64(job.n))
		logf("publish: POST: %s: %.200s", resp.Status, body)
		return
	}
	if p.peer {
		p.failed.Add(peerFailed(body))
		return
	}
	// The answer ends with "published":N,"failed":M}; only M is needed.
	if i := bytes.LastIndex(body, []byte(`"failed":`)); i >= 0 {
		var m uint64
		fmt.Sscanf(string(body[i+len(`"failed":`):]), "%d", &m)
		p.failed.Add(m)
	}
}

// flushHTTP hands the pending batch to a sender when it is full; with
// force, also when linger has passed since the previous one; with final
// (the step ends), whatever is pending.
func (p *publisher) flushHTTP(force, final bool) {
	p.mu.Lock()
	if p.batchN == 0 || (!force && p.batchN < p.batchMax) || (force && !final && time.Since(p.lastSend) < p.linger) {
		p.mu.Unlock()
		return
	}
	job := sendJob{body: p.batch, n: p.batchN}
	p.batch, p.batchN = nil, 0
	p.lastSend = time.Now()
	p.mu.Unlock()
	p.inFlight.Add(1)
	p.sendQ <- job
}

// enqueue adds one event to the pending HTTP batch (b: an NDJSON line, or
// for the peer the payload of a publish command on channel) and hands the
// batch to a sender once it is full.
func (p *publisher) enqueue(channel string, b []byte) {
	p.mu.Lock()
	if p.peer {
		p.batch = appendPeerPublish(p.batch, p.batchN, channel, b)
	} else {
		p.batch = append(append(p.batch, b...), '\n')
	}
	p.batchN++
	full := p.batchN >= p.batchMax
	p.mu.Unlock()
	if full {
		p.flushHTTP(false, false)
	}
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

func (p *publisher) close() {
	if p.nc != nil {
		p.nc.Close()
	}
	if p.sendQ != nil {
		close(p.sendQ)
	}
}

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
	if p.peer { // the peer's command carries the channel; data is the payload
		b := appendPayload(buf[:0], run, ev.phase, ev.aud, size)
		p.enqueue(ev.channel, b)
		return b, nil
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
	if p.httpURL != "" {
		p.enqueue(ev.channel, b)
		return b, nil
	}
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
		if ctx.Err() != nil {
			break
		}
		// The last round sends what is due at dur itself: rate x dur
		// events in all, not what the last tick before dur reached.
		last := el >= dur
		due := int(rate * min(el, dur).Seconds())
		for ; sent < due; sent++ {
			ev, n := gen(sent)
			var err error
			if buf, err = p.publish(buf, run, ev, size); err != nil {
				logf("publish: %v", err)
				continue
			}
			expected.Add(int64(n))
		}
		if p.httpURL != "" {
			p.flushHTTP(true, false)
		}
		if last {
			break
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
	if p.httpURL != "" {
		p.flushHTTP(true, true)
		done := make(chan struct{})
		go func() { p.inFlight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			logf("publish requests still pending after 10 s")
		}
		return
	}
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		logf("publish acks still pending after 10 s")
	}
}
