package main

// The peer mode (--peer centrifugo) runs the fanout, channels and idle
// presets against a Centrifugo server instead of Arenacast, so that both are measured
// with the same clients, the same publisher and the same clock, as a user
// comparing them would. Only what those presets need is spoken: Centrifugo's
// JSON client protocol over WebSocket (connect with a token, subscribe,
// publication pushes, the server's pings) and its HTTP API's batch of
// publish commands. The payload the clients measure is the same as ever.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// peerCentrifugo is the one peer the tool speaks.
const peerCentrifugo = "centrifugo"

// peerPath is Centrifugo's WebSocket endpoint, the default --url path in
// the peer mode.
const peerPath = "/connection/websocket"

// peerToken is a connection token for user that Centrifugo, configured with
// the HMAC secret key secret, accepts for an hour.
func peerToken(secret, user string, now time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("--peer-secret is empty")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   user,
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	})
	return t.SignedString([]byte(secret))
}

// peerConnectCommands are the client's first messages: connect with token,
// then one subscribe per channel (command ids 1, 2, ...).
func peerConnectCommands(token string, channels []string) [][]byte {
	out := make([][]byte, 0, 1+len(channels))
	out = append(out, []byte(`{"id":1,"connect":{"token":"`+token+`"}}`))
	for i, ch := range channels {
		out = append(out, []byte(`{"id":`+strconv.Itoa(i+2)+`,"subscribe":{"channel":"`+ch+`"}}`))
	}
	return out
}

// peerKind is what one JSON object from the peer is.
type peerKind uint8

const (
	peerBad        peerKind = iota // not understood
	peerPing                       // {}: answer with {}
	peerConnected                  // the connect command's reply
	peerSubscribed                 // a subscribe command's reply
	peerError                      // a command's error reply
	peerPub                        // a publication push
	peerOther                      // another push or reply, ignored
)

// peerFrame is one parsed object. For peerPub, channel and data (the
// publication's data, possibly followed by the rest of the object) are
// slices of the object, and offset is the stream offset (0 without
// history). For peerError, msg is the error object.
type peerFrame struct {
	kind    peerKind
	channel []byte
	data    []byte
	offset  uint64
	msg     []byte
}

var (
	peerPushPrefix = []byte(`{"push":{"channel":"`)
	peerPubMarker  = []byte(`","pub":{`)
	peerDataMarker = []byte(`"data":`)
	peerOffMarker  = []byte(`"offset":`)
)

// parsePeer reads one object of Centrifugo's JSON protocol.
func parsePeer(obj []byte) peerFrame {
	obj = bytes.TrimSpace(obj)
	if string(obj) == "{}" {
		return peerFrame{kind: peerPing}
	}
	if rest, ok := bytes.CutPrefix(obj, peerPushPrefix); ok {
		i := bytes.Index(rest, peerPubMarker)
		if i < 0 {
			return peerFrame{kind: peerOther} // join, leave, unsubscribe...
		}
		f := peerFrame{kind: peerPub, channel: rest[:i]}
		pub := rest[i+len(peerPubMarker):]
		j := bytes.Index(pub, peerDataMarker)
		if j < 0 {
			return peerFrame{kind: peerBad}
		}
		f.data = pub[j+len(peerDataMarker):]
		// The offset follows the data; look for it past the payload's end
		// only (our payloads hold no "offset" key).
		if k := bytes.LastIndex(pub, peerOffMarker); k > j {
			if n, _, ok := cutInt(pub[k+len(peerOffMarker):], ""); ok {
				f.offset = uint64(n)
			}
		}
		return f
	}
	if !bytes.HasPrefix(obj, []byte(`{"id":`)) {
		return peerFrame{kind: peerBad}
	}
	_, rest, ok := cutInt(obj[len(`{"id":`):], ",")
	if !ok {
		return peerFrame{kind: peerBad}
	}
	switch {
	case bytes.HasPrefix(rest, []byte(`"error":`)):
		return peerFrame{kind: peerError, msg: bytes.TrimSuffix(rest[len(`"error":`):], []byte("}"))}
	case bytes.HasPrefix(rest, []byte(`"connect":`)):
		return peerFrame{kind: peerConnected}
	case bytes.HasPrefix(rest, []byte(`"subscribe":`)):
		return peerFrame{kind: peerSubscribed}
	}
	return peerFrame{kind: peerOther}
}

// handlePeer processes one object from the peer received at now; ws is the
// connection to answer pings on.
func (c *client) handlePeer(ws *wsConn, obj []byte, now int64) {
	f := parsePeer(obj)
	switch f.kind {
	case peerPing:
		if err := ws.writeText([]byte("{}")); err != nil {
			c.m.badFrames.Add(1)
		}
	case peerConnected, peerOther:
	case peerSubscribed:
		c.mu.Lock()
		c.pending--
		c.mu.Unlock()
		c.finishConnect(nil)
	case peerError:
		c.m.errReplies.Add(1)
		c.finishConnect(fmt.Errorf("error reply: %s", f.msg))
	case peerPub:
		id := f.offset
		if id == 0 {
			// Without history there is no offset: count every delivery as
			// new, so duplicates are not detected in this mode.
			for k, ch := range c.spec.channels {
				if string(f.channel) == ch {
					id = c.last[k] + 1
					break
				}
			}
		}
		c.event(nil, f.channel, id, f.data, now, 0)
	default:
		c.m.badFrames.Add(1)
	}
}

// appendPeerPublish appends one publish command of Centrifugo's batch API
// for data on channel, comma-separated from earlier ones when n > 0.
func appendPeerPublish(b []byte, n int, channel string, data []byte) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"publish":{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, `}}`...)
}

// peerBatchBody wraps commands (appendPeerPublish's) into a batch request.
func peerBatchBody(commands []byte) []byte {
	b := make([]byte, 0, len(commands)+16)
	b = append(b, `{"commands":[`...)
	b = append(b, commands...)
	return append(b, `]}`...)
}

// peerFailed counts the error replies in a batch response.
func peerFailed(body []byte) uint64 {
	return uint64(bytes.Count(body, []byte(`"error":`)))
}
