package legacy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// envelope is what omegaUp's backend POSTs to /broadcast/. Other members
// (the backend also sends broadcast, targetUser and userOnly) are ignored,
// as the deployed broadcaster ignores them.
type envelope struct {
	Contest    string          `json:"contest"`
	Problemset json.RawMessage `json:"problemset"`
	Problem    string          `json:"problem"`
	User       string          `json:"user"`
	Public     bool            `json:"public"`
	Message    *string         `json:"message"`

	name string // the message's "message" member, once decoded
}

// EventType maps a legacy message name onto the event type our own clients
// switch on; messages with no obvious counterpart are type "legacy".
func EventType(message string) string {
	switch message {
	case "/run/update/":
		return protocol.TypeRunUpdate
	case "/scoreboard/update/":
		return protocol.TypeScoreboardUpdate
	case "/clarification/update/":
		return protocol.TypeClarification
	}
	return "legacy"
}

// authorized accepts a publisher: a client certificate the internal
// listener verified (mutual TLS, as omegaUp's backend connects), or
// Arenacast's publisher credential (--publish-key, or a token with
// "publish":true).
func (a *Adapter) authorized(r *http.Request) bool {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	return a.cfg.Server.PublisherAllowed(r)
}

// serveBroadcast answers POST /broadcast/: one envelope, published as one
// event per channel it concerns (events), then 200 {"status":"ok"} as the
// deployed broadcaster answers.
func (a *Adapter) serveBroadcast(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code protocol.ErrorCode, msg string) {
		a.counts.broadcasts[resultOf(status)].Add(1)
		writeError(w, status, code, msg)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(http.StatusMethodNotAllowed, protocol.ErrBadRequest, "use POST")
		return
	}
	if !a.authorized(r) {
		fail(http.StatusUnauthorized, protocol.ErrUnauthorized, "a client certificate or a publisher credential is required")
		return
	}
	// The message travels as a JSON string, escaped (PHP also writes
	// non-ASCII as \uXXXX): allow for that here; the events themselves
	// are held to MaxEventSize below.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(4*a.cfg.MaxEventSize+4096)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, protocol.ErrBadRequest, "envelope is over the size limit")
			return
		}
		fail(http.StatusBadRequest, protocol.ErrBadRequest, "reading the body failed")
		return
	}
	evs, env, err := events(body)
	if err != nil {
		fail(http.StatusBadRequest, protocol.ErrBadRequest, err.Error())
		return
	}
	for _, ev := range evs {
		if enc, _ := ev.Encode(); len(enc) > a.cfg.MaxEventSize {
			fail(http.StatusRequestEntityTooLarge, protocol.ErrBadRequest,
				fmt.Sprintf("the event is %d bytes, over the %d-byte limit (--max-event-size)", len(enc), a.cfg.MaxEventSize))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ids := make(map[string]string, len(evs))
	for _, ev := range evs {
		id, err := a.cfg.Bus.Publish(ctx, ev)
		if err != nil {
			a.log.Error("legacy publish failed", "channel", ev.Channel, "type", ev.Type, "err", err)
			fail(http.StatusServiceUnavailable, protocol.ErrInternal, "the event stream is unavailable")
			return
		}
		a.counts.broadcastEvents.Add(1)
		ids[ev.Channel] = protocol.IDString(id)
	}
	a.counts.broadcasts[resultOK].Add(1)
	if a.refresher != nil && env.name == "/run/update/" && env.Contest != "" {
		a.refresher.touch(env.Contest)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "ok", "ids": ids})
}

// events maps an envelope onto the events it is published as, one per
// channel it concerns, in this order:
//
//	contest     /contest/<alias>
//	problemset  /contest/problemset.<id>
//	problem     /problem/<alias>
//	user        /user/<name>
//	(always)    AllEventsChannel
//
// Every copy has the same type (EventType of the message's "message"),
// visibility (public, or private and owned by user, or with neither
// admins only) and data: the message string's bytes, exactly, which is
// what legacy clients receive. It returns the decoded envelope too.
func events(body []byte) ([]*protocol.Event, *envelope, error) {
	env := &envelope{}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(env); err != nil {
		return nil, nil, errors.New("envelope: not a JSON object {\"contest\",\"problemset\",\"problem\",\"user\",\"public\",\"message\"}")
	}
	if env.Message == nil || *env.Message == "" {
		return nil, nil, errors.New("envelope: message is missing: it is the client payload as a JSON string")
	}
	data := []byte(*env.Message)
	if !json.Valid(data) {
		return nil, nil, errors.New("envelope: message is not JSON: it must be a JSON object as a string, e.g. {\"message\":\"/run/update/\",...}")
	}
	if !isMessage(data) {
		return nil, nil, errors.New("envelope: message must be a JSON object whose first member is \"message\", a string")
	}
	var head struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, nil, errors.New("envelope: message's \"message\" member must be a string")
	}
	var channels []string
	name := func(field, v string) error {
		if !protocol.ValidName(v) || strings.Contains(v, ".") {
			return fmt.Errorf("envelope: %s must be a valid name (1-64 of [A-Za-z0-9_-])", field)
		}
		return nil
	}
	if env.Contest != "" {
		if err := name("contest", env.Contest); err != nil {
			return nil, nil, err
		}
		channels = append(channels, "/contest/"+env.Contest)
	}
	if id, err := problemsetID(env.Problemset); err != nil {
		return nil, nil, err
	} else if id > 0 {
		channels = append(channels, ProblemsetChannel(id))
	}
	if env.Problem != "" {
		if err := name("problem", env.Problem); err != nil {
			return nil, nil, err
		}
		channels = append(channels, "/problem/"+env.Problem)
	}
	if env.User != "" {
		if !protocol.ValidName(env.User) {
			return nil, nil, errors.New("envelope: user must be a valid username (1-64 of [A-Za-z0-9_.-])")
		}
		channels = append(channels, "/user/"+env.User)
	}
	channels = append(channels, AllEventsChannel)
	typ := EventType(head.Message)
	evs := make([]*protocol.Event, 0, len(channels))
	for _, ch := range channels {
		ev := &protocol.Event{Type: typ, Channel: ch, User: env.User, Public: env.Public, Data: data}
		if err := ev.Validate(); err != nil {
			return nil, nil, fmt.Errorf("envelope: %v", err)
		}
		evs = append(evs, ev)
	}
	env.name = head.Message
	return evs, env, nil
}

// problemsetID reads the problemset member: absent, null or 0 (none), a
// positive integer, or the same as a string.
func problemsetID(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, errors.New("envelope: problemset must be a positive integer id")
	}
	return id, nil
}

// serveDeauthenticate answers /deauthenticate/<user>: every session of the
// user, on every node, is closed with 4503 and tokens or validateFilter
// answers from before now are refused (the engine's user revocation).
func (a *Adapter) serveDeauthenticate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, "use POST")
		return
	}
	if !a.authorized(r) {
		writeError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "a client certificate or a publisher credential is required")
		return
	}
	user := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/deauthenticate/"), "/")
	if !protocol.ValidName(user) {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "want /deauthenticate/<user> with a valid username")
		return
	}
	a.validator.forget(user)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := a.cfg.Server.Revoke(ctx, broadcaster.Revocation{User: user, Kind: broadcaster.RevokeUser, Before: a.cfg.Now()}); err != nil {
		a.log.Error("legacy deauthenticate failed", "user", user, "err", err)
		writeError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "could not store the revocation")
		return
	}
	a.counts.deauthenticated.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}
