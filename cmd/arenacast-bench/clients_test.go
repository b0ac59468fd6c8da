package main

import "testing"

// TestHandleServerFrames: the frames a node sends besides events (replies,
// and presence counts on admin channels, which carry no id) are not counted
// as frames the load tool failed to parse; a frame it cannot read is.
func TestHandleServerFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  string
		bad  uint64
	}{
		{"auth_success", `{"type":"auth_success","user":"u"}`, 0},
		{"pong", `{"type":"pong"}`, 0},
		{"presence", `{"type":"presence","channel":"/contest/bench/admin","timestamp":1,"data":{"contest":"bench"}}`, 0},
		{"not an object of ours", `{"kind":"x"}`, 1},
		{"event without id", `{"type":"run_update","channel":"/contest/bench","timestamp":1,"data":{}}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMeter()
			c := newClient(&clientSpec{channels: []string{"/contest/bench"}}, m)
			c.handle([]byte(tc.obj), 0)
			if got := m.badFrames.Load(); got != tc.bad {
				t.Fatalf("badFrames %d, want %d", got, tc.bad)
			}
		})
	}
}
