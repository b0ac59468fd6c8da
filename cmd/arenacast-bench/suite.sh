#!/usr/bin/env bash
# The short benchmark suite behind `make bench` (under 3 minutes): Go
# micro-benchmarks, then a server on a temp data dir pinned to CPU 0 and the
# load tool pinned to CPU 1 (taskset, when available), loopback only.
# Usage: suite.sh <arenacast binary> <arenacast-bench binary> [extra load-tool flags]
set -euo pipefail
SERVER=$1 BENCH=$2; shift 2
PORT=${BENCH_PORT:-18480} NATS_PORT=${BENCH_NATS_PORT:-14480} METRICS_PORT=${BENCH_METRICS_PORT:-19480}
OUT=${BENCH_OUT:-bin/bench-results.json}
pin0=() pin1=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0=(taskset -c 0) pin1=(taskset -c 1); fi

echo "== go test -bench (hot paths)"
go test -run '^$' -bench 'HubDispatch|HubDeliverWriters|NetWakeDuringRound|AppendSSE|DecodeEvent|EncodeEvent|AppendDelivery|Verify' \
	-benchtime 2000x -benchmem ./protocol/ ./broadcaster/ ./auth/ | grep -E '^(Benchmark|ok|FAIL)'
# (a pattern with '/' matches per level, so this one runs on its own)
go test -run '^$' -bench 'FlushDelivery/ring=(on|off)/subs=100$' -benchtime 2000x -benchmem ./broadcaster/ | grep -E '^(Benchmark|ok|FAIL)'
go test -run '^$' -bench 'PublishBatch' -benchtime 1000x -benchmem ./broadcaster/natsbus/ | grep -E '^(Benchmark|ok|FAIL)'

data=$(mktemp -d)
"${pin0[@]}" "$SERVER" serve --keys testdata/devkeys --data-dir "$data" --listen "127.0.0.1:$PORT" \
	--nats-listen "127.0.0.1:$NATS_PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" --max-event-size 1048576 \
	--log-level warn >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
	sleep 0.1
done

echo "== load (server pid $pid${pin0:+ on CPU 0, load tool on CPU 1})"
"${pin1[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --server-pid "$pid" --metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" --timeout 150s --json "$OUT" \
	--preset idle,fanout,contest,spike --clients 0 --concurrency 1000 --settle 2s --step 3s --rates 50,125,250,500 \
	--p99-limit 250ms --duration 6s "$@"
echo "JSON: $OUT"

echo "== fanout over SSE (same node, so its RSS per connection means nothing)"
"${pin1[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --server-pid "$pid" --metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" --timeout 60s \
	--json "${OUT%.json}-sse.json" --preset fanout --transport sse --clients 2000 --concurrency 1000 --settle 2s --step 3s \
	--rates 50,250,500 --p99-limit 1s "$@"
echo "JSON: ${OUT%.json}-sse.json"

echo "== many contests: 5,000 clients over 500 channels, batched POST /publish (same node)"
"${pin1[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --server-pid "$pid" --metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" --timeout 60s \
	--json "${OUT%.json}-channels.json" --preset channels --publish-http "http://127.0.0.1:$PORT" --concurrency 1000 \
	--step 2s --p99-limit 2s "$@"
echo "JSON: ${OUT%.json}-channels.json"
echo "== live scoreboard: 1,000 viewers, 500 rows, 20 row patches/s; patches, then whole boards"
"${pin1[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --server-pid "$pid" --timeout 90s --json "${OUT%.json}-boards.json" \
	--preset boards --clients 1000 --concurrency 1000 --duration 5s "$@"
echo "JSON: ${OUT%.json}-boards.json"

# The node restart (SIGTERM, clients reconnect with backoff and resume):
# its own node and NATS holder; restart.sh describes it.
cleanup
trap - EXIT
echo "== restart (2,000 clients, SIGTERM)"
BENCH_LOCK= RESTART_DRAIN=2s bash cmd/arenacast-bench/restart.sh "$SERVER" "$BENCH" --clients 2000 \
	--json "${OUT%.json}-restart.json"
echo "JSON: ${OUT%.json}-restart.json"
