package natsbus

import "strings"

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
	seq, ok = decimal(sseq)
	if !ok || seq == 0 {
		return 0, 0, false
	}
	t, ok := decimal(tm)
	if !ok || t > 1<<63-1 {
		return 0, 0, false
	}
	return seq, int64(t), true
}

// decimal parses a non-empty run of ASCII digits that fits in a uint64.
func decimal(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		if n > (1<<64-1-uint64(d))/10 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}
