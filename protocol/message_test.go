package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
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
		`{"type":"presence","channel":"/contest/a/admin","data":{}}`, // the nodes' own (section 10)
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
	// Data that is not UTF-8, or not JSON, is refused with an error that
	// says which (both found by the same scan).
	for _, c := range []struct{ data, says string }{
		{"\"\xff\"", "not valid UTF-8"},
		{"{\"a\":\"\xed\xa0\x80\"}", "not valid UTF-8"},
		{"\"\x01\"", "not a JSON event object"},
		{`{"a":}`, "not a JSON event object"},
	} {
		in := `{"type":"run_update","channel":"/contest/a","data":` + c.data + `}`
		if _, err := DecodeEvent([]byte(in), 0); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("data %q: error %v, want one saying %q", c.data, err, c.says)
		}
		ev := &Event{Type: TypeRunUpdate, Channel: "/contest/a", Data: []byte(c.data)}
		want := c.says
		if want != "not valid UTF-8" {
			want = "data is not valid JSON"
		}
		if err := ev.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate data %q: error %v, want one saying %q", c.data, err, want)
		}
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

func TestAppendSnapshot(t *testing.T) {
	ev := &Event{Type: "scoreboard_update", Channel: "/contest/a", Public: true, Data: json.RawMessage(`{"r":[1]}`), ID: 7, Timestamp: 1704067200}
	got := string(AppendSnapshot([]byte("x"), ev, "/contest/a"))
	want := `x{"type":"scoreboard_update","channel":"/contest/a","id":"7","timestamp":1704067200,"data":{"r":[1]},"snapshot":true}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got[1:])) {
		t.Fatal("invalid JSON")
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
	for _, seed := range decodeEventCases {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastDecode(t, b)
		ev, err := DecodeEvent(b, 0)
		if err != nil {
			return
		}
		out := AppendDelivery(nil, ev, ev.Channel)
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("delivery of an accepted event is not UTF-8 JSON: %q", out)
		}
	})
}

// FuzzDelivery: whatever data a publisher hands over (through the decoder
// or set on an Event directly, as the HTTP and CLI publishers do), an
// event that validates is delivered as valid UTF-8 JSON (a browser fails
// the connection on a text frame that is not UTF-8), under the channel
// name it was subscribed as, with its data intact.
func FuzzDelivery(f *testing.F) {
	for _, s := range []string{`{}`, `{"s":"\u00e9"}`, "\"\xc3\xa9\"", "{\"s\":\"\xff\xfe\xc0\"}", "\"\xed\xa0\x80\"",
		"\"\xe2\x82\"", `"\ud800"`, "[1,\n2]", `null`, "\"\xf4\x90\x80\x80\""} {
		f.Add([]byte(s), uint64(17), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, id uint64, scoreboard bool) {
		ev := &Event{Type: TypeRunUpdate, Channel: "/contest/a", Data: data, ID: id, Timestamp: 1704067200}
		channel := ev.Channel
		if scoreboard {
			channel = "/scoreboard/x.y.z"
		}
		if err := ev.Validate(); err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		out := AppendDelivery(nil, ev, channel)
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("delivery is not UTF-8 JSON: %q", out)
		}
		var back struct {
			Type, Channel, ID string
			Data              json.RawMessage
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if back.Type != ev.Type || back.Channel != channel || back.ID != IDString(id) || !bytes.Equal(bytes.TrimSpace(back.Data), bytes.TrimSpace(ev.Data)) {
			t.Fatalf("delivery %q does not carry the event", out)
		}
	})
}

// TestEventEncodeKeepsData: Encode gives back what DecodeEvent read, data
// byte for byte, in a buffer of exactly its size (also for long names).
func TestEventEncodeKeepsData(t *testing.T) {
	long := strings.Repeat("c", 64) // the longest name
	for _, in := range []string{
		"{\"type\":\"run_update\",\"channel\":\"/contest/a\",\"user\":\"u\",\"public\":true,\"data\":{ \"a\" : [1, 2],\n \"b\":\"\\u00e9\" }}",
		`{"type":"run_update","channel":"/contest/` + long + `","user":"` + long[:32] + `","data":[1]}`,
		`{"type":"clarification","channel":"/problem/` + long + `","public":true,"data":{}}`,
	} {
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
		if cap(out) != len(out) {
			t.Errorf("%.60s...: %d bytes in a buffer of %d", in, len(out), cap(out))
		}
		back, err := DecodeEvent(out, 0)
		if err != nil || string(back.Data) != string(ev.Data) || back.User != ev.User || back.Public != ev.Public {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
		// AppendEncode writes the same after what the buffer holds.
		app, err := ev.AppendEncode([]byte("prefix"))
		if err != nil || string(app) != "prefix"+in {
			t.Fatalf("AppendEncode = %q, %v; want the prefix and\n%s", app, err, in)
		}
	}
}

// decodeEventCases are inputs on both sides of decodeEventFast's edge:
// each must decode exactly as encoding/json does (or be left to it).
var decodeEventCases = []string{
	`{"type":"run_update","channel":"/contest/a","user":"u","public":true,"data":{"a":[1,{"b":"}"}]}}`,
	` { "type" : "run_update" , "channel":"/contest/a", "public" : false, "data" : "x\"}" } ` + "\n",
	`{"type":"run_update","channel":"/contest/a","data":null}`,
	`{"type":"run_update","channel":"/contest/a","data":12.5e3}`,
	`{"type":"run_update","channel":"/contest/a"}`,
	`{}`,
	`{"type":"run_update","channel":"/contest/a","data":{}}x`,
	`{"type":"run_update","channel":"/contest/a","data":{}}{}`,
	`{"type":"run_update","type":"x","channel":"/contest/a","data":{}}`,
	`{"Type":"run_update","channel":"/contest/a","data":{}}`,
	`{"type":"run\u005fupdate","channel":"/contest/a","data":{}}`,
	`{"type":"run_update","channel":"/contest/a","public":null,"data":{}}`,
	`{"type":"run_update","channel":"/contest/a","user":null,"data":{}}`,
	`{"type":"run_update","channel":"/contest/a","data":{nope}}`,
	`{"type":"run_update","channel":"/contest/a","data":[1,2}`,
	`{"type":"run_update","channel":"/contest/a","data":tru}`,
	`{"type":"run_update","channel":"/contest/a","pubilc":true,"data":{}}`,
	`{"type":"run_update","channel":"/contest/a","data":{},}`,
	`{"type":"run_update","channel":"/contest/a","data":"\xff"}`,
	"{\"type\":\"run_update\",\"channel\":\"/contest/a\",\"data\":\"\xff\"}",
	`[{"type":"run_update","channel":"/contest/a","data":{}}]`,
}

// checkFastDecode: when decodeEventFast takes b, encoding/json must accept
// it too, with the same event.
func checkFastDecode(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeEventFast(b, false)
	if !ok {
		return
	}
	if kept, ok := decodeEventFast(b, true); !ok || string(kept.Data) != string(fast.Data) || kept.Channel != fast.Channel {
		t.Fatalf("%q: keeping the buffer, the fast path decoded %+v (ok %v), copying %+v", b, kept, ok, fast)
	}
	slow, err := decodeEventJSON(b)
	if err != nil {
		t.Fatalf("%q: the fast path took it, encoding/json refused it: %v", b, err)
	}
	if fast.Type != slow.Type || fast.Channel != slow.Channel || fast.User != slow.User || fast.Public != slow.Public ||
		string(fast.Data) != string(slow.Data) || (fast.Data == nil) != (slow.Data == nil) {
		t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, slow)
	}
}

// TestDecodeEventFast: the common form takes the fast path, the rest falls
// back, and both agree with encoding/json.
func TestDecodeEventFast(t *testing.T) {
	for i, c := range decodeEventCases {
		checkFastDecode(t, []byte(c))
		want := i < 6 // 19 (data not UTF-8) falls back too: the fast scan checks UTF-8
		if _, ok := decodeEventFast([]byte(c), false); ok != want {
			t.Errorf("case %d %q: fast path %v, want %v", i, c, ok, want)
		}
	}
	if _, ok := decodeEventFast(benchEventJSON, false); !ok {
		t.Error("the benchmark's event does not take the fast path")
	}
}

// TestEncodeChecksReplacedData: Encode skips the JSON check only for the
// bytes DecodeEvent or Validate checked; data replaced after is checked.
func TestEncodeChecksReplacedData(t *testing.T) {
	in := `{"type":"run_update","channel":"/contest/a","data":{"a":1}}`
	for _, tc := range []struct {
		name string
		data string // replaces data after decoding; "" keeps it
		ok   bool
	}{
		{"decoded data", "", true},
		{"replaced by valid JSON", `[1,2]`, true},
		{"replaced by invalid JSON", `{"a":`, false},
		{"replaced by invalid JSON of the same length", `{"a":}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(in), 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.data != "" {
				ev.Data = json.RawMessage(tc.data)
			}
			_, err = ev.Encode()
			if (err == nil) != tc.ok {
				t.Fatalf("Encode: err = %v, want ok %v", err, tc.ok)
			}
			app, err := ev.AppendEncode([]byte("x"))
			if (err == nil) != tc.ok || (err != nil && string(app) != "x") {
				t.Fatalf("AppendEncode = %q, %v; want ok %v, and the buffer unchanged on error", app, err, tc.ok)
			}
		})
	}
}

