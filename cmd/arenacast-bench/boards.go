package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/broadcaster/board"
	"github.com/arenacast/arenacast/protocol"
)

// boardsResult is the boards preset's outcome: one run with patches and
// one with whole boards, the same publisher and viewers in each.
type boardsResult struct {
	Viewers int     `json:"viewers"`
	Rows    int     `json:"rows"`
	Rate    float64 `json:"patches_per_second"`
	// BoardBytes is the size of the whole board at the end.
	BoardBytes int            `json:"board_bytes"`
	Runs       []boardsRunOut `json:"runs"`
}

// boardsRunOut is one mode's run.
type boardsRunOut struct {
	Mode    string `json:"mode"` // "patch" or "full"
	Updates int    `json:"updates_published"`
	// BytesPerViewerPerUpdate: WebSocket payload bytes every viewer
	// received after its first board, divided by viewers and updates.
	BytesPerViewerPerUpdate float64 `json:"bytes_per_viewer_per_update"`
	// Messages a viewer received per update published (below 1: coalesced
	// or folded).
	MessagesPerUpdate float64 `json:"messages_per_viewer_per_update"`
	ServerCPU         float64 `json:"server_cpu_seconds"`
	// Equal: viewers whose final board is the publisher's (patch: each
	// replica compared; full: each viewer's last board id is the final
	// version, and a sample's bytes are compared).
	Equal     int `json:"viewers_final_board_equal"`
	Different int `json:"viewers_final_board_different"`
	// Fetches the viewers made of the platform's API: always 0 here (the
	// boards arrive whole or as patches); reported to say so.
	Fetches int     `json:"api_fetches"`
	Elapsed float64 `json:"publish_seconds"`
}

// boardViewer is one scoreboard viewer: a WebSocket on /scoreboard/<token>.
type boardViewer struct {
	ws        *wsConn
	patchMode bool

	// Owned by the reader goroutine until done is closed.
	replica *board.Replica
	lastID  uint64
	last    []byte // full mode: the last board's bytes, for the sample
	// patches are the patch messages as received, applied to replica
	// after the run (off the clock: parsing 100,000 patches a second
	// would make the load tool, not the server, the slow reader).
	patches  [][]byte
	sample   bool
	bytes    int64 // payload bytes after the first board
	messages int64
	err      error
	done     chan struct{}
	first    chan struct{} // closed at the first board
	seen     atomic.Uint64 // the newest board or patch id received
}

// boards runs the boards preset: viewers on one contest's public
// scoreboard, a keyed board of --board-rows rows, then --board-rate row
// patches per second for --duration, once with boards=patch and once with
// boards=full.
func (b *bench) boards(ctx context.Context) (*boardsResult, error) {
	viewers := b.cfg.clientsOr(5000)
	res := &boardsResult{Viewers: viewers, Rows: b.cfg.boardRows, Rate: b.cfg.boardRate}
	for i, mode := range []string{"patch", "full"} {
		if i > 0 {
			time.Sleep(5 * time.Second) // let the node close the previous run's connections
		}
		out, size, err := b.boardsRun(ctx, mode, viewers)
		if err != nil {
			return res, fmt.Errorf("%s: %w", mode, err)
		}
		res.BoardBytes = size
		res.Runs = append(res.Runs, out)
	}
	return res, nil
}

