package broadcaster

import (
	"encoding/json"
	"testing"

	"github.com/arenacast/arenacast/protocol"
)

// TestAttachedEncoder: an attached connection gets the adapter's encoding
// of each event's data, byte for byte, and never the engine's replies.
func TestAttachedEncoder(t *testing.T) {
	data := `{"message":"/run/update/", "run":{"a":"x,\"data\":y"}}`
	ev := &protocol.Event{Type: "scoreboard_update", Channel: "/contest/c", ID: 42, Timestamp: 7, View: "public", JitterMS: 2000, Data: json.RawMessage(data)}
	ev2 := &protocol.Event{Type: "run_update", Channel: "/contest/c", ID: 43, Data: json.RawMessage(`{"other":1}`)}
	frames := []*frame{
		newReplyFrame(protocol.SubscribedReply("", "/contest/c", false, false)),
		newEventFrame(ev, "/contest/c"),
		newEventFrame(ev2, "/contest/c"),
		commentFrame,
	}
	var seen []string
	enc := attachedEncoder(func(channel string, d []byte) []byte {
		seen = append(seen, channel+" "+string(d))
		if string(d) == `{"other":1}` {
			return nil // skipped by the adapter
		}
		return d
	})
	b, err := enc(nil, frames, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := appendTextMessage(nil, []byte(data)); string(b) != string(want) {
		t.Fatalf("encoded %q, want one text message of the data", b)
	}
	if len(seen) != 2 || seen[0] != "/contest/c "+data {
		t.Fatalf("adapter saw %q", seen)
	}
	if deliveryData([]byte(`{"type":"x"}`)) != nil {
		t.Fatal("deliveryData found data in a reply")
	}
}
