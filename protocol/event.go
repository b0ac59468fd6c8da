package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Event types named by the contract. Any other type matching [a-z][a-z0-9_]*
// (at most MaxTypeLen bytes) is forwarded as is.
const (
	TypeRunUpdate        = "run_update"
	TypeScoreboardUpdate = "scoreboard_update"
	TypeClarification    = "clarification"
	TypeContestUpdate    = "contest_update"
	// TypeScoreboardPatch carries the rows of a keyed scoreboard that
	// changed (docs/protocol.md section 8).
	TypeScoreboardPatch = "scoreboard_patch"
	// TypePresence is the node's own periodic count of who is connected
	// to a contest, sent on /contest/<alias>/admin without an id
	// (docs/protocol.md section 10). Publishers may not use it.
	TypePresence = "presence"
)

// BoardType reports whether events of type t belong to a scoreboard view:
// scoreboard_update and scoreboard_patch.
func BoardType(t string) bool { return t == TypeScoreboardUpdate || t == TypeScoreboardPatch }

// ViewName names the scoreboard view a board event belongs to: "public",
// "user:<name>" (a contestant's own, private with user) or "admin"
// (private without user). Visibility is the event's, as for every event.
func (ev *Event) ViewName() string {
	switch {
	case ev.Public:
		return "public"
	case ev.User != "":
		return "user:" + ev.User
	}
	return "admin"
}

// MaxTypeLen bounds event type names.
const MaxTypeLen = 64

// DefaultMaxEventSize is the default bound on an encoded publisher event.
const DefaultMaxEventSize = 64 << 10

// ErrBadEvent wraps every reason an event is refused.
var ErrBadEvent = errors.New("bad event")

// Event is one event as a publisher sends it, plus the id and timestamp the
// broadcaster assigns when it takes the event off the stream.
//
// Visibility: an event is seen by a channel's admins always, by its owner
// User always, and by everyone allowed on the channel only when Public is
// true. Missing "public" means private.
type Event struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel"`
	User    string          `json:"user,omitempty"`
	Public  bool            `json:"public,omitempty"`
	Data    json.RawMessage `json:"data"`

	// Set by the broadcaster, never by publishers.
	ID        uint64 `json:"-"` // JetStream stream sequence: the same on every node.
	Timestamp int64  `json:"-"` // Unix seconds the stream stored the event.
	StoredAt  int64  `json:"-"` // Unix nanoseconds the stream stored the event, for latency metrics.

	// Set by the broadcaster for scoreboard deliveries (section 8 of
	// docs/protocol.md); zero values are not sent.
	View     string `json:"-"` // the board's view: ViewName, on scoreboard_update and scoreboard_patch
	Base     uint64 `json:"-"` // a patch's previous version of its view, when known
	JitterMS int    `json:"-"` // an opaque scoreboard_update: spread a refetch over this many ms
	// StampStored adds stored_us (StoredAt in microseconds) to the
	// delivery: a node's --debug-stored-time, for measurements that split
	// the publish path from the node. Not part of the contract.
	StampStored bool `json:"-"`

	// Parsed is Channel, parsed; filled by DecodeEvent and Validate.
	Parsed Channel `json:"-"`

	// validData is the Data slice (first byte and length) last found to
	// be valid JSON in UTF-8, so that Encode after DecodeEvent does not check the
	// same bytes again (a publish checked them three times, ~2% of a node
	// at 20,000 publishes/s); Data replaced by another slice is checked
	// again, bytes changed in place inside the same slice are not.
	validData    *byte
	validDataLen int
}

// dataChecked reports whether Data is the slice validate last found to be
// valid JSON in UTF-8.
func (ev *Event) dataChecked() bool {
	return len(ev.Data) > 0 && ev.validData == &ev.Data[0] && ev.validDataLen == len(ev.Data)
}

// reservedTypes are message types of the protocol itself; an event with
// one of them would look like a reply to a client switching on type.
var reservedTypes = map[string]bool{
	MsgAuth: true, MsgSubscribe: true, MsgUnsubscribe: true, MsgPing: true,
	MsgAuthSuccess: true, MsgSubscribed: true, MsgUnsubscribed: true, MsgError: true, MsgPong: true,
	"close": true, TypePresence: true,
}

