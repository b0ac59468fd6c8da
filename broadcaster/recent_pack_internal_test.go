package broadcaster

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/arenacast/arenacast/protocol"
)

// everyField is an event with every exported field of protocol.Event set to
// a value other than its zero, so that a field added to Event without a
// place in the packed layout fails TestPackEvent.
func everyField(t *testing.T) *protocol.Event {
	t.Helper()
	var ev protocol.Event
	v := reflect.ValueOf(&ev).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		switch {
		case sf.Type == reflect.TypeOf(json.RawMessage(nil)):
			f.SetBytes([]byte(`{"data":"` + strings.Repeat("é", 100) + `"}`)) // a length over one varint byte
		case sf.Type == reflect.TypeOf(protocol.Channel{}):
			f.Set(reflect.ValueOf(protocol.Channel{Kind: protocol.Kind(200), Name: "name-" + sf.Name}))
		case f.Kind() == reflect.String:
			f.SetString("value-of-" + sf.Name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanUint():
			f.SetUint(1<<63 | uint64(i))
		case f.CanInt():
			f.SetInt(-1<<62 - int64(i))
		default:
			t.Fatalf("protocol.Event.%s (%s) has no case here, and likely no place in packEvent's layout", sf.Name, sf.Type)
		}
	}
	return &ev
}

// TestPackEvent: an event the recent log packs unpacks to the same event,
// in a buffer of exactly packedLen bytes, for every field and for empty ones.
func TestPackEvent(t *testing.T) {
	cases := []struct {
		name string
		ev   *protocol.Event
	}{
		{"every field", everyField(t)},
		{"zero", &protocol.Event{}},
		{"plain", &protocol.Event{ID: 7, Type: "run_update", Channel: "/contest/c1", User: "alice", Data: json.RawMessage(`{}`)}},
		{"long data", &protocol.Event{ID: 1 << 40, Data: json.RawMessage(`"` + strings.Repeat("x", 70000) + `"`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := packEvent(c.ev)
			if len(b) != packedLen(c.ev) || cap(b) != len(b) {
				t.Errorf("packed into len %d cap %d; packedLen says %d", len(b), cap(b), packedLen(c.ev))
			}
			if packedID(b) != c.ev.ID {
				t.Errorf("packedID = %d, want %d", packedID(b), c.ev.ID)
			}
			got := unpackEvent(b)
			if !reflect.DeepEqual(got, c.ev) {
				t.Errorf("unpacked\n%+v\nwant\n%+v", got, c.ev)
			}
		})
	}
}

// TestUnpackCutsCapacity: appending to an unpacked event's data copies it
// instead of writing past its end into the packed buffer (here, a buffer
// with room after it).
func TestUnpackCutsCapacity(t *testing.T) {
	b := packEvent(&protocol.Event{ID: 1, Type: "run_update", Channel: "/contest/a", Data: json.RawMessage(`{"a":1}`)})
	n := len(b)
	b = append(b, "XYZ"...)[:n]
	ev := unpackEvent(b)
	_ = append(ev.Data, "!!!"...)
	if got := string(b[n : n+3]); got != "XYZ" {
		t.Fatalf("the bytes after the packed event became %q", got)
	}
}

// TestRecentReplayIsACopy: an event a replay returns is its own: changing
// its fields leaves the next replay as it was.
func TestRecentReplayIsACopy(t *testing.T) {
	l := newRecentLog(10, 0)
	l.start(1)
	l.add(&protocol.Event{ID: 1, Type: "run_update", Channel: "/contest/a", Data: json.RawMessage(`{"a":1}`)})
	first, ok := l.replay("/contest/a", 0, 1)
	if !ok || len(first) != 1 {
		t.Fatalf("replay = %d events, %v", len(first), ok)
	}
	first[0].Type, first[0].Public = "changed", true
	again, _ := l.replay("/contest/a", 0, 1)
	if len(again) != 1 || string(again[0].Data) != `{"a":1}` || again[0].Type != "run_update" || again[0].Public {
		t.Fatalf("the second replay is %+v", again)
	}
}
