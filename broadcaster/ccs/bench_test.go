package ccs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// BenchmarkFeedFanout follows one contest feed and serves it to
// ARENACAST_CCS_READERS readers (default 5,000) over loopback: 1 in 100 an
// admin, 1 in 10 a team, the rest anonymous, all connected before the
// contest starts. It checks that the CCS saw one reader and that every
// reader got exactly its view, in order (the same bytes as a reference read
// that is checked against the generator's ground truth), and reports the
// CPU per delivered notification of the server side (this process: NATS,
// fake CCS, follower, feed) and of the readers (a child process).
// docs/benchmarks.md.
//
//	go test -run '^$' -bench FeedFanout -benchtime 1x ./broadcaster/ccs/
func BenchmarkFeedFanout(b *testing.B) {
	readers := 5000
	if v, err := strconv.Atoi(os.Getenv("ARENACAST_CCS_READERS")); err == nil && v > 0 {
		readers = v
	}
	for range b.N {
		fanout(b, readers)
	}
}

type benchReader struct {
	r     reader
	tok   string
	want  int
	count int
	hash  uint64
}

func fanout(b *testing.B, nReaders int) {
	feed := ccsfake.Generate(ccsfake.Config{Teams: 50, Problems: 10, Submissions: 600, Clarifications: 60, Seed: 21})
	bus := openBus(b)
	fake, url := startFake(b, feed, ccsfake.ServerConfig{KeepAlive: time.Second})
	fake.SetAvailable(0)
	node := startFeed(b, bus, time.Minute)
	// One line before the follower starts, so the contest exists.
	fake.SetAvailable(1)
	f := startFollower(b, bus, url)
	waitUntil(b, "the contest to exist", func() bool { return node.count(b, "?stream=false", "") == 1 })

	kinds := map[string]*benchReader{}
	rs := make([]*benchReader, nReaders)
	for i := range rs {
		var r reader
		switch {
		case i%100 == 0:
			r = reader{name: "admin", admin: true}
		case i%10 == 0:
			team := feed.Teams[(i/10)%len(feed.Teams)]
			r = reader{name: "team " + team, team: team}
		default:
			r = reader{name: "anonymous"}
		}
		k := kinds[r.name]
		if k == nil {
			k = &benchReader{r: r, want: len(expected(b, feed, len(feed.Lines), r))}
			switch {
			case r.admin:
				k.tok = node.token(b, "jury", true)
			case r.team != "":
				k.tok = node.token(b, feed.TeamUser[r.team], false)
			}
			kinds[r.name] = k
		}
		rs[i] = &benchReader{r: r, tok: k.tok, want: k.want}
	}
	// The readers run in a child process (this test binary, see
	// TestFanoutReaders), so that this process's CPU is the server side
	// only: NATS, the fake CCS, the follower and the feed.
	spec := make([]readerSpec, len(rs))
	for i, r := range rs {
		spec[i] = readerSpec{Token: r.tok, Want: r.want}
	}
	specFile := filepath.Join(b.TempDir(), "readers.json")
	if err := os.WriteFile(specFile, mustJSON(b, spec), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFanoutReaders$", "-test.count=1")
	child.Env = append(os.Environ(), "ARENACAST_CCS_READERS_SPEC="+specFile, "ARENACAST_CCS_READERS_URL="+node.url+"/api/contests/wf/event-feed")
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	childOut := bufio.NewReader(out)
	if l, err := childOut.ReadString('\n'); err != nil || l != "connected\n" {
		b.Fatalf("reader process: %q, %v", l, err)
	}
	waitUntil(b, "every reader to be connected", func() bool { return node.feed.Readers() == nReaders })
	before := node.feed.Delivered()
	cpu0, t0 := cpuTime(syscall.RUSAGE_SELF), time.Now()
	b.ResetTimer()
	fake.SetAvailable(len(feed.Lines))
	var results []readerResult
	if err := json.NewDecoder(childOut).Decode(&results); err != nil {
		b.Fatalf("reader process results: %v", err)
	}
	elapsed, cpu := time.Since(t0), cpuTime(syscall.RUSAGE_SELF)-cpu0
	b.StopTimer()
	if err := child.Wait(); err != nil {
		b.Fatalf("reader process: %v", err)
	}
	readersCPU := cpuTime(syscall.RUSAGE_CHILDREN)
	for i := range rs {
		rs[i].count, rs[i].hash = results[i].Count, results[i].Hash
	}
	f.stop()
	delivered := node.feed.Delivered() - before
	// The reference read of each view, checked against the ground truth.
	for _, k := range kinds {
		lines := node.readAll(b, "?stream=false", k.tok)
		got, want := servedKeys(b, lines), expected(b, feed, len(feed.Lines), k.r)
		if len(got) != len(want) {
			b.Fatalf("%s: reference read has %d notifications, want %d", k.r.name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				b.Fatalf("%s: reference read differs at %d", k.r.name, i)
			}
		}
		h := fnv.New64a()
		for _, l := range lines {
			h.Write(l)
			h.Write([]byte{'\n'})
		}
		k.hash = h.Sum64()
	}
	for i, r := range rs {
		if k := kinds[r.r.name]; r.count != k.want || r.hash != k.hash {
			b.Fatalf("reader %d (%s): %d notifications, hash %x; want %d, %x", i, r.r.name, r.count, r.hash, k.want, k.hash)
		}
	}
	if n := fake.Requests.Load(); n != 1 {
		b.Fatalf("the CCS saw %d requests, want 1", n)
	}
	b.ReportMetric(float64(delivered), "deliveries")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(delivered), "server-cpu-ns/delivery")
	b.ReportMetric(float64(readersCPU.Nanoseconds())/float64(delivered), "readers-cpu-ns/delivery")
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(elapsed.Seconds(), "s/contest")
	b.Logf("%d readers (%d views), %d notifications in the feed, %d deliveries in %v, server CPU %v, readers' CPU %v (whole child process); CCS requests %d",
		nReaders, len(kinds), len(feed.Valid()), delivered, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond),
		readersCPU.Round(time.Millisecond), fake.Requests.Load())
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type readerSpec struct {
	Token string `json:"token"`
	Want  int    `json:"want"`
}

