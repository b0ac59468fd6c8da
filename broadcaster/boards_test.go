package broadcaster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/broadcaster"
	"github.com/arenacast/arenacast/broadcaster/board"
	"github.com/arenacast/arenacast/protocol"
)

// keyedBoard is a keyed board of n teams t0..t(n-1), every score 0.
func keyedBoard(n int, extra string) string {
	var rows []string
	for i := range n {
		rows = append(rows, fmt.Sprintf(`{"team":"t%d","score":0}`, i))
	}
	return `{"row_key":"team",` + extra + `"rows":[` + strings.Join(rows, ",") + `]}`
}

// viewer follows the keyed boards a test client receives, by view.
type viewer struct {
	t      *testing.T
	boards map[string]*board.Replica
	// got counts what arrived: whole boards and patches.
	wholes, patches int
}

func newViewer(t *testing.T) *viewer { return &viewer{t: t, boards: map[string]*board.Replica{}} }

// take applies a delivered scoreboard_update or scoreboard_patch.
func (v *viewer) take(m map[string]any) {
	v.t.Helper()
	id, _ := protocol.ParseID(m["id"].(string))
	data, _ := json.Marshal(m["data"])
	view, _ := m["view"].(string)
	if view == "" {
		v.t.Fatalf("a scoreboard delivery without view: %v", m)
	}
	switch m["type"] {
	case protocol.TypeScoreboardUpdate:
		r, err := board.NewReplica(data, id)
		if err != nil {
			v.t.Fatalf("whole board %v: %v", m, err)
		}
		v.boards[view] = r
		v.wholes++
	case protocol.TypeScoreboardPatch:
		r := v.boards[view]
		if r == nil {
			v.t.Fatalf("a patch for view %s before its board: %v", view, m)
		}
		var base uint64
		if b, ok := m["base"].(string); ok {
			base, _ = protocol.ParseID(b)
		}
		if ok, err := r.Patch(data, id, base); !ok || err != nil {
			v.t.Fatalf("patch %v: applied %v, %v", m, ok, err)
		}
		v.patches++
	default:
		v.t.Fatalf("not a scoreboard delivery: %v", m)
	}
}

// equal checks that view's board equals want (JSON, compared as values).
func (v *viewer) equal(view, want string) {
	v.t.Helper()
	r := v.boards[view]
	if r == nil {
		v.t.Fatalf("no board for view %s", view)
	}
	var got, exp any
	json.Unmarshal(r.Encode(), &got)
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		v.t.Fatalf("bad expected board: %v", err)
	}
	if !reflect.DeepEqual(got, exp) {
		v.t.Fatalf("view %s: board %s\nwant %s", view, r.Encode(), want)
	}
}

// expected applies publisher patches to a board with the server's own
// code, as the publisher would keep it.
func expected(t *testing.T, start string, patches ...string) string {
	t.Helper()
	b, err := board.Parse([]byte(start))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range patches {
		if _, err := b.Apply([]byte(p)); err != nil {
			t.Fatalf("expected: %v", err)
		}
	}
	return string(b.Encode())
}

// caughtUp waits until the node has routed the stream up to id, so that a
// viewer arriving next finds the board at that version.
func (e *env) caughtUp(id uint64) {
	e.t.Helper()
	waitUntil(e.t, func() bool { return e.srv.Stats().LastConsumed >= id })
}

func admin(c *auth.Claims)       { c.ContestsAdmin = []string{"c1"} }
func participant(c *auth.Claims) { c.Contests = []string{"c1"} }

