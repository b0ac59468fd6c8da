package legacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/legacy"
	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// waitFor is the generous deadline of every wait: a busy 2-core machine
// under -race.
const waitFor = 20 * time.Second

var testSecret = []byte("arenacast-test-secret-0123456789abcdef")

const publishKey = "test-publish-key"

// frontend is a fake omegaUp frontend on loopback: validateFilter as the
// platform answers it, and the scoreboard refresh endpoint.
//
// Sessions (the ouat cookie or "Authorization: token <x>"): ann-session is
// ann (participant of contest c1 / problemset 7), bob-session is bob (the
// same), root-session is a site admin, admin-session administers c1 and
// problemset 7. No credential is anonymous, allowed only with the
// scoreboard token "sbtok". fail-session answers 500; hang-session never
// answers (until the test ends).
type frontend struct {
	srv       *httptest.Server
	validates atomic.Int64
	refreshes chan url2 // alias and token of each refresh call
	hang      chan struct{}
}

type url2 struct{ alias, token string }

func newFrontend(t *testing.T) *frontend {
	f := &frontend{refreshes: make(chan url2, 64), hang: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/user/validateFilter/", f.validate)
	mux.HandleFunc("/api/scoreboard/refresh/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		f.refreshes <- url2{r.PostForm.Get("alias"), r.PostForm.Get("token")}
		io.WriteString(w, `{"status":"ok"}`)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(f.hang)
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *frontend) validate(w http.ResponseWriter, r *http.Request) {
	f.validates.Add(1)
	session := ""
	if c, err := r.Cookie("ouat"); err == nil {
		session = c.Value
	} else if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "token ") {
		session = strings.TrimPrefix(a, "token ")
	}
	type answer struct {
		User            *string  `json:"user"`
		Admin           bool     `json:"admin"`
		ProblemAdmin    []string `json:"problem_admin"`
		ContestAdmin    []string `json:"contest_admin"`
		ProblemsetAdmin []int64  `json:"problemset_admin"`
	}
	str := func(s string) *string { return &s }
	var a answer
	switch session {
	case "ann-session":
		a.User = str("ann")
	case "bob-session":
		a.User = str("bob")
	case "root-session":
		a.User, a.Admin = str("root"), true
	case "admin-session":
		a.User, a.ContestAdmin, a.ProblemsetAdmin = str("judge"), []string{"c1"}, []int64{7}
	case "fail-session":
		http.Error(w, `{"status":"error","error":"boom"}`, http.StatusInternalServerError)
		return
	case "hang-session":
		select {
		case <-f.hang:
		case <-r.Context().Done():
		}
		return
	case "":
	default:
		http.Error(w, `{"status":"error"}`, http.StatusUnauthorized)
		return
	}
	for _, flt := range strings.Split(r.URL.Query().Get("filter"), ",") {
		parts := strings.Split(flt, "/")
		tokened := len(parts) == 4 && parts[3] == "sbtok"
		switch {
		case a.Admin:
		case a.User == nil && !tokened:
			http.Error(w, `{"status":"error"}`, http.StatusForbidden)
			return
		case flt == "/contest/c2" || flt == "/problemset/8":
			http.Error(w, `{"status":"error"}`, http.StatusForbidden)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

// waitUntil polls cond until it holds, failing the test after a deadline
// generous for a busy machine under -race.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is one broadcaster node with the legacy adapter mounted as serve
// mounts it: /events/ wrapped, /broadcast/ and /deauthenticate/ beside.
type node struct {
	t       *testing.T
	bus     *natsbus.Bus
	srv     *broadcaster.Server
	adapter *legacy.Adapter
	http    *httptest.Server
	signer  *auth.Signer
	front   *frontend
}

func newNode(t *testing.T, tweak func(*legacy.Config)) *node {
	t.Helper()
	return newNodeOn(t, natsbus.Config{DataDir: t.TempDir(), MaxAge: time.Hour}, tweak)
}

// newNodeOn starts a node on the NATS nc describes (an embedded one, or
// another node's through URL).
func newNodeOn(t *testing.T, nc natsbus.Config, tweak func(*legacy.Config)) *node {
	t.Helper()
	ctx := context.Background()
	bus, err := natsbus.Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("test", testSecret); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := bus.Revocations(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broadcaster.New(broadcaster.Options{Verifier: v, Bus: bus, Revocations: revs, PublishKey: publishKey})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(rctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-srv.Ready():
	case <-time.After(waitFor):
		t.Fatal("server not ready")
	}
	if err := revs.Watch(rctx, srv, func(key string, err error) { t.Errorf("bad revocation %s: %v", key, err) }); err != nil {
		t.Fatal(err)
	}
	front := newFrontend(t)
	cfg := legacy.Config{Server: srv, Bus: bus, FrontendURL: front.srv.URL + "/", ValidateTimeout: 2 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	ad, err := legacy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", ad.Events(srv.Handler()))
	mux.Handle("/broadcast/", ad.Internal())
	mux.Handle("/deauthenticate/", ad.Internal())
	n := &node{t: t, bus: bus, srv: srv, adapter: ad, http: httptest.NewServer(mux), signer: auth.NewHMACSigner("test", testSecret), front: front}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), waitFor)
		defer scancel()
		srv.Shutdown(sctx, 0)
		n.http.CloseClientConnections()
		n.http.Close()
		ad.Close()
		cancel()
		<-done
		bus.Close()
	})
	return n
}

func (n *node) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(n.http.URL, "http") + "/events/" + query
}

// broadcast POSTs an envelope as omegaUp's backend does and returns the
// status and body.
func (n *node) broadcast(env map[string]any) (int, string) {
	n.t.Helper()
	b, _ := json.Marshal(env)
	return n.post("/broadcast/", b, "Bearer "+publishKey)
}

func (n *node) post(path string, body []byte, authz string) (int, string) {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.http.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(rb)
}

// envelope is what omegaUp's backend sends for message, with its
// backendv1-compat members.
func envelope(contest string, problemset int, problem, user string, public bool, message string) map[string]any {
	e := map[string]any{
		"contest": nilIfEmpty(contest), "problemset": nil, "problem": nilIfEmpty(problem),
		"user": nilIfEmpty(user), "public": public, "message": message,
		"broadcast": public, "targetUser": -1, "userOnly": false,
	}
	if problemset != 0 {
		e["problemset"] = problemset
	}
	return e
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// legacyClient is a client as omegaUp's frontend writes it: subprotocol
// com.omegaup.events, filters in the URL, the ouat cookie, "ping" every
// 30 s, JSON.parse of every message.
type legacyClient struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan []byte
	err  chan error // the read error that ended the connection
}

// dialLegacy connects; a refused connect returns the HTTP status and body.
func (n *node) dialLegacy(session string, filters ...string) (*legacyClient, int, string) {
	n.t.Helper()
	q := ""
	for i, f := range filters {
		if i == 0 {
			q += "?"
		} else {
			q += "&"
		}
		q += "filter=" + f
	}
	h := http.Header{}
	if session != "" {
		h.Set("Cookie", "ouat="+session)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, n.wsURL(q), &websocket.DialOptions{Subprotocols: []string{legacy.Subprotocol}, HTTPHeader: h})
	if err != nil {
		if resp == nil {
			n.t.Fatalf("dial: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(b)
	}
	if c.Subprotocol() != legacy.Subprotocol {
		n.t.Fatalf("negotiated subprotocol %q, want %q", c.Subprotocol(), legacy.Subprotocol)
	}
	lc := &legacyClient{t: n.t, c: c, msgs: make(chan []byte, 64), err: make(chan error, 1)}
	go func() {
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				lc.err <- err
				close(lc.msgs)
				return
			}
			if typ == websocket.MessageText {
				lc.msgs <- b
			}
		}
	}()
	// The deployed frontend's keepalive: a JSON string the server ignores.
	if err := c.Write(ctx, websocket.MessageText, []byte(`"ping"`)); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.CloseNow() })
	return lc, http.StatusSwitchingProtocols, ""
}