// ValidType reports whether t is an acceptable event type name: it matches
// [a-z][a-z0-9_]*, is at most MaxTypeLen bytes, and is not a message type of
// the protocol itself (auth, subscribed, error, pong, close, ...).
func ValidType(t string) bool {
	if reservedTypes[t] {
		return false
	}
	if t == "" || len(t) > MaxTypeLen || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// DecodeEvent parses and validates a publisher's event. maxSize bounds the
// input (0 means DefaultMaxEventSize). The error says what is wrong without
// quoting the payload, so it is safe to log.
func DecodeEvent(b []byte, maxSize int) (*Event, error) {
	return decodeEvent(b, maxSize, false)
}

// DecodeEventKeep is DecodeEvent for a buffer the caller hands over: the
// event's Data may be a slice of b (its capacity cut at its end), so b must
// not be changed or reused afterwards. Why: a node decodes every event it
// consumes from a message buffer made for that message alone, and copying
// its data once more was 5% of the node's allocation at 20,000 events/s
// (issue 18).
func DecodeEventKeep(b []byte, maxSize int) (*Event, error) {
	return decodeEvent(b, maxSize, true)
}

func decodeEvent(b []byte, maxSize int, keep bool) (*Event, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxEventSize
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrBadEvent, len(b), maxSize)
	}
	ev, ok := decodeEventFast(b, keep)
	if !ok {
		var err error
		if ev, err = decodeEventJSON(b); err != nil {
			return nil, err
		}
	}
	// The fast path checked data (JSON and UTF-8) already; the general
	// path's RawMessage is only delimited, so it is checked here.
	if err := ev.validate(!ok); err != nil {
		return nil, err
	}
	return ev, nil
}

// decodeEventJSON is DecodeEvent's general path, encoding/json with
// unknown fields refused; it also words every error.
func decodeEventJSON(b []byte) (*Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("%w: not a JSON event object: %s", ErrBadEvent, jsonErrorText(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the event object", ErrBadEvent)
	}
	return &ev, nil
}

// jsonErrorText describes a JSON error without echoing input values.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " has the wrong type"
	}
	// Unknown-field errors name the field, which is not payload.
	return err.Error()
}

// Validate checks the publisher-set fields and fills Parsed.
func (ev *Event) Validate() error { return ev.validate(true) }

// validate is Validate; without checkJSON, data is known to be valid JSON
// in valid UTF-8 (decodeEventFast's scan checked both).
func (ev *Event) validate(checkJSON bool) error {
	if !ValidType(ev.Type) {
		return fmt.Errorf("%w: type must match [a-z][a-z0-9_]* (1-%d bytes) and not be a protocol message type", ErrBadEvent, MaxTypeLen)
	}
	ch, err := ParseChannel(ev.Channel)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if !ch.Publishable() {
		return fmt.Errorf("%w: channel %q does not take events; publish to /contest/<alias>", ErrBadEvent, ev.Channel)
	}
	if ev.User != "" && !ValidName(ev.User) {
		return fmt.Errorf("%w: user must be a valid username", ErrBadEvent)
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("null")
	} else if checkJSON && !ev.dataChecked() && !validJSON(ev.Data) {
		if !utf8.Valid(ev.Data) {
			// Data is delivered byte for byte in a text frame: a
			// browser fails the whole connection on bytes that are
			// not UTF-8.
			return fmt.Errorf("%w: data is not valid UTF-8 (JSON text must be UTF-8; escape other bytes as \\uXXXX)", ErrBadEvent)
		}
		return fmt.Errorf("%w: data is not valid JSON", ErrBadEvent)
	}
	ev.validData, ev.validDataLen = &ev.Data[0], len(ev.Data)
	ev.Parsed = ch
	return nil
}

// Encode returns the publisher form of the event, as it travels on NATS.
// Data is copied byte for byte (json.Marshal would compact it); the other
// fields are validated names that need no escaping.
func (ev *Event) Encode() ([]byte, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev.appendEncoded(make([]byte, 0, ev.encodedLen())), nil // exactly: one allocation
}

// AppendEncode appends Encode's form of the event to b, for a publisher
// that encodes a batch into one reused buffer (natsbus.PublishBatch).
func (ev *Event) AppendEncode(b []byte) ([]byte, error) {
	if err := ev.Validate(); err != nil {
		return b, err
	}
	return ev.appendEncoded(slices.Grow(b, ev.encodedLen())), nil
}

