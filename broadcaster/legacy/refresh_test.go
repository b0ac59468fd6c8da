package legacy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestRefresherThrottle: many runs of one contest within an interval cost
// one call at once and one at the end; another contest is independent.
func TestRefresherThrottle(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	fe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		calls[r.PostForm.Get("alias")]++
		mu.Unlock()
		io.WriteString(w, `{"status":"ok"}`)
	}))
	defer fe.Close()
	u, _ := url.Parse(fe.URL + "/api/scoreboard/refresh/")
	counts := &counters{}
	rf := newRefresher(u, fe.Client(), "tok", 200*time.Millisecond, 5*time.Second, slog.New(slog.DiscardHandler), counts)
	defer rf.close()

	rf.mu.Lock() // the interval cannot end while the runs come in
	for range 5 {
		rf.touchLocked("c1")
	}
	rf.mu.Unlock()
	rf.touch("c2")
	// Wait for both contests to leave the throttle: no further call can
	// come after that without a new touch.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rf.mu.Lock()
		idle := len(rf.contests) == 0
		rf.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("contests never left the throttle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rf.wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if calls["c2"] != 1 {
		t.Fatalf("c2: %d calls, want 1", calls["c2"])
	}
	if calls["c1"] != 2 {
		t.Fatalf("c1: %d calls for 5 runs in one interval, want 2 (at once, and one at its end)", calls["c1"])
	}
	if got := counts.refreshes[resultOK].Load(); got != 3 {
		t.Fatalf("%d refreshes counted ok, want 3", got)
	}
}

// TestRefresherCounts: each refresh call is counted by what the platform
// answered (Stats.Refreshes).
func TestRefresherCounts(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	for _, tc := range []struct {
		name   string
		status int // 0: unreachable
		want   int
	}{
		{"ok", http.StatusOK, resultOK},
		{"refused", http.StatusForbidden, resultRefused},
		{"platform error", http.StatusInternalServerError, resultRefused},
		{"unreachable", 0, resultFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := closed.URL
			if tc.status != 0 {
				fe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
				defer fe.Close()
				base = fe.URL
			}
			u, _ := url.Parse(base + "/api/scoreboard/refresh/")
			counts := &counters{}
			rf := newRefresher(u, http.DefaultClient, "tok", time.Hour, 5*time.Second, slog.New(slog.DiscardHandler), counts)
			rf.call("c1")
			for r := range numResults {
				want := uint64(0)
				if r == tc.want {
					want = 1
				}
				if got := counts.refreshes[r].Load(); got != want {
					t.Errorf("refreshes[%s] = %d, want %d", refreshNames[r], got, want)
				}
			}
		})
	}
}