// TestBoardPatchesLive: a viewer that takes patches gets the board once,
// then each change as a patch with its view and base; a viewer that takes
// whole boards gets the board at every version; both end with the
// publisher's board.
func TestBoardPatchesLive(t *testing.T) {
	e := newEnv(t, nil)
	start := keyedBoard(5, `"problems":["A","B"],`)
	e.publish("scoreboard_update", "/contest/c1", "", true, start)
	p1 := `{"rows":{"t3":{"score":1}},"positions":{"t3":0}}`
	id1 := e.publish("scoreboard_patch", "/contest/c1", "", true, p1)
	e.caughtUp(id1)

	patch := e.dial(dialOpts{query: "?boards=patch"})
	patch.auth(e.token("alice", participant))
	patch.subscribe("/contest/c1")
	full := e.dial(dialOpts{})
	full.auth(e.token("bob", participant))
	full.subscribe("/contest/c1")

	pv, fv := newViewer(t), newViewer(t)
	m := patch.expect("scoreboard_update", map[string]any{"id": protocol.IDString(id1), "view": "public"})
	pv.take(m)
	pv.equal("public", expected(t, start, p1))
	fv.take(full.expect("scoreboard_update", map[string]any{"id": protocol.IDString(id1)}))

	p2 := `{"rows":{"t1":{"score":2}},"positions":{"t1":0},"fields":{"time":5}}`
	p3 := `{"set":{"t9":{"team":"t9","score":7}},"positions":{"t9":0}}`
	id2 := e.publish("scoreboard_patch", "/contest/c1", "", true, p2)
	id3 := e.publish("scoreboard_patch", "/contest/c1", "", true, p3)
	// The two may arrive folded into one (id3, with id2's base) when the
	// node's writer paces them together; take checks the base chain.
	m = patch.expect("scoreboard_patch", map[string]any{"base": protocol.IDString(id1), "view": "public"})
	if rows := m["data"].(map[string]any)["rows"].(map[string]any); rows["t1"].(map[string]any)["team"] != "t1" {
		t.Fatalf("a delivered patch carries the whole row: %v", m)
	}
	pv.take(m)
	if m["id"] == protocol.IDString(id2) {
		pv.take(patch.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(id3), "base": protocol.IDString(id2)}))
	} else if m["id"] != protocol.IDString(id3) {
		t.Fatalf("got %v, want id %d or %d", m, id2, id3)
	}
	// Whole boards coalesce in a queue like any scoreboard_update: the
	// viewer may skip id2, never id3.
	for _, m := range full.drainUntil(func(m map[string]any) bool { return m["id"] == protocol.IDString(id3) }) {
		fv.take(m)
	}
	want := expected(t, start, p1, p2, p3)
	pv.equal("public", want)
	fv.equal("public", want)
	if pv.wholes != 1 || fv.patches != 0 {
		t.Fatalf("patch viewer got %d whole boards, full viewer %d patches", pv.wholes, fv.patches)
	}
}

