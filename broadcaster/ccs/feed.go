package ccs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// FeedConfig configures a Feed. Zero durations take the defaults named on
// them.
type FeedConfig struct {
	// Bus is the stream the followed notifications are on.
	Bus broadcaster.Bus
	// Verifier checks readers' bearer tokens.
	Verifier *auth.Verifier
	// Anonymous lets readers without a token read the public view.
	Anonymous bool
	// KeepAlive is the idle newline's period. Default 120 s (the CCS
	// Contest API's).
	KeepAlive time.Duration
	// WriteTimeout drops a reader whose one write stays blocked this long.
	// Default 30 s.
	WriteTimeout time.Duration
	// Logger receives refusals and skipped events (never tokens).
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before Run tries the stream
	// again after it could not be read (a JetStream cluster electing its
	// leader, NATS restarting). Defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// TrimInterval is how often the feed drops the notifications the
	// stream no longer holds (its retention limits discarded them), when
	// Bus can say where the stream starts (StreamStart). Default 1 min.
	TrimInterval time.Duration
}

// StreamStart is a Bus that can say where its stream starts (natsbus):
// every id below FirstID was discarded.
type StreamStart interface {
	FirstID(ctx context.Context) (uint64, error)
}

// Feed serves GET /api/contests/{id}/event-feed for every contest that
// has followed notifications on the stream. It consumes the stream once
// (one consumer per node, however many readers) and keeps each contest's
// notifications in memory; a reader is a goroutine walking that log.
type Feed struct {
	cfg FeedConfig // static after NewFeed
	log *slog.Logger

	mu       sync.RWMutex
	contests map[string]*feedLog // guarded by mu
	// position is the newest stream position consumed; since_token above
	// it is unknown. ready is closed once the consumer reached the stream
	// position it started at.
	position  atomic.Uint64
	ready     chan struct{}
	readyOnce sync.Once
	readers   atomic.Int64
	delivered atomic.Uint64
	trimmed   atomic.Uint64
	// startFirst is the stream's oldest id when the feed first read it
	// (0: unknown): notifications before it were discarded unseen.
	startFirst atomic.Uint64
}

// entryKind says how an entry relates to the notification it carries.
type entryKind uint8

const (
	kindPrimary entryKind = iota // the notification's own event
	kindShare                    // one recipient's copy of a private notification for several teams
	kindRelease                  // a notification withheld during the freeze, public at the thaw
)

// entry is one served notification.
type entry struct {
	id     uint64
	typ    string // CCS type, for types=
	kind   entryKind
	public bool
	user   string
	line   []byte // the served line, newline included
}

// visible reports whether a reader with access a and user name user sees e.
// Admins see every notification once (primaries); others see public
// primaries and their own, their shares, and releases of other teams'
// notifications (their own they saw when it was made).
func (e *entry) visible(a auth.Access, user string) bool {
	if a == auth.AccessAll {
		return e.kind == kindPrimary
	}
	switch e.kind {
	case kindPrimary:
		return e.public || (user != "" && e.user == user)
	case kindShare:
		return user != "" && e.user == user
	default:
		return e.user == "" || e.user != user
	}
}

// feedLog is one contest's served notifications, in stream order.
// Positions in it are absolute: base counts the entries trimmed from its
// front, so a reader's position stays valid across a trim.
type feedLog struct {
	mu      sync.RWMutex
	entries []entry       // guarded by mu
	base    int           // guarded by mu; entries[0] is at position base
	trimmed uint64        // guarded by mu; id of the newest entry trimmed (0: none)
	grew    chan struct{} // guarded by mu; closed (and replaced) when entries grow
}

func (l *feedLog) add(e entry) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	close(l.grew)
	l.grew = make(chan struct{})
	l.mu.Unlock()
}

// after returns the entries from position i on, the position after them,
// and a channel closed when more arrive. ok is false when entries from i on
// were trimmed before the reader got them: it would miss them.
func (l *feedLog) after(i int) (es []entry, next int, grew <-chan struct{}, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if i < l.base {
		return nil, i, nil, false
	}
	j := i - l.base
	return l.entries[j:len(l.entries):len(l.entries)], l.base + len(l.entries), l.grew, true
}

// held reports whether the log holds any entry, and the id of the newest
// entry trimmed from it (0: none).
func (l *feedLog) held() (bool, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries) > 0, l.trimmed
}

// trim drops the entries with id < first and returns how many it dropped.
// Readers keep the slices they hold; the kept entries move to a new array
// so the old one is freed once they are done.
func (l *feedLog) trim(first uint64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].id >= first })
	if k > 0 {
		l.trimmed = l.entries[k-1].id
		l.entries = slices.Clone(l.entries[k:])
		l.base += k
	}
	return k
}

// index is the index of the first entry with id > token.
func (l *feedLog) index(token uint64) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.base + sort.Search(len(l.entries), func(i int) bool { return l.entries[i].id > token })
}

