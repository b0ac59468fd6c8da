package broadcaster

import (
	"context"
	"errors"

	"github.com/arenacast/arenacast/protocol"
)

// Bus is the event stream behind the broadcaster: JetStream in production
// (package natsbus). Every node consumes every event; an event's ID is its
// position in the stream, so it means the same on every node.
type Bus interface {
	// Publish stores ev (already validated) and returns its id. It keeps
	// neither ev nor its Data after it returns: POST /publish reuses the
	// request's buffer, which Data is part of, for the next request.
	Publish(ctx context.Context, ev *protocol.Event) (uint64, error)
	// Consume calls fn for every event with id > after, in stream order,
	// from the calling goroutine, until ctx ends (or the bus's connection
	// closes for good: then it returns nil); fn is never called after
	// Consume returns. A bus that cannot reach its server yet keeps trying
	// rather than return an error. Stored messages that are not valid events are
	// passed to bad (subject, position and reason, never the payload) and
	// skipped.
	Consume(ctx context.Context, after uint64, fn func(*protocol.Event), bad func(subject string, id uint64, err error)) error
	// Replay calls fn, in order, for every stored event of routing channel
	// ch with after < id <= upTo, until fn returns false (a caller reading
	// history a page at a time). Complete is false when the history no
	// longer reaches back to after (events were discarded) or after is
	// not an id of this stream; the events still stored are replayed anyway.
	Replay(ctx context.Context, ch protocol.Channel, after, upTo uint64, fn func(*protocol.Event) bool) (complete bool, err error)
	// LastID is the id of the newest stored event (0 when empty).
	LastID(ctx context.Context) (uint64, error)
	// Latest returns the newest stored event of ch with id <= upTo for
	// which keep returns true, or nil. It looks back at most limit events.
	Latest(ctx context.Context, ch protocol.Channel, upTo uint64, limit int, keep func(*protocol.Event) bool) (*protocol.Event, error)
}

// ErrNotPublished marks an event a batch never sent to the stream (its
// time ran out first): unlike other publish errors, it is certainly not
// stored, so a retry cannot repeat it.
var ErrNotPublished = errors.New("not published")

// ErrBusClosed is returned by a Bus used after Close.
var ErrBusClosed = errors.New("event bus closed")

// BatchPublisher is a Bus that stores many events with one wait instead of
// one round trip each (natsbus: asynchronous JetStream publishes in a
// bounded window). POST /publish batches use it when the Bus has it, and
// Publish event by event otherwise.
type BatchPublisher interface {
	// PublishBatch stores evs (already validated) in order and returns,
	// for each, its id or the error that kept it from the stream. Like
	// Publish, it keeps no event nor its Data after it returns.
	PublishBatch(ctx context.Context, evs []*protocol.Event) ([]uint64, []error)
}