// TestBoardViews: a frozen public view next to a live admin view, and a
// contestant's own view. Each viewer gets the boards it may see, patches
// of one view never reach a board of another, and nobody learns a view it
// may not see.
func TestBoardViews(t *testing.T) {
	e := newEnv(t, nil)
	public := keyedBoard(3, `"frozen":true,`)
	adminBoard := keyedBoard(3, `"frozen":false,`)
	own := keyedBoard(1, `"mine":true,`)
	e.publish("scoreboard_update", "/contest/c1", "", true, public)
	e.publish("scoreboard_update", "/contest/c1", "", false, adminBoard)
	e.caughtUp(e.publish("scoreboard_update", "/contest/c1", "alice", false, own))

	adm := e.dial(dialOpts{query: "?boards=patch"})
	adm.auth(e.token("root", admin))
	adm.subscribe("/contest/c1")
	alice := e.dial(dialOpts{query: "?boards=patch"})
	alice.auth(e.token("alice", participant))
	alice.subscribe("/contest/c1")
	bob := e.dial(dialOpts{query: "?boards=patch"})
	bob.auth(e.token("bob", participant))
	bob.subscribe("/contest/c1")
	anon := e.dial(dialOpts{query: "?boards=patch"})
	anon.subscribe("/scoreboard/" + e.scoreboardToken("c1"))

	views := func(cl *client, n int) *viewer {
		v := newViewer(t)
		for range n {
			v.take(cl.next())
		}
		return v
	}
	av := views(adm, 2)    // public, admin: never alice's own in a snapshot
	alv := views(alice, 2) // public, her own
	bv := views(bob, 1)    // public
	anv := views(anon, 1)  // public
	if av.boards["admin"] == nil || av.boards["public"] == nil || alv.boards["user:alice"] == nil || bv.boards["public"] == nil || anv.boards["public"] == nil {
		t.Fatalf("snapshots: admin %v, alice %v, bob %v, anonymous %v", av.boards, alv.boards, bv.boards, anv.boards)
	}

	// The last hour: the admin view moves, the public one stays frozen.
	pa := `{"rows":{"t2":{"score":1}},"positions":{"t2":0}}`
	po := `{"rows":{"t0":{"score":3}}}`
	e.publish("scoreboard_patch", "/contest/c1", "", false, pa)
	e.publish("scoreboard_patch", "/contest/c1", "alice", false, po)
	marker := e.publish("contest_update", "/contest/c1", "", true, `{}`)

	for _, c := range []struct {
		cl   *client
		v    *viewer
		want []string // the scoreboard_patch views it receives, in order
	}{
		{adm, av, []string{"admin", "user:alice"}},
		{alice, alv, []string{"user:alice"}},
		{bob, bv, nil},
		{anon, anv, nil},
	} {
		var got []string
		for _, m := range c.cl.drainUntil(func(m map[string]any) bool { return m["id"] == protocol.IDString(marker) }) {
			if m["type"] == protocol.TypeScoreboardPatch {
				got = append(got, m["view"].(string))
				if c.v.boards[m["view"].(string)] != nil {
					c.v.take(m)
				}
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("patches of views %v, want %v", got, c.want)
		}
	}
	av.equal("admin", expected(t, adminBoard, pa))
	av.equal("public", public)
	alv.equal("user:alice", expected(t, own, po))
	alv.equal("public", public)
}

// TestBoardResume: a resume inside the node's memory gets the patches it
// missed; with snapshot:true, or when the history comes from the stream,
// one fresh board in its place instead; a viewer of whole boards always
// gets a fresh board.
func TestBoardResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     func(*broadcaster.Options)
		query    string
		snapshot bool
		patches  bool // the missed changes come as patches (else one fresh board)
	}{
		{name: "memory", query: "?boards=patch", patches: true},
		{name: "snapshot asked", query: "?boards=patch", snapshot: true},
		{name: "from the stream", query: "?boards=patch", opts: func(o *broadcaster.Options) { o.RecentEvents = 2 }},
		{name: "whole boards", query: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			start := keyedBoard(4, "")
			e.publish("scoreboard_update", "/contest/c1", "", true, start)
			seen := e.publish("run_update", "/contest/c1", "alice", false, `{"n":1}`)
			var patches []string
			var last uint64
			for i := range 5 {
				p := fmt.Sprintf(`{"rows":{"t%d":{"score":%d}},"positions":{"t%d":0}}`, i%4, i+1, i%4)
				patches = append(patches, p)
				last = e.publish("scoreboard_patch", "/contest/c1", "", true, p)
				if i == 2 {
					e.publish("run_update", "/contest/c1", "alice", false, `{"n":2}`)
				}
			}
			e.caughtUp(last) // the viewer was away while all this happened
			cl := e.dial(dialOpts{query: tc.query})
			cl.auth(e.token("alice", participant))
			cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(seen), "snapshot": tc.snapshot})
			cl.expect("subscribed", nil)
			marker := e.publish("contest_update", "/contest/c1", "", true, `{}`)
			msgs := cl.drainUntil(func(m map[string]any) bool { return m["id"] == protocol.IDString(marker) })
			var kinds []string
			prev := seen
			for _, m := range msgs {
				id, _ := protocol.ParseID(m["id"].(string))
				if id <= prev {
					t.Fatalf("ids went back: %d after %d in %v", id, prev, msgs)
				}
				prev = id
				kinds = append(kinds, m["type"].(string))
			}
			runs := strings.Count(strings.Join(kinds, " "), "run_update")
			if runs != 1 {
				t.Fatalf("got %v: the run_update after since must come once", kinds)
			}
			v := newViewer(t)
			if tc.patches {
				// The client's board from before the disconnect.
				b := expected(t, start)
				r, _ := board.NewReplica([]byte(b), seen-1)
				v.boards["public"] = r
			}
			for _, m := range msgs {
				if protocol.BoardType(m["type"].(string)) {
					v.take(m)
				}
			}
			// The missed patches may arrive folded (they are queued at once).
			if tc.patches && (v.patches == 0 || v.wholes != 0) || !tc.patches && (v.wholes != 1 || v.patches != 0) {
				t.Fatalf("got %d whole boards and %d patches: %v", v.wholes, v.patches, kinds)
			}
			if r := v.boards["public"]; r == nil || r.Version() != last {
				t.Fatalf("board version %v, want %d", r, last)
			}
			v.equal("public", expected(t, start, patches...))
		})
	}
}

