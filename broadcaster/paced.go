package broadcaster

import (
	"sync/atomic"
	"time"
)

// pacedWriter is what a transport's writes keep between them: the pace
// (Options.WritePace), when the previous write ended, and the write in
// progress, which the server's write watch reads. lastWrite is owned by
// whoever holds the session's wmu; writeStart is atomic.
type pacedWriter struct {
	pace time.Duration // 0 writes at once

	// writeStart is when the blocking write in progress began (unix
	// nanos), 0 between writes.
	writeStart atomic.Int64
	lastWrite  time.Time
}

// waitTurn sleeps until a pace has passed since the previous write; a
// connection written to less often never waits. A session's own writer
// calls it after taking its batch, so a frame can wait up to two paces.
// Waiting before taking the queue bounds that to one in theory, but with a
// writer goroutine per session it measured far worse (p90 426 ms at 250
// ev/s): thousands of writers woke together and overflowed the scheduler's
// run queue (docs/benchmarks.md, fourth session). The flushers pace whole
// rounds instead.
func (w *pacedWriter) waitTurn() {
	if w.pace > 0 && !w.lastWrite.IsZero() {
		if d := w.pace - time.Since(w.lastWrite); d > 0 {
			time.Sleep(d)
		}
	}
}

// begin and end bracket a blocking write: while it runs, the write watch
// (Server.watchWrites) closes the connection once it is older than the
// write timeout, since a peer that stops reading blocks it when the socket
// buffers are full.
func (w *pacedWriter) begin() { w.writeStart.Store(time.Now().UnixNano()) }

func (w *pacedWriter) end() {
	w.writeStart.Store(0)
	w.lastWrite = time.Now()
}

// stalledSince reports whether a blocking write has been running since
// before deadline (unix nanos).
func (w *pacedWriter) stalledSince(deadline int64) bool {
	start := w.writeStart.Load()
	return start != 0 && start < deadline
}

// tryRaw is a flusher's write to raw: non-blocking, not paced (the
// flusher paces its rounds). A non-nil finish writes the rest and must be
// called through finishWrite.
func (w *pacedWriter) tryRaw(raw *rawConn, frames []*frame, pack bool) (finish func() error, err error) {
	finish, err = raw.tryWriteMessages(frames, pack)
	if finish == nil {
		w.lastWrite = time.Now()
	}
	return finish, err
}

// finishWrite completes a write tryRaw could not, under the write watch.
func (w *pacedWriter) finishWrite(finish func() error) error {
	w.begin()
	defer w.end()
	return finish()
}
