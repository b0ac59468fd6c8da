package main

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"
)

// maxPhases bounds the phase number an event payload may carry; phase 0
// is never published.
const maxPhases = 32

// meter is what every client reader records into, shared and lock-free.
// Events are attributed to the phase in their payload, so a preset can
// publish several kinds at once (one phase each) or step a rate (one phase
// per step).
type meter struct {
	runID  int64 // events whose payload names another run are foreign
	phases [maxPhases]phaseMeter

	violations atomic.Uint64 // events a client may not see
	dups       atomic.Uint64 // ids at or below one already seen on the channel
	foreign    atomic.Uint64 // snapshots and events of other runs
	badFrames  atomic.Uint64 // frames the parser did not understand
	errReplies atomic.Uint64 // error replies
	unsubs     atomic.Uint64 // unsubscribed replies
	recovered  atomic.Uint64 // subscribed with recovered:true
	notRecov   atomic.Uint64 // subscribed with recovered:false
	dropped    atomic.Uint64 // connections that ended without us closing them
	abrupt     atomic.Uint64 // of those, ended without a close code (EOF, reset)
	abruptErr  atomic.Value  // the first such ending's error text
	closes     [5000]atomic.Uint64
}

// phaseMeter counts one phase's deliveries and their latency.
type phaseMeter struct {
	received atomic.Uint64
	lat      histogram
	// With the server's --debug-stored-time, each latency split in two:
	// publisher to the stream's store, and store to the client.
	toStore, fromStore histogram
	split              atomic.Uint64 // deliveries that carried stored_us
}

func newMeter() *meter {
	return &meter{runID: time.Now().UnixNano() % 1_000_000_000}
}

// closeCodes returns the close codes seen, by code.
func (m *meter) closeCodes() map[int]uint64 {
	out := map[int]uint64{}
	for i := range m.closes {
		if n := m.closes[i].Load(); n > 0 {
			out[i] = n
		}
	}
	return out
}

// payload is what the load tool puts in an event's data, in this order:
//
//	{"r":<run>,"p":<phase>,"t":<unix nanos sent>,"a":"<audience>","pad":"..."}
//
// The audience is "pub" (public), "adm" (admins only) or "u:<user>".
type payload struct {
	run, phase, sent int64
	aud              []byte
}

// appendPayload appends the data object, padded to about size bytes.
func appendPayload(b []byte, run int64, phase int, aud string, size int) []byte {
	start := len(b)
	b = append(b, `{"r":`...)
	b = strconv.AppendInt(b, run, 10)
	b = append(b, `,"p":`...)
	b = strconv.AppendInt(b, int64(phase), 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"a":"`...)
	b = append(b, aud...)
	b = append(b, `","pad":"`...)
	for n := len(b) - start + 2; n < size; n++ {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// parsePayload reads what appendPayload wrote; ok is false for any other
// data.
func parsePayload(d []byte) (p payload, ok bool) {
	var rest []byte
	if rest, ok = bytes.CutPrefix(d, []byte(`{"r":`)); !ok {
		return p, false
	}
	if p.run, rest, ok = cutInt(rest, `,"p":`); !ok {
		return p, false
	}
	if p.phase, rest, ok = cutInt(rest, `,"t":`); !ok {
		return p, false
	}
	if p.sent, rest, ok = cutInt(rest, `,"a":"`); !ok {
		return p, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return p, false
	}
	p.aud = rest[:i]
	return p, p.phase > 0 && p.phase < maxPhases
}

// cutInt parses a decimal integer followed by sep.
func cutInt(b []byte, sep string) (int64, []byte, bool) {
	var n int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 {
		return 0, nil, false
	}
	rest, ok := bytes.CutPrefix(b[i:], []byte(sep))
	return n, rest, ok
}
