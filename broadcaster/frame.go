package broadcaster

import (
	"bytes"
	"sync"

	"github.com/arenacast/arenacast/broadcaster/board"

	"github.com/arenacast/arenacast/protocol"
)

// frame is one encoded server message, shared read-only by every session
// that sends it: an event is encoded once per client-visible channel name,
// not once per subscriber.
type frame struct {
	data      []byte
	seq       uint64 // event id; 0 for replies
	stored    int64  // unix nanos the stream stored the event; 0 for replies
	channel   string // client channel name; set for events
	typ       string // event type; set for events
	coalesce  string // non-empty: a newer frame with the same key replaces it while queued
	multiline bool   // data holds a raw newline: never packed with others
	comment   bool   // an SSE comment line (heartbeat)
	// ev is the scoreboard_patch a frame carries (delivered form), for
	// folding a newer patch of its view into it; nil for other frames.
	ev *protocol.Event
	// folds remembers, on a newer patch frame, its fold onto each older
	// frame it met in a queue: every slow viewer with the same frame
	// queued gets the same fold (and so the same frame to fold the next
	// patch onto), made once, not once per viewer.
	folds *foldCache
}

// foldCache is a patch frame's folds by the older frame; mu guards m
// (sessions of several goroutines queue the same frame).
type foldCache struct {
	mu sync.Mutex
	m  map[*frame]*frame // nil value: the fold was not possible
}

func newEventFrame(ev *protocol.Event, channel string) *frame {
	b := protocol.AppendDelivery(make([]byte, 0, protocol.DeliveryLen(ev, channel)), ev, channel)
	f := &frame{
		data:      b,
		seq:       ev.ID,
		stored:    ev.StoredAt,
		channel:   channel,
		typ:       ev.Type,
		coalesce:  coalesceKey(ev, channel),
		multiline: bytes.IndexByte(ev.Data, '\n') >= 0 || bytes.IndexByte(ev.Data, '\r') >= 0,
	}
	if ev.Type == protocol.TypeScoreboardPatch {
		f.ev, f.folds = ev, &foldCache{}
	}
	return f
}

// newSnapshotFrame is newEventFrame for the snapshot a subscribe without
// since gets: the same event, marked "snapshot":true on the wire.
func newSnapshotFrame(ev *protocol.Event, channel string) *frame {
	f := newEventFrame(ev, channel)
	f.data = protocol.AppendSnapshot(f.data[:0], ev, channel)
	return f
}

func newReplyFrame(r protocol.Reply) *frame {
	return &frame{data: r.Encode(), typ: r.Type}
}

// commentFrame is an SSE heartbeat; WebSocket sessions never queue it.
var commentFrame = &frame{typ: "", comment: true}

// coalesceKey is the key under which scoreboard updates supersede each
// other, and patches fold into each other: the channel and the view
// (public, one user's, or the admins'), so a newer update never hides a
// different view of the scoreboard.
func coalesceKey(ev *protocol.Event, channel string) string {
	if !protocol.BoardType(ev.Type) {
		return ""
	}
	switch {
	case ev.Public:
		return channel + " public"
	case ev.User != "":
		return channel + " user " + ev.User
	}
	return channel + " admin"
}

// foldFrames folds a queued patch frame and a newer one of the same view
// and channel into one frame (the older's base, the newer's id), or
// returns nil when board.Fold cannot.
func foldFrames(older, newer *frame) *frame {
	if older.ev == nil || newer.ev == nil {
		return nil
	}
	c := newer.folds
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, done := c.m[older]; done {
		return f
	}
	f := foldOnce(older, newer)
	if c.m == nil {
		c.m = make(map[*frame]*frame)
	}
	c.m[older] = f
	return f
}

// foldOnce makes the fold of foldFrames.
func foldOnce(older, newer *frame) *frame {
	data, ok := board.Fold(older.ev.Data, newer.ev.Data)
	if !ok {
		return nil
	}
	ev := *newer.ev
	ev.Base = older.ev.Base
	ev.Data = data
	f := newEventFrame(&ev, newer.channel)
	f.stored = min(older.stored, newer.stored) // latency counts from the older
	return f
}
