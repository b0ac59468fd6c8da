package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Link carries summaries between nodes: natsbus publishes them on a core
// NATS subject (not the stream: nothing is stored).
type Link interface {
	// Publish sends one encoded summary to every node, this one included.
	Publish(data []byte) error
	// Subscribe calls fn with every summary published (fn runs on one
	// goroutine) until stop is called.
	Subscribe(fn func(data []byte)) (stop func(), err error)
	// MaxPayload bounds one published message (NATS's max_payload); 0:
	// unknown, taken as 1 MiB.
	MaxPayload() int
}

// Config shapes a Tracker. Zero fields take the defaults named on them.
type Config struct {
	// Link reaches the other nodes; nil: this node counts alone.
	Link Link
	// Interval is how often the node publishes its summary and recomputes
	// the totals. Default 5 s.
	Interval time.Duration
	// TTL is how long the other nodes count a summary of this node.
	// Default 3 intervals.
	TTL time.Duration
	// MaxUsers bounds the user hashes sent per contest and group; a group
	// with more users is sent as a count only (Totals.Approximate).
	// Default 10,000 (80 KB).
	MaxUsers int
	// Node identifies this node in summaries; default random.
	Node   string
	Logger *slog.Logger
	Now    func() time.Time
}

// Tracker is one node's presence: its Counter, the Table of every node's
// summaries, and the latest totals, recomputed every interval.
//
// mu guards totals, nodes and at.
type Tracker struct {
	cfg     Config // static after NewTracker
	counter Counter
	table   Table
	seq     uint64 // owned by Run's goroutine

	mu     sync.Mutex
	totals map[string]Totals
	nodes  int
	at     time.Time
}

// NewTracker returns a tracker; call Run to publish and aggregate.
func NewTracker(cfg Config) *Tracker {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 3 * cfg.Interval
	}
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = 10_000
	}
	if cfg.Node == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.Node = hex.EncodeToString(b[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracker{cfg: cfg}
}

// Counter is this node's counter, which subscribes and leaves update.
func (t *Tracker) Counter() *Counter { return &t.counter }

// Node is this node's id in summaries.
func (t *Tracker) Node() string { return t.cfg.Node }

// Interval is the publishing interval.
func (t *Tracker) Interval() time.Duration { return t.cfg.Interval }

// Totals returns contest's totals as of the last interval (zero counts
// when nobody is subscribed anywhere), the number of nodes counted, and
// when they were computed (zero before the first interval).
func (t *Tracker) Totals(contest string) (Totals, int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals[contest], t.nodes, t.at
}

// All returns every contest's totals as of the last interval (contests
// nobody is subscribed to are absent), with Totals' other results.
func (t *Tracker) All() (map[string]Totals, int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals, t.nodes, t.at
}

// Run publishes this node's summary every interval, takes every node's
// summaries off the link, and recomputes the totals; after each
// recomputation it calls tick with them (on Run's goroutine). On return
// (ctx ended) it publishes a goodbye, so the other nodes drop this node
// at once rather than after the TTL.
func (t *Tracker) Run(ctx context.Context, tick func(totals map[string]Totals, nodes int)) {
	if l := t.cfg.Link; l != nil {
		stop, err := l.Subscribe(func(data []byte) {
			s, err := DecodeSummary(data)
			if err != nil {
				t.cfg.Logger.Warn("ignoring a malformed presence summary", "err", err)
				return
			}
			if s.Node != t.cfg.Node {
				t.table.Put(s, t.cfg.Now())
			}
		})
		if err != nil {
			t.cfg.Logger.Warn("presence: cannot subscribe; counting this node alone", "err", err)
		} else {
			defer stop()
		}
		defer func() {
			b, _ := json.Marshal(&Summary{V: Version, Node: t.cfg.Node, Seq: t.seq + 1})
			if err := l.Publish(b); err != nil {
				t.cfg.Logger.Debug("presence: goodbye not published", "err", err)
			}
		}()
	}
	tk := time.NewTicker(t.cfg.Interval)
	defer tk.Stop()
	for {
		t.round()
		if tick != nil {
			t.mu.Lock()
			totals, nodes := t.totals, t.nodes
			t.mu.Unlock()
			tick(totals, nodes)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// round publishes this node's summary, enters it in the table, and
// recomputes the totals.
func (t *Tracker) round() {
	now := t.cfg.Now()
	t.seq++
	s := &Summary{V: Version, Node: t.cfg.Node, Seq: t.seq, TTLMS: t.cfg.TTL.Milliseconds()}
	t.counter.summarize(s, t.cfg.MaxUsers)
	t.table.Put(s, now)
	if l := t.cfg.Link; l != nil {
		if b, err := encodeWithin(s, l.MaxPayload()); err != nil {
			t.cfg.Logger.Warn("presence: summary not published", "err", err)
		} else if err := l.Publish(b); err != nil {
			t.cfg.Logger.Warn("presence: summary not published", "err", err)
		}
	}
	totals, nodes := t.table.Totals(now)
	t.mu.Lock()
	t.totals, t.nodes, t.at = totals, nodes, now
	t.mu.Unlock()
}

// encodeWithin encodes s in at most limit bytes (0: 1 MiB), dropping the
// hashes of the largest groups (their counts stay) until it fits.
func encodeWithin(s *Summary, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = 1 << 20
	}
	b, err := json.Marshal(s)
	if err != nil || len(b) <= limit {
		return b, err
	}
	var gs []*NodeGroup
	for _, c := range s.Contests {
		for g := range numGroups {
			if ng := c.group(g); len(ng.Hashes) > 0 {
				gs = append(gs, ng)
			}
		}
	}
	sort.Slice(gs, func(i, j int) bool { return len(gs[i].Hashes) > len(gs[j].Hashes) })
	over := len(b) - limit
	for _, ng := range gs {
		if over <= 0 {
			break
		}
		over -= len(ng.Hashes) * 4 / 3
		ng.Hashes = nil
	}
	return json.Marshal(s)
}
