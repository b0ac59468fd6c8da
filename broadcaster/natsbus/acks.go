package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acker routes the stream's answers (PubAcks) to the publishes of
// PublishBatch. Every publish of a batch carries a reply subject of one
// wildcard inbox subscribed once for the connection's life,
// <inbox>.<batch>.<index>, so an answer finds its batch in a map and its
// event by index. nats.go's asynchronous publish does the same per
// event with a future (a map entry keyed by string, two channels) and
// decodes each answer with encoding/json; here the answer of a stored
// event is read by hand and only an error takes encoding/json
// (BenchmarkPublishBatch; docs/benchmarks.md, eleventh session).
type acker struct {
	nc     *nats.Conn
	prefix string // the inbox and its dot
	stream string // the stream's name, as its answers spell it
	ok     []byte // `{"stream":"<stream>","seq":`, how a stored event's answer begins

	mu      sync.Mutex
	next    uint64                // guarded by mu: the last batch number given
	batches map[uint64]*batchWait // guarded by mu: the batches waiting for answers
}

// noResponderRetries and noResponderWait are how often, and after how
// long, a publish that found no stream listening ("no responders": a
// cluster electing the stream's leader) is sent again before it fails,
// as nats.go's publishes do by default.
const (
	noResponderRetries = 2
	noResponderWait    = 250 * time.Millisecond
)

// newAcker subscribes to a fresh inbox of nc for the answers of stream.
func newAcker(nc *nats.Conn, stream string) (*acker, error) {
	a := &acker{
		nc:      nc,
		prefix:  nc.NewInbox() + ".",
		stream:  stream,
		ok:      []byte(`{"stream":"` + stream + `","seq":`),
		batches: make(map[uint64]*batchWait),
	}
	sub, err := nc.Subscribe(a.prefix+"*.*", a.answer)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribing to publish acknowledgements: %w", err)
	}
	// A batch holds at most publishWindow publishes unanswered; the
	// answers of many batches at once must not be dropped as a slow
	// consumer's, or their events would wait for their deadline.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("natsbus: publish acknowledgements: %w", err)
	}
	return a, nil
}

// batchWait is one PublishBatch's state. The acker's mu guards every
// field but signal once the batch is registered; after unregister the
// batch's goroutine owns them again.
type batchWait struct {
	subjects []string // by event; "": not sent
	data     [][]byte
	ids      []uint64
	errs     []error
	answered []bool
	retries  []uint8 // "no responders" answers so far, by event
	sent     int     // publishes sent
	done     int     // of them, answered
	// signal gets a value (without blocking) whenever an answer arrives.
	signal chan struct{}
}

// register adds w and returns its number.
func (a *acker) register(w *batchWait) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	a.batches[a.next] = w
	return a.next
}

// unregister removes batch n: answers arriving after it are dropped.
func (a *acker) unregister(n uint64) {
	a.mu.Lock()
	delete(a.batches, n)
	a.mu.Unlock()
}

// send publishes event i of batch n with its reply subject; the caller
// holds no lock.
func (a *acker) send(n uint64, i int, subj string, data []byte) error {
	// Built in place: one allocation per event, not a buffer and its copy.
	var reply strings.Builder
	reply.Grow(len(a.prefix) + 2*20 + 1)
	reply.WriteString(a.prefix)
	var num [20]byte
	reply.Write(strconv.AppendUint(num[:0], n, 10))
	reply.WriteByte('.')
	reply.Write(strconv.AppendInt(num[:0], int64(i), 10))
	return a.nc.PublishRequest(subj, reply.String(), data)
}

// progress returns how many of w's publishes are sent and answered.
func (a *acker) progress(w *batchWait) (sent, done int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return w.sent, w.done
}

// publish sends event i of batch n (w) to subj: it records the publish
// first, so that its answer, on another goroutine, finds it.
func (a *acker) publish(n uint64, w *batchWait, i int, subj string, data []byte) {
	a.mu.Lock()
	w.subjects[i], w.data[i] = subj, data
	w.sent++
	a.mu.Unlock()
	if err := a.send(n, i, subj, data); err != nil {
		a.fail(n, w, i, fmt.Errorf("natsbus: publishing to %s: %w", subj, err))
	}
}

