package broadcaster

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unsafe"

	"github.com/arenacast/arenacast/protocol"
)

// The recent log holds each event packed into one buffer without pointers
// instead of as a *protocol.Event. Why: the garbage collector scans every
// pointer the heap holds at each collection, and never looks inside a
// buffer of bytes. At 20,000 events/s the log held ~130,000 events as
// objects whose strings and data pointed into their messages; marking them
// was about three quarters of each collection's mark work (90-120 ms of CPU,
// 350-430 ms of wall time on one P) and stretched the write rounds that ran
// meanwhile, which was the p99 tail of issue 18.
//
// Layout (little-endian): ID, Timestamp, StoredAt, Base and JitterMS as 8
// bytes each; a flags byte (1: Public, 2: StampStored); Parsed.Kind; then
// Type, Channel, User, View, Parsed.Name and Data, each as a uvarint length
// and its bytes. A packed buffer is never changed after packEvent returns.
const (
	packFixed       = 5*8 + 2
	packPublic      = 1 << 0
	packStampStored = 1 << 1
)

// packedLen is the exact size packEvent makes for ev.
func packedLen(ev *protocol.Event) int {
	n := packFixed
	for _, l := range [...]int{len(ev.Type), len(ev.Channel), len(ev.User), len(ev.View), len(ev.Parsed.Name), len(ev.Data)} {
		n += uvarintLen(uint64(l)) + l
	}
	return n
}

// uvarintLen is how many bytes binary.AppendUvarint takes for x.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// packEvent copies every field of ev that a delivery uses into one buffer of
// exactly packedLen bytes.
func packEvent(ev *protocol.Event) []byte {
	b := make([]byte, 0, packedLen(ev))
	le := binary.LittleEndian
	b = le.AppendUint64(b, ev.ID)
	b = le.AppendUint64(b, uint64(ev.Timestamp))
	b = le.AppendUint64(b, uint64(ev.StoredAt))
	b = le.AppendUint64(b, ev.Base)
	b = le.AppendUint64(b, uint64(int64(ev.JitterMS)))
	var flags byte
	if ev.Public {
		flags |= packPublic
	}
	if ev.StampStored {
		flags |= packStampStored
	}
	b = append(b, flags, byte(ev.Parsed.Kind))
	for _, s := range [...]string{ev.Type, ev.Channel, ev.User, ev.View, ev.Parsed.Name} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Data)))
	return append(b, ev.Data...)
}

// packedID is the ID of a packed event, read without unpacking it.
func packedID(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// unpackEvent rebuilds the event packEvent packed into b. Its strings and
// Data share b (Data's capacity cut at its end, so an append copies), which
// is safe because a packed buffer is never changed; a replay allocates only
// the Event itself.
func unpackEvent(b []byte) *protocol.Event {
	le := binary.LittleEndian
	ev := &protocol.Event{
		ID:          le.Uint64(b[0:]),
		Timestamp:   int64(le.Uint64(b[8:])),
		StoredAt:    int64(le.Uint64(b[16:])),
		Base:        le.Uint64(b[24:]),
		JitterMS:    int(int64(le.Uint64(b[32:]))),
		Public:      b[40]&packPublic != 0,
		StampStored: b[40]&packStampStored != 0,
	}
	ev.Parsed.Kind = protocol.Kind(b[41])
	rest := b[packFixed:]
	next := func() []byte {
		n, k := binary.Uvarint(rest)
		end := k + int(n)
		f := rest[k:end:end]
		rest = rest[end:]
		return f
	}
	str := func(f []byte) string {
		if len(f) == 0 {
			return ""
		}
		return unsafe.String(&f[0], len(f))
	}
	ev.Type, ev.Channel, ev.User, ev.View, ev.Parsed.Name = str(next()), str(next()), str(next()), str(next()), str(next())
	if d := next(); len(d) > 0 {
		ev.Data = json.RawMessage(d)
	}
	return ev
}
