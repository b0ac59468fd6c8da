package ccs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// Bus is what a Follower needs of the stream: reading back what it
// published before (Replay, LastID) and publishing with a message id
// (natsbus.Bus.PublishMsgID) so that the stream drops a repeat.
type Bus interface {
	broadcaster.Bus
	PublishMsgID(ctx context.Context, ev *protocol.Event, msgID string) (id uint64, duplicate bool, err error)
}

// FollowerConfig configures a Follower. Zero durations take the defaults
// named on them.
type FollowerConfig struct {
	// FeedURL is the CCS event feed,
	// e.g. https://ccs.example/api/contests/wf2024/event-feed.
	FeedURL string
	// Username and Password are sent as HTTP basic auth when Username is
	// set. The password is never logged.
	Username, Password string
	// Contest is the Arenacast contest alias: notifications go to
	// /contest/<Contest>.
	Contest string
	// Mapping decides visibility; the zero value means DefaultMapping.
	Mapping *Mapping
	// Bus is the stream.
	Bus Bus
	// Client makes the requests (TLS settings, proxies). Default: a client
	// without an overall timeout (the feed is a long response).
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait between two connections
	// (doubling, with jitter). Defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout ends a connection that sent nothing, not even the
	// keep-alive newline a CCS sends every 120 s. Default 5 min.
	IdleTimeout time.Duration
	// MaxEventSize bounds a published event (the stream's limit). Default
	// protocol.DefaultMaxEventSize; a larger notification is counted and
	// skipped.
	MaxEventSize int
	// MaxLine bounds a feed line. Default 1 MiB; longer lines are counted
	// as malformed and skipped.
	MaxLine int
	// Logger receives connection changes and skipped lines (never their
	// content).
	Logger *slog.Logger
}

// FollowerStats are a Follower's counters.
type FollowerStats struct {
	Connects      uint64 // connections that answered 200
	Disconnects   uint64 // connections that ended (error, EOF, idle)
	Notifications uint64 // notifications read, repeats included
	Repeats       uint64 // notifications skipped as already published
	Published     uint64 // events stored (copies included)
	Duplicates    uint64 // publishes the stream recognised as repeats
	Malformed     uint64 // lines skipped: not a notification
	Oversize      uint64 // notifications skipped: over MaxEventSize
}

// Follower follows one CCS event feed into one contest's channel. It keeps
// its place with since_token across disconnects, and, when it starts,
// rebuilds its place and its mapping state from what the stream already
// holds, so a restart neither repeats nor loses a notification.
type Follower struct {
	cfg    FollowerConfig // static after NewFollower
	log    *slog.Logger
	router *router // owned by Run's goroutine

	// Owned by Run's goroutine: the last CCS token published, the
	// identities published (see identity), and per connection the count
	// of each token-less content seen so far.
	lastToken string
	seen      map[string]bool
	occ       map[string]int

	connects, disconnects, notifications, repeats, published, duplicates, malformed, oversize atomic.Uint64
}