// NewFeed checks cfg.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.Bus == nil || cfg.Verifier == nil {
		return nil, errors.New("ccs feed: Bus and Verifier are required")
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 120 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.TrimInterval <= 0 {
		cfg.TrimInterval = time.Minute
	}
	return &Feed{cfg: cfg, log: cfg.Logger, contests: map[string]*feedLog{}, ready: make(chan struct{})}, nil
}

// Ready is closed once the feed has read the stream up to where it stood
// when Run began; until then requests are answered 503.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// Readers is the number of open feed requests.
func (f *Feed) Readers() int { return int(f.readers.Load()) }

// Delivered is the number of notification lines written to readers.
func (f *Feed) Delivered() uint64 { return f.delivered.Load() }

// Run consumes the stream from its start until ctx ends, and returns nil
// then. When the stream cannot be read (its position, or a consumer on it:
// a JetStream cluster electing its leader, NATS restarting), Run logs it and
// tries again after a backoff (MinBackoff doubling to MaxBackoff, with
// jitter), from where it stopped: a feed that gave up would answer its
// readers 503, or stop growing, until the process restarted.
func (f *Feed) Run(ctx context.Context) error {
	if ss, ok := f.cfg.Bus.(StreamStart); ok {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			f.trimLoop(ctx, ss)
		}()
	}
	for attempt := 0; ; attempt++ {
		from, began := f.position.Load(), time.Now()
		err := f.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if f.position.Load() != from || time.Since(began) >= f.cfg.MaxBackoff {
			attempt = 0 // it ran for a while: start the backoff over
		}
		if err == nil {
			err = errors.New("the stream's consumer ended")
		}
		wait := backoff(f.cfg.MinBackoff, f.cfg.MaxBackoff, attempt)
		f.log.Warn("ccs feed: cannot read the stream; retrying", "err", err, "in", wait)
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
}

// trimLoop drops, every TrimInterval, the notifications the stream has
// discarded, so that the feed holds what the stream holds: its retention
// (--history-max-*) bounds the feed's memory, and a node serves what a node
// started now would serve.
func (f *Feed) trimLoop(ctx context.Context, ss StreamStart) {
	t := time.NewTicker(f.cfg.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		first, err := ss.FirstID(ctx)
		if err != nil {
			continue // the consumer's retries report an unreadable stream
		}
		f.trim(first)
	}
}

// trim drops every contest's notifications with id < first and returns how
// many it dropped. A contest's log stays (empty) for its live readers.
func (f *Feed) trim(first uint64) int {
	f.mu.RLock()
	logs := make([]*feedLog, 0, len(f.contests))
	for _, l := range f.contests {
		logs = append(logs, l)
	}
	f.mu.RUnlock()
	n := 0
	for _, l := range logs {
		n += l.trim(first)
	}
	f.trimmed.Add(uint64(n))
	return n
}

// Trimmed is the number of notifications dropped because the stream no
// longer holds them.
func (f *Feed) Trimmed() uint64 { return f.trimmed.Load() }

// consume reads the stream after the newest position taken until ctx ends
// or the stream fails.
func (f *Feed) consume(ctx context.Context) error {
	last, err := f.cfg.Bus.LastID(ctx)
	if err != nil {
		return fmt.Errorf("reading the stream position: %w", err)
	}
	if ss, ok := f.cfg.Bus.(StreamStart); ok && f.startFirst.Load() == 0 {
		if first, err := ss.FirstID(ctx); err == nil {
			f.startFirst.Store(first)
		}
	}
	after := f.position.Load()
	f.passed(after, last)
	return f.cfg.Bus.Consume(ctx, after, func(ev *protocol.Event) {
		f.take(ev)
		f.passed(ev.ID, last)
	}, func(_ string, id uint64, _ error) { f.passed(id, last) })
}

func (f *Feed) passed(id, last uint64) {
	if id > f.position.Load() {
		f.position.Store(id)
	}
	if id >= last {
		f.readyOnce.Do(func() { close(f.ready) })
	}
}

// take adds a followed notification to its contest's log.
func (f *Feed) take(ev *protocol.Event) {
	if !strings.HasPrefix(ev.Type, "ccs_") || ev.Parsed.Kind != protocol.KindContest {
		return
	}
	kind := kindPrimary
	base := ev.Type
	switch {
	case strings.HasSuffix(ev.Type, suffixShare):
		kind, base = kindShare, strings.TrimSuffix(ev.Type, suffixShare)
	case strings.HasSuffix(ev.Type, suffixRelease):
		kind, base = kindRelease, strings.TrimSuffix(ev.Type, suffixRelease)
	}
	n, err := ParseNotification(ev.Data)
	if err != nil || EventType(n.Type) != base {
		f.log.Warn("skipping a ccs event that holds no notification of its type", "channel", ev.Channel, "id", ev.ID)
		return
	}
	f.mu.Lock()
	l := f.contests[ev.Parsed.Name]
	if l == nil {
		l = &feedLog{grew: make(chan struct{})}
		f.contests[ev.Parsed.Name] = l
	}
	f.mu.Unlock()
	l.add(entry{id: ev.ID, typ: n.Type, kind: kind, public: ev.Public, user: ev.User, line: encodeServed(n, protocol.IDString(ev.ID))})
}

