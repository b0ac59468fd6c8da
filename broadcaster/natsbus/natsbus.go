// Package natsbus is the JetStream adapter behind broadcaster.Bus: one
// stream over the event subjects with bounded history, one ordered consumer
// per node, replay by sequence, and an embedded NATS server for single-node
// setups.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

var _ broadcaster.Bus = (*Bus)(nil)

// Config says which NATS to use and how the stream is shaped. Zero fields
// take the defaults named on them.
type Config struct {
	// URL is the NATS server URL list (comma-separated). Empty starts an
	// embedded server with JetStream.
	URL string
	// DataDir is where the embedded server stores JetStream data. Defaults
	// to "./arenacast-data".
	DataDir string
	// Listen is the embedded server's client address (e.g.
	// "127.0.0.1:4222") so local publishers can reach it. Empty: no
	// listener, in-process connections only.
	Listen string
	// Prefix is the first subject token. Defaults to "arenacast".
	Prefix string
	// Stream is the JetStream stream name. Defaults to "ARENACAST".
	Stream string
	// MaxAge, MaxMsgs and MaxBytes bound the history (DiscardOld).
	// Defaults: 24 h, 1,000,000 events, 1 GiB.
	MaxAge   time.Duration
	MaxMsgs  int64
	MaxBytes int64
	// Replicas is the stream's replication factor on a cluster. Default 1.
	Replicas int
	// MaxEventSize bounds an event on the stream. Default 64 KiB.
	MaxEventSize int
	// ConnectTimeout is how long Open keeps retrying, with backoff, to
	// connect to an external NATS and to create or update the stream: a
	// fresh cluster answers with timeouts or "JetStream not ready" until
	// it has elected its JetStream leader. Default 60 s.
	ConnectTimeout time.Duration
	// Duplicates is the stream's de-duplication window for publishes with
	// a message id (PublishMsgID). Default 2 minutes.
	Duplicates time.Duration
	// Bind uses the stream as it is, without creating or updating it (Open
	// fails when it does not exist): for tools that publish to a stream
	// the nodes manage, so that their defaults never reshape it.
	Bind bool
	// Auth authenticates to an external NATS and secures the connection
	// (credentials, TLS); not used for the embedded server.
	Auth Auth
	// ListenAuth secures the embedded server's listener (Listen): client
	// authentication and TLS. Zero: none, allowed on loopback only unless
	// ListenAuth.Insecure.
	ListenAuth ListenAuth
	// Name identifies this node's connection in NATS monitoring.
	Name string
	// Logger receives connection state changes.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "./arenacast-data"
	}
	if c.Prefix == "" {
		c.Prefix = protocol.DefaultSubjectPrefix
	}
	if c.Stream == "" {
		c.Stream = "ARENACAST"
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.MaxMsgs <= 0 {
		c.MaxMsgs = 1_000_000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 30
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxEventSize <= 0 {
		c.MaxEventSize = protocol.DefaultMaxEventSize
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.Name == "" {
		c.Name = "arenacast"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Bus is a broadcaster.Bus on JetStream.
type Bus struct {
	cfg      Config // static
	embedded *server.Server
	nc       *nats.Conn
	acks     *acker // PublishBatch's answers
	js       jetstream.JetStream
	stream   jetstream.Stream
	// encoded is a free list of PublishBatch's encoding buffers (one per
	// batch in flight), reused so that a batch of hundreds of events does
	// not allocate each one's stream message (~5% of a node's allocation
	// at 20,000 publishes/s). A channel rather than a sync.Pool: it bounds
	// what is kept, and what it holds can be counted.
	encoded chan *[]byte
}

// Encoding buffers PublishBatch keeps for later batches: at most
// keptEncodings of them, none larger than maxKeptEncoding (a batch of
// unusually large events leaves its buffer to the collector).
const (
	keptEncodings   = 32
	maxKeptEncoding = 1 << 20
)

// Open connects (or starts the embedded server), and creates or updates the
// stream.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	b := &Bus{cfg: cfg, encoded: make(chan *[]byte, keptEncodings)}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// nil: the connection was closed on purpose (Close, shutdown).
			if err == nil {
				cfg.Logger.Debug("nats connection closed")
				return
			}
			cfg.Logger.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			cfg.Logger.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}
	url := cfg.URL
	if cfg.ListenAuth.set() && (url != "" || cfg.Listen == "") {
		return nil, errors.New("natsbus: ListenAuth secures the embedded server's listener: it needs Listen and no URL")
	}
	if url != "" {
		auth, err := cfg.Auth.options()
		if err != nil {
			return nil, err
		}
		opts = append(opts, auth...)
	}
	if url == "" {
		ns, self, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		b.embedded = ns
		opts = append(opts, nats.InProcessServer(ns))
		opts = append(opts, self...)
	}
	deadline := time.Now().Add(cfg.ConnectTimeout)
	retry := newBackoff(deadline)
	var nc *nats.Conn
	var err error
	for {
		if nc, err = nats.Connect(url, opts...); err == nil {
			break
		}
		if refused(err) {
			b.Close()
			return nil, fmt.Errorf("natsbus: NATS refused the connection (credentials or TLS): %w", err)
		}
		if !retry.wait(ctx) {
			b.Close()
			return nil, fmt.Errorf("natsbus: connecting to NATS (for %s): %w", cfg.ConnectTimeout, err)
		}
		cfg.Logger.Warn("NATS unreachable; retrying", "err", err)
	}
	b.nc = nc
	if b.acks, err = newAcker(nc, cfg.Stream); err != nil {
		b.Close()
		return nil, err
	}
	if b.js, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("natsbus: jetstream: %w", err)
	}
	if cfg.Bind {
		if b.stream, err = b.js.Stream(ctx, cfg.Stream); err != nil {
			b.Close()
			return nil, fmt.Errorf("natsbus: binding to stream %s: %w", cfg.Stream, err)
		}
		return b, nil
	}
	retry = newBackoff(deadline)
	for {
		if err = b.createStream(ctx); err == nil {
			return b, nil
		}
		if permanent(err) || !retry.wait(ctx) {
			b.Close()
			return nil, fmt.Errorf("natsbus: creating stream %s: %w", cfg.Stream, err)
		}
		cfg.Logger.Warn("JetStream not ready; retrying", "stream", cfg.Stream, "err", err)
	}
}

// createStream creates or updates the stream, one attempt.
func (b *Bus) createStream(ctx context.Context) error {
	cfg := b.cfg
	var err error
	b.stream, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Arenacast events",
		Subjects:    protocol.StreamSubjects(cfg.Prefix),
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxMsgs:     cfg.MaxMsgs,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgSize:  int32(cfg.MaxEventSize),
		Replicas:    cfg.Replicas,
		Storage:     jetstream.FileStorage,
		Duplicates:  cfg.Duplicates,
		AllowDirect: true,
	})
	return err
}