// TestBoardRefused: patches that do not fit are refused at publish with
// the reason, counted, and skipped when they come over NATS, and no
// viewer's board changes.
func TestBoardRefused(t *testing.T) {
	e := newEnv(t, nil)
	post := func(ev string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.http.URL+"/publish", strings.NewReader(ev))
		req.Header.Set("Authorization", "Bearer "+e.token("pub", func(c *auth.Claims) { c.Publish = true }))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	patchEv := func(public bool, data string) string {
		return fmt.Sprintf(`{"type":"scoreboard_patch","channel":"/contest/c1","public":%v,"data":%s}`, public, data)
	}
	if code, body := post(patchEv(true, `{"rows":{"t1":{"score":1}}}`)); code != 400 || !strings.Contains(body, "no keyed board") {
		t.Fatalf("a patch before any board: %d %s", code, body)
	}
	if code, body := post(`{"type":"scoreboard_update","channel":"/contest/c1","public":true,"data":{"row_key":"team","rows":[{"x":1}]}}`); code != 400 || !strings.Contains(body, "has no team") {
		t.Fatalf("a broken keyed board: %d %s", code, body)
	}
	start := keyedBoard(3, "")
	code, body := post(`{"type":"scoreboard_update","channel":"/contest/c1","public":true,"data":` + start + `}`)
	if code != 202 {
		t.Fatalf("board: %d %s", code, body)
	}
	var ack struct{ ID string }
	json.Unmarshal([]byte(body), &ack)
	boardID, _ := protocol.ParseID(ack.ID)
	e.caughtUp(boardID)
	cl := e.dial(dialOpts{query: "?boards=patch"})
	cl.auth(e.token("alice", participant))
	cl.subscribe("/contest/c1")
	v := newViewer(t)
	v.take(cl.expect("scoreboard_update", nil))

	for _, tc := range []struct{ data, says string }{
		{`{"rows":{"t7":{"score":1}}}`, `no row \"t7\"`},
		{`{"rows":{"t1":{"score":1}},"bogus":1}`, `unknown patch member \"bogus\"`},
		{`[1,2]`, "must be a JSON object"},
		{`{"positions":{"t1":9}}`, "index from 0 to 2"},
	} {
		if code, body := post(patchEv(true, tc.data)); code != 400 || !strings.Contains(body, tc.says) {
			t.Errorf("patch %s: %d %s, want 400 saying %s", tc.data, code, body, tc.says)
		}
	}
	if code, body := post(patchEv(false, `{"rows":{"t1":{"score":1}}}`)); code != 400 || !strings.Contains(body, "view admin has no keyed board") {
		t.Fatalf("a patch for the admin view, which has no board: %d %s", code, body)
	}

	// Over NATS nothing checks at publish: the node refuses as it consumes.
	before := e.srv.Stats()
	e.publish("scoreboard_patch", "/contest/c1", "", true, `{"rows":{"t7":{"score":1}}}`)
	e.publish("scoreboard_patch", "/contest/c1", "", false, `{"rows":{"t1":{"score":1}}}`)
	good := `{"rows":{"t2":{"score":4}},"positions":{"t2":0}}`
	id := e.publish("scoreboard_patch", "/contest/c1", "", true, good)
	v.take(cl.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(id)}))
	v.equal("public", expected(t, start, good))
	after := e.srv.Stats()
	if n := after.BoardsRefused - before.BoardsRefused; n != 2 {
		t.Fatalf("%d refused scoreboard events counted, want 2", n)
	}
	if after.EventsBad-before.EventsBad != 2 {
		t.Fatalf("refused scoreboard events are not counted as malformed")
	}
}