// fail answers event i of batch n (w) with err, unless it is answered.
func (a *acker) fail(n uint64, w *batchWait, i int, err error) {
	a.mu.Lock()
	if a.batches[n] == w && !w.answered[i] {
		w.errs[i] = err
		w.answered[i] = true
		w.done++
	}
	a.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// answer is the subscription's handler: it records the answer for its
// event, or sends the event again after a "no responders".
func (a *acker) answer(m *nats.Msg) {
	n, i, ok := a.parseReply(m.Subject)
	if !ok {
		return
	}
	seq, err := a.parseAck(m)
	a.mu.Lock()
	w := a.batches[n]
	if w == nil || i >= len(w.answered) || w.answered[i] || w.subjects[i] == "" {
		a.mu.Unlock()
		return // a late answer, for a batch that stopped waiting
	}
	if errors.Is(err, nats.ErrNoResponders) && w.retries[i] < noResponderRetries {
		w.retries[i]++
		subj, data := w.subjects[i], w.data[i]
		a.mu.Unlock()
		time.AfterFunc(noResponderWait, func() { a.resend(n, i, subj, data) })
		return
	}
	if err != nil {
		w.errs[i] = fmt.Errorf("natsbus: publishing to %s: %w", w.subjects[i], err)
	} else {
		w.ids[i] = seq
	}
	w.answered[i] = true
	w.done++
	a.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// resend sends event i of batch n again, unless the batch stopped
// waiting; a failure to send is its answer.
func (a *acker) resend(n uint64, i int, subj string, data []byte) {
	a.mu.Lock()
	w := a.batches[n]
	a.mu.Unlock()
	if w == nil {
		return
	}
	if err := a.send(n, i, subj, data); err != nil {
		a.fail(n, w, i, fmt.Errorf("natsbus: publishing to %s: %w", subj, err))
	}
}

// parseReply reads <batch>.<index> after the inbox prefix.
func (a *acker) parseReply(subj string) (n uint64, i int, ok bool) {
	if len(subj) <= len(a.prefix) || subj[:len(a.prefix)] != a.prefix {
		return 0, 0, false
	}
	rest := subj[len(a.prefix):]
	dot := -1
	for k := 0; k < len(rest); k++ {
		if rest[k] == '.' {
			dot = k
			break
		}
	}
	if dot < 0 {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(rest[:dot], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	idx, err := strconv.ParseUint(rest[dot+1:], 10, 31)
	if err != nil {
		return 0, 0, false
	}
	return n, int(idx), true
}

// pubAnswer is a stream's answer to a publish, for encoding/json.
type pubAnswer struct {
	Error  *jetstream.APIError `json:"error"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
}

// parseAck returns the sequence a stored event's answer gives, or the
// error the answer says. An answer of the form nats-server sends for a
// stored event, {"stream":"<ours>","seq":N followed by ',' or '}', is
// read by hand; anything else by encoding/json.
func (a *acker) parseAck(m *nats.Msg) (uint64, error) {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return 0, nats.ErrNoResponders
		}
		return 0, errors.New("empty acknowledgement")
	}
	if rest, ok := bytes.CutPrefix(m.Data, a.ok); ok {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j > 0 && j < len(rest) && (rest[j] == ',' || rest[j] == '}') {
			if seq, err := strconv.ParseUint(string(rest[:j]), 10, 64); err == nil && seq > 0 {
				return seq, nil
			}
		}
	}
	var ans pubAnswer
	if err := json.Unmarshal(m.Data, &ans); err != nil {
		return 0, fmt.Errorf("acknowledgement %q: %w", truncate(m.Data, 200), err)
	}
	switch {
	case ans.Error != nil:
		return 0, ans.Error
	case ans.Stream != a.stream || ans.Seq == 0:
		return 0, fmt.Errorf("acknowledgement %q names no sequence of stream %s", truncate(m.Data, 200), a.stream)
	}
	return ans.Seq, nil
}

// truncate is b, cut to at most n bytes for an error message.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// wait blocks until w has at most limit publishes unanswered, or ctx
// ends; it reports whether the former.
func (a *acker) wait(ctx context.Context, w *batchWait, limit int) bool {
	for {
		sent, done := a.progress(w)
		if sent-done <= limit {
			return true
		}
		select {
		case <-w.signal:
		case <-ctx.Done():
			return false
		}
	}
}