// next returns the next message, failing the test after waitFor.
func (lc *legacyClient) next() []byte {
	lc.t.Helper()
	select {
	case b, ok := <-lc.msgs:
		if !ok {
			lc.t.Fatalf("connection ended: %v", <-lc.err)
		}
		return b
	case <-time.After(waitFor):
		lc.t.Fatal("no message")
	}
	return nil
}

// closed waits for the connection to end and returns its close code.
func (lc *legacyClient) closed() websocket.StatusCode {
	lc.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case _, ok := <-lc.msgs:
			if ok {
				continue
			}
			return websocket.CloseStatus(<-lc.err)
		case <-deadline:
			lc.t.Fatal("connection still open")
		}
	}
}

// arenaClient is a client written against seed 002: plain WebSocket,
// auth and subscribe messages, a switch on type.
type arenaClient struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan map[string]any
}

func (n *node) dialArena(user string, claims func(*auth.Claims), channels ...string) *arenaClient {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, _, err := websocket.Dial(ctx, n.wsURL(""), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	ac := &arenaClient{t: n.t, c: c, msgs: make(chan map[string]any, 64)}
	go func() {
		defer close(ac.msgs)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				ac.msgs <- m
			}
		}
	}()
	n.t.Cleanup(func() { c.CloseNow() })
	cl := auth.Claims{}
	cl.Subject = user
	if claims != nil {
		claims(&cl)
	}
	tok, err := n.signer.UserToken(cl, time.Hour, time.Now())
	if err != nil {
		n.t.Fatal(err)
	}
	ac.send(map[string]any{"type": "auth", "token": tok})
	ac.expect("auth_success")
	for _, ch := range channels {
		ac.send(map[string]any{"type": "subscribe", "channel": ch})
		ac.expect("subscribed")
	}
	return ac
}

func (ac *arenaClient) send(m map[string]any) {
	ac.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := ac.c.Write(ctx, websocket.MessageText, b); err != nil {
		ac.t.Fatal(err)
	}
}

// expect returns the next message, which must have type typ.
func (ac *arenaClient) expect(typ string) map[string]any {
	ac.t.Helper()
	select {
	case m, ok := <-ac.msgs:
		if !ok {
			ac.t.Fatalf("connection ended waiting for %s", typ)
		}
		if m["type"] != typ {
			ac.t.Fatalf("got %v, want type %s", m, typ)
		}
		return m
	case <-time.After(waitFor):
		ac.t.Fatalf("no %s", typ)
	}
	return nil
}
