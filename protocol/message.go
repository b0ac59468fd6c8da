package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Client message types.
const (
	MsgAuth        = "auth"
	MsgSubscribe   = "subscribe"
	MsgUnsubscribe = "unsubscribe"
	MsgPing        = "ping"
)

// Server reply types (events carry their own types).
const (
	MsgAuthSuccess  = "auth_success"
	MsgSubscribed   = "subscribed"
	MsgUnsubscribed = "unsubscribed"
	MsgError        = "error"
	MsgPong         = "pong"
)

// Unsubscribed reasons.
const (
	ReasonRequested = "requested" // the client asked
	ReasonRevoked   = "revoked"   // the grant was withdrawn (revocation or a refreshed token without it)
	ReasonExpired   = "expired"   // the scoreboard token in the channel name expired
)

// MaxClientMessage is the default read limit for one client message.
const MaxClientMessage = 4096

// ClientMessage is any message a client sends. ID, when set, is echoed on
// the reply. Since is the last event id the client saw on Channel.
type ClientMessage struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Token   string `json:"token,omitempty"`
	Channel string `json:"channel,omitempty"`
	Since   string `json:"since,omitempty"`
	// Boards is how a subscribe gets keyed scoreboards: "full" (whole
	// boards) or "patch" (a board, then row patches); "" takes the
	// connection's default (docs/protocol.md section 8).
	Boards string `json:"boards,omitempty"`
	// Snapshot on a subscribe with Since asks for fresh boards instead of
	// the board patches after Since.
	Snapshot bool `json:"snapshot,omitempty"`
}

// Board delivery modes of a subscription (ClientMessage.Boards).
const (
	BoardsFull  = "full"
	BoardsPatch = "patch"
)

// DecodeClientMessage parses one client message. The bare text "ping" is a
// ping. Errors are safe to send back (they never quote a token).
func DecodeClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	if bytes.Equal(bytes.TrimSpace(b), []byte("ping")) {
		m.Type = MsgPing
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ClientMessage{}, fmt.Errorf("message is not a JSON object: %s", jsonErrorText(err))
	}
	switch m.Type {
	case MsgAuth:
		if m.Token == "" {
			return m, fmt.Errorf("auth needs a token")
		}
	case MsgSubscribe, MsgUnsubscribe:
		if m.Channel == "" {
			return m, fmt.Errorf("%s needs a channel", m.Type)
		}
		if m.Boards != "" && m.Boards != BoardsFull && m.Boards != BoardsPatch {
			return m, fmt.Errorf("boards must be %q or %q", BoardsFull, BoardsPatch)
		}
	case MsgPing:
	case "":
		return m, fmt.Errorf("message has no type")
	default:
		return m, fmt.Errorf("unknown message type %.32q", m.Type)
	}
	if len(m.ID) > 64 {
		return m, fmt.Errorf("id is longer than 64 bytes")
	}
	return m, nil
}

// Reply is a server reply; zero fields are omitted.
type Reply struct {
	Type      string    `json:"type"`
	ID        string    `json:"id,omitempty"`
	User      string    `json:"user,omitempty"`
	Expires   int64     `json:"expires,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Recovered *bool     `json:"recovered,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Error     ErrorCode `json:"error,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// Encode marshals r. Reply holds only strings and numbers, so it cannot fail.
func (r Reply) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("protocol: encoding a Reply: " + err.Error())
	}
	return b
}

// ErrorReply builds an error reply.
func ErrorReply(id string, code ErrorCode, channel, msg string) Reply {
	return Reply{Type: MsgError, ID: id, Error: code, Channel: channel, Message: msg}
}

// SubscribedReply builds a subscribed reply; recovered is reported only for
// subscribes that asked to resume.
func SubscribedReply(id, channel string, resumed, recovered bool) Reply {
	r := Reply{Type: MsgSubscribed, ID: id, Channel: channel}
	if resumed {
		r.Recovered = &recovered
	}
	return r
}

// PongReply is the canned pong for a ping without id.
var PongReply = []byte(`{"type":"pong"}`)

// ErrorBody is the JSON body of every HTTP refusal (SSE, publish, tickets).
type ErrorBody struct {
	Error   ErrorCode `json:"error"`
	Channel string    `json:"channel,omitempty"`
	Message string    `json:"message"`
}

// Encode marshals b.
func (b ErrorBody) Encode() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic("protocol: encoding an ErrorBody: " + err.Error())
	}
	return out
}
