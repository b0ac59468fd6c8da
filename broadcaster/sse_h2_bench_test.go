package broadcaster

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
)

// BenchmarkSSEHTTP2Fanout publishes b.N events to n SSE streams served
// over HTTP/2 (TLS, on loopback), where net/http cannot hand the stream to
// a flusher: each session is written by its handler goroutine, woken per
// batch (docs/benchmarks.md, issue 13 item 2). It waits until every client
// has read every event.
func BenchmarkSSEHTTP2Fanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("streams="+strconv.Itoa(n), func(b *testing.B) {
			srv := newBenchServer(b, 1<<16)
			hs := httptest.NewUnstartedServer(srv.Handler())
			hs.EnableHTTP2 = true
			hs.StartTLS()
			defer hs.Close()
			signer := auth.NewHMACSigner("bench", []byte("arenacast-bench-secret-0123456789abcdef"))
			c := auth.Claims{Contests: []string{"bench"}}
			c.Subject = "viewer"
			tok, err := signer.UserToken(c, time.Hour, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			client := hs.Client()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got atomic.Int64
			ready := make(chan error, n)
			for range n {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/events/?channel=%2Fcontest%2Fbench", nil)
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Authorization", "Bearer "+tok)
				go func() {
					resp, err := client.Do(req)
					if err != nil {
						ready <- err
						return
					}
					defer resp.Body.Close()
					if resp.ProtoMajor != 2 {
						ready <- errProto(resp.Proto)
						return
					}
					br := bufio.NewReader(resp.Body)
					subscribed := false
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							if !subscribed {
								ready <- err
							}
							return
						}
						switch {
						case bytes.HasPrefix(line, []byte("event: subscribed")):
							subscribed = true
							ready <- nil
						case bytes.HasPrefix(line, []byte("event: run_update")):
							got.Add(1)
						}
					}
				}()
			}
			for range n {
				if err := <-ready; err != nil {
					b.Fatal(err)
				}
			}
			ev := benchEvent(true, "")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N { // not b.Loop: the wait below is timed too
				ev.ID = uint64(i + 1)
				srv.hub.dispatch(ev, 0, nil)
			}
			want := int64(b.N * n)
			deadline := time.Now().Add(2 * time.Minute)
			for got.Load() < want && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			if g := got.Load(); g < want {
				b.Fatalf("read %d events, want %d", g, want)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
			if s := srv.stats.slowConsumers.Load(); s != 0 {
				b.Fatalf("%d streams closed as slow consumers", s)
			}
		})
	}
}

type errProto string

func (e errProto) Error() string { return "stream served over " + string(e) + ", want HTTP/2" }
