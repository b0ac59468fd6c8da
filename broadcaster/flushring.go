package broadcaster

import (
	"net"
	"syscall"
	"time"

	"github.com/arenacast/arenacast/broadcaster/uring"
)

// A flusher with an io_uring (Options.IOUringEntries) writes a round's
// sessions in batches: it encodes each session's frames (stage), then sends
// up to the ring's size of them in one system call (send), then finishes
// each as flushOnce would (endFlush). On this project's VMs a loopback
// write(2) of a 200-byte frame costs 7-8 us, and the same sends batched
// cost under 4 us each (docs/benchmarks.md, eighth session): a fan-out
// round is mostly system calls, so this halves it.
//
// A batch holds, for every socket in it, the session's wmu, the rawConn's
// mu (so no control frame interleaves) and the Go runtime's write lock on
// the file descriptor, taken by nesting RawConn.Write calls (hold): while
// it is held, a concurrent Close cannot release the descriptor, so its
// number cannot be reused by another connection before the kernel has
// sent to it. Everything else (a socket that was full, a batch too large
// for one write, a connection the library is writing) goes the way of
// flushOnce.

// stagedWrite is one session's write waiting in a flusher's batch.
type stagedWrite struct {
	s     *session
	t     nonBlockingWriter
	pw    *pacedWriter
	raw   *rawConn // its mu is held from stage until send finishes the write
	pack  bool
	batch []*frame
	bp    *[]byte // the pooled buffer b was encoded into
	b     []byte
	op    int  // index of its send in flusher.ops; -1: not sent
	held  bool // hold has the descriptor's write lock
}

// ringSize is the default Options.IOUringEntries: 128 sends per system
// call measured 3.9 us per send against 4.2 us at 64 and 3.7-4.0 us at
// 256, and a round yields to the network poller between batches.
const ringSize = 128

// startRing gives f an io_uring of entries slots; on failure f writes
// with a system call per session, as it does where io_uring is missing.
func (f *flusher) startRing(entries int) error {
	r, err := uring.New(entries)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.ring = r
	f.holders = make([]func(uintptr) bool, r.Entries())
	for i := range f.holders {
		f.holders[i] = func(fd uintptr) bool {
			w := &f.staged[i]
			w.held, w.op = true, len(f.ops)
			f.ops = append(f.ops, uring.Op{FD: int32(fd), B: w.b})
			f.hold(f.cur, i+1)
			return true
		}
	}
	f.mu.Unlock()
	return nil
}

// stopRing releases f's ring: at once when no round runs, else when the
// running rounds end (park). Rounds after it write without a ring.
func (f *flusher) stopRing() {
	f.mu.Lock()
	r := f.ring
	f.ring = nil
	if f.running && r != nil {
		f.retired = r
		r = nil
	}
	f.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// stage takes s's queue and encodes it into f's next batch; a write the
// batch cannot carry is made at once, as flushOnce makes it.
func (f *flusher) stage(s *session, now int64) {
	batch := s.beginFlush()
	if batch == nil {
		return
	}
	t := s.t.(nonBlockingWriter)
	rt, ok := t.(ringWriter)
	var raw *rawConn
	var pack bool
	var pw *pacedWriter
	if ok {
		raw, pack, pw = rt.ringTarget()
	}
	// One write per session: a batch larger than one non-blocking write
	// takes (chunkOf) is flushOnce's, as is a connection whose mu the
	// library holds (a control frame, maybe blocked on a peer).
	if raw == nil || raw.sc == nil || (!pack && chunkOf(batch) < len(batch)) || !raw.mu.TryLock() {
		finish, err := t.tryWrite(batch)
		s.endFlush(f, t, batch, finish, err, now)
		return
	}
	if raw.closeSentNow() {
		raw.mu.Unlock()
		s.endFlush(f, t, batch, nil, net.ErrClosed, now)
		return
	}
	bp := rawBufs.Get().(*[]byte)
	b, _ := raw.encoder()((*bp)[:0], batch, pack, nil)
	f.staged = append(f.staged, stagedWrite{s: s, t: t, pw: pw, raw: raw, pack: pack, batch: batch, bp: bp, b: b, op: -1})
}

// send writes the staged batch with one submission to ring and finishes
// every write in it.
func (f *flusher) send(ring *uring.Ring, now int64) {
	if len(f.staged) == 0 {
		return
	}
	f.ops = f.ops[:0]
	f.cur = ring
	f.hold(ring, 0)
	f.cur = nil
	wrote := time.Now()
	for i := range f.staged {
		w := &f.staged[i]
		n, err := 0, error(net.ErrClosed) // not held: the connection is closing
		if w.op >= 0 {
			n, err = f.ops[w.op].N, f.ops[w.op].Err
			f.ops[w.op] = uring.Op{}
		}
		var finish func() error
		switch {
		case err == nil && n == len(w.b):
			w.raw.mu.Unlock()
			releaseRawBuf(w.bp, w.b)
			w.pw.lastWrite = wrote
		case err == nil || err == syscall.EAGAIN || (w.op >= 0 && err == f.ringErr):
			// The socket took part of it, or none (full), or the ring
			// failed before sending it: the rest goes the blocking way.
			finish, err = w.raw.finishLater(w.bp, w.b, n, nil, w.pack), nil
		default:
			w.raw.mu.Unlock()
			releaseRawBuf(w.bp, w.b)
		}
		w.s.endFlush(f, w.t, w.batch, finish, err, now)
		*w = stagedWrite{}
	}
	f.staged = f.staged[:0]
	if f.ringErr != nil {
		f.ringErr = nil
		f.stopRing() // the ring broke: write without it from now on
	}
}

// hold takes the descriptor write locks of staged writes i and on, each
// inside the previous one's RawConn.Write, and submits the batch from the
// innermost call, so every descriptor is held while the kernel sends.
func (f *flusher) hold(ring *uring.Ring, i int) {
	for ; i < len(f.staged); i++ {
		w := &f.staged[i]
		// The holder for i calls hold(i+1): once it ran, the rest is done.
		w.raw.sc.Write(f.holders[i])
		if w.held {
			return
		}
		// A closed connection: its write fails, the others go on.
	}
	if len(f.ops) > 0 {
		f.ringErr = ring.Send(f.ops)
		f.staged[0].s.srv.stats.ringWrites.Add(uint64(len(f.ops)))
	}
}
