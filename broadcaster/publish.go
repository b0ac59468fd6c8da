package broadcaster

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// servePublish answers POST /publish: a publisher credential and one event.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "", "use POST")
		return
	}
	if !s.publisherAllowed(r) {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "", "a publisher credential is required")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxEventSize)))
	if err != nil {
		s.stats.publishRefused.Add(1)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, protocol.ErrBadRequest, "", "event is over the size limit")
			return
		}
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", "reading the body failed")
		return
	}
	ev, err := protocol.DecodeEvent(body, s.opts.MaxEventSize)
	if err == nil && protocol.BoardType(ev.Type) {
		err = s.snaps.check(ev) // a patch that does not fit the board this node holds
	}
	if err != nil {
		s.stats.publishRefused.Add(1)
		writeJSONError(w, http.StatusBadRequest, protocol.ErrBadRequest, "", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
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
	json.NewEncoder(w).Encode(map[string]string{"id": protocol.IDString(id), "channel": ev.Channel})
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
	p, err := s.opts.Verifier.Verify(tok)
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
