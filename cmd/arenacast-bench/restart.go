package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arenacast/arenacast/protocol"
)

// ---- restart ----

// restartResult is the restart preset's outcome: the spike preset's
// question (does every client end with every event exactly once?) when the
// server restarts instead of the clients dropping.
type restartResult struct {
	Transport   string       `json:"transport"`
	Clients     int          `json:"clients"`
	Concurrency int          `json:"concurrency"`
	Command     string       `json:"restart_command"`
	CommandTime float64      `json:"restart_command_s"`
	Connect     connectStats `json:"connect"`

	Dropped      int               `json:"clients_dropped_by_server"`
	NotDropped   int               `json:"clients_not_dropped"`
	Drops        uint64            `json:"drops"`
	Abrupt       uint64            `json:"drops_without_close_code"`
	AbruptErr    string            `json:"first_drop_without_close_code,omitempty"`
	Resubscribed int               `json:"clients_resubscribed"`
	Missing      int               `json:"clients_not_resubscribed"`
	Attempts     uint64            `json:"reconnect_attempts"`
	Failed       uint64            `json:"reconnect_attempts_failed"`
	FirstErr     string            `json:"first_reconnect_error,omitempty"`
	FailedBy     map[string]uint64 `json:"reconnect_failures_by_cause,omitempty"`
	DropSpread   float64           `json:"first_to_last_drop_s"`
	Outage       float64           `json:"first_drop_to_first_resubscribe_s"`
	AllBack      float64           `json:"first_drop_to_all_resubscribed_s"`
	AfterCommand float64           `json:"command_end_to_all_resubscribed_s"`
	ResubWindow  float64           `json:"first_to_last_resubscribe_s"`
	ResubRate    float64           `json:"resubscribes_per_s"`
	DropToResub  latency           `json:"drop_to_resubscribe"`

	Recovered    uint64         `json:"recovered_true"`
	NotRecovered uint64         `json:"recovered_false"`
	Events       int            `json:"events"`
	Expected     int64          `json:"deliveries_expected"`
	Received     int64          `json:"deliveries_received"`
	Loss         float64        `json:"loss"`
	Dups         uint64         `json:"duplicates"`
	Latency      latency        `json:"latency"`
	Closes       map[int]uint64 `json:"closes,omitempty"`
}

// rejoiner keeps one client connected: when the server ends its
// connection it reconnects with resume, backing off while the port is
// closed, until stopped.
type rejoiner struct {
	c  *client
	up atomic.Bool // subscribed on the current connection

	mu        sync.Mutex // guards the fields below
	drops     int
	firstDrop time.Time
	resub     time.Time // the last successful resubscribe
}

// rejoinStats are the reconnect attempts of all rejoiners.
type rejoinStats struct {
	attempts, failed atomic.Uint64
	firstErr         atomic.Value
	lat              histogram // drop to resubscribed, per reconnect

	mu    sync.Mutex        // guards kinds
	kinds map[string]uint64 // failed attempts by errorKind
}

// fail counts one failed reconnect attempt.
func (st *rejoinStats) fail(err error) {
	st.failed.Add(1)
	st.firstErr.CompareAndSwap(nil, err.Error())
	k := errorKind(err)
	st.mu.Lock()
	if st.kinds == nil {
		st.kinds = map[string]uint64{}
	}
	st.kinds[k]++
	st.mu.Unlock()
}

// errorKind names a connect error without its addresses, so failures can
// be counted by cause.
func errorKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "broken pipe", "not subscribed in time", "i/o timeout", "EOF"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if i := strings.Index(s, "upgrade refused: "); i >= 0 {
		s = s[i:]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// run watches the client until stop is closed. sem bounds the connects in
// flight across all rejoiners, as --concurrency bounds connectAll.
func (r *rejoiner) run(ctx context.Context, stop <-chan struct{}, b *bench, sem chan struct{}, maxBackoff time.Duration, st *rejoinStats) {
	for {
		r.c.wait()
		if r.c.closing.Load() {
			return // closed by us: the preset is over
		}
		r.up.Store(false)
		dropped := time.Now()
		r.mu.Lock()
		if r.drops == 0 {
			r.firstDrop = dropped
		}
		r.drops++
		r.mu.Unlock()
		backoff := min(100*time.Millisecond, maxBackoff)
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case sem <- struct{}{}:
			}
			st.attempts.Add(1)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := r.c.connect(cctx, b.dialer, b.target, true)
			cancel()
			<-sem
			if err == nil {
				now := time.Now()
				st.lat.record(now.Sub(dropped))
				r.mu.Lock()
				r.resub = now
				r.mu.Unlock()
				r.up.Store(true)
				select {
				case <-stop: // the preset ended while this connect ran
					r.c.close()
					return
				default:
				}
				break
			}
			st.fail(err)
			r.c.wait() // a half-made connection's reader must end first
			// Jitter of ±50% around the backoff, doubling to at most maxBackoff.
			sleep := time.Duration(float64(backoff) * (0.5 + rand.Float64()))
			backoff = min(2*backoff, maxBackoff)
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(sleep):
			}
		}
	}
}