func (b *bench) boardsRun(ctx context.Context, mode string, viewers int) (boardsRunOut, int, error) {
	out := boardsRunOut{Mode: mode}
	contest := fmt.Sprintf("%s-board-%s-%d", b.cfg.alias, mode, time.Now().UnixNano()%1_000_000)
	route := "/contest/" + contest
	tok, err := b.signer.ScoreboardToken(contest, time.Hour, time.Now())
	if err != nil {
		return out, 0, err
	}
	gen := newBoardGen(b.cfg.boardRows, rand.New(rand.NewPCG(7, 11)))
	if _, err := b.pubRaw(ctx, protocol.TypeScoreboardUpdate, route, gen.start); err != nil {
		return out, 0, err
	}
	b.pub.settle()

	vs := make([]*boardViewer, viewers)
	sem := make(chan struct{}, b.cfg.conc)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var dialErr error // the first connect that failed
	for i := range vs {
		v := &boardViewer{patchMode: mode == "patch", done: make(chan struct{}), first: make(chan struct{}), sample: i%100 == 0}
		vs[i] = v
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := v.connect(ctx, b, "/scoreboard/"+tok); err != nil {
				errMu.Lock()
				if dialErr == nil {
					dialErr = err
				}
				errMu.Unlock()
				close(v.done)
				close(v.first)
			}
		})
	}
	wg.Wait()
	if dialErr != nil {
		closeViewers(vs)
		return out, 0, fmt.Errorf("connecting viewers: %w", dialErr)
	}
	for _, v := range vs {
		select {
		case <-v.first:
		case <-ctx.Done():
			closeViewers(vs)
			return out, 0, ctx.Err()
		}
	}
	logf("boards %s: %d viewers have the board", mode, viewers)

	before := b.server.sample()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / b.cfg.boardRate)
	next := start
	var lastID uint64
	for time.Since(start) < b.cfg.duration && ctx.Err() == nil {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		if lastID, err = b.pubRaw(ctx, protocol.TypeScoreboardPatch, route, gen.patch()); err != nil {
			closeViewers(vs)
			return out, 0, err
		}
		out.Updates++
	}
	out.Elapsed = time.Since(start).Seconds()
	b.pub.settle()
	// Wait until every viewer has the final version (or ended), bounded.
	deadline := time.Now().Add(time.Minute)
	for _, v := range vs {
		for v.seen.Load() < lastID && time.Now().Before(deadline) {
			select {
			case <-v.done:
			case <-time.After(20 * time.Millisecond):
				continue
			}
			break
		}
	}
	after := b.server.sample()
	closeViewers(vs)
	out.ServerCPU = (after.CPU - before.CPU).Seconds()

	want := gen.b.Encode()
	var sum, msgs int64
	for _, v := range vs {
		sum += v.bytes
		msgs += v.messages
		if v.equal(want, lastID) {
			out.Equal++
		} else {
			out.Different++
		}
	}
	if out.Updates > 0 {
		out.BytesPerViewerPerUpdate = float64(sum) / float64(viewers) / float64(out.Updates)
		out.MessagesPerUpdate = float64(msgs) / float64(viewers) / float64(out.Updates)
	}
	return out, len(want), nil
}

// pubRaw publishes one event with data as is and returns its id.
func (b *bench) pubRaw(ctx context.Context, typ, channel string, data []byte) (uint64, error) {
	ev := &protocol.Event{Type: typ, Channel: channel, Public: true, Data: data}
	enc, err := ev.Encode()
	if err != nil {
		return 0, err
	}
	subj, err := protocol.Subject(b.cfg.prefix, ev.Parsed)
	if err != nil {
		return 0, err
	}
	// A node still closing the previous run's thousands of connections
	// can hold its embedded NATS past one request's timeout: retry.
	var last error
	for range 5 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ack, err := b.pub.js.Publish(pctx, subj, enc)
		cancel()
		if err == nil {
			return ack.Sequence, nil
		}
		last = err
	}
	return 0, fmt.Errorf("publishing %s: %w", typ, last)
}

func (v *boardViewer) connect(ctx context.Context, b *bench, channel string) error {
	nc, err := b.dialer.dial(ctx, b.target.addr)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	ws, err := wsHandshake(nc, b.target.host, b.target.path+"?boards="+map[bool]string{true: "patch", false: "full"}[v.patchMode])
	if err != nil {
		nc.Close()
		return err
	}
	nc.SetDeadline(time.Time{})
	v.ws = ws
	if err := ws.writeText([]byte(`{"type":"subscribe","channel":"` + channel + `"}`)); err != nil {
		nc.Close()
		return err
	}
	go v.read()
	return nil
}

// boardMsg is what a viewer reads of a delivery.
type boardMsg struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Base string          `json:"base"`
	Data json.RawMessage `json:"data"`
}

func (v *boardViewer) read() {
	defer close(v.done)
	started := false
	for {
		msg, err := v.ws.read()
		if err != nil {
			v.err = err
			if !started {
				close(v.first)
			}
			return
		}
		var typ string
		var id uint64
		switch {
		case bytes.HasPrefix(msg, []byte(`{"type":"scoreboard_patch"`)):
			typ = protocol.TypeScoreboardPatch
		case bytes.HasPrefix(msg, []byte(`{"type":"scoreboard_update"`)):
			typ = protocol.TypeScoreboardUpdate
		default:
			continue // subscribed and other replies
		}
		if started {
			v.bytes += int64(len(msg))
			v.messages++
		}
		if v.patchMode && started {
			v.patches = append(v.patches, append([]byte(nil), msg...))
			id = idOf(msg)
		} else if v.patchMode || !started || v.sample {
			var m boardMsg
			if err := json.Unmarshal(msg, &m); err != nil {
				v.err = err
				return
			}
			id, _ = strconv.ParseUint(m.ID, 10, 64)
			switch {
			case typ == protocol.TypeScoreboardUpdate && v.patchMode:
				if v.replica, err = board.NewReplica(m.Data, id); err != nil {
					v.err = err
					return
				}
			case typ == protocol.TypeScoreboardPatch && v.replica != nil:
				base, _ := strconv.ParseUint(m.Base, 10, 64)
				if _, err := v.replica.Patch(m.Data, id, base); err != nil {
					v.err = err
					return
				}
			case !v.patchMode:
				v.last = append(v.last[:0], m.Data...)
			}
		} else {
			id = idOf(msg)
		}
		v.lastID = id
		v.seen.Store(id)
		if !started {
			started = true
			close(v.first)
		}
	}
}

