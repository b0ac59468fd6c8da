package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// batchOf makes n valid events over channels /contest/c0../contest/c4,
// each with data {"n":<index>}.
func batchOf(t *testing.T, n int) []*protocol.Event {
	t.Helper()
	evs := make([]*protocol.Event, n)
	for i := range evs {
		ev := &protocol.Event{Type: "run_update", Channel: fmt.Sprintf("/contest/c%d", i%5), Public: true,
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

// storedData reads the data the stream holds under each of ids on the
// channels of evs, one replay per channel.
func storedData(t *testing.T, b *Bus, evs []*protocol.Event, ids []uint64) map[uint64]string {
	t.Helper()
	var lo, hi uint64
	chans := map[string]protocol.Channel{}
	for i, ev := range evs {
		if ids[i] == 0 {
			continue
		}
		if lo == 0 || ids[i] < lo {
			lo = ids[i]
		}
		hi = max(hi, ids[i])
		chans[ev.Channel] = ev.Parsed
	}
	got := map[uint64]string{}
	for _, ch := range chans {
		if _, err := b.Replay(ctxT(t), ch, lo-1, hi, func(e *protocol.Event) bool {
			got[e.ID] = string(e.Data)
			return true
		}); err != nil {
			t.Fatalf("Replay: %v", err)
		}
	}
	return got
}

// TestPublishBatchAnswers: every event of a batch gets the id the stream
// stored it under, in order, also past the window of unanswered
// publishes; an event the stream refuses fails alone with the stream's
// error, between neighbours that are stored.
func TestPublishBatchAnswers(t *testing.T) {
	b := open(t, Config{MaxEventSize: 1024})
	tests := []struct {
		name    string
		n       int
		refused int // index of an event over the stream's size limit; -1: none
	}{
		{"one", 1, -1},
		{"small", 10, -1},
		{"over the window", 3*publishWindow + 7, -1},
		{"one refused", 9, 4},
		{"first refused", 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := batchOf(t, tt.n)
			if tt.refused >= 0 {
				evs[tt.refused].Data = json.RawMessage(`"` + strings.Repeat("x", 2000) + `"`)
			}
			ids, errs := b.PublishBatch(ctxT(t), evs)
			held := storedData(t, b, evs, ids)
			var prev uint64
			for i, ev := range evs {
				if i == tt.refused {
					var apiErr *jetstream.APIError
					if !errors.As(errs[i], &apiErr) || ids[i] != 0 {
						t.Fatalf("event %d: id %d, error %v; want the stream's refusal", i, ids[i], errs[i])
					}
					continue
				}
				if errs[i] != nil {
					t.Fatalf("event %d: %v", i, errs[i])
				}
				if ids[i] <= prev {
					t.Fatalf("event %d: id %d after %d", i, ids[i], prev)
				}
				prev = ids[i]
				if got := held[ids[i]]; got != string(ev.Data) {
					t.Fatalf("event %d: id %d holds %q, want %q", i, ids[i], got, ev.Data)
				}
			}
		})
	}
}

// TestPublishBatchConcurrentEncodings: batches published at once from
// several goroutines, each encoding into a buffer the next batch reuses,
// all store exactly what was sent.
func TestPublishBatchConcurrentEncodings(t *testing.T) {
	b := open(t, Config{})
	const publishers, rounds, n = 4, 5, 50
	type sent struct {
		evs []*protocol.Event
		ids []uint64
	}
	results := make(chan sent, publishers*rounds)
	errc := make(chan error, publishers)
	for p := range publishers {
		go func() {
			for r := range rounds {
				evs := make([]*protocol.Event, n)
				for i := range evs {
					ev := &protocol.Event{Type: "run_update", Channel: fmt.Sprintf("/contest/c%d", i%5), Public: true,
						Data: json.RawMessage(fmt.Sprintf(`{"p":%d,"r":%d,"i":%d,"pad":"%s"}`, p, r, i, strings.Repeat("x", i*(p+1))))}
					if err := ev.Validate(); err != nil {
						errc <- err
						return
					}
					evs[i] = ev
				}
				ids, errs := b.PublishBatch(ctxT(t), evs)
				for i, err := range errs {
					if err != nil {
						errc <- fmt.Errorf("publisher %d, round %d, event %d: %w", p, r, i, err)
						return
					}
				}
				results <- sent{evs, ids}
			}
			errc <- nil
		}()
	}
	for range publishers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	close(results)
	for res := range results {
		held := storedData(t, b, res.evs, res.ids)
		for i, ev := range res.evs {
			if got := held[res.ids[i]]; got != string(ev.Data) {
				t.Fatalf("id %d holds %q, want %q", res.ids[i], got, ev.Data)
			}
		}
	}
}

// TestPublishBatchNoStream: with the stream gone nothing answers the
// publishes; after the retries every event fails with "no responders",
// and none with ErrNotPublished (each was sent). A batch that resent its
// events does not give its encoding buffer back (a resend timer may still
// read it); a stored batch does.
func TestPublishBatchNoStream(t *testing.T) {
	b := open(t, Config{})
	if _, errs := b.PublishBatch(ctxT(t), batchOf(t, 3)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if n := len(b.encoded); n != 1 {
		t.Fatalf("after a stored batch %d encoding buffers are kept, want 1", n)
	}
	<-b.encoded
	if err := b.JetStream().DeleteStream(ctxT(t), b.cfg.Stream); err != nil {
		t.Fatal(err)
	}
	ids, errs := b.PublishBatch(ctxT(t), batchOf(t, 3))
	for i, err := range errs {
		if !errors.Is(err, nats.ErrNoResponders) || errors.Is(err, broadcaster.ErrNotPublished) || ids[i] != 0 {
			t.Fatalf("event %d: id %d, error %v; want no responders", i, ids[i], err)
		}
	}
	if n := len(b.encoded); n != 0 {
		t.Fatalf("after a batch that resent its events %d encoding buffers are kept, want 0", n)
	}
}

// TestPublishBatchUnanswered: publishes sent while NATS is away are not
// answered by the deadline; they fail with the deadline's error (they may
// still be stored when NATS is back, so not ErrNotPublished), and a batch
// after NATS is back is stored.
func TestPublishBatchUnanswered(t *testing.T) {
	dir := t.TempDir()
	srv := open(t, Config{DataDir: dir, Listen: "127.0.0.1:0"})
	url := srv.ClientURL()
	node := open(t, Config{URL: url, Logger: (&logBuffer{}).logger()})
	srv.Close()
	eventually(t, "the node to notice", func() bool { return !node.Connected() })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, errs := node.PublishBatch(ctx, batchOf(t, 3))
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, broadcaster.ErrNotPublished) {
			t.Fatalf("event %d: %v; want the deadline, as sent", i, err)
		}
	}

	open(t, Config{DataDir: dir, Listen: strings.TrimPrefix(url, "nats://")})
	eventually(t, "the node to reconnect", node.Connected)
	evs := batchOf(t, 2)
	ids, errs := node.PublishBatch(ctxT(t), evs)
	for i := range evs {
		if errs[i] != nil || ids[i] == 0 {
			t.Fatalf("after the reconnect, event %d: id %d, error %v", i, ids[i], errs[i])
		}
	}
}

// TestParseAck: the answers nats-server gives, read by hand where they
// are a stored event's and by encoding/json otherwise.
func TestParseAck(t *testing.T) {
	a := &acker{stream: "S", ok: []byte(`{"stream":"S","seq":`)}
	noResp := nats.Header{}
	noResp.Set("Status", "503")
	tests := []struct {
		name    string
		data    string
		header  nats.Header
		want    uint64
		wantErr string // "" none; else a substring
	}{
		{"stored", `{"stream":"S","seq":42}`, nil, 42, ""},
		{"duplicate", `{"stream":"S","seq":42,"duplicate":true}`, nil, 42, ""},
		{"domain first", `{"stream":"S","domain":"hub","seq":7}`, nil, 7, ""},
		{"spaces", `{ "stream": "S", "seq": 9 }`, nil, 9, ""},
		{"another stream", `{"stream":"T","seq":42}`, nil, 0, "names no sequence of stream S"},
		{"stream name prefix", `{"stream":"SS","seq":42}`, nil, 0, "names no sequence of stream S"},
		{"seq zero", `{"stream":"S","seq":0}`, nil, 0, "names no sequence"},
		{"seq cut", `{"stream":"S","seq":12`, nil, 0, "acknowledgement"},
		{"seq not a number", `{"stream":"S","seq":12x}`, nil, 0, "acknowledgement"},
		{"refused", `{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"},"stream":"S","seq":0}`, nil, 0, "message size exceeds maximum allowed"},
		{"not json", `nope`, nil, 0, "acknowledgement"},
		{"no responders", ``, noResp, 0, "no responders"},
		{"empty", ``, nil, 0, "empty acknowledgement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.parseAck(&nats.Msg{Data: []byte(tt.data), Header: tt.header})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want seq %d", err, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("seq %d, error %v; want an error with %q", got, err, tt.wantErr)
			case got != tt.want:
				t.Fatalf("seq %d, want %d", got, tt.want)
			}
		})
	}
}

// TestParseReply: only <inbox>.<batch>.<index> of the acker's own inbox
// is an answer's address.
func TestParseReply(t *testing.T) {
	a := &acker{prefix: "_INBOX.abc."}
	tests := []struct {
		subj string
		n    uint64
		i    int
		ok   bool
	}{
		{"_INBOX.abc.1.0", 1, 0, true},
		{"_INBOX.abc.18446744073709551615.2147483647", 18446744073709551615, 2147483647, true},
		{"_INBOX.abc.1", 0, 0, false},
		{"_INBOX.abc.", 0, 0, false},
		{"_INBOX.abd.1.0", 0, 0, false},
		{"_INBOX.abc.x.0", 0, 0, false},
		{"_INBOX.abc.1.-1", 0, 0, false},
		{"_INBOX.abc.1.2147483648", 0, 0, false},
		{"_INBOX.abc.1.2.3", 0, 0, false},
	}
	for _, tt := range tests {
		n, i, ok := a.parseReply(tt.subj)
		if n != tt.n || i != tt.i || ok != tt.ok {
			t.Errorf("parseReply(%q) = %d, %d, %v; want %d, %d, %v", tt.subj, n, i, ok, tt.n, tt.i, tt.ok)
		}
	}
}