// permanent reports whether a JetStream error will not go away by
// retrying: the server understood the request and refused it (a bad or
// conflicting stream configuration). Timeouts, "no responders" and 503
// (JetStream not ready, no leader yet) are worth a retry.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408
}

// backoff spaces retries: 250 ms doubling up to 5 s, until a deadline (a
// zero deadline: none, retries until the context ends).
type backoff struct {
	next     time.Duration
	deadline time.Time
}

func newBackoff(deadline time.Time) *backoff {
	return &backoff{next: 250 * time.Millisecond, deadline: deadline}
}

// wait sleeps until the next attempt and reports whether there is one
// (the deadline has not passed and ctx has not ended).
func (r *backoff) wait(ctx context.Context) bool {
	d := r.next
	if !r.deadline.IsZero() {
		d = min(d, time.Until(r.deadline))
	}
	if d <= 0 {
		return false
	}
	r.next = min(2*r.next, 5*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return r.deadline.IsZero() || time.Now().Before(r.deadline)
	case <-ctx.Done():
		return false
	}
}

// embeddedReadyWithin bounds the embedded server's start (JetStream
// recovering its store included) when it reports no error.
const embeddedReadyWithin = 30 * time.Second

// startEmbedded starts the embedded server and returns it with the options
// the node's in-process connection authenticates with.
func startEmbedded(cfg Config) (*server.Server, []nats.Option, error) {
	o := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		NoSigs:     true,
		NoLog:      true,
	}
	var self []nats.Option
	if cfg.Listen == "" {
		o.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("natsbus: embedded listen address %q: %w", cfg.Listen, err)
		}
		if port == 0 {
			// ":0" means any free port, as for net.Listen; nats-server
			// reads 0 as its default, 4222, and -1 as any.
			port = server.RANDOM_PORT
		}
		o.Host, o.Port = host, port
		la := cfg.ListenAuth
		if !Loopback(cfg.Listen) {
			switch {
			case !la.authenticates() && !la.Insecure:
				return nil, nil, fmt.Errorf("natsbus: embedded NATS on %s is reachable beyond loopback and authenticates no client: "+
					"require a user, a token, NKeys or client certificates (or allow it as insecure)", cfg.Listen)
			case !la.authenticates():
				cfg.Logger.Warn("embedded NATS admits any client beyond loopback (insecure)", "listen", cfg.Listen)
			case la.TLSCert == "":
				cfg.Logger.Warn("embedded NATS listens beyond loopback without TLS: events cross the network in the clear", "listen", cfg.Listen)
			}
		}
		if self, err = la.apply(o); err != nil {
			return nil, nil, err
		}
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, nil, fmt.Errorf("natsbus: embedded NATS: %w", err)
	}
	fatal := newFatalCatcher()
	ns.SetLogger(fatal, false, false)
	go ns.Start()
	// Ready, or a fatal error (a listener that could not open) at once,
	// or nothing within the generous bound.
	deadline := time.Now().Add(embeddedReadyWithin)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		select {
		case <-fatal.done:
			ns.Shutdown()
			return nil, nil, fmt.Errorf("natsbus: embedded NATS did not start: %s", fatal.msg)
		default:
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, nil, fmt.Errorf("natsbus: embedded NATS did not become ready in %s", embeddedReadyWithin)
		}
	}
	return ns, self, nil
}