// restart connects clients, publishes throughout, runs --restart-cmd
// (which stops the server and starts it again on the same address), and
// waits until every client the server dropped has reconnected and resumed
// with since.
func (b *bench) restart(ctx context.Context) (*restartResult, error) {
	cfg := b.cfg
	if cfg.restartCmd == "" {
		return nil, errors.New("--restart-cmd is required: a shell command that stops and restarts the server")
	}
	n := cfg.clientsOr(5000)
	m := b.newMeter()
	alias := cfg.alias + "-restart"
	ch := "/contest/" + alias
	clients, err := b.members("r", n, alias, m, func(int, string) []string { return []string{ch} })
	if err != nil {
		return nil, err
	}
	res := &restartResult{Transport: cfg.transport, Clients: n, Concurrency: cfg.conc, Command: cfg.restartCmd}
	logf("restart: connecting %d clients (%d in flight)", n, cfg.conc)
	res.Connect = connectAll(ctx, clients, b.dialer, b.target, cfg.conc, false)
	if res.Connect.Failed > 0 {
		closeAll(clients)
		return nil, fmt.Errorf("%d of %d initial connects failed; first: %s", res.Connect.Failed, n, res.Connect.FirstErr)
	}

	stop := make(chan struct{})
	var st rejoinStats
	sem := make(chan struct{}, max(cfg.conc, 1))
	rj := make([]*rejoiner, n)
	var watchers sync.WaitGroup
	for i, c := range clients {
		rj[i] = &rejoiner{c: c}
		rj[i].up.Store(true)
		watchers.Go(func() { rj[i].run(ctx, stop, b, sem, cfg.maxBackoff, &st) })
	}
	defer func() {
		close(stop)
		closeAll(clients)
		watchers.Wait()
	}()

	// Publish throughout; every client must end with every event exactly
	// once.
	var expected atomic.Int64
	pctx, stopPub := context.WithCancel(ctx)
	var sent int
	var pubs sync.WaitGroup
	defer func() {
		stopPub()
		pubs.Wait()
	}()
	pubs.Go(func() {
		gen := func(int) (event, int) {
			return event{typ: protocol.TypeRunUpdate, channel: ch, public: true, aud: "pub", phase: 1}, n
		}
		sent = b.pub.paced(pctx, m.runID, cfg.spikeRate, time.Hour, cfg.payload, gen, &expected)
	})
	time.Sleep(time.Second)

	logf("restart: running %q", cfg.restartCmd)
	cmd := exec.CommandContext(ctx, "sh", "-c", cfg.restartCmd)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	t0 := time.Now()
	err = cmd.Run()
	cmdEnd := time.Now()
	res.CommandTime = cmdEnd.Sub(t0).Seconds()
	if err != nil {
		return nil, fmt.Errorf("--restart-cmd %q: %w", cfg.restartCmd, err)
	}
	logf("restart: command done after %.2fs; waiting for every client to be dropped and resubscribed", res.CommandTime)

	deadline := time.Now().Add(cfg.restartWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, r := range rj {
			r.mu.Lock()
			d := r.drops
			r.mu.Unlock()
			if d == 0 || !r.up.Load() {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // publish a little after the last resubscribe
	stopPub()
	pubs.Wait()
	b.pub.settle()
	drain(m, []int{1}, expected.Load(), time.Second, 10*time.Second)

	var firstDrop, lastDrop, firstResub, lastResub time.Time
	for _, r := range rj {
		r.mu.Lock()
		if r.drops == 0 {
			res.NotDropped++
		} else {
			res.Dropped++
			if firstDrop.IsZero() || r.firstDrop.Before(firstDrop) {
				firstDrop = r.firstDrop
			}
			if r.firstDrop.After(lastDrop) {
				lastDrop = r.firstDrop
			}
			if r.up.Load() {
				res.Resubscribed++
				if firstResub.IsZero() || r.resub.Before(firstResub) {
					firstResub = r.resub
				}
				if r.resub.After(lastResub) {
					lastResub = r.resub
				}
			} else {
				res.Missing++
			}
		}
		r.mu.Unlock()
	}
	if !firstDrop.IsZero() {
		res.DropSpread = lastDrop.Sub(firstDrop).Seconds()
	}
	if !firstResub.IsZero() {
		res.Outage = firstResub.Sub(firstDrop).Seconds()
		res.ResubWindow = lastResub.Sub(firstResub).Seconds()
		if res.Missing == 0 && res.NotDropped == 0 {
			res.AllBack = lastResub.Sub(firstDrop).Seconds()
			res.AfterCommand = lastResub.Sub(cmdEnd).Seconds()
		}
		if res.ResubWindow > 0 {
			res.ResubRate = float64(res.Resubscribed) / res.ResubWindow
		}
	}
	res.Drops, res.Abrupt = m.dropped.Load(), m.abrupt.Load()
	if e, ok := m.abruptErr.Load().(string); ok {
		res.AbruptErr = e
	}
	res.Attempts, res.Failed = st.attempts.Load(), st.failed.Load()
	if e, ok := st.firstErr.Load().(string); ok {
		res.FirstErr = e
	}
	res.DropToResub = st.lat.summary()
	res.FailedBy = st.kinds
	res.Events, res.Expected = sent, expected.Load()
	res.Received = int64(m.phases[1].received.Load())
	res.Loss = lossOf(res.Expected, res.Received)
	res.Dups = m.dups.Load()
	res.Recovered, res.NotRecovered = m.recovered.Load(), m.notRecov.Load()
	res.Latency = m.phases[1].lat.summary()
	res.Closes = diffCloses(nil, m.closeCodes())
	logf("restart: %d/%d dropped, %d resubscribed (%d missing) %.2fs after the first drop, %d recovered:true, loss %.4f%%, %d duplicates",
		res.Dropped, n, res.Resubscribed, res.Missing, res.AllBack, res.Recovered, 100*res.Loss, res.Dups)
	return res, nil
}
