// Package ccs connects Arenacast to contest control systems that speak the
// ICPC CCS Contest API (DOMjudge, PC^2, Kattis): a Follower reads a CCS event
// feed and publishes each notification to a contest's channel with the
// visibility a Mapping decides, and a Feed serves the followed feed back out
// in the same format (GET /api/contests/{id}/event-feed), from the stream, to
// any number of readers, each seeing what it may see.
//
// The engine (package broadcaster) knows nothing of CCS: notifications are
// ordinary events of types ccs_<type> (docs/ccs.md).
package ccs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/arenacast/arenacast/protocol"
)

// Notification is one line of a CCS event feed, 2022-07 and 2023-06
// formats: {"type", "id", "data", "token"}. Data is null for a delete.
type Notification struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Data  json.RawMessage `json:"data"`
	Token string          `json:"token,omitempty"`
}

// ErrMalformed wraps every reason a feed line is refused.
var ErrMalformed = errors.New("malformed notification")

// ParseNotification parses one non-empty feed line. The error names what
// is wrong without quoting the line.
func ParseNotification(line []byte) (*Notification, error) {
	if !utf8.Valid(line) {
		// The stream refuses it (protocol.Event.Validate), and a browser
		// would fail on it: malformed, like any line that is not JSON.
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrMalformed)
	}
	var n Notification
	if err := json.Unmarshal(line, &n); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if n.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrMalformed)
	}
	if !protocol.ValidType(EventType(n.Type)) {
		return nil, fmt.Errorf("%w: type is not [a-z][a-z-]*", ErrMalformed)
	}
	if len(n.Data) == 0 {
		n.Data = json.RawMessage("null")
	}
	isNull := bytes.Equal(n.Data, []byte("null"))
	if !isNull && n.Data[0] != '{' && n.Data[0] != '[' {
		return nil, fmt.Errorf("%w: data is neither an object, an array nor null", ErrMalformed)
	}
	// A singleton (contest, state) has no id; every other object has one,
	// in the notification or its data.
	if n.ID == "" && !isNull && n.Data[0] == '{' {
		var d struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(n.Data, &d) == nil {
			n.ID = d.ID
		}
	}
	return &n, nil
}

// Deleted reports whether the notification deletes its object.
func (n *Notification) Deleted() bool { return bytes.Equal(n.Data, []byte("null")) }

// key names the object the notification is about.
func (n *Notification) key() string { return n.Type + "/" + n.ID }

// EventType is the Arenacast event type of a CCS notification type:
// "ccs_" and the type with '-' as '_' (judgement-types: ccs_judgement_types).
func EventType(ccsType string) string {
	return "ccs_" + strings.ReplaceAll(ccsType, "-", "_")
}

// Event type suffixes of the copies a Follower publishes besides a
// notification's own event (docs/ccs.md): a share gives one recipient of a
// notification meant for several teams its copy; a release makes a
// notification withheld during the freeze public at the thaw.
const (
	suffixShare   = "_share"
	suffixRelease = "_release"
)

// encodeServed returns the served line of a notification: the CCS's own
// type, id and data, with token replaced by the stream id, and a newline.
func encodeServed(n *Notification, token string) []byte {
	b := make([]byte, 0, len(n.Data)+len(n.Type)+len(n.ID)+48)
	b = append(b, `{"type":`...)
	b = protocol.AppendJSONString(b, n.Type)
	if n.ID != "" {
		b = append(b, `,"id":`...)
		b = protocol.AppendJSONString(b, n.ID)
	}
	b = append(b, `,"data":`...)
	if bytes.ContainsAny(n.Data, "\r\n") {
		// A line break between JSON tokens would split the NDJSON line:
		// compact it (inside a JSON string it cannot be raw).
		var c bytes.Buffer
		if json.Compact(&c, n.Data) == nil {
			b = append(b, c.Bytes()...)
		} else {
			b = append(b, "null"...)
		}
	} else {
		b = append(b, n.Data...)
	}
	b = append(b, `,"token":"`...)
	b = append(b, token...)
	return append(b, "\"}\n"...)
}