// ClientURL is the embedded server's client URL, or "" when it has no
// listener or NATS is external.
func (b *Bus) ClientURL() string {
	if b.embedded == nil || b.cfg.Listen == "" {
		return ""
	}
	return b.embedded.ClientURL()
}

// Conn exposes the NATS connection for other adapters on the same server
// (revocation, tickets).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream exposes the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Connected reports whether the NATS connection is up.
func (b *Bus) Connected() bool { return b.nc != nil && b.nc.IsConnected() }

// Close drains nothing: it closes the connection and stops the embedded
// server.
func (b *Bus) Close() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
		b.embedded.WaitForShutdown()
	}
}

// Subject returns the subject of a publishable channel.
func (b *Bus) Subject(ch protocol.Channel) (string, error) { return protocol.Subject(b.cfg.Prefix, ch) }

// Publish stores ev and returns its stream sequence.
func (b *Bus) Publish(ctx context.Context, ev *protocol.Event) (uint64, error) {
	subj, err := b.Subject(ev.Parsed)
	if err != nil {
		return 0, err
	}
	data, err := ev.Encode()
	if err != nil {
		return 0, fmt.Errorf("natsbus: encoding event: %w", err)
	}
	ack, err := b.js.Publish(ctx, subj, data)
	if err != nil {
		return 0, fmt.Errorf("natsbus: publishing to %s: %w", subj, err)
	}
	return ack.Sequence, nil
}

// publishWindow bounds the asynchronous publishes one PublishBatch keeps
// unacknowledged: enough to keep the stream busy, few enough that one
// large batch does not fill the connection's pending limit for everyone.
const publishWindow = 256

var _ broadcaster.BatchPublisher = (*Bus)(nil)