func (f *Feed) contest(alias string) *feedLog {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.contests[alias]
}

// ServeHTTP answers GET /api/contests/{id}/event-feed.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/contests/")
	alias, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "event-feed" || !protocol.ValidName(alias) {
		ccsError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		ccsError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	select {
	case <-f.ready:
	default:
		ccsError(w, http.StatusServiceUnavailable, "the feed is still reading the stream")
		return
	}
	access, user, expires, status, msg := f.reader(r, alias)
	if status != 0 {
		ccsError(w, status, msg)
		return
	}
	q := r.URL.Query()
	var after uint64
	if tok := q.Get("since_token"); tok != "" {
		id, err := protocol.ParseID(tok)
		if err != nil || id > f.position.Load() {
			ccsError(w, http.StatusBadRequest, "since_token is not a token of this feed")
			return
		}
		after = id
	}
	var types map[string]bool
	if t := q.Get("types"); t != "" {
		types = map[string]bool{}
		for _, name := range strings.Split(t, ",") {
			types[strings.TrimSpace(name)] = true
		}
	}
	stream := true
	switch q.Get("stream") {
	case "", "true":
	case "false":
		stream = false
	default:
		ccsError(w, http.StatusBadRequest, "stream must be true or false")
		return
	}
	l := f.contest(alias)
	var holds bool
	var trimmed uint64
	if l != nil {
		holds, trimmed = l.held()
	}
	if !holds {
		// Also a contest whose notifications were all trimmed: a node
		// started now would not know it either.
		ccsError(w, http.StatusNotFound, "no followed feed for this contest")
		return
	}
	// A reader whose token is older than a notification the stream has
	// discarded may have missed it: it reads from the start (the CCS
	// Contest API's answer to a token the feed cannot continue from).
	sf := f.startFirst.Load()
	if floor := max(trimmed, sf-min(sf, 1)); q.Get("since_token") != "" && after < floor {
		ccsError(w, http.StatusBadRequest, "since_token is older than what this feed still holds; read it from the start")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	f.readers.Add(1)
	defer f.readers.Add(-1)
	ctx := r.Context()
	if !expires.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, expires)
		defer cancel()
	}
	f.stream(ctx, w, l, l.index(after), access, user, types, stream)
}

// stream writes a reader's feed from index i on.
func (f *Feed) stream(ctx context.Context, w http.ResponseWriter, l *feedLog, i int, a auth.Access, user string, types map[string]bool, live bool) {
	rc := http.NewResponseController(w)
	idle := time.NewTimer(f.cfg.KeepAlive)
	defer idle.Stop()
	buf := make([]byte, 0, 32<<10)
	write := func() bool {
		if len(buf) == 0 {
			return true
		}
		rc.SetWriteDeadline(time.Now().Add(f.cfg.WriteTimeout))
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		buf = buf[:0]
		return err == nil
	}
	for {
		es, next, grew, ok := l.after(i)
		if !ok {
			// The reader fell behind the stream's retention: end its
			// response; its since_token is then refused (400) and it reads
			// from the start, rather than going on past a gap.
			return
		}
		i = next
		n := 0
		for k := range es {
			e := &es[k]
			if !e.visible(a, user) || (types != nil && !types[e.typ]) {
				continue
			}
			buf = append(buf, e.line...)
			n++
			if len(buf) >= 32<<10 {
				if !write() {
					return
				}
			}
		}
		if !write() {
			return
		}
		if n > 0 {
			f.delivered.Add(uint64(n))
			idle.Reset(f.cfg.KeepAlive)
		}
		if !live {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-grew:
		case <-idle.C:
			buf = append(buf, '\n')
			if !write() {
				return
			}
			idle.Reset(f.cfg.KeepAlive)
		}
	}
}

// reader decides who is reading: a bearer token's access to
// /contest/<alias> (admins: all; participants: their team's view), or the
// public view without one. status is non-zero for a refusal.
func (f *Feed) reader(r *http.Request, alias string) (a auth.Access, user string, expires time.Time, status int, msg string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if !f.cfg.Anonymous {
			return 0, "", time.Time{}, http.StatusUnauthorized, "a bearer token is required"
		}
		return auth.AccessMember, "", time.Time{}, 0, ""
	}
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return 0, "", time.Time{}, http.StatusUnauthorized, "use Authorization: Bearer <token>"
	}
	p, err := f.cfg.Verifier.Verify(strings.TrimSpace(h[7:]))
	if err != nil {
		return 0, "", time.Time{}, http.StatusUnauthorized, "the token is not valid"
	}
	a = auth.ChannelAccess(p, protocol.Channel{Kind: protocol.KindContest, Name: alias})
	if a == auth.AccessNone {
		return 0, "", time.Time{}, http.StatusForbidden, "the token grants nothing on this contest"
	}
	return a, p.User, p.Expires, 0, ""
}

// ccsError answers like a CCS: {"code":...,"message":...}.
func ccsError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"code\":%d,\"message\":%q}\n", status, msg)
}
