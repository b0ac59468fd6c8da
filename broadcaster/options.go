package broadcaster

import (
	"log/slog"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster/presence"
	"github.com/arenacast/arenacast/protocol"
)

// Options configures a Server. The zero value of every field means its
// documented default; defaults are applied in one place, withDefaults.
type Options struct {
	// Verifier checks user and scoreboard tokens. Required.
	Verifier *auth.Verifier
	// Bus is the event stream. Required.
	Bus Bus
	// Logger receives structured logs. Defaults to a logger that discards.
	Logger *slog.Logger

	// AllowedOrigins lists host patterns (path.Match syntax, e.g.
	// "*.example.com" or "localhost:*") of cross-origin pages allowed to
	// connect. Same-origin requests and requests without Origin are always
	// allowed. Defaults to none: cross-origin browsers are refused.
	AllowedOrigins []string
	// PublishKey, when set, is a static bearer credential for POST /publish
	// in addition to tokens with the publish claim.
	PublishKey string

	// MaxMessageSize bounds one client message. Defaults to 4 KiB.
	MaxMessageSize int64
	// MaxEventSize bounds one publisher event. Defaults to 64 KiB.
	MaxEventSize int
	// MaxPublishBatch bounds the events of one POST /publish batch, and
	// MaxPublishBytes its body; a batch over either is refused whole
	// (413). Defaults 1,000 events and 4 MiB (at least MaxEventSize).
	MaxPublishBatch int
	MaxPublishBytes int
	// MaxSubscriptions caps subscriptions per connection. Defaults to 100.
	MaxSubscriptions int
	// MessageRate and MessageBurst bound client messages per second on one
	// connection. Default 20 and 40.
	MessageRate  float64
	MessageBurst int
	// MaxBadMessages is how many malformed messages a connection may send
	// before it is closed with 4501. Defaults to 10.
	MaxBadMessages int
	// MaxAuthFailures is how many failed auth messages a connection may send
	// before it is closed with 4500. Defaults to 5.
	MaxAuthFailures int
	// MaxConnections caps connections on this node (4502 above it). Defaults
	// to 100,000.
	MaxConnections int

	// QueueMessages and QueueBytes bound a connection's send queue; a
	// connection whose queue is full is closed with 4001. Defaults 4096 and
	// 4 MiB.
	QueueMessages int
	QueueBytes    int
	// WriteTimeout bounds one write to a client. Defaults to 10 s.
	WriteTimeout time.Duration
	// CloseTimeout bounds a close: waiting for the write in progress, the
	// last replies and the close frame. A client that stopped reading
	// blocks all three; past it the connection is dropped without a close
	// frame. Defaults to 5 s.
	CloseTimeout time.Duration

	// AuthTimeout closes connections that neither authenticate nor subscribe
	// in time (4004). Defaults to 10 s.
	AuthTimeout time.Duration
	// PingInterval is how often the server pings; PongTimeout how long it
	// waits for the pong (4002). Defaults 30 s and 20 s.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// ExpiryWarning is how long before a token's expiry the token_expired
	// warning goes out; ExpiryGrace how long after expiry the connection is
	// closed (4003) if no fresh token came. Defaults 60 s and 30 s.
	ExpiryWarning time.Duration
	ExpiryGrace   time.Duration

	// SSECookie names a cookie holding a JWT that SSE requests may
	// authenticate with. Empty (the default): cookies are ignored.
	SSECookie string
	// Tickets issues and checks the short-lived SSE tickets of POST
	// /events/ticket. Nil disables tickets.
	Tickets Tickets
	// SSEHeartbeat is the interval of SSE heartbeat comments. Default 20 s.
	SSEHeartbeat time.Duration
	// SSERetry is the reconnection delay suggested to EventSource. Default 2 s.
	SSERetry time.Duration
	// SSEMaxLifetime ends SSE streams after this long (minus up to 10%
	// jitter) so they re-authenticate. Default 30 min.
	SSEMaxLifetime time.Duration

	// Revocations stores revocations made with POST /revoke. Nil disables
	// the endpoint; ApplyRevocation still works.
	Revocations RevocationStore

	// ScoreboardMinInterval, when positive, spaces the scoreboard_update
	// events of each channel and view (public, one user's, admins'): at
	// most one goes out per interval; the newest held back goes out at the
	// end of the interval (trailing edge), so the last update always
	// arrives. A held update goes out early, before any other event of its
	// channel, so ids keep increasing on the wire. Defaults to 0: off, and
	// routing pays nothing for it.
	ScoreboardMinInterval time.Duration

	// ScoreboardRefetchSpread is sent as jitter_ms with every opaque
	// scoreboard_update, so clients that refetch the board from the
	// platform's API spread their requests over it. Defaults to 2 s;
	// negative: not sent.
	ScoreboardRefetchSpread time.Duration

	// DebugStoredTime adds stored_us, the time the stream stored the
	// event (microseconds), to every delivery, so a load tool can split
	// the publish path (publisher to store) from the node (store to
	// write). For measurements; clients must not rely on it.
	DebugStoredTime bool

	// WritePace bounds how long frames wait to be grouped into one write.
	// The node's flushers write WebSockets and HTTP/1.1 SSE streams in
	// rounds (each connection once per round) and wait between rounds
	// twice the measured cost of the next one, at most WritePace: a lone
	// event goes out at once, a fan-out to thousands batches (see flusher).
	// An SSE stream over HTTP/2, or a WebSocket handed to a writer of its
	// own (its socket was full), waits WritePace per connection. Default
	// 20 ms; negative: off.
	WritePace time.Duration

	// IOUringEntries is how many connections a flusher writes with one
	// system call, through a Linux io_uring: a fan-out round's writes are
	// mostly system-call cost, and batched they measured half of it
	// (docs/benchmarks.md, eighth session). Where io_uring is missing
	// (other systems, kernels before 5.4, io_uring_disabled), the node
	// logs it once and writes a system call per connection. Default 128;
	// negative: off.
	IOUringEntries int

	// RecentEvents is how many of each channel's newest events a node keeps
	// in memory to answer resumes without a stream consumer. Default 1000;
	// negative disables.
	RecentEvents int
	// RecentBytes bounds the memory of those events on the node, across
	// channels: over it, the channels updated least recently are dropped
	// from memory (their resumes use the stream). Default 64 MiB;
	// negative: unbounded.
	RecentBytes int
	// SnapshotBytes bounds the memory of the scoreboard snapshots a node
	// keeps (the newest of each view of each contest): over it, the
	// contests updated least recently are dropped, and their next
	// subscribers' snapshots come from a stream search. Default 32 MiB;
	// negative: unbounded.
	SnapshotBytes int
	// ChannelStateMax caps the channels each per-channel structure of the
	// node keeps (the recent log's rings, the snapshot cache's contests),
	// in addition to their byte budgets: over it, the channels updated
	// least recently are forgotten (the snapshot cache keeps those with
	// subscribers on this node). Forgetting costs a stream read, never a
	// wrong answer. Default 20,000; negative: unbounded.
	ChannelStateMax int
	// ChannelStateIdle forgets the per-channel state (recent log,
	// snapshot cache, scoreboard throttle) of channels without subscribers
	// on this node that have not been updated for this long, so memory
	// returns after contests end. Default 1 h; negative: never.
	ChannelStateIdle time.Duration
	// WarmEvents is how many stored events a starting node reads into that
	// memory (and its snapshot cache) before it becomes ready, so clients
	// reconnecting after a restart resume from memory. Default 20,000;
	// negative disables.
	WarmEvents int

	// ConsumerStall is how long the node's consumer may make no progress
	// while the stream holds events it has not routed before /readyz turns
	// false ("consumer":"stalled"): after the NATS server that led the
	// stream dies, a node can stay connected yet deliver nothing for
	// seconds, and the load balancer should send clients elsewhere.
	// Default 5 s.
	ConsumerStall time.Duration

	// PresenceInterval is how often the node publishes its presence counts
	// (who is subscribed to each contest), recomputes the totals across
	// nodes and sends the presence event to admins (docs/operations.md,
	// "Presence"). Default 5 s; negative: presence is off (no counting, no
	// event, GET /presence answers 404).
	PresenceInterval time.Duration
	// PresenceLink carries the counts between nodes (natsbus:
	// Bus.PresenceLink, a core NATS subject). Nil: this node's counts only.
	PresenceLink presence.Link
	// PresenceRepeat: the presence event goes to a contest's admins when
	// its totals changed, and every PresenceRepeat intervals anyway.
	// Default 6.
	PresenceRepeat int

	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = protocol.MaxClientMessage
	}
	def(&o.MaxEventSize, protocol.DefaultMaxEventSize)
	def(&o.MaxPublishBatch, 1000)
	def(&o.MaxPublishBytes, 4<<20)
	o.MaxPublishBytes = max(o.MaxPublishBytes, o.MaxEventSize)
	def(&o.MaxSubscriptions, 100)
	if o.MessageRate <= 0 {
		o.MessageRate = 20
	}
	def(&o.MessageBurst, 40)
	def(&o.MaxBadMessages, 10)
	def(&o.MaxAuthFailures, 5)
	def(&o.MaxConnections, 100_000)
	def(&o.QueueMessages, 4096)
	def(&o.QueueBytes, 4<<20)
	defD(&o.WriteTimeout, 10*time.Second)
	defD(&o.CloseTimeout, 5*time.Second)
	defD(&o.AuthTimeout, 10*time.Second)
	defD(&o.PingInterval, 30*time.Second)
	defD(&o.PongTimeout, 20*time.Second)
	defD(&o.ExpiryWarning, 60*time.Second)
	defD(&o.ExpiryGrace, 30*time.Second)
	defD(&o.SSEHeartbeat, 20*time.Second)
	defD(&o.SSERetry, 2*time.Second)
	defD(&o.SSEMaxLifetime, 30*time.Minute)
	defD(&o.ConsumerStall, 5*time.Second)
	if o.WritePace == 0 {
		o.WritePace = wsWritePace
	}
	o.WritePace = max(o.WritePace, 0)
	if o.IOUringEntries == 0 {
		o.IOUringEntries = ringSize
	}
	if o.RecentEvents == 0 {
		o.RecentEvents = 1000
	}
	if o.WarmEvents == 0 {
		o.WarmEvents = 20_000
	}
	o.RecentEvents = max(o.RecentEvents, 0)
	if o.RecentBytes == 0 {
		o.RecentBytes = 64 << 20
	}
	o.RecentBytes = max(o.RecentBytes, 0)
	if o.ScoreboardRefetchSpread == 0 {
		o.ScoreboardRefetchSpread = 2 * time.Second
	}
	o.ScoreboardRefetchSpread = max(o.ScoreboardRefetchSpread, 0)
	if o.SnapshotBytes == 0 {
		o.SnapshotBytes = 32 << 20
	}
	o.SnapshotBytes = max(o.SnapshotBytes, 0)
	o.WarmEvents = max(o.WarmEvents, 0)
	if o.ChannelStateMax == 0 {
		o.ChannelStateMax = 20_000
	}
	o.ChannelStateMax = max(o.ChannelStateMax, 0)
	if o.ChannelStateIdle == 0 {
		o.ChannelStateIdle = time.Hour
	}
	o.ChannelStateIdle = max(o.ChannelStateIdle, 0)
	if o.PresenceInterval == 0 {
		o.PresenceInterval = 5 * time.Second
	}
	def(&o.PresenceRepeat, 6)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