// encodedLen is the length of the event's publisher form.
func (ev *Event) encodedLen() int {
	n := len(`{"type":"","channel":"","data":}`) + len(ev.Type) + len(ev.Channel) + len(ev.Data)
	if ev.User != "" {
		n += len(`,"user":""`) + len(ev.User)
	}
	if ev.Public {
		n += len(`,"public":true`)
	}
	return n
}

// appendEncoded appends the publisher form of a validated event.
func (ev *Event) appendEncoded(b []byte) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, ev.Type...)
	b = append(b, `","channel":"`...)
	b = append(b, ev.Channel...)
	b = append(b, '"')
	if ev.User != "" {
		b = append(b, `,"user":"`...)
		b = append(b, ev.User...)
		b = append(b, '"')
	}
	if ev.Public {
		b = append(b, `,"public":true`...)
	}
	b = append(b, `,"data":`...)
	b = append(b, ev.Data...)
	return append(b, '}')
}

// IDString formats an event id as clients see it.
func IDString(id uint64) string { return strconv.FormatUint(id, 10) }

// ParseID parses an id a client sent back (since, Last-Event-ID).
func ParseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("event id %.40q is not one this server issued", s)
	}
	return id, nil
}

// AppendDelivery appends the JSON object a client receives for ev on the
// channel named channel (usually ev.Channel; a scoreboard token holder sees
// its own /scoreboard/<token> name):
//
//	{"type":"run_update","channel":"/contest/a","id":"17","timestamp":1704067200,"data":{...}}
//
// with view, base and jitter_ms after timestamp when set (scoreboards).
//
// Type and channel are validated to need no escaping; data is copied byte
// for byte. A member added here is counted in DeliveryLen too.
func AppendDelivery(dst []byte, ev *Event, channel string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, ev.Type...)
	dst = append(dst, `","channel":"`...)
	dst = append(dst, channel...)
	dst = append(dst, `","id":"`...)
	dst = strconv.AppendUint(dst, ev.ID, 10)
	dst = append(dst, `","timestamp":`...)
	dst = strconv.AppendInt(dst, ev.Timestamp, 10)
	if ev.View != "" {
		// A view is "public", "admin" or "user:" and a validated name.
		dst = append(dst, `,"view":"`...)
		dst = append(dst, ev.View...)
		dst = append(dst, '"')
	}
	if ev.Base != 0 {
		dst = append(dst, `,"base":"`...)
		dst = strconv.AppendUint(dst, ev.Base, 10)
		dst = append(dst, '"')
	}
	if ev.JitterMS > 0 {
		dst = append(dst, `,"jitter_ms":`...)
		dst = strconv.AppendInt(dst, int64(ev.JitterMS), 10)
	}
	if ev.StampStored && ev.StoredAt > 0 {
		dst = append(dst, `,"stored_us":`...)
		dst = strconv.AppendInt(dst, ev.StoredAt/1000, 10)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, ev.Data...)
	dst = append(dst, '}')
	return dst
}

// DeliveryLen is at least the length AppendSnapshot (and so AppendDelivery)
// appends for ev on channel: a buffer made with this capacity is never
// grown. Why: a delivery's buffer sized by a guess was grown, and the
// first one thrown away, for every event whose channel name was long (9%
// of a node's allocation at 20,000 publishes/s, issue 18).
func DeliveryLen(ev *Event, channel string) int {
	const (
		fixed  = len(`{"type":"","channel":"","id":"","timestamp":,"data":}`) + len(`,"snapshot":true`)
		digits = 20 // the longest uint64 or int64
	)
	n := fixed + len(ev.Type) + len(channel) + 2*digits + len(ev.Data)
	if ev.View != "" {
		n += len(`,"view":""`) + len(ev.View)
	}
	if ev.Base != 0 {
		n += len(`,"base":""`) + digits
	}
	if ev.JitterMS > 0 {
		n += len(`,"jitter_ms":`) + digits
	}
	if ev.StampStored && ev.StoredAt > 0 {
		n += len(`,"stored_us":`) + digits
	}
	return n
}

// AppendSnapshot appends what AppendDelivery does, marked as a snapshot:
// the stored event a subscribe without since is sent before live events
// (docs/protocol.md §6), so that a client can tell it from a new one:
//
//	{"type":"scoreboard_update",...,"data":{...},"snapshot":true}
func AppendSnapshot(dst []byte, ev *Event, channel string) []byte {
	dst = AppendDelivery(dst, ev, channel)
	return append(dst[:len(dst)-1], `,"snapshot":true}`...)
}
