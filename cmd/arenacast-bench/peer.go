package main

// The peer mode (--peer centrifugo) runs the fanout, channels, spike and
// idle presets against a Centrifugo server instead of Arenacast, so that both are measured
// with the same clients, the same publisher and the same clock, as a user
// comparing them would. Only what those presets need is spoken: Centrifugo's
// JSON client protocol over WebSocket (connect with a token, subscribe and
// resubscribe with recovery, publication pushes, the server's pings) and its
// HTTP API's batch of publish commands. The payload the clients measure is
// the same as ever.

import (
	"bytes"
	"encoding/json"
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
// then one subscribe per channel (command ids 1, 2, ...). With resume, a
// channel whose stream position is known (its epoch and the offset of the
// newest publication seen) asks the peer to recover what it missed.
func peerConnectCommands(token string, channels []string, resume bool, epochs []string, last []uint64) [][]byte {
	out := make([][]byte, 0, 1+len(channels))
	out = append(out, []byte(`{"id":1,"connect":{"token":"`+token+`"}}`))
	for i, ch := range channels {
		cmd := `{"id":` + strconv.Itoa(i+2) + `,"subscribe":{"channel":"` + ch + `"`
		if resume && epochs[i] != "" {
			cmd += `,"recover":true,"epoch":"` + epochs[i] + `","offset":` + strconv.FormatUint(last[i], 10)
		}
		out = append(out, []byte(cmd+`}}`))
	}
	return out
}

// peerReply is a command's reply, read with encoding/json (replies are
// rare; publications take the fast path).
type peerReply struct {
	ID        int64            `json:"id"`
	Connect   *json.RawMessage `json:"connect"`
	Subscribe *struct {
		Epoch         string `json:"epoch"`
		Recovered     bool   `json:"recovered"`
		WasRecovering bool   `json:"was_recovering"`
		// Publications are what a recovery brings back.
		Publications []struct {
			Data   json.RawMessage `json:"data"`
			Offset uint64          `json:"offset"`
		} `json:"publications"`
	} `json:"subscribe"`
	Error *json.RawMessage `json:"error"`
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
// history). For the replies, reply is the decoded object.
type peerFrame struct {
	kind    peerKind
	channel []byte
	data    []byte
	offset  uint64
	reply   *peerReply
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
	r := new(peerReply)
	if err := json.Unmarshal(obj, r); err != nil || r.ID <= 0 {
		return peerFrame{kind: peerBad}
	}
	f := peerFrame{reply: r, kind: peerOther}
	switch {
	case r.Error != nil:
		f.kind = peerError
	case r.Connect != nil:
		f.kind = peerConnected
	case r.Subscribe != nil:
		f.kind = peerSubscribed
	}
	return f
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
		// Command id k+2 subscribed channel k (peerConnectCommands).
		sub, k := f.reply.Subscribe, int(f.reply.ID-2)
		if k < 0 || k >= len(c.spec.channels) {
			c.m.badFrames.Add(1)
			return
		}
		c.epochs[k] = sub.Epoch
		if sub.WasRecovering {
			if sub.Recovered {
				c.m.recovered.Add(1)
			} else {
				c.m.notRecov.Add(1)
			}
		}
		for _, p := range sub.Publications {
			c.event(nil, []byte(c.spec.channels[k]), p.Offset, p.Data, now, 0)
		}
		c.mu.Lock()
		c.pending--
		c.mu.Unlock()
		c.finishConnect(nil)
	case peerError:
		c.m.errReplies.Add(1)
		c.finishConnect(fmt.Errorf("error reply: %s", *f.reply.Error))
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