// PublishBatch stores evs in order with asynchronous JetStream publishes,
// at most publishWindow unacknowledged at a time, and returns each event's
// stream sequence or its error. The publishes leave on one connection in
// order, so the ids increase along the batch (but for an event sent again
// after "no responders", a stream briefly without a leader: it may land
// after the events that followed it, as with nats.go's own publishes).
// An event not sent when ctx ends fails with broadcaster.ErrNotPublished;
// one sent but not answered by then fails with ctx's error (it may be
// stored). The answers come through b.acks.
func (b *Bus) PublishBatch(ctx context.Context, evs []*protocol.Event) ([]uint64, []error) {
	n := len(evs)
	w := &batchWait{
		subjects: make([]string, n),
		data:     make([][]byte, n),
		ids:      make([]uint64, n),
		errs:     make([]error, n),
		answered: make([]bool, n),
		retries:  make([]uint8, n),
		signal:   make(chan struct{}, 1),
	}
	a := b.acks
	num := a.register(w)
	var buf *[]byte
	select {
	case buf = <-b.encoded:
	default:
		buf = new([]byte)
	}
	enc := (*buf)[:0]
	for i, ev := range evs {
		if !a.wait(ctx, w, publishWindow-1) || ctx.Err() != nil {
			// Past the deadline: what was not sent is not sent, so its
			// error means "not stored" and a retry cannot repeat it.
			w.errs[i] = fmt.Errorf("natsbus: %w: %w", broadcaster.ErrNotPublished, ctx.Err())
			continue
		}
		subj, err := b.Subject(ev.Parsed)
		if err != nil {
			w.errs[i] = err
			continue
		}
		start := len(enc)
		if enc, err = ev.AppendEncode(enc); err != nil {
			w.errs[i] = fmt.Errorf("natsbus: encoding event: %w", err)
			continue
		}
		// Capacity cut: nothing appends into the next event's bytes. A
		// buffer that grows leaves the earlier events in the old array,
		// which they keep alive.
		a.publish(num, w, i, subj, enc[start:len(enc):len(enc)])
	}
	a.wait(ctx, w, 0)
	a.unregister(num)
	// Unregistered: no answer writes to w any more.
	resent := false
	for i := range evs {
		if w.subjects[i] != "" && !w.answered[i] {
			w.errs[i] = fmt.Errorf("natsbus: publishing to %s: %w", w.subjects[i], ctx.Err())
		}
		resent = resent || w.retries[i] > 0
	}
	// nats.go copied every publish into its buffer as it was sent; only a
	// resend still pending (on a timer, after "no responders") may read
	// the encodings later, so a batch that resent anything keeps its own.
	if !resent && cap(enc) <= maxKeptEncoding {
		*buf = enc[:0]
		select {
		case b.encoded <- buf:
		default: // keptEncodings batches at once already gave theirs back
		}
	}
	return w.ids, w.errs
}

// PublishMsgID stores ev with the JetStream message id msgID, so that the
// stream keeps only the first of several publishes with the same id within
// its duplicate window (Config.Duplicates). It returns the stored event's
// sequence, also for a duplicate (then: the first one's), and whether ev was
// a duplicate. Followers of external feeds (package ccs) use it to make a
// replayed notification harmless.
func (b *Bus) PublishMsgID(ctx context.Context, ev *protocol.Event, msgID string) (uint64, bool, error) {
	subj, err := b.Subject(ev.Parsed)
	if err != nil {
		return 0, false, err
	}
	data, err := ev.Encode()
	if err != nil {
		return 0, false, fmt.Errorf("natsbus: encoding event: %w", err)
	}
	ack, err := b.js.Publish(ctx, subj, data, jetstream.WithMsgID(msgID))
	if err != nil {
		return 0, false, fmt.Errorf("natsbus: publishing to %s: %w", subj, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// LastID returns the stream's last sequence.
func (b *Bus) LastID(ctx context.Context) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsbus: stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// FirstID is the id of the oldest stored event: every id below it was
// discarded by the stream's limits (or never used). On an empty stream it
// is one past LastID.
func (b *Bus) FirstID(ctx context.Context) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsbus: stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return info.State.LastSeq + 1, nil
	}
	return info.State.FirstSeq, nil
}

// decode turns a stored message into an event, checking that the subject
// and the event's channel agree.
func (b *Bus) decode(subject string, data []byte, seq uint64, storedNanos int64) (*protocol.Event, error) {
	// data is the message's own buffer (nats.go copies every payload
	// out of its read buffer), so the event may keep it.
	ev, err := protocol.DecodeEventKeep(data, b.cfg.MaxEventSize)
	if err != nil {
		return nil, err
	}
	ch, err := protocol.ChannelFromSubject(b.cfg.Prefix, subject)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", protocol.ErrBadEvent, err)
	}
	if ch != ev.Parsed {
		return nil, fmt.Errorf("%w: channel %q does not match subject %s", protocol.ErrBadEvent, ev.Channel, subject)
	}
	ev.ID = seq
	ev.Timestamp = storedNanos / int64(time.Second)
	ev.StoredAt = storedNanos
	return ev, nil
}

