package broadcaster

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// publishTimeout bounds the stream's answer to one POST /publish request.
const publishTimeout = 10 * time.Second

// servePublish answers POST /publish: a publisher credential and one event,
// or a batch of events (a JSON array, or NDJSON: one event per line),
// each answered in order with its id or its own error.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use POST")
		return
	}
	if !s.publisherAllowed(r) {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", s.publisherRefusal(r))
		return
	}
	// The request is answered when the handler returns, and nothing keeps
	// its events (or their Data, slices of body) past that (Bus.Publish),
	// so a later request may reuse its memory.
	sc, _ := s.scratch.Get().(*publishScratch)
	if sc == nil {
		sc = new(publishScratch)
	}
	defer s.putScratch(sc)
	body, err := readBody(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxPublishBytes)), r.ContentLength, s.opts.MaxPublishBytes, sc.body)
	sc.body = body
	if err != nil {
		s.stats.publishRefused.Add(1)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, protocol.ErrBadRequest, "",
				fmt.Sprintf("the request is over the %d-byte limit; nothing was published", s.opts.MaxPublishBytes))
			return
		}
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "reading the body failed")
		return
	}
	items, batch, err := splitPublishBody(body, ndjsonRequest(r), sc.items[:0])
	if cap(items) > 0 {
		sc.items = items // else sc.items still holds the array, cleared by putScratch
	}
	if err != nil {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", err.Error()+"; nothing was published")
		return
	}
	if !batch {
		s.publishOne(w, r.Context(), body)
		return
	}
	if len(items) > s.opts.MaxPublishBatch {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusRequestEntityTooLarge, protocol.ErrBadRequest, "",
			fmt.Sprintf("%d events is over the %d-event batch limit; nothing was published", len(items), s.opts.MaxPublishBatch))
		return
	}
	s.publishBatch(w, r.Context(), items, sc)
}

// publishScratch is a POST /publish request's working memory, reused by
// later requests (Server.scratch): a batch of hundreds of events otherwise
// allocates its body (~5% of a node's allocation at 20,000 publishes/s),
// items, results, events and answer (~3%) afresh.
type publishScratch struct {
	body    []byte // the request's body (readBody)
	items   [][]byte
	results []publishResult
	evs     []*protocol.Event
	at      []int
	reply   []byte
}

// A request's working memory is kept for later requests up to these
// sizes; a larger body (a request near MaxPublishBytes) or batch is left to
// the collector.
const (
	maxScratchBody   = 1 << 20
	maxScratchEvents = 4096
)

// putScratch keeps sc for a later request, unless reset says not to.
func (s *Server) putScratch(sc *publishScratch) {
	if sc.reset() {
		s.scratch.Put(sc)
	}
}

// reset empties sc and clears its arrays to their capacity, so that it
// keeps no request's events alive, and reports whether it is worth keeping
// (no batch over maxScratchEvents; a body over maxScratchBody is dropped).
func (sc *publishScratch) reset() bool {
	if cap(sc.items) > maxScratchEvents || cap(sc.results) > maxScratchEvents || cap(sc.evs) > maxScratchEvents {
		return false
	}
	if cap(sc.body) > maxScratchBody {
		sc.body = nil
	}
	sc.body = sc.body[:0]
	clear(sc.items[:cap(sc.items)])
	clear(sc.results[:cap(sc.results)])
	clear(sc.evs[:cap(sc.evs)])
	sc.items, sc.results, sc.evs, sc.at, sc.reply = sc.items[:0], sc.results[:0], sc.evs[:0], sc.at[:0], sc.reply[:0]
	return true
}