type readerResult struct {
	Count int    `json:"count"`
	Hash  uint64 `json:"hash"`
}

// TestFanoutReaders is BenchmarkFeedFanout's reader process: it does
// nothing unless started by the benchmark. It opens one live feed request
// per reader of the spec, prints "connected" once all are answered, reads
// each until it has its Want notifications, and prints each reader's count
// and hash of its lines as JSON.
func TestFanoutReaders(t *testing.T) {
	specFile, url := os.Getenv("ARENACAST_CCS_READERS_SPEC"), os.Getenv("ARENACAST_CCS_READERS_URL")
	if specFile == "" {
		t.Skip("run by BenchmarkFeedFanout")
	}
	b, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	var spec []readerSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{}).DialContext,
		MaxIdleConnsPerHost: -1, DisableCompression: true,
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	results := make([]readerResult, len(spec))
	var connected, done sync.WaitGroup
	connected.Add(len(spec))
	done.Add(len(spec))
	var failed atomic.Int64
	for i, r := range spec {
		go func() {
			defer done.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if r.Token != "" {
				req.Header.Set("Authorization", "Bearer "+r.Token)
			}
			resp, err := client.Do(req)
			connected.Done()
			if err != nil {
				failed.Add(1)
				return
			}
			defer resp.Body.Close()
			h := fnv.New64a()
			sc := bufio.NewScanner(resp.Body)
			res := &results[i]
			for res.Count < r.Want && sc.Scan() {
				if len(sc.Bytes()) == 0 {
					continue
				}
				h.Write(sc.Bytes())
				h.Write([]byte{'\n'})
				res.Count++
			}
			res.Hash = h.Sum64()
		}()
	}
	connected.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d readers could not connect", n)
	}
	fmt.Println("connected")
	done.Wait()
	out, _ := json.Marshal(results)
	fmt.Println(string(out))
}
