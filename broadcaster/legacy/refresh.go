package legacy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// refresher asks the platform to recompute a contest's scoreboard after
// runs (POST <frontend>/api/scoreboard/refresh/ with token and alias; the
// platform then broadcasts the new scoreboards), at most once per interval
// per contest: the first request at once, and one more at the end of the
// interval when runs came meanwhile, so the last run is always counted.
// Each node throttles the envelopes it receives.
type refresher struct {
	endpoint *url.URL
	client   *http.Client
	token    string
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	counts   *counters // the adapter's

	mu       sync.Mutex               // guards contests and closed
	contests map[string]*refreshState // contests inside their interval
	closed   bool
	wg       sync.WaitGroup // calls in flight
}

// refreshState is one contest inside its interval.
type refreshState struct {
	timer   *time.Timer
	pending bool // a run came after the last call: call again at the end
}

func newRefresher(endpoint *url.URL, client *http.Client, token string, interval, timeout time.Duration, log *slog.Logger, counts *counters) *refresher {
	return &refresher{endpoint: endpoint, client: client, token: token, interval: interval, timeout: timeout, log: log,
		counts: counts, contests: make(map[string]*refreshState)}
}

// touch notes a run of contest alias.
func (r *refresher) touch(alias string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touchLocked(alias)
}

func (r *refresher) touchLocked(alias string) {
	if r.closed {
		return
	}
	if st := r.contests[alias]; st != nil {
		st.pending = true
		return
	}
	st := &refreshState{}
	st.timer = time.AfterFunc(r.interval, func() { r.tick(alias, st) })
	r.contests[alias] = st
	r.callLocked(alias)
}

// tick ends an interval: call again if runs came, else forget the contest.
func (r *refresher) tick(alias string, st *refreshState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.contests[alias] != st {
		return
	}
	if !st.pending {
		delete(r.contests, alias)
		return
	}
	st.pending = false
	st.timer.Reset(r.interval)
	r.callLocked(alias)
}

// callLocked starts one refresh call; it never waits under mu.
func (r *refresher) callLocked(alias string) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.call(alias)
	}()
}

func (r *refresher) call(alias string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	form := url.Values{"token": {r.token}, "alias": {alias}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.client.Do(req)
	if err != nil {
		r.counts.refreshes[resultFailed].Add(1)
		r.log.Warn("scoreboard refresh failed", "contest", alias, "err", "the platform could not be reached or did not answer in time")
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.counts.refreshes[resultRefused].Add(1)
		r.log.Warn("scoreboard refresh refused", "contest", alias, "status", resp.StatusCode)
		return
	}
	r.counts.refreshes[resultOK].Add(1)
}

// close stops the scheduled calls and waits for those in flight.
func (r *refresher) close() {
	r.mu.Lock()
	r.closed = true
	for _, st := range r.contests {
		st.timer.Stop()
	}
	clear(r.contests)
	r.mu.Unlock()
	r.wg.Wait()
}
