package natsbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// freePorts reserves n loopback ports and releases them for the servers.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// clusterNode starts member i of a 3-server JetStream cluster whose route
// ports are routes, with its client port (-1: any free one).
func clusterNode(t *testing.T, i int, client int, routes []int) *server.Server {
	t.Helper()
	var urls []string
	for _, p := range routes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	o := &server.Options{
		ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: client,
		JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "drill", Host: "127.0.0.1", Port: routes[i]},
		Routes:  server.RoutesFromStr(strings.Join(urls, ",")),
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// logSignal is a slog handler that reports each record's message.
type logSignal struct {
	msgs chan string
}

func (h *logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSignal) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.msgs <- r.Message:
	default:
	}
	return nil
}
func (h *logSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logSignal) WithGroup(string) slog.Handler      { return h }

// TestOpenWaitsForJetStreamLeader: a node started while a fresh 3-server
// cluster cannot elect its JetStream leader yet (one server of three is
// up) retries creating the stream, and opens once the others join and a
// leader is elected.
// (It used to fail at the first attempt: "creating stream ARENACAST:
// context deadline exceeded".)
func TestOpenWaitsForJetStreamLeader(t *testing.T) {
	ports := freePorts(t, 4) // 3 route ports, a client port
	routes := ports[:3]
	first := clusterNode(t, 0, ports[3], routes)
	logs := &logSignal{msgs: make(chan string, 64)}
	type result struct {
		bus *natsbus.Bus
		err error
	}
	opened := make(chan result, 1)
	go func() {
		b, err := natsbus.Open(context.Background(), natsbus.Config{
			URL: first.ClientURL(), Logger: slog.New(logs), ConnectTimeout: 60 * time.Second,
		})
		opened <- result{b, err}
	}()
	// Wait for a failed attempt: the cluster has no JetStream leader.
	for waiting := true; waiting; {
		select {
		case m := <-logs.msgs:
			waiting = m != "JetStream not ready; retrying"
		case r := <-opened:
			t.Fatalf("Open returned before the cluster had a leader: %v", r.err)
		case <-time.After(30 * time.Second):
			t.Fatal("no retry logged")
		}
	}
	clusterNode(t, 1, -1, routes)
	clusterNode(t, 2, -1, routes) // a leader can be elected
	select {
	case r := <-opened:
		if r.err != nil {
			t.Fatalf("Open: %v", r.err)
		}
		defer r.bus.Close()
		if _, err := r.bus.LastID(context.Background()); err != nil {
			t.Fatalf("stream after Open: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Open did not return after the leader was elected")
	}
}