// TestBoardRebuiltFromStream: a node that starts after the board was
// published, with the board outside its warm-up, rebuilds it from the
// stream with every patch folded in for its first viewer, and patches
// the board from then on.
func TestBoardRebuiltFromStream(t *testing.T) {
	first := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	start := keyedBoard(4, "")
	first.publish("scoreboard_update", "/contest/c1", "", true, start)
	var patches []string
	for i := range 6 {
		p := fmt.Sprintf(`{"rows":{"t%d":{"score":%d}},"positions":{"t%d":0}}`, i%4, 10+i, i%4)
		patches = append(patches, p)
		first.publish("scoreboard_patch", "/contest/c1", "", true, p)
	}
	second := newNode(t, nodeConfig{natsURL: first.bus.ClientURL(), opts: func(o *broadcaster.Options) { o.WarmEvents = 3 }})
	// Patches the second node consumes without its board are not delivered
	// (it has none to patch) and wait for the rebuild.
	p := `{"rows":{"t3":{"score":99}},"positions":{"t3":0}}`
	patches = append(patches, p)
	last := second.publish("scoreboard_patch", "/contest/c1", "", true, p)

	if n := second.srv.Stats().BoardsUnknown; n == 0 {
		// Read before the viewer: the node must not have had the board.
		waitUntil(t, func() bool { return second.srv.Stats().BoardsUnknown > 0 })
	}
	cl := second.dial(dialOpts{query: "?boards=patch"})
	cl.auth(second.token("alice", participant))
	cl.subscribe("/contest/c1")
	v := newViewer(t)
	m := cl.expect("scoreboard_update", nil)
	v.take(m)
	if id, _ := protocol.ParseID(m["id"].(string)); id < last {
		// The board may be taken before the node consumed the last patch;
		// then the patch follows.
		v.take(cl.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(last)}))
	}
	v.equal("public", expected(t, start, patches...))
	q := `{"rows":{"t0":{"score":100}}}`
	id := second.publish("scoreboard_patch", "/contest/c1", "", true, q)
	v.take(cl.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(id), "base": protocol.IDString(last)}))
	v.equal("public", expected(t, start, append(patches, q)...))
}

// TestBoardSSE: an SSE stream with ?boards=patch gets the board, then
// patches, like a WebSocket.
func TestBoardSSE(t *testing.T) {
	e := newEnv(t, nil)
	start := keyedBoard(3, "")
	e.caughtUp(e.publish("scoreboard_update", "/contest/c1", "", true, start))
	c := e.openSSE(sseQuery([]string{"/contest/c1"}, "boards", "patch"), bearerHeader(e.token("alice", participant)))
	c.expect("subscribed", nil)
	v := newViewer(t)
	v.take(c.expect("scoreboard_update", nil))
	p := `{"rows":{"t2":{"score":1}},"positions":{"t2":0}}`
	e.publish("scoreboard_patch", "/contest/c1", "", true, p)
	v.take(c.expect("scoreboard_patch", nil))
	v.equal("public", expected(t, start, p))
}

// TestOpaqueBoardJitter: an opaque scoreboard_update (a URL to refetch)
// carries jitter_ms and its view; keyed boards do not need it.
func TestOpaqueBoardJitter(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.ScoreboardRefetchSpread = 1500 * 1e6 })
	cl := e.dial(dialOpts{})
	cl.auth(e.token("alice", participant))
	cl.subscribe("/contest/c1")
	e.publish("scoreboard_update", "/contest/c1", "", true, `{"scoreboard_url":"/api/scoreboard/c1"}`)
	m := cl.expect("scoreboard_update", map[string]any{"view": "public", "jitter_ms": 1500.0})
	if !bytes.Contains([]byte(fmt.Sprint(m["data"])), []byte("scoreboard_url")) {
		t.Fatalf("data changed: %v", m)
	}
	e.publish("scoreboard_update", "/contest/c1", "", true, keyedBoard(2, ""))
	if m := cl.expect("scoreboard_update", nil); m["jitter_ms"] != nil {
		t.Fatalf("a keyed board with jitter_ms: %v", m)
	}
}