// Consume delivers every event with sequence > after until ctx ends, or
// until the connection closes for good (then it returns nil). The ordered
// consumer re-creates itself after NATS restarts from the last sequence it
// delivered, so nothing is skipped or repeated.
//
// fn and bad run on the calling goroutine, in stream order, and never after
// Consume returns. Why an iterator: nats.go's handler form (Consume with a
// callback) would save the heartbeat timer it arms for every Next, but after
// the ordered consumer re-creates itself its old subscription's goroutine
// may still be about to call the handler with event N while the new one
// delivers N+1, so the events could arrive out of order.
//
// NATS may be down, or going down, when Consume starts: creating the
// consumer is retried with backoff (250 ms doubling to 5 s, a warning each
// time) until it succeeds or ctx ends. Only a refusal (the stream does not
// exist, say) or a connection closed for good ends it early.
func (b *Bus) Consume(ctx context.Context, after uint64, fn func(*protocol.Event), bad func(string, uint64, error)) error {
	var cons jetstream.Consumer
	retry := newBackoff(time.Time{})
	for {
		var err error
		cons, err = b.js.OrderedConsumer(ctx, b.cfg.Stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   after + 1,
		})
		if err == nil {
			break
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case b.nc.IsClosed():
			return nil
		case permanent(err):
			return fmt.Errorf("natsbus: creating consumer: %w", err)
		}
		b.cfg.Logger.Warn("creating the stream's consumer failed; retrying", "stream", b.cfg.Stream, "err", err)
		if !retry.wait(ctx) {
			return ctx.Err()
		}
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("natsbus: consuming: %w", err)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			b.cfg.Logger.Warn("consumer", "err", err)
			continue
		}
		// The reply subject, not msg.Metadata(): that builds a struct and
		// strings the node never reads, for every event.
		seq, nanos, ok := storedAt(msg.Reply())
		if !ok {
			bad(msg.Subject(), 0, fmt.Errorf("no JetStream metadata in reply subject %q", msg.Reply()))
			continue
		}
		ev, err := b.decode(msg.Subject(), msg.Data(), seq, nanos)
		if err != nil {
			bad(msg.Subject(), seq, err)
			continue
		}
		fn(ev)
	}
}

// Replay calls fn for the stored events of ch with after < id <= upTo,
// until fn returns false.
func (b *Bus) Replay(ctx context.Context, ch protocol.Channel, after, upTo uint64, fn func(*protocol.Event) bool) (bool, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("natsbus: stream info: %w", err)
	}
	st := info.State
	// Complete when every event after `after` is still stored, and `after`
	// is not from the future (another stream's id).
	complete := after <= st.LastSeq && after+1 >= st.FirstSeq
	start := after + 1
	if start < st.FirstSeq {
		start = st.FirstSeq
	}
	if upTo > st.LastSeq {
		upTo = st.LastSeq
	}
	if start > upTo {
		return complete, nil
	}
	err = b.scan(ctx, ch, start, upTo, fn)
	return complete, err
}

// Latest returns the newest event of ch with id <= upTo that keep accepts,
// looking back at most limit stream positions.
func (b *Bus) Latest(ctx context.Context, ch protocol.Channel, upTo uint64, limit int, keep func(*protocol.Event) bool) (*protocol.Event, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsbus: stream info: %w", err)
	}
	st := info.State
	if upTo > st.LastSeq {
		upTo = st.LastSeq
	}
	start := st.FirstSeq
	if upTo > uint64(limit) && upTo-uint64(limit)+1 > start {
		start = upTo - uint64(limit) + 1
	}
	if upTo == 0 || start > upTo {
		return nil, nil
	}
	var found *protocol.Event
	err = b.scan(ctx, ch, start, upTo, func(ev *protocol.Event) bool {
		if keep(ev) {
			found = ev
		}
		return true
	})
	return found, err
}

// scan reads the stored events of ch with start <= seq <= upTo in order
// with a temporary ordered consumer filtered on the channel's subject.
func (b *Bus) scan(ctx context.Context, ch protocol.Channel, start, upTo uint64, fn func(*protocol.Event) bool) error {
	subj, err := b.Subject(ch)
	if err != nil {
		return err
	}
	cons, err := b.js.OrderedConsumer(ctx, b.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return fmt.Errorf("natsbus: history consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsbus: history consumer info: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("natsbus: fetching history: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			seq := meta.Sequence.Stream
			if seq > upTo {
				return nil
			}
			ev, err := b.decode(msg.Subject(), msg.Data(), seq, meta.Timestamp.UnixNano())
			if err == nil && !fn(ev) {
				return nil
			}
			if meta.NumPending == 0 || seq == upTo {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("natsbus: fetching history: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, errors.New("want host:port")
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("bad port: %w", err)
	}
	return strings.Trim(addr[:i], "[]"), port, nil
}
