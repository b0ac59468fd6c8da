package broadcaster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/protocol"
)

// plainBus hides natsbus's PublishBatch, so a node using it publishes a
// batch event by event: the path of a Bus that is no BatchPublisher.
type plainBus struct{ broadcaster.Bus }

// batchReply is the body of a batch answer.
type batchReply struct {
	Results []struct {
		ID      string `json:"id"`
		Channel string `json:"channel"`
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"results"`
	Published int `json:"published"`
	Failed    int `json:"failed"`
}

// postPublish sends body to POST /publish with contentType and the static
// key, and returns the status and body.
func postPublish(t *testing.T, e *env, contentType, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-publish-key")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// lastID is the stream's newest id.
func lastID(t *testing.T, e *env) uint64 {
	t.Helper()
	id, err := e.bus.LastID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ev(channel, data string) string {
	return `{"type":"run_update","channel":"` + channel + `","public":true,"data":` + data + `}`
}

// TestPublishBatch: a batch (JSON array or NDJSON) is answered event by
// event, in order; a malformed event fails alone while the others are
// stored in order and delivered; the same holds for a Bus without batch
// publishing.
func TestPublishBatch(t *testing.T) {
	for _, busKind := range []string{"batch", "plain"} {
		t.Run(busKind, func(t *testing.T) {
			var tweak func(*broadcaster.Options)
			if busKind == "plain" {
				tweak = func(o *broadcaster.Options) { o.Bus = plainBus{o.Bus} }
			}
			e := newEnv(t, tweak)
			cl := e.dial(dialOpts{})
			cl.auth(e.token("admin", func(c *auth.Claims) { c.SiteAdmin = true }))
			for _, ch := range []string{"/contest/b1", "/contest/b2"} {
				if m := cl.subscribe(ch); m["type"] != "subscribed" {
					t.Fatal(m)
				}
			}
			big := `"` + strings.Repeat("x", 70000) + `"`
			cases := []struct {
				name, contentType, body string
				wantErr                 []string // per item: "" for an id, else the error code
				wantData                []string // data of the delivered events, in order
			}{
				{"array", "application/json",
					"[" + ev("/contest/b1", `{"n":1}`) + ",\n" + ev("/contest/b2", `{"n":2}`) + "," +
						`{"type":"run_update","channel":"/contest/b1","pubilc":true,"data":{}}` + "," + // unknown field
						`17,` + // not an object
						ev("/contest/b1", big) + "," + // over --max-event-size
						`{"type":"run_update","channel":"/scoreboard/x","data":{}}` + "," + // not publishable
						ev("/contest/b1", `{"n":3}`) + "]",
					[]string{"", "", "bad_request", "bad_request", "bad_request", "bad_request", ""},
					[]string{`{"n":1}`, `{"n":2}`, `{"n":3}`}},
				{"ndjson by content type", "application/x-ndjson",
					ev("/contest/b1", `{"n":4}`) + "\n" + `{"type":"run_update",` + "\n\n" + ev("/contest/b2", `{"n":5}`) + "\r\n",
					[]string{"", "bad_request", ""},
					[]string{`{"n":4}`, `{"n":5}`}},
				{"ndjson of one event by content type", "application/x-ndjson; charset=utf-8",
					ev("/contest/b2", `{"n":6}`) + "\n",
					[]string{""},
					[]string{`{"n":6}`}},
				{"ndjson seen without content type", "",
					ev("/contest/b1", `{"n":7}`) + "\n" + ev("/contest/b1", `{"n":8}`),
					[]string{"", ""},
					[]string{`{"n":7}`, `{"n":8}`}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					code, body := postPublish(t, e, tc.contentType, tc.body)
					if code != http.StatusOK {
						t.Fatalf("status %d (%s), want 200", code, body)
					}
					var rep batchReply
					if err := json.Unmarshal(body, &rep); err != nil {
						t.Fatalf("reply %s: %v", body, err)
					}
					if len(rep.Results) != len(tc.wantErr) {
						t.Fatalf("%d results, want %d: %s", len(rep.Results), len(tc.wantErr), body)
					}
					var prev uint64
					ok := 0
					for i, r := range rep.Results {
						if r.Error != tc.wantErr[i] {
							t.Fatalf("result %d: %+v, want error %q", i, r, tc.wantErr[i])
						}
						if r.Error != "" {
							if r.Message == "" || r.ID != "" {
								t.Fatalf("result %d: %+v: an error needs a message and no id", i, r)
							}
							continue
						}
						ok++
						id, err := strconv.ParseUint(r.ID, 10, 64)
						if err != nil || id <= prev {
							t.Fatalf("result %d: id %q after %d: ids must increase along the batch", i, r.ID, prev)
						}
						prev = id
						if !strings.HasPrefix(r.Channel, "/contest/b") {
							t.Fatalf("result %d: channel %q", i, r.Channel)
						}
					}
					if rep.Published != ok || rep.Failed != len(tc.wantErr)-ok {
						t.Fatalf("published %d failed %d, want %d and %d", rep.Published, rep.Failed, ok, len(tc.wantErr)-ok)
					}
					for _, want := range tc.wantData {
						m := cl.expect("run_update", nil)
						if got, _ := json.Marshal(m["data"]); string(got) != want {
							t.Fatalf("delivered data %s, want %s (in the batch's order)", got, want)
						}
					}
				})
			}
		})
	}
}

// TestPublishBatchRefused: a batch that breaks a limit, or cannot be split
// into events, is refused whole with a clear error and nothing of it is
// stored.
func TestPublishBatchRefused(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) {
		o.MaxPublishBatch = 3
		o.MaxPublishBytes = 80 << 10
	})
	one := ev("/contest/r1", `{}`)
	lines := func(n int) string { return strings.Repeat(one+"\n", n) }
	cases := []struct {
		name, contentType, body string
		want                    int
		msg                     string
	}{
		{"too many events (array)", "", "[" + strings.TrimSuffix(strings.Repeat(one+",", 4), ",") + "]", 413, "4 events is over the 3-event batch limit"},
		{"too many events (ndjson)", "application/x-ndjson", lines(4), 413, "4 events is over the 3-event batch limit"},
		{"body over the byte limit", "application/x-ndjson", ev("/contest/r1", `"`+strings.Repeat("x", 60000)+`"`) + "\n" + ev("/contest/r1", `"`+strings.Repeat("x", 30000)+`"`), 413, "over the 81920-byte limit"},
		{"array that is not JSON", "", "[" + one + ",{]", 400, "not a JSON array of events: syntax error"},
		{"empty array", "", "[]", 400, "the batch is empty"},
		{"empty ndjson", "application/x-ndjson", "\n\n", 400, "the batch is empty"},
	}
	before := lastID(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postPublish(t, e, tc.contentType, tc.body)
			if code != tc.want {
				t.Fatalf("status %d (%s), want %d", code, body, tc.want)
			}
			var eb struct{ Error, Message string }
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error != "bad_request" {
				t.Fatalf("body %s: want a bad_request error", body)
			}
			if !strings.Contains(eb.Message, tc.msg) || !strings.Contains(eb.Message, "nothing was published") {
				t.Fatalf("message %q, want it to contain %q and say nothing was published", eb.Message, tc.msg)
			}
		})
	}
	if got := lastID(t, e); got != before {
		t.Fatalf("stream moved from %d to %d: a refused batch stored events", before, got)
	}
	// At the limits exactly, the batch goes through.
	code, body := postPublish(t, e, "application/x-ndjson", lines(3))
	if code != 200 {
		t.Fatalf("a batch at the limit: %d %s", code, body)
	}
	if got := lastID(t, e); got != before+3 {
		t.Fatalf("stream at %d, want %d", got, before+3)
	}
}

// TestPublishBatchLarge: a batch larger than the publish window keeps its
// order (the window refills while earlier publishes are acknowledged).
func TestPublishBatchLarge(t *testing.T) {
	e := newEnv(t, nil)
	var b strings.Builder
	const n = 1000
	for i := range n {
		fmt.Fprintln(&b, ev(fmt.Sprintf("/contest/l%d", i%7), strconv.Itoa(i)))
	}
	code, body := postPublish(t, e, "application/x-ndjson", b.String())
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var rep batchReply
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Published != n || len(rep.Results) != n {
		t.Fatalf("published %d of %d (%d results)", rep.Published, n, len(rep.Results))
	}
	var prev uint64
	for i, r := range rep.Results {
		id, _ := strconv.ParseUint(r.ID, 10, 64)
		if id != prev+1 && i > 0 || id == 0 {
			t.Fatalf("result %d: id %q after %d: want consecutive ids", i, r.ID, prev)
		}
		prev = id
	}
}

// TestPublishBatchStreamRefuses: an event the stream itself refuses (here:
// larger than the stream's message limit, which this node's own
// --max-event-size lets through) fails alone with internal_error, between
// events that are stored; alone, it is answered 503.
func TestPublishBatchStreamRefuses(t *testing.T) {
	for _, busKind := range []string{"batch", "plain"} {
		t.Run(busKind, func(t *testing.T) {
			e := newEnv(t, func(o *broadcaster.Options) {
				o.MaxEventSize = 128 << 10 // the stream keeps natsbus's 64 KiB
				if busKind == "plain" {
					o.Bus = plainBus{o.Bus}
				}
			})
			huge := ev("/contest/s1", `"`+strings.Repeat("x", 70000)+`"`)
			code, body := postPublish(t, e, "application/x-ndjson", ev("/contest/s1", `1`)+"\n"+huge+"\n"+ev("/contest/s1", `2`))
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			var rep batchReply
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 3 || rep.Results[0].ID == "" || rep.Results[2].ID == "" ||
				rep.Results[1].Error != "internal_error" || rep.Results[1].Channel != "/contest/s1" || rep.Results[1].ID != "" ||
				rep.Published != 2 || rep.Failed != 1 {
				t.Fatalf("results %s: want the middle event refused by the stream alone", body)
			}
			if code, body := postPublish(t, e, "", huge); code != 503 {
				t.Fatalf("the refused event alone: %d %s, want 503", code, body)
			}
		})
	}
}

// TestPublishConcurrentRequests: POST /publish requests at once, batches
// and single events, each read into a buffer an earlier request used: the
// stream holds exactly what each request sent, under the id it answered.
func TestPublishConcurrentRequests(t *testing.T) {
	e := newEnv(t, nil)
	const senders, requests, n = 4, 6, 40
	type sent struct{ id, data string }
	out := make(chan []sent, senders*requests)
	errc := make(chan error, senders)
	for g := range senders {
		go func() {
			errc <- func() error {
				for r := range requests {
					var body strings.Builder
					var datas []string
					count := n
					if r%3 == 2 {
						count = 1 // a single event, not a batch
					}
					for i := range count {
						d := fmt.Sprintf(`{"g":%d,"r":%d,"i":%d,"pad":"%s"}`, g, r, i, strings.Repeat("x", (i*7+g)%50))
						datas = append(datas, d)
						fmt.Fprintln(&body, ev("/contest/cc", d))
					}
					req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/publish", strings.NewReader(body.String()))
					req.Header.Set("Authorization", "Bearer test-publish-key")
					if count > 1 {
						req.Header.Set("Content-Type", "application/x-ndjson")
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return err
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var got []sent
					if count == 1 {
						var one struct{ ID string }
						if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &one) != nil || one.ID == "" {
							return fmt.Errorf("sender %d request %d: status %d: %s", g, r, resp.StatusCode, b)
						}
						got = append(got, sent{one.ID, datas[0]})
					} else {
						var rep batchReply
						if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &rep) != nil || rep.Published != count {
							return fmt.Errorf("sender %d request %d: status %d: %s", g, r, resp.StatusCode, b)
						}
						for i, res := range rep.Results {
							got = append(got, sent{res.ID, datas[i]})
						}
					}
					out <- got
				}
				return nil
			}()
		}()
	}
	for range senders {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	close(out)
	held := map[string]string{}
	ch, _ := protocol.ParseChannel("/contest/cc")
	if _, err := e.bus.Replay(context.Background(), ch, 0, lastID(t, e), func(ev *protocol.Event) bool {
		held[protocol.IDString(ev.ID)] = string(ev.Data)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for got := range out {
		for _, s := range got {
			total++
			if held[s.id] != s.data {
				t.Fatalf("id %s holds %q, want %q", s.id, held[s.id], s.data)
			}
		}
	}
	if want := senders * (requests/3*(2*n) + requests/3); total != want || len(held) != want {
		t.Fatalf("%d answered and %d stored, want %d", total, len(held), want)
	}
}
