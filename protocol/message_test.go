package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeClientMessage(t *testing.T) {
	cases := []struct {
		in      string
		typ     string
		wantErr string
	}{
		{`{"type":"auth","token":"x"}`, MsgAuth, ""},
		{`{"type":"subscribe","channel":"/contest/a","since":"5","id":"1"}`, MsgSubscribe, ""},
		{`{"type":"unsubscribe","channel":"/contest/a"}`, MsgUnsubscribe, ""},
		{`{"type":"ping"}`, MsgPing, ""},
		{`ping`, MsgPing, ""},
		{" ping\n", MsgPing, ""},
		{`{"type":"auth"}`, "", "auth needs a token"},
		{`{"type":"subscribe"}`, "", "needs a channel"},
		{`{}`, "", "no type"},
		{`{"type":"nope"}`, "", "unknown message type"},
		{`[]`, "", "not a JSON object"},
		{`{"type":"ping","id":"` + strings.Repeat("x", 65) + `"}`, "", "longer than 64"},
		{`{`, "", "not a JSON object"},
	}
	for _, tc := range cases {
		m, err := DecodeClientMessage([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || m.Type != tc.typ {
			t.Errorf("%q: %+v, %v", tc.in, m, err)
		}
	}
	// Errors never quote a token.
	_, err := DecodeClientMessage([]byte(`{"type":"auth","token":123456789}`))
	if err == nil || strings.Contains(err.Error(), "123456789") {
		t.Errorf("token leaked or accepted: %v", err)
	}
}

func TestDecodeEvent(t *testing.T) {
	good := `{"type":"run_update","channel":"/contest/a","user":"u.1","public":false,"data":{"x":[1,2]}}`
	ev, err := DecodeEvent([]byte(good), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Parsed != (Channel{KindContest, "a"}) || string(ev.Data) != `{"x":[1,2]}` {
		t.Fatalf("%+v", ev)
	}
	for _, bad := range []string{
		`{"type":"run_update","channel":"/contest/a","data":{}} {}`,
		`{"type":"error","channel":"/contest/a","data":{}}`,
		`{"type":"subscribed","channel":"/contest/a","data":{}}`,
		`{"type":"Run","channel":"/contest/a","data":{}}`,
		`{"type":"run_update","channel":"/scoreboard/x","data":{}}`,
		`{"type":"run_update","channel":"/contest/a","user":"a b","data":{}}`,
		`{"type":"run_update","channel":"/contest/a","public":"yes","data":{}}`,
		`{"type":"run_update","channel":"/contest/a","id":"7","data":{}}`,
		`{"type":"run_update","channel":"/contest/a","data":{"secret":` + strings.Repeat("1", 100) + `}`,
	} {
		if _, err := DecodeEvent([]byte(bad), 0); err == nil {
			t.Errorf("accepted %s", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error quotes payload: %v", err)
		}
	}
	if _, err := DecodeEvent([]byte(good), 20); err == nil {
		t.Error("size limit not applied")
	}
}

func TestAppendDelivery(t *testing.T) {
	ev := &Event{Type: "run_update", Channel: "/contest/a", Data: json.RawMessage(`{"v":"AC"}`), ID: 42, Timestamp: 1704067200}
	got := string(AppendDelivery(nil, ev, "/scoreboard/tok"))
	want := `{"type":"run_update","channel":"/scoreboard/tok","id":"42","timestamp":1704067200,"data":{"v":"AC"}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("invalid JSON")
	}
	if n := testing.AllocsPerRun(100, func() { AppendDelivery(make([]byte, 0, 256)[:0], ev, ev.Channel) }); n > 1 {
		t.Errorf("AppendDelivery allocates %v times", n)
	}
}

// TestAppendDeliveryExtras: the members the broadcaster adds to scoreboard
// deliveries (and with --debug-stored-time) come after timestamp, before data.
func TestAppendDeliveryExtras(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Type: TypeScoreboardPatch, View: "user:alice", Base: 40, ID: 42, Timestamp: 7, Data: json.RawMessage(`{}`)},
			`{"type":"scoreboard_patch","channel":"/contest/a","id":"42","timestamp":7,"view":"user:alice","base":"40","data":{}}`},
		{Event{Type: TypeScoreboardUpdate, View: "public", JitterMS: 2000, ID: 1, Timestamp: 7, Data: json.RawMessage(`{}`)},
			`{"type":"scoreboard_update","channel":"/contest/a","id":"1","timestamp":7,"view":"public","jitter_ms":2000,"data":{}}`},
		{Event{Type: "run_update", StampStored: true, StoredAt: 1_500_000_123_456, ID: 1, Timestamp: 7, Data: json.RawMessage(`1`)},
			`{"type":"run_update","channel":"/contest/a","id":"1","timestamp":7,"stored_us":1500000123,"data":1}`},
	}
	for _, tt := range tests {
		if got := string(AppendDelivery(nil, &tt.ev, "/contest/a")); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestCloseCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range AllCloseCodes {
		if c < 4000 || c > 4999 {
			t.Errorf("%d outside the private range", c)
		}
		if c.Reconnect() != (c < 4500) {
			t.Errorf("%d: Reconnect() = %v", c, c.Reconnect())
		}
		r := c.Reason()
		if r == "closed" || seen[r] || len(r) > 123 {
			t.Errorf("%d: reason %q", c, r)
		}
		seen[r] = true
	}
}

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"auth","token":"x"}`, `ping`, `{"type":"subscribe","channel":"/a"}`, `{`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMessage(b)
		if err != nil {
			return
		}
		switch m.Type {
		case MsgAuth:
			if m.Token == "" {
				t.Fatal("auth without token accepted")
			}
		case MsgSubscribe, MsgUnsubscribe:
			if m.Channel == "" {
				t.Fatal("subscribe without channel accepted")
			}
		case MsgPing:
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"run_update","channel":"/contest/a","data":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b, 0)
		if err != nil {
			return
		}
		out := AppendDelivery(nil, ev, ev.Channel)
		if !json.Valid(out) {
			t.Fatalf("delivery of an accepted event is not JSON: %s", out)
		}
	})
}

func TestEventEncodeKeepsData(t *testing.T) {
	in := "{\"type\":\"run_update\",\"channel\":\"/contest/a\",\"user\":\"u\",\"public\":true,\"data\":{ \"a\" : [1, 2],\n \"b\":\"\\u00e9\" }}"
	ev, err := DecodeEvent([]byte(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Fatalf("re-encoded\n%s\nwant\n%s", out, in)
	}
	back, err := DecodeEvent(out, 0)
	if err != nil || string(back.Data) != string(ev.Data) || back.User != "u" || !back.Public {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