// NewFollower checks cfg.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Bus == nil {
		return nil, errors.New("ccs follower: Bus is required")
	}
	u, err := url.Parse(cfg.FeedURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ccs follower: feed URL %q is not an http(s) URL", cfg.FeedURL)
	}
	if !protocol.ValidName(cfg.Contest) {
		return nil, fmt.Errorf("ccs follower: contest alias %q is not a valid name", cfg.Contest)
	}
	m := DefaultMapping()
	if cfg.Mapping != nil {
		m = *cfg.Mapping
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxEventSize <= 0 {
		cfg.MaxEventSize = protocol.DefaultMaxEventSize
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{
		cfg: cfg, log: cfg.Logger.With("ccs.contest", cfg.Contest),
		router: newRouter(m, cfg.Contest), seen: map[string]bool{}, occ: map[string]int{},
	}, nil
}

// Stats returns the counters.
func (f *Follower) Stats() FollowerStats {
	return FollowerStats{
		Connects: f.connects.Load(), Disconnects: f.disconnects.Load(),
		Notifications: f.notifications.Load(), Repeats: f.repeats.Load(),
		Published: f.published.Load(), Duplicates: f.duplicates.Load(),
		Malformed: f.malformed.Load(), Oversize: f.oversize.Load(),
	}
}

// Run restores the follower's place from the stream, then follows the feed
// until ctx ends. It returns nil when ctx ends and an error only when the
// stream cannot be read at the start.
func (f *Follower) Run(ctx context.Context) error {
	if err := f.restore(ctx); err != nil {
		return err
	}
	attempt := 0
	for ctx.Err() == nil {
		progressed, err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			attempt = 0
		}
		f.log.Info("ccs feed disconnected; reconnecting", "err", err, "since_token", f.lastToken != "")
		wait := backoff(f.cfg.MinBackoff, f.cfg.MaxBackoff, attempt)
		attempt++
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
	return nil
}

// restore replays the contest channel: every notification published before
// is marked seen and fed through the router (publishing nothing), and the
// last CCS token becomes the place to resume from.
func (f *Follower) restore(ctx context.Context) error {
	last, err := f.cfg.Bus.LastID(ctx)
	if err != nil {
		return fmt.Errorf("ccs follower: reading the stream position: %w", err)
	}
	if last == 0 {
		return nil
	}
	ch, err := protocol.ParseChannel(f.router.channel)
	if err != nil {
		return err
	}
	count := 0
	complete, err := f.cfg.Bus.Replay(ctx, ch, 0, last, func(ev *protocol.Event) bool {
		if !strings.HasPrefix(ev.Type, "ccs_") || strings.HasSuffix(ev.Type, suffixShare) || strings.HasSuffix(ev.Type, suffixRelease) {
			return true
		}
		n, err := ParseNotification(ev.Data)
		if err != nil || EventType(n.Type) != ev.Type {
			return true
		}
		id := f.identity(n, ev.Data)
		f.seen[id] = true
		f.router.route(n, ev.Data, id)
		if n.Token != "" {
			f.lastToken = n.Token
		}
		count++
		return true
	})
	if err != nil {
		return fmt.Errorf("ccs follower: reading back %s: %w", f.router.channel, err)
	}
	if !complete {
		f.log.Warn("the stream no longer holds the start of this contest's feed; visibility of old objects may be unknown")
	}
	clear(f.occ)
	f.log.Info("ccs follower restored from the stream", "notifications", count, "resume", f.lastToken != "")
	return nil
}

// identity names a notification for de-duplication: its CCS token when it
// has one (tokens are unique within a feed), else a hash of its content and
// how many times that content came before on this connection (a feed
// without tokens replays from its start on every connection).
func (f *Follower) identity(n *Notification, raw []byte) string {
	if n.Token != "" {
		return "t:" + n.Token
	}
	h := sha256.Sum256(raw)
	c := hex.EncodeToString(h[:16])
	k := f.occ[c]
	f.occ[c] = k + 1
	return fmt.Sprintf("h:%s#%d", c, k)
}

// msgID is the JetStream message id of a publication of identity id.
func (f *Follower) msgID(id string) string {
	h := sha256.Sum256([]byte(id))
	return "ccs:" + f.cfg.Contest + ":" + hex.EncodeToString(h[:20])
}

// follow runs one connection. progressed reports whether it read a line.
func (f *Follower) follow(ctx context.Context) (progressed bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u, _ := url.Parse(f.cfg.FeedURL)
	if f.lastToken != "" {
		q := u.Query()
		q.Set("since_token", f.lastToken)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	if f.cfg.Username != "" {
		req.SetBasicAuth(f.cfg.Username, f.cfg.Password)
	}
	req.Header.Set("Accept", "application/x-ndjson, application/json")
	idle := time.AfterFunc(f.cfg.IdleTimeout, cancel)
	defer idle.Stop()
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("GET event feed: %w", redact(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusBadRequest && f.lastToken != "":
		// The CCS does not know the token (it was reset or restarted
		// without its history): read from the start; what was published
		// already is recognised and skipped.
		f.log.Warn("the CCS refused since_token; reading the feed from the start")
		f.lastToken = ""
		return true, errors.New("since_token refused (400)")
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("GET event feed: %s", resp.Status)
	}
	f.connects.Add(1)
	defer f.disconnects.Add(1)
	clear(f.occ)
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var line []byte
	discarding := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			idle.Reset(f.cfg.IdleTimeout)
		}
		complete := err == nil
		if !discarding {
			line = append(line, chunk...)
			if len(line) > f.cfg.MaxLine {
				f.malformed.Add(1)
				f.log.Warn("skipping a feed line over the size limit", "limit", f.cfg.MaxLine)
				discarding, line = true, line[:0]
			}
		}
		if complete {
			if !discarding {
				progressed = true
				if perr := f.handleLine(ctx, bytes.TrimSpace(line)); perr != nil {
					return progressed, perr
				}
			}
			discarding, line = false, line[:0]
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		// A partial last line is dropped: the resume sends it again.
		if errors.Is(err, io.EOF) {
			return progressed, errors.New("the CCS ended the feed")
		}
		return progressed, fmt.Errorf("reading event feed: %w", redact(err))
	}
}

// handleLine publishes one complete feed line; an empty one is the
// keep-alive. It fails only when ctx ends.
func (f *Follower) handleLine(ctx context.Context, line []byte) error {
	if len(line) == 0 {
		return nil
	}
	n, err := ParseNotification(line)
	if err != nil {
		f.malformed.Add(1)
		f.log.Warn("skipping a malformed feed line", "err", err)
		return nil
	}
	f.notifications.Add(1)
	raw := bytes.Clone(line)
	id := f.identity(n, raw)
	if f.seen[id] {
		f.repeats.Add(1)
		if n.Token != "" {
			f.lastToken = n.Token
		}
		return nil
	}
	pubs := f.router.route(n, raw, id)
	for i := range pubs {
		b, err := pubs[i].Event.Encode()
		if err == nil && len(b) > f.cfg.MaxEventSize {
			err = fmt.Errorf("%d bytes is over the %d-byte event limit", len(b), f.cfg.MaxEventSize)
		}
		if err != nil {
			f.oversize.Add(1)
			f.log.Warn("skipping a notification that does not fit an event", "type", n.Type, "id", n.ID, "err", err)
			f.seen[id] = true
			return nil
		}
	}
	for i := range pubs {
		if err := f.publish(ctx, &pubs[i]); err != nil {
			return err
		}
	}
	f.seen[id] = true
	if n.Token != "" {
		f.lastToken = n.Token
	}
	return nil
}

// publish stores p, retrying with backoff until it is stored or ctx ends:
// the follower never moves past a notification it could not publish.
func (f *Follower) publish(ctx context.Context, p *Publication) error {
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, dup, err := f.cfg.Bus.PublishMsgID(pctx, &p.Event, f.msgID(p.MsgID))
		cancel()
		if err == nil {
			f.published.Add(1)
			if dup {
				f.duplicates.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.log.Warn("publishing a notification failed; retrying", "type", p.Event.Type, "err", err)
		if !sleepCtx(ctx, backoff(f.cfg.MinBackoff, f.cfg.MaxBackoff, attempt)) {
			return ctx.Err()
		}
	}
}

// redact drops the URL (which may carry credentials in userinfo) from an
// HTTP client error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
