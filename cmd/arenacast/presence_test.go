package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/arenacast/arenacast/auth"
)

// getPresence is GET /presence<query> on addr with the publish key.
func getPresence(t *testing.T, addr, query, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/presence"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /presence: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestServePresence: serve wires --presence-interval: a scoreboard viewer
// shows up on GET /presence; --presence-interval 0 turns the endpoint off.
func TestServePresence(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, out, served := startServeCtx(t, ctx, "--presence-interval", "50ms", "--publish-key", "presence-test-key", "--shutdown-drain", "0")
	signer, err := auth.LoadSigner("../../testdata/devkeys/dev.pem")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.ScoreboardToken("annual", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+addr+"/events/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	b, _ := json.Marshal(map[string]string{"type": "subscribe", "channel": "/scoreboard/" + tok})
	if err := c.Write(dctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.Read(dctx); err != nil || !json.Valid(m) {
		t.Fatalf("subscribe reply: %s %v", m, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := getPresence(t, addr, "?contest=annual", "presence-test-key")
		var p struct {
			Viewers struct{ Connections int }
			Nodes   int
		}
		if status != http.StatusOK || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET /presence: %d %s", status, body)
		}
		if p.Viewers.Connections == 1 && p.Nodes == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence never showed the viewer: %s", body)
		}
		time.Sleep(50 * time.Millisecond) // polling an endpoint
	}
	if status, body := getPresence(t, addr, "?contest=annual", "wrong-key"); status != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %s", status, body)
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}

	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	addr2, out2, served2 := startServeCtx(t, ctx2, "--presence-interval", "0", "--publish-key", "presence-test-key", "--shutdown-drain", "0")
	if status, body := getPresence(t, addr2, "?contest=annual", "presence-test-key"); status != http.StatusNotFound {
		t.Fatalf("presence off: %d %s", status, body)
	}
	stop2()
	if code := <-served2; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out2.String())
	}
}
