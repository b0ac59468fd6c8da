package natsbus

import (
	"math"
	"strconv"
	"strings"
)

// storedAt reads a stream message's sequence and the time the stream stored
// it (Unix nanoseconds) from the reply subject JetStream delivers it with,
// without allocating: the consumer calls it for every event, where
// jetstream.Msg.Metadata builds a struct and strings the node never reads.
//
// The subject is $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
// from older servers (9 tokens), or $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
// followed by any further tokens (11 or more). ok is false for anything else,
// a zero sequence included.
func storedAt(reply string) (seq uint64, nanos int64, ok bool) {
	rest, found := strings.CutPrefix(reply, "$JS.ACK.")
	if !found {
		return 0, 0, false
	}
	var tok [9]string // from <domain> on, or from <stream> on for the old form
	n := 0
	for n < len(tok) {
		var more bool
		tok[n], rest, more = strings.Cut(rest, ".")
		n++
		if !more {
			break
		}
	}
	var sseq, tm string
	switch {
	case n == 7:
		sseq, tm = tok[3], tok[5] // old form: stream, consumer, delivered, sseq, cseq, tm, pending
	case n == 9:
		sseq, tm = tok[5], tok[7] // domain, hash, stream, consumer, delivered, sseq, cseq, tm, pending[, ...]
	default:
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(sseq, 10, 64) // no sign, no allocation unless it fails
	if err != nil || seq == 0 {
		return 0, 0, false
	}
	t, err := strconv.ParseUint(tm, 10, 64)
	if err != nil || t > math.MaxInt64 {
		return 0, 0, false
	}
	return seq, int64(t), true
}
