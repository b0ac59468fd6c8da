package ccs_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// TestFollowSkipsWhatDoesNotFit: a notification over the event size, a line
// over the line limit and malformed lines are counted and skipped; what
// follows them is published; a whole collection of judgements (data an
// array) reaches the admins only.
func TestFollowSkipsWhatDoesNotFit(t *testing.T) {
	line := func(tok, typ, id, data string) ccsfake.Line {
		return ccsfake.Line{Raw: []byte(fmt.Sprintf(`{"type":%q,"id":%q,"data":%s,"token":%q}`, typ, id, data, tok)), Token: tok, Type: typ, ID: id}
	}
	big := `{"id":"t2","name":"` + strings.Repeat("x", 70<<10) + `"}`
	huge := `{"id":"t3","name":"` + strings.Repeat("y", 300<<10) + `"}`
	feed := &ccsfake.Feed{ContestID: "wf", Lines: []ccsfake.Line{
		line("a", "teams", "t1", `{"id":"t1"}`),
		line("b", "teams", "t2", big),
		{Raw: []byte(`{"type":`), Malformed: true},
		line("c", "teams", "t3", huge),
		line("d", "judgements", "", `[{"id":"j1","submission_id":"s1"}]`),
		line("e", "teams", "t4", `{"id":"t4"}`),
	}}
	bus := openBus(t)
	_, url := startFake(t, feed, ccsfake.ServerConfig{})
	f := startFollower(t, bus, url, func(c *ccs.FollowerConfig) { c.MaxLine = 256 << 10 })
	waitUntil(t, "the last team to be published", func() bool {
		ps := primaries(t, streamEvents(t, bus))
		return len(ps) > 0 && ps[len(ps)-1].ID == "t4"
	})
	evs := streamEvents(t, bus)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s public=%v", ev.Type, ev.Public))
	}
	want := []string{"ccs_teams public=true", "ccs_judgements public=false", "ccs_teams public=true"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
	if st := f.Stats(); st.Oversize != 1 || st.Malformed != 2 {
		t.Fatalf("stats %+v: want 1 oversize (the 70 KiB team) and 2 malformed (the cut line, the 300 KiB line)", st)
	}
}

// TestFollowReconnectsWhenIdle: a CCS that answers and then sends
// nothing, not even the keep-alive newline, is left after IdleTimeout and
// asked again.
func TestFollowReconnectsWhenIdle(t *testing.T) {
	var requests atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(hs.Close)
	bus := openBus(t)
	f := startFollower(t, bus, hs.URL+"/api/contests/wf/event-feed", func(c *ccs.FollowerConfig) { c.IdleTimeout = 100 * time.Millisecond })
	waitUntil(t, "a third connection", func() bool { return requests.Load() >= 3 })
	if st := f.Stats(); st.Disconnects < 2 {
		t.Fatalf("stats %+v: want the idle connections ended", st)
	}
}