// TestDeliveryLen: a buffer of DeliveryLen bytes holds the delivery and the
// snapshot form of events with every optional member, at the longest
// numbers, without growing.
func TestDeliveryLen(t *testing.T) {
	const maxU, maxI = ^uint64(0), int64(-1 << 63)
	long := "/contest/" + strings.Repeat("c", 120)
	tests := []struct {
		name    string
		ev      Event
		channel string
	}{
		{"plain", Event{Type: TypeRunUpdate, Channel: "/contest/a", Data: json.RawMessage(`{}`), ID: 1, Timestamp: 1}, "/contest/a"},
		{"longest numbers", Event{Type: TypeRunUpdate, Data: json.RawMessage(`{"v":"AC"}`), ID: maxU, Timestamp: maxI}, long},
		{"every member", Event{Type: TypeScoreboardPatch, Data: json.RawMessage(`[1,2,3]`), ID: maxU, Timestamp: maxI,
			View: "user:" + strings.Repeat("u", 32), Base: maxU, JitterMS: 1<<63 - 1, StampStored: true, StoredAt: 1<<63 - 1}, long},
		{"empty data", Event{Type: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := DeliveryLen(&tt.ev, tt.channel)
			for name, b := range map[string][]byte{
				"delivery": AppendDelivery(make([]byte, 0, n), &tt.ev, tt.channel),
				"snapshot": AppendSnapshot(make([]byte, 0, n), &tt.ev, tt.channel),
			} {
				if len(b) > n || cap(b) != n {
					t.Errorf("%s: %d bytes in a buffer of %d grown to %d", name, len(b), n, cap(b))
				}
			}
		})
	}
}