// readBody reads a request body of at most limit bytes (rd enforces it)
// into dst's array (from its start) or a larger one. A declared length
// within the limit sizes the buffer once: io.ReadAll grows it from 512
// bytes, which for a batch of hundreds of events copied and cleared it
// several times per request (~5% of a node's CPU at 20,000 publishes/s,
// docs/benchmarks.md ninth session). servePublish passes the buffer of an
// earlier request (~5% of the node's allocation at that rate).
func readBody(rd io.Reader, declared int64, limit int, dst []byte) ([]byte, error) {
	size := bytes.MinRead // ReadFrom's room for the read that sees EOF
	if declared > 0 && declared <= int64(limit) {
		size += int(declared)
	}
	if cap(dst) < size {
		dst = make([]byte, 0, size) // exactly: Buffer.Grow would round up
	}
	buf := bytes.NewBuffer(dst[:0])
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// decodePublished turns one event a publisher sent (alone or in a batch)
// into a validated event: the one check every published event passes.
// raw is part of the request's body, a buffer (readBody) that nothing
// changes or reuses until the request is answered, so the event may keep
// it that long.
func (s *Server) decodePublished(raw []byte) (*protocol.Event, error) {
	ev, err := protocol.DecodeEventKeep(raw, s.opts.MaxEventSize)
	if err == nil && protocol.BoardType(ev.Type) {
		err = s.snaps.check(ev) // a patch that does not fit the board this node holds
	}
	return ev, err
}

// publishOne answers a request holding one event, as before batches:
// 202 {"id","channel"}, or one error for the request.
func (s *Server) publishOne(w http.ResponseWriter, ctx context.Context, body []byte) {
	if len(body) > s.opts.MaxEventSize {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusRequestEntityTooLarge, protocol.ErrBadRequest, "", "event is over the size limit")
		return
	}
	ev, err := s.decodePublished(body)
	if err != nil {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	id, err := s.opts.Bus.Publish(ctx, ev)
	if err != nil {
		s.log.Error("publish failed", "channel", ev.Channel, "type", ev.Type, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, protocol.ErrInternal, ev.Channel, "the event stream is unavailable")
		return
	}
	s.stats.published.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	b := append([]byte(`{"id":"`), protocol.IDString(id)...)
	b = append(b, `","channel":`...)
	b = strconv.AppendQuote(b, ev.Channel)
	w.Write(append(b, "}\n"...))
}

// publishResult is one event's answer in a batch: id and channel, or error
// (with channel when the event named a valid one) and message.
type publishResult struct {
	ID      string             `json:"id,omitempty"`
	Channel string             `json:"channel,omitempty"`
	Error   protocol.ErrorCode `json:"error,omitempty"`
	Message string             `json:"message,omitempty"`
}

// publishBatch validates every item (a malformed one fails alone), stores
// the valid ones in order with one wait, and answers 200 with one result per
// item in the request's order.
func (s *Server) publishBatch(w http.ResponseWriter, ctx context.Context, items [][]byte, sc *publishScratch) {
	results := append(sc.results[:0], make([]publishResult, len(items))...)
	evs := sc.evs[:0]
	at := sc.at[:0] // evs[k] answers results[at[k]]
	for i, raw := range items {
		ev, err := s.decodePublished(raw)
		if err != nil {
			results[i] = publishResult{Error: protocol.ErrBadRequest, Message: err.Error()}
			continue
		}
		evs = append(evs, ev)
		at = append(at, i)
	}
	sc.results, sc.evs, sc.at = results, evs, at // grown: kept for later requests
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ids, errs := s.storeBatch(ctx, evs)
	failed := 0
	var firstErr error
	for k, ev := range evs {
		r := &results[at[k]]
		r.Channel = ev.Channel
		if errs[k] != nil {
			if firstErr == nil {
				firstErr = errs[k]
			}
			r.Error, r.Message = protocol.ErrInternal, "the event stream is unavailable"
			if errors.Is(errs[k], ErrNotPublished) {
				r.Message = "not published: the request ran out of time first; retry it"
			}
			failed++
			continue
		}
		r.ID = protocol.IDString(ids[k])
	}
	if firstErr != nil {
		// One line per batch, not per event: a stream outage would
		// otherwise log a thousand lines per request.
		s.log.Error("batch publish failed", "events", failed, "of", len(items), "first_err", firstErr)
	}
	bad := len(items) - len(evs)
	s.stats.published.Add(uint64(len(evs) - failed))
	s.stats.publishRefused.Add(uint64(bad))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	sc.reply = appendBatchReply(slices.Grow(sc.reply[:0], 64+48*len(results)), results, len(evs)-failed, failed+bad)
	w.Write(sc.reply)
}

// appendBatchReply appends a batch's answer,
// {"results":[...],"published":n,"failed":m} and a newline, as
// encoding/json would write it (reflection was a quarter of publishBatch's
// time at 20,000 publishes/s); results' empty fields are left out.
func appendBatchReply(b []byte, results []publishResult, published, failed int) []byte {
	b = append(b, `{"results":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sep := false
		for _, f := range [...]struct{ key, val string }{
			{`"id":`, r.ID}, {`"channel":`, r.Channel}, {`"error":`, string(r.Error)}, {`"message":`, r.Message},
		} {
			if f.val == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, f.key...)
			b = protocol.AppendJSONString(b, f.val)
		}
		b = append(b, '}')
	}
	b = append(b, `],"published":`...)
	b = strconv.AppendInt(b, int64(published), 10)
	b = append(b, `,"failed":`...)
	b = strconv.AppendInt(b, int64(failed), 10)
	return append(b, "}\n"...)
}

// storeBatch puts evs on the stream in order: with one wait when the Bus
// is a BatchPublisher, else one Publish after another.
func (s *Server) storeBatch(ctx context.Context, evs []*protocol.Event) ([]uint64, []error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if bp, ok := s.opts.Bus.(BatchPublisher); ok {
		return bp.PublishBatch(ctx, evs)
	}
	ids, errs := make([]uint64, len(evs)), make([]error, len(evs))
	for i, ev := range evs {
		ids[i], errs[i] = s.opts.Bus.Publish(ctx, ev)
	}
	return ids, errs
}

// ndjsonRequest reports whether the request says its body is NDJSON
// (application/x-ndjson, application/ndjson, application/jsonl or application/x-jsonlines).
func ndjsonRequest(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return true
	}
	return false
}

// splitPublishBody tells a single event from a batch and splits a batch
// into its events:
//
//   - a body starting with '[' is a JSON array of events; an array that is
//     not valid JSON is refused whole (its elements cannot be told apart),
//     while an element that is valid JSON but not a valid event fails alone;
//   - an NDJSON body (said by ndjson, the Content-Type, or seen: the first
//     non-blank line is a whole JSON value and more non-blank lines follow)
//     holds one event per non-blank line; a malformed line fails alone;
//   - anything else is one event, answered as before batches existed.
//
// A batch's events are appended to items (a reused array, or nil).
func splitPublishBody(body []byte, ndjson bool, items [][]byte) ([][]byte, bool, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if !ndjson && len(trimmed) > 0 && trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, true, fmt.Errorf("not a JSON array of events: %s", jsonArrayErrorText(err))
		}
		if len(arr) == 0 {
			return nil, true, errors.New("the batch is empty")
		}
		for _, raw := range arr {
			items = append(items, raw)
		}
		return items, true, nil
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			items = append(items, line)
		}
	}
	if ndjson {
		if len(items) == 0 {
			return nil, true, errors.New("the batch is empty")
		}
		return items, true, nil
	}
	if len(items) > 1 && json.Valid(items[0]) {
		return items, true, nil
	}
	return nil, false, nil
}

// jsonArrayErrorText describes a JSON error without echoing input values.
func jsonArrayErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return "not an array"
}

// publisherAllowed checks the bearer credential: the static publish key or
// a token with the publish claim.
func (s *Server) publisherAllowed(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	if s.opts.PublishKey != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.PublishKey)) == 1 {
		return true
	}
	p, err := s.opts.Verifier.VerifyPublisher(tok)
	return err == nil && p.Publish
}

// bearer extracts an Authorization: Bearer credential.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

// writeJSONError answers with the JSON error body shared by every HTTP
// refusal: {"error":code,"channel":...,"message":...}.
func writeJSONError(w http.ResponseWriter, status int, code protocol.ErrorCode, channel, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(protocol.ErrorBody{Error: code, Channel: channel, Message: msg}.Encode())
}
