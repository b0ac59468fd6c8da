#!/usr/bin/env bash
# Many connections across three serve processes on one NATS, loopback only.
#
#   node 1: `arenacast serve` with the embedded NATS/JetStream (--nats-listen)
#   node 2, node 3: `arenacast serve --nats-url <node 1's NATS>` (same stream)
#
# One load process per node (the open-file limit is per process) runs
# --preset hold: MULTI_CLIENTS/3 idle authenticated clients subscribed to one
# shared channel, each process dialing from its own source addresses. Once all
# three have their clients connected (ready files), the server RSS is sampled
# and a fourth process (--preset publish) publishes MULTI_EVENTS events of one
# run id through NATS; every client on every node must receive every one.
#
# Usage: multi.sh <arenacast binary> <arenacast-bench binary> [extra load-tool flags for the hold processes]
# Environment: MULTI_CLIENTS (50000), MULTI_EVENTS (10), MULTI_RATE (5 events/s),
# BENCH_PORT (18690: nodes on 18690-18692), BENCH_NATS_PORT (14690),
# BENCH_OUT (directory for the JSON reports; default: a temp dir, removed),
# BENCH_LOCK (/tmp/arenacast-bench.lock; empty: take no lock).
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 <arenacast binary> <arenacast-bench binary> [load-tool flags]" >&2
	exit 2
fi
lock=${BENCH_LOCK-/tmp/arenacast-bench.lock}
if [ -n "$lock" ] && [ -z "${ARENACAST_BENCH_LOCKED:-}" ]; then
	# Never overlap with other measurements on this machine.
	ARENACAST_BENCH_LOCKED=1 exec flock "$lock" "$0" "$@"
fi
SERVER=$(realpath "$1") BENCH=$(realpath "$2")
shift 2
TOTAL=${MULTI_CLIENTS:-50000} EVENTS=${MULTI_EVENTS:-10} RATE=${MULTI_RATE:-5}
PORT=${BENCH_PORT:-18690} NATS_PORT=${BENCH_NATS_PORT:-14690}
NODES=3
PER=$(((TOTAL + NODES - 1) / NODES))
SOURCE_BASES=(2 20 40) SOURCES=8 # 8 addresses x ~28,000 ports each: plenty per process

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((PER + 200)) ]; then
	echo "open-file limit $(ulimit -n) is too low for $PER connections per process" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/arenacast-multi.XXXXXX)
out=${BENCH_OUT:-$dir}
mkdir -p "$out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# Start the nodes: the first provides NATS, the others join it.
srv=()
for k in $(seq 0 $((NODES - 1))); do
	nats=(--nats-listen "127.0.0.1:$NATS_PORT")
	if [ "$k" -gt 0 ]; then nats=(--nats-url "nats://127.0.0.1:$NATS_PORT"); fi
	"$SERVER" serve --keys testdata/devkeys --data-dir "$dir/node$k" --listen "127.0.0.1:$((PORT + k))" \
		"${nats[@]}" --log-level warn >"$dir/node$k.log" 2>&1 &
	srv+=($!) pids+=($!)
	for _ in $(seq 150); do listening $((PORT + k)) && break; sleep 0.1; done
	if ! listening $((PORT + k)); then
		echo "node $k did not start; log:" >&2
		cat "$dir/node$k.log" >&2
		exit 1
	fi
done
rss0=()
for k in $(seq 0 $((NODES - 1))); do rss0+=("$(rss_kib "${srv[$k]}")"); done
echo "== multi: $NODES nodes (pids ${srv[*]}) on 127.0.0.1:$PORT-$((PORT + NODES - 1)), NATS on $NATS_PORT (node 0); RSS at start: ${rss0[*]} KiB"

# One hold process per node.
run=$(((RANDOM * 32768 + RANDOM) % 999999999 + 1))
tools=()
for k in $(seq 0 $((NODES - 1))); do
	"$BENCH" --url "ws://127.0.0.1:$((PORT + k))/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
		--key testdata/devkeys/dev.pem --server-pid "${srv[$k]}" --timeout 170s \
		--preset hold --clients "$PER" --run-id "$run" --events "$EVENTS" --hold 120s --settle 3s \
		--source-base "${SOURCE_BASES[$k]}" --sources "$SOURCES" --ready-file "$dir/ready$k" \
		--json "$out/hold$k.json" "$@" >"$dir/hold$k.txt" 2>"$dir/hold$k.err" &
	tools+=($!) pids+=($!)
done

# Wait until every hold process has its clients connected.
t0=$(date +%s)
while :; do
	n=0
	for k in $(seq 0 $((NODES - 1))); do [ -e "$dir/ready$k" ] && n=$((n + 1)); done
	[ "$n" -eq "$NODES" ] && break
	for k in $(seq 0 $((NODES - 1))); do
		if ! kill -0 "${tools[$k]}" 2>/dev/null; then
			echo "hold process $k ended before its clients were connected:" >&2
			cat "$dir/hold$k.err" "$dir/hold$k.txt" >&2
			exit 1
		fi
	done
	if [ $(($(date +%s) - t0)) -gt 150 ]; then echo "clients not connected within 150 s" >&2; exit 1; fi
	sleep 0.5
done
echo "== all connected after $(($(date +%s) - t0)) s"
held=0 rss_total=0
for k in $(seq 0 $((NODES - 1))); do
	c=$(cat "$dir/ready$k") r=$(rss_kib "${srv[$k]}") f=$(fds "${srv[$k]}")
	held=$((held + c)) rss_total=$((rss_total + r))
	awk -v k="$k" -v c="$c" -v r="$r" -v r0="${rss0[$k]}" -v f="$f" 'BEGIN {
		printf "node %d: %d connections held, %d fds, RSS %.1f MiB (%.1f at start): %.1f KiB per connection\n",
			k, c, f, r / 1024, r0 / 1024, (r - r0) / c }'
done
awk -v h="$held" -v r="$rss_total" 'BEGIN { printf "total: %d connections, server RSS %.1f MiB\n", h, r / 1024 }'

echo "== publishing $EVENTS events (run $run) through NATS while all $held are connected"
"$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --preset publish --run-id "$run" --events "$EVENTS" --event-rate "$RATE"

status=0
for k in $(seq 0 $((NODES - 1))); do
	wait "${tools[$k]}" || { echo "hold process $k failed:" >&2; cat "$dir/hold$k.err" >&2; status=1; }
	echo "== node $k"
	tail -n +2 "$dir/hold$k.txt"
done
jq -s '{connections: (map(.results[0].hold.connect.ok) | add),
		deliveries_expected: (map(.results[0].hold.deliveries_expected) | add),
		deliveries_received: (map(.results[0].hold.deliveries_received) | add),
		clients_with_every_event: (map(.results[0].hold.clients_with_every_event) | add),
		duplicates: (map(.results[0].hold.duplicates) | add)}' "$out"/hold[0-9].json
if [ -n "${BENCH_OUT:-}" ]; then echo "JSON: $out/hold*.json"; fi
for k in $(seq 0 $((NODES - 1))); do
	if grep -qiE 'level=(warn|error)' "$dir/node$k.log"; then
		echo "== node $k log (warnings and errors)"
		grep -iE 'level=(warn|error)' "$dir/node$k.log" | tail -n 10
	fi
done
exit $status
