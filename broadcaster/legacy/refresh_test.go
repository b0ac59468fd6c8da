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
	rf := newRefresher(u, fe.Client(), "tok", 200*time.Millisecond, 5*time.Second, slog.New(slog.DiscardHandler))
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
}