// applyPatches applies the patches received, in order, to the replica.
func (v *boardViewer) applyPatches() error {
	for _, msg := range v.patches {
		var m boardMsg
		if err := json.Unmarshal(msg, &m); err != nil {
			return err
		}
		id, _ := strconv.ParseUint(m.ID, 10, 64)
		base, _ := strconv.ParseUint(m.Base, 10, 64)
		if m.Type == protocol.TypeScoreboardUpdate {
			r, err := board.NewReplica(m.Data, id)
			if err != nil {
				return err
			}
			v.replica = r
			continue
		}
		if v.replica == nil {
			return errors.New("a patch before the board")
		}
		if _, err := v.replica.Patch(m.Data, id, base); err != nil {
			return err
		}
	}
	v.patches = nil
	return nil
}

// idOf reads the id of a delivery without decoding the whole board.
func idOf(msg []byte) uint64 {
	i := bytes.Index(msg, []byte(`"id":"`))
	if i < 0 {
		return 0
	}
	rest := msg[i+6:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0
	}
	id, _ := strconv.ParseUint(string(rest[:j]), 10, 64)
	return id
}

// equal reports whether the viewer ended with the publisher's board.
func (v *boardViewer) equal(want []byte, final uint64) bool {
	if v.lastID != final {
		return false
	}
	if v.patchMode {
		if err := v.applyPatches(); err != nil || v.replica == nil {
			return false
		}
		return sameJSON(v.replica.Encode(), want)
	}
	return !v.sample || sameJSON(v.last, want)
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func closeViewers(vs []*boardViewer) {
	for _, v := range vs {
		if v != nil && v.ws != nil {
			v.ws.close()
		}
	}
	for _, v := range vs {
		if v != nil {
			<-v.done
		}
	}
}

// boardGen is the publisher's side: an ICPC-style board of n teams and 10
// problems, and a judged run per patch (one team's row; a solve moves it up).
type boardGen struct {
	r     *rand.Rand
	b     *board.Board
	start []byte
	rows  map[string]*genRow
	order []string
}

type genRow struct {
	Team     string    `json:"team"`
	Name     string    `json:"name"`
	Solved   int       `json:"solved"`
	Penalty  int       `json:"penalty"`
	Problems []genCell `json:"problems"`
}

type genCell struct {
	Tries  int  `json:"tries"`
	Time   int  `json:"time"`
	Solved bool `json:"solved"`
}

func newBoardGen(n int, r *rand.Rand) *boardGen {
	g := &boardGen{r: r, rows: make(map[string]*genRow, n)}
	var rows []string
	for i := range n {
		row := &genRow{Team: fmt.Sprintf("team%04d", i), Name: fmt.Sprintf("University %d team %d", i/3, i%3), Problems: make([]genCell, 10)}
		g.rows[row.Team] = row
		g.order = append(g.order, row.Team)
		b, _ := json.Marshal(row)
		rows = append(rows, string(b))
	}
	g.start = []byte(`{"row_key":"team","contest":"bench","problems":["A","B","C","D","E","F","G","H","I","J"],"rows":[` + strings.Join(rows, ",") + `]}`)
	var err error
	if g.b, err = board.Parse(g.start); err != nil {
		panic("boardGen: " + err.Error())
	}
	return g
}

// patch judges one run and returns the patch, applied to the
// publisher's own board.
func (g *boardGen) patch() []byte {
	i := g.r.IntN(len(g.order))
	key := g.order[i]
	row := g.rows[key]
	p := g.r.IntN(len(row.Problems))
	c := &row.Problems[p]
	c.Tries++
	c.Time = 1 + g.r.IntN(300)
	moved := ""
	if !c.Solved && g.r.IntN(3) == 0 {
		c.Solved = true
		row.Solved++
		row.Penalty += c.Time + 20*(c.Tries-1)
		to := i - g.r.IntN(i+1)/2 // a solve moves the team up
		if to != i {
			g.order = append(g.order[:i], g.order[i+1:]...)
			g.order = append(g.order[:to], append([]string{key}, g.order[to:]...)...)
			moved = fmt.Sprintf(`,"positions":{%q:%d}`, key, to)
		}
	}
	probs, _ := json.Marshal(row.Problems)
	data := []byte(fmt.Sprintf(`{"rows":{%q:{"solved":%d,"penalty":%d,"problems":%s}}%s}`, key, row.Solved, row.Penalty, probs, moved))
	if _, err := g.b.Apply(data); err != nil {
		panic("boardGen: " + err.Error())
	}
	return data
}
