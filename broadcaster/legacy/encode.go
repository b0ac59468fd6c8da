package legacy

import "hash/maphash"

// isMessage reports whether data is a legacy client message: a JSON object
// whose first member is "message" holding a string, as every omegaUp
// publisher writes them ({"message":"/run/update/","run":{...}}). It reads
// only the first bytes, so a large scoreboard costs nothing per
// connection; /broadcast/ refuses envelopes whose message is not of this
// form, and events our own publishers send (any other data) never reach a
// legacy connection.
func isMessage(data []byte) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	const key = `"message"`
	if len(data)-i < len(key) || string(data[i:i+len(key)]) != key {
		return false
	}
	i = skipSpace(data, i+len(key))
	if i >= len(data) || data[i] != ':' {
		return false
	}
	i = skipSpace(data, i+1)
	return i < len(data) && data[i] == '"'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// dedupWindow is how many recent messages a connection with several
// filters remembers to drop the copies of one envelope.
const dedupWindow = 32

// encoder turns events into what one legacy connection receives: the
// original message string's bytes, nothing else. One envelope is published
// once per channel it concerns (docs/migrating-from-omegaup.md), so a
// connection with several filters could get it more than once, where the
// deployed broadcaster sends it once: such a connection drops a message
// byte-identical to one of the last dedupWindow it received through
// another of its channels. Only the connection's writer calls encode.
type encoder struct {
	multi bool // several channels: deduplicate
	seed  maphash.Seed
	ring  [dedupWindow]struct {
		h       uint64
		channel string
	}
	n int // messages remembered, total (ring index n % dedupWindow)
}

func newEncoder(channels int) *encoder {
	return &encoder{multi: channels > 1, seed: maphash.MakeSeed()}
}

// encode is broadcaster.Attachment.Encode.
func (e *encoder) encode(channel string, data []byte) []byte {
	if !isMessage(data) {
		return nil
	}
	if !e.multi {
		return data
	}
	h := maphash.Bytes(e.seed, data)
	for i := range min(e.n, dedupWindow) {
		if r := e.ring[i]; r.h == h && r.channel != channel {
			return nil
		}
	}
	r := &e.ring[e.n%dedupWindow]
	r.h, r.channel = h, channel
	e.n++
	return data
}