// TestBoardBudget: over --snapshot-bytes, the boards of contests nobody on
// the node watches leave memory (and come back from the stream for the
// next viewer), while a watched board keeps being patched.
func TestBoardBudget(t *testing.T) {
	e := newEnv(t, func(o *broadcaster.Options) { o.SnapshotBytes = 4 << 10 })
	watched := keyedBoard(20, "")
	e.caughtUp(e.publish("scoreboard_update", "/contest/c1", "", true, watched))
	cl := e.dial(dialOpts{query: "?boards=patch"})
	cl.auth(e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }))
	cl.subscribe("/contest/c1")
	v := newViewer(t)
	v.take(cl.expect("scoreboard_update", nil))

	others := keyedBoard(20, `"other":true,`)
	var last2 uint64          // c2's version
	for i := 2; i <= 9; i++ { // each about 600 bytes: several times the budget
		ch := fmt.Sprintf("/contest/c%d", i)
		e.publish("scoreboard_update", ch, "", true, others)
		id := e.publish("scoreboard_patch", ch, "", true, `{"rows":{"t1":{"score":5}}}`)
		if i == 2 {
			last2 = id
		}
	}
	p := `{"rows":{"t3":{"score":9}},"positions":{"t3":0}}`
	id := e.publish("scoreboard_patch", "/contest/c1", "", true, p)
	v.take(cl.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(id)}))
	v.equal("public", expected(t, watched, p))
	e.caughtUp(id)

	if !e.srv.SnapshotHeld("/contest/c1") || e.srv.SnapshotHeld("/contest/c2") {
		t.Fatalf("held: c1 %v (watched: must stay), c2 %v (must have left)", e.srv.SnapshotHeld("/contest/c1"), e.srv.SnapshotHeld("/contest/c2"))
	}
	// c2's board left memory; its next viewer gets it rebuilt.
	late := e.dial(dialOpts{query: "?boards=patch"})
	late.auth(e.token("root", func(c *auth.Claims) { c.SiteAdmin = true }))
	late.subscribe("/contest/c2")
	lv := newViewer(t)
	lv.take(late.expect("scoreboard_update", nil))
	lv.equal("public", expected(t, others, `{"rows":{"t1":{"score":5}}}`))
	if lv.boards["public"].Version() != last2 {
		t.Fatalf("rebuilt board at %d, want %d", lv.boards["public"].Version(), last2)
	}
}

// TestBoardResumeFromBeforeTheBoard: a resume from before a keyed board
// was published gets, from memory, the board and its patches as they
// were published (the history has them all), not a fresh board.
func TestBoardResumeFromBeforeTheBoard(t *testing.T) {
	e := newEnv(t, nil)
	seen := e.publish("run_update", "/contest/c1", "alice", false, `{}`)
	start := keyedBoard(4, "")
	boardID := e.publish("scoreboard_update", "/contest/c1", "", true, start)
	p := `{"rows":{"t2":{"score":3}},"positions":{"t2":0}}`
	last := e.publish("scoreboard_patch", "/contest/c1", "", true, p)
	e.caughtUp(last)
	cl := e.dial(dialOpts{query: "?boards=patch"})
	cl.auth(e.token("alice", participant))
	cl.send(map[string]any{"type": "subscribe", "channel": "/contest/c1", "since": protocol.IDString(seen)})
	cl.expect("subscribed", map[string]any{"recovered": true})
	v := newViewer(t)
	m := cl.expect("scoreboard_update", map[string]any{"id": protocol.IDString(boardID)})
	if m["snapshot"] != nil {
		t.Fatalf("the published board came as a fresh one: %v", m)
	}
	v.take(m)
	v.take(cl.expect("scoreboard_patch", map[string]any{"id": protocol.IDString(last)}))
	v.equal("public", expected(t, start, p))
}

// TestOpaqueSnapshotFromStreamJitter: an opaque scoreboard a node finds by
// searching the stream (it started later) carries jitter_ms like one it
// consumed.
func TestOpaqueSnapshotFromStreamJitter(t *testing.T) {
	first := newNode(t, nodeConfig{natsListen: "127.0.0.1:-1"})
	first.publish("scoreboard_update", "/contest/c1", "", true, `{"scoreboard_url":"/api/scoreboard/c1"}`)
	second := newNode(t, nodeConfig{natsURL: first.bus.ClientURL(), opts: func(o *broadcaster.Options) { o.WarmEvents = -1 }})
	live := first.publish("clarification", "/contest/c2", "", true, `{}`) // so the node knows the stream has history
	second.caughtUp(live)
	cl := second.dial(dialOpts{})
	cl.auth(second.token("alice", participant))
	cl.subscribe("/contest/c1")
	cl.expect("scoreboard_update", map[string]any{"view": "public", "jitter_ms": 2000.0, "snapshot": true})
}