// TestDecodeEventKeep: DecodeEventKeep's data is a slice of the buffer,
// capped at its end so an append cannot overwrite what follows; DecodeEvent's
// is a copy the buffer's later changes do not reach.
func TestDecodeEventKeep(t *testing.T) {
	const in = `{"type":"run_update","channel":"/contest/a","data":{"v":"AC"}}`
	for _, keep := range []bool{false, true} {
		b := []byte(in)
		decode := DecodeEvent
		if keep {
			decode = DecodeEventKeep
		}
		ev, err := decode(b, 0)
		if err != nil {
			t.Fatalf("keep %v: %v", keep, err)
		}
		if string(ev.Data) != `{"v":"AC"}` || cap(ev.Data) != len(ev.Data) && keep {
			t.Fatalf("keep %v: data %q, len %d cap %d", keep, ev.Data, len(ev.Data), cap(ev.Data))
		}
		_ = append(ev.Data, 'x')
		if string(b) != in {
			t.Fatalf("keep %v: appending to data changed the buffer to %q", keep, b)
		}
		at := strings.Index(in, `{"v"`)
		b[at+6] = 'W'
		shared := string(ev.Data) != `{"v":"AC"}`
		if shared != keep {
			t.Errorf("keep %v: data shares the buffer: %v", keep, shared)
		}
	}
}
