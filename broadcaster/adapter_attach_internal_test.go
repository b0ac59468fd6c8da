package broadcaster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// TestAttachCatchesUpFromHandshake: an event the node routes after an
// attached connection's handshake is answered, but before its
// subscriptions are in the hub, still reaches it, once and first; one
// routed before the handshake does not.
func TestAttachCatchesUpFromHandshake(t *testing.T) {
	srv := newBenchServer(t, 64)
	srv.recent.start(1)
	const route = "/contest/c1"
	ev := func(id uint64, v string) *protocol.Event {
		e := &protocol.Event{Type: protocol.TypeRunUpdate, Channel: route, Public: true, Data: json.RawMessage(`"` + v + `"`), ID: id, Timestamp: 1}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	srv.route(ev(1, "before"))
	// The node routes from one goroutine: event 3 only after the hook's 2
	// (the client's Dial may return before the hook has run).
	hooked := make(chan struct{})
	srv.afterAccept = func() { srv.route(ev(2, "meanwhile")); close(hooked) }
	p, err := auth.NewPrincipal(auth.Grants{User: "bob", Contests: []string{"c1"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := srv.Attach(w, r, Attachment{Principal: p, Channels: []string{route},
			Encode: func(_ string, data []byte) []byte { return append([]byte(nil), data...) }})
		if err != nil {
			t.Errorf("Attach: %v", err)
		}
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	select {
	case <-hooked:
	case <-ctx.Done():
		t.Fatal("the handshake hook did not run")
	}
	srv.route(ev(3, "after"))
	for _, want := range []string{`"meanwhile"`, `"after"`} {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if string(b) != want {
			t.Fatalf("got %s, want %s", b, want)
		}
	}
}
